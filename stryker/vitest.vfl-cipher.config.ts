import { defineConfig } from 'vitest/config';

// The scoped CKKS release-budget run (stryker/vfl-cipher.config.json): the CKKS release tests (flooding
// size from the planned decryptions, grid, asked slots only, budget) and the decryption-error attack.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-release.test.ts',
      'packages/vfl/test/attacks/decryption-error.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
