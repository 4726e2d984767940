import { defineConfig } from 'vitest/config';

// The scoped hetero-LR mask run (stryker/vfl-release.config.json): the fast tests that reach the
// masks, the mask streams, the release count and the batch floor (scheme none and unit tests).
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-masks.test.ts',
      'packages/vfl/test/hetero-lr-none.test.ts',
      'packages/vfl/test/attacks/mask-seed-brute-force.attack.test.ts',
      'packages/vfl/test/attacks/small-masks.attack.test.ts',
      'packages/vfl/test/attacks/hetero-lr-small-batch.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
