import { defineConfig } from 'vitest/config';

// The scoped host/guest masked-gradient run (stryker/vfl-gradients.config.json): the fast tests that run
// the protocol's masking lines (scheme none: the masked values cross the wire in the clear, so a mask
// that is missing, reused or mis-bound shows in the captured bytes), the mask/batch attacks and the unit
// tests of the masks. The CKKS release tests are the vfl-cipher-arbiter scope's.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-masks.test.ts',
      'packages/vfl/test/hetero-lr-mask-binding.test.ts',
      'packages/vfl/test/hetero-lr-arbiter-release.test.ts',
      'packages/vfl/test/hetero-lr-party-checks.test.ts',
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
