import { defineConfig } from "vitest/config"

/**
 * The engine's conformance suite: these files run twice, once per store. The rest (CLI, built-in
 * jobs, packaging, each store's own faults) run once.
 */
const conformance = [
  "test/actors/**/*.test.ts",
  "test/machines/**/*.test.ts",
  "test/faults/**/*.test.ts",
  // The dashboard shows the jobs of either store: its API and browser tests run on both.
  "test/ui/**/*.test.ts",
]

export default defineConfig({
  test: {
    globalSetup: ["test/globalSetup.ts"],
    // Tests spawn real processes and write real databases; a busy CI machine needs room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts"] } },
      { extends: true, test: { name: "postgres", include: conformance, env: { JOBSTATE_TEST_STORE: "postgres" } } },
    ],
  },
})
