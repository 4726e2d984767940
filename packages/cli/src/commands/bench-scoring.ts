/**
 * `fedscore bench scoring`: the scoring targets on this machine, quickly: batch portfolio scoring
 * (30,000 x 23 by default, synthetic columns and model), and the online joint score in both modes.
 * The committed benchmark (benchmarks/src/scoring.bench.ts) runs the same measurements on default_credit.
 */
import { FedscoreError } from '@fedscore/core';
import { benchBatchScoring, benchOnlineScoring, syntheticPortfolio } from '@fedscore/scoring';
import { type Command, num } from '../command.ts';

export const command: Command = {
  path: ['bench', 'scoring'],
  summary: 'benchmark scoring under encryption (batch 30k x 23, online p50/p99 in both modes)',
  description: `
Prints {"batch_30k_seconds", "max_abs_error", "online_p50_ms", "online_p99_ms", "band_p50_ms",
"band_p99_ms", ...} with --json. Batch: end to end with keys and workers warm (median of --runs);
online: --requests requests with warm keys. Targets: batch <= 1.5 s, online exact p50 <= 30 ms and
p99 <= 100 ms (on an idle 2-core machine; other load slows every figure).`,
  options: {
    records: { type: 'integer', default: 30_000, description: 'batch records' },
    features: { type: 'integer', default: 23, description: 'batch features' },
    runs: { type: 'integer', default: 3, description: 'timed batch runs (median reported)' },
    requests: { type: 'integer', default: 1000, description: 'online requests per mode' },
    workers: { type: 'integer', default: 2, description: 'worker threads per party' },
  },
  async run(options, _positionals, ctx) {
    for (const k of ['records', 'features', 'runs', 'requests']) {
      if (num(options, k) < 1) throw new FedscoreError('out_of_range', 'must be >= 1', { field: `--${k}` });
    }
    const data = syntheticPortfolio(num(options, 'records'), num(options, 'features'));
    ctx.progress({ stage: 'batch', done: 0, total: 3 });
    const batch = await benchBatchScoring({
      ...data,
      runs: num(options, 'runs'),
      poolSize: num(options, 'workers'),
    });
    ctx.progress({ stage: 'online exact', done: 1, total: 3 });
    const exact = await benchOnlineScoring('exact', num(options, 'requests'));
    ctx.progress({ stage: 'online band', done: 2, total: 3 });
    const band = await benchOnlineScoring('band', num(options, 'requests'));
    ctx.print(
      `batch ${batch.records} x ${batch.features}: ${batch.medianSeconds.toFixed(3)} s (median), max error ${batch.maxAbsError.toExponential(2)}`,
    );
    ctx.print(`online exact: p50 ${exact.p50Ms.toFixed(2)} ms, p99 ${exact.p99Ms.toFixed(2)} ms`);
    ctx.print(`online band:  p50 ${band.p50Ms.toFixed(2)} ms, p99 ${band.p99Ms.toFixed(2)} ms`);
    return {
      batch_30k_seconds: batch.medianSeconds,
      batch_30k_cpu_seconds: batch.medianCpuSeconds,
      max_abs_error: batch.maxAbsError,
      online_p50_ms: exact.p50Ms,
      online_p99_ms: exact.p99Ms,
      band_p50_ms: band.p50Ms,
      band_p99_ms: band.p99Ms,
      online_max_abs_error: exact.maxAbsError,
      band_wrong: band.wrongBands,
      batch_records: batch.records,
      batch_features: batch.features,
      batch_runs_seconds: batch.runSeconds,
      auc_plain: batch.aucPlain ?? null,
      auc_encrypted: batch.aucEncrypted ?? null,
    };
  },
};
