import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    // Tests spawn real processes and write real SQLite files; a busy CI machine needs room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
