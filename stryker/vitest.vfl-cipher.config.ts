import { defineConfig } from 'vitest/config';

// The scoped CKKS release-budget run (stryker/vfl-cipher.config.json): hetero-lr-release-budget.test.ts,
// the release policy (t, flooding sd, grid) and budget (every released ciphertext counted, the release
// after the budget refused, only the asked slots, keyed streams, seeded generators refused) on the fast
// secure preset ckks-8192 (9 s). The same checks at ckks-16384-release (hetero-lr-release.test.ts) and the
// decryption-error attack run a 16384-slot key per test and are left to the normal suite.
export default defineConfig({
  test: {
    include: ['packages/vfl/test/hetero-lr-release-budget.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
