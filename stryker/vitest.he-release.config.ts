import { defineConfig } from 'vitest/config';

// The he-release scoped run (stryker/he-release.config.json): only the tests that reach flooding,
// the release grid and the loaders' parameter and scheme checks.
export default defineConfig({
  test: {
    include: [
      'packages/he/test/flooding.test.ts',
      'packages/he/test/ckks-loader.test.ts',
      'packages/he/test/ckks.test.ts',
      'packages/he/test/attacks/weak-key-loader.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
