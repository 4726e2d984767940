import { defineConfig } from 'vitest/config';

// Stryker runs only the vfl package's tests (its mutants live in vfl's privacy-critical files).
export default defineConfig({
  test: {
    include: ['packages/vfl/test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
