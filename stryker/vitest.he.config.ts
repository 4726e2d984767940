import { defineConfig } from 'vitest/config';

// Stryker runs only the he package's tests (its mutants live in he's privacy-critical files).
export default defineConfig({
  test: {
    include: ['packages/he/test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
