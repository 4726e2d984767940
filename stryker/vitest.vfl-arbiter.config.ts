import { defineConfig } from 'vitest/config';

// The scoped arbiter-release run (stryker/vfl-arbiter.config.json): the fast protocol tests that run the
// arbiter (scheme none): release counting and checkpointing, flooding streams per release, the batch
// floor it checks on its own, the mask binding of the gradients it releases.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-arbiter-release.test.ts',
      'packages/vfl/test/hetero-lr-mask-binding.test.ts',
      'packages/vfl/test/hetero-lr-none.test.ts',
      'packages/vfl/test/attacks/hetero-lr-small-batch.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
