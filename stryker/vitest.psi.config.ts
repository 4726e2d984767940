import { defineConfig } from 'vitest/config';

// Stryker runs only the psi package's tests (its mutants live in psi's privacy-critical files).
export default defineConfig({
  test: {
    include: ['packages/psi/test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
