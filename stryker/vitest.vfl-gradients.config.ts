import { defineConfig } from 'vitest/config';

// The scoped host/guest masked-gradient run (stryker/vfl-gradients.config.json): the fast tests that run
// the protocol's masking lines (scheme none: the masked values cross the wire in the clear, so a mask
// that is missing, reused or mis-bound shows in the captured bytes), the mask/batch attacks and the unit
// tests of the masks, and the lying-peer refusals (hetero-lr-lying-peer.test.ts). The CKKS tests are left out:
// the release tests are the vfl-cipher scope's, and the small-batch attack (45 s of CKKS per mutant that
// reaches it) is replaced here by the scheme-none floor checks of hetero-lr-party-checks.test.ts.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/hetero-lr-masks.test.ts',
      'packages/vfl/test/hetero-lr-mask-binding.test.ts',
      'packages/vfl/test/hetero-lr-arbiter-release.test.ts',
      'packages/vfl/test/hetero-lr-party-checks.test.ts',
      'packages/vfl/test/hetero-lr-lying-peer.test.ts',
      'packages/vfl/test/hetero-lr-none.test.ts',
      'packages/vfl/test/attacks/mask-seed-brute-force.attack.test.ts',
      'packages/vfl/test/attacks/small-masks.attack.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
