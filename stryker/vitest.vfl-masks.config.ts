import { defineConfig } from 'vitest/config';

// The scoped hetero-LR mask/release runs (stryker/vfl-release.config.json, stryker/vfl-gradients.config.json):
// only the tests that reach the masks, the flooding streams, the release budget and the batch floor.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-none.test.ts',
      'packages/vfl/test/hetero-lr-release.test.ts',
      'packages/vfl/test/hetero-lr-resume.test.ts',
      'packages/vfl/test/attacks/mask-seed-brute-force.attack.test.ts',
      'packages/vfl/test/attacks/small-masks.attack.test.ts',
      'packages/vfl/test/attacks/hetero-lr-small-batch.attack.test.ts',
      'packages/vfl/test/attacks/decryption-error.attack.test.ts',
      'packages/vfl/test/hetero-lr-masks.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
