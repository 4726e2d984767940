import { defineConfig } from 'vitest/config';

// The scoped arbiter-release run (stryker/vfl-arbiter.config.json): the fast protocol tests that run the
// arbiter (scheme none): release counting and checkpointing, flooding streams per release, the batch
// floor it checks on its own, the mask binding of the gradients it releases, its key's sizing
// (hetero-lr-party-checks.test.ts) and its refusals of a lying guest (hetero-lr-lying-peer.test.ts: an
// epoch out of order, a gradient wider than the plan; the floor when guest and host skipped theirs). The
// CKKS small-batch attack (45 s per mutant) is left out: the scheme-none floor test replaces it here.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-arbiter-release.test.ts',
      'packages/vfl/test/hetero-lr-mask-binding.test.ts',
      'packages/vfl/test/hetero-lr-none.test.ts',
      'packages/vfl/test/hetero-lr-party-checks.test.ts',
      'packages/vfl/test/hetero-lr-lying-peer.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
