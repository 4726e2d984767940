import { defineConfig } from 'vitest/config';

// CI sets FEDSCORE_TEST_JSON to also write vitest's JSON report (for the pass/fail counts).
const jsonReport = process.env['FEDSCORE_TEST_JSON'];

export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'benchmarks/test/**/*.test.ts',
      'scripts/test/**/*.test.ts',
    ],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: jsonReport ? ['default', 'json'] : ['default'],
    ...(jsonReport ? { outputFile: { json: jsonReport } } : {}),
  },
});
