import { defineConfig } from 'vitest/config';

// The scoped private tree-scoring run (stryker/scoring-tree.config.json): tree-defences.test.ts, the
// selector and flooding of maskSumFlood on one small ckks-8192 context, the sizing, the context/preset
// and model checks, and the hosts' layout checks before any ciphertext (7 s). The whole-run tests at
// ckks-16384-release (tree-scoring, tree-session, tree-scoring-hosts, attacks/tree-path: 10-60 s per
// test) are left to the normal suite.
export default defineConfig({
  test: {
    include: ['packages/scoring/test/tree-defences.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
