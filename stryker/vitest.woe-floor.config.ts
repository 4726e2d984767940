import { defineConfig } from 'vitest/config';

// The scoped WOE bin-floor run (stryker/woe-floor.config.json): the tests that reach the floor
// (max(50, 1% of rows)), the host's label-free merge of small bins, the folding of a small missing bin
// and the guest's refusal of a small bin.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/binning.test.ts',
      'packages/vfl/test/woe-bin-floor.test.ts',
      'packages/vfl/test/attacks/woe-tiny-bin.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
