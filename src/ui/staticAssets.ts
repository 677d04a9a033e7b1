import { readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

// src/ui/staticAssets.ts and dist/ui/staticAssets.js both sit two levels below the package, and
// the package ships src/: the page's files are read from src/ui/static in either case.
const staticDir = fileURLToPath(new URL("../../src/ui/static/", import.meta.url))
const require = createRequire(import.meta.url)

/**
 * The client libraries, served from the installed packages (exact versions in package.json):
 * the page imports them by name through its import map, and nothing comes from a CDN.
 */
const vendor: Record<string, () => string> = {
  "preact.js": () => require.resolve("preact"),
  "preact-hooks.js": () => require.resolve("preact/hooks"),
  "htm.js": () => join(dirname(require.resolve("htm")), "htm.mjs"),
}

const own: Record<string, string> = Object.fromEntries(
  [
    "index.html",
    "app.js",
    "html.js",
    "diagram.js",
    "schemaForm.js",
    "format.js",
    "validate.js",
    "timeline.js",
    "style.css",
  ].map((f) => [f, f]),
)

const types: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
}

/** A file of the page by its path (`/index.html`, `/assets/app.js`), or undefined when there is none. */
export const staticAsset = async (
  path: string,
  title: string,
): Promise<{ readonly type: string; readonly body: string } | undefined> => {
  const name = path.replace(/^\/(assets\/)?/, "")
  const file = path.startsWith("/assets/vendor/")
    ? vendor[name.slice("vendor/".length)]?.()
    : own[name] === undefined
      ? undefined
      : join(staticDir, own[name]!)
  if (file === undefined) return undefined
  const body = await readFile(file, "utf8")
  const type = types[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream"
  return { type, body: name === "index.html" ? body.replaceAll("{{title}}", escapeHtml(title)) : body }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
