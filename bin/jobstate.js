#!/usr/bin/env node
// The CLI is TypeScript run as-is: tsx compiles it on load, so there is no build step to forget.
// The project's own tsconfig is named so that a tsconfig in the user's cwd does not apply.
import { fileURLToPath } from "node:url"
import { register } from "tsx/esm/api"

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) })
await import("../src/cli/main.ts")
