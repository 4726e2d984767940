import { defineConfig } from 'vitest/config';

// The hosts' run loops of private tree scoring (stryker/scoring-tree-runs.config.json): the selector,
// the mask offsets and the flooding switch are exercised only by whole scoring runs, so this scope runs
// the whole-run tests at ckks-16384-release (tree-session, tree-scoring, attacks/tree-path; 10-60 s per
// test) besides tree-defences. Run it on an idle machine (concurrency 2).
export default defineConfig({
  test: {
    include: [
      'packages/scoring/test/tree-defences.test.ts',
      'packages/scoring/test/tree-session.test.ts',
      'packages/scoring/test/tree-scoring.test.ts',
      'packages/scoring/test/attacks/tree-path.attack.test.ts',
    ],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
