#!/usr/bin/env node
// Runs the compiled CLI (dist/, which `npm ci` builds through the `prepare` script). In a
// checkout that was never built, it runs the TypeScript sources through tsx instead; the
// project's own tsconfig is named so that a tsconfig in the user's cwd does not apply.
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const compiled = new URL("../dist/cli/main.js", import.meta.url)
if (existsSync(compiled)) {
  await import(compiled.href)
} else {
  const { register } = await import("tsx/esm/api")
  register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) })
  await import("../src/cli/main.ts")
}
