import { defineConfig } from 'vitest/config';

// The scoped SecureBoost defence run (stryker/vfl-secureboost.config.json): the fast tests that reach
// the row floor, the hosts' refusals, the admissible cuts, the GOSS opt-in, the generator checks and the
// flooding sizing -- scheme none, plus one small ckks-8192 run (secureboost-floors.test.ts). The GOSS
// test under ckks-16384-release (18 s) and secureboost-flooding.test.ts are left to the normal suite.
export default defineConfig({
  test: {
    include: [
      'packages/vfl/test/secureboost-floors.test.ts',
      'packages/vfl/test/secureboost-none.test.ts',
      'packages/vfl/test/secureboost-host-refusals.test.ts',
      'packages/vfl/test/secureboost-options.test.ts',
      'packages/vfl/test/attacks/secureboost-small-node.attack.test.ts',
      'packages/vfl/test/attacks/secureboost-goss-labels.attack.test.ts',
    ],
    testNamePattern: '^(?!.*SecureBoost GOSS under CKKS)',
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
