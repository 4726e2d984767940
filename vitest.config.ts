import { configDefaults, defineConfig } from 'vitest/config';

// CI sets FEDSCORE_TEST_JSON to also write vitest's JSON report (for the pass/fail counts).
const jsonReport = process.env['FEDSCORE_TEST_JSON'];

/**
 * Packages whose tests compute in the test's own process (and its worker threads): no child processes,
 * servers, databases, browsers or leases with deadlines. Their files run first, FEDSCORE_TEST_UNIT_WORKERS
 * at a time (default 1: vitest's own default on a 2-core machine); the rest (party nodes over gRPC, CLI
 * and worker processes, PostgreSQL, Chromium, tarballs, benchmarks) always one file at a time, after
 * them. Measured on psi + hfl + he (28 files, all passing both ways): 2 workers took the same CPU time
 * (95 s vs 91 s user + sys) in 298 s instead of 535 s of wall time, on a machine loaded 14-25. CI
 * (.ci/run) runs them 2 at a time: the whole fresh-clone CI took 2489 s, against 2862-3011 s with 1.
 */
const UNIT = ['core', 'datasets', 'wire', 'he', 'psi', 'vfl', 'hfl', 'scoring', 'pipeline'];
const unitWorkersEnv = process.env['FEDSCORE_TEST_UNIT_WORKERS'] ?? '1';
const unitWorkers = Number(unitWorkersEnv);
if (!Number.isInteger(unitWorkers) || unitWorkers < 1) {
  throw new Error(`FEDSCORE_TEST_UNIT_WORKERS must be a positive integer, got '${unitWorkersEnv}'`);
}

export default defineConfig({
  test: {
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: jsonReport ? ['default', 'json'] : ['default'],
    ...(jsonReport ? { outputFile: { json: jsonReport } } : {}),
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT.map((p) => `packages/${p}/test/**/*.test.ts`),
          maxWorkers: unitWorkers,
          // Projects with different maxWorkers run as groups, in this order.
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            'packages/*/test/**/*.test.ts',
            'examples/*/test/**/*.test.ts',
            'benchmarks/test/**/*.test.ts',
            'scripts/test/**/*.test.ts',
          ],
          exclude: [...configDefaults.exclude, ...UNIT.map((p) => `packages/${p}/test/**`)],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
