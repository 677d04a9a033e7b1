import { execFileSync } from "node:child_process"

/** The CLI runs from dist/ (see bin/jobstate.js): build it once so tests never run a stale one. */
export default function setup() {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" })
}
