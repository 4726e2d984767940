import { defineConfig } from 'vitest/config';

// Stryker runs only the scoring package's tests (its mutants live in scoring's privacy-critical files).
export default defineConfig({
  test: {
    include: ['packages/scoring/test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
