// The benchmark's own tests (its fleet generator produces what it promises): `npm run bench:check`,
// which CI runs after the product suite. Same harness as the product suite (DESIGN.md §5).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["bench/test/**/*.test.ts"],
    globalSetup: ["test/harness/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
