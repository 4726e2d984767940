/**
 * `pnpm bench scoring [--data DIR] [--runs R] [--requests Q] [--rows N] [--workers 2]`: the issue's
 * scoring targets. `--rows N` scores the first N records of the portfolio only (the `bench all --smoke`
 * size; the summary's `*_30k_*` figures are then of N records, as `parameters.records` says).
 * `--workers W`: each party's worker threads in the batch runs (the smoke's 1 starts half the threads).
 *
 * - Batch portfolio scoring, 30,000 records x 23 features, end to end with keys and workers warm
 *   (data-owner symmetric encryption on 2 workers, the real wire encoding in memory, model-owner
 *   evaluation on 2 workers, decryption): target <= 1.5 s. Data: default_credit from ../shared/data
 *   (30,000 x 23, z-scored, pooled guest + host features) with a logistic regression fitted on it
 *   (core Newton LR, C = 1), so the AUC of encrypted and plaintext scores can be compared; where the
 *   data is absent, a synthetic 30,000 x 23 portfolio.
 * - Online joint score: Q requests (default 1,000) with warm keys, exact and band-only modes:
 *   target p50 <= 30 ms, p99 <= 100 ms for exact.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fitLogisticRegression } from '@fedscore/core';
import { CKKS_PRESETS } from '@fedscore/he';
import { BATCH_RELEASE_PRESET, batchReleasePolicy } from '@fedscore/scoring';
import type { BenchResult } from './report.ts';
import { benchBatchScoring, benchOnlineScoring, syntheticPortfolio } from './scoring-measure.ts';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
}

const log = (line: string): void => {
  process.stderr.write(`[scoring bench] ${line}\n`);
};

function readCsv(path: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

/** default_credit: guest (id, y, x0..x12) joined with host (id, x0..x9) on id; 23 columns. */
function defaultCredit(dir: string) {
  const guest = readCsv(join(dir, 'default_credit_hetero_guest.csv'));
  const host = readCsv(join(dir, 'default_credit_hetero_host.csv'));
  const hostById = new Map(host.rows.map((r) => [r[0]!, r]));
  const g = guest.header.length - 2;
  const h = host.header.length - 1;
  const rows = guest.rows.filter((r) => hostById.has(r[0]!));
  const n = rows.length;
  const columns = Array.from({ length: g + h }, () => new Float64Array(n));
  const labels = new Float64Array(n);
  rows.forEach((r, i) => {
    labels[i] = Number(r[1]);
    for (let j = 0; j < g; j++) columns[j]![i] = Number(r[j + 2]);
    const hr = hostById.get(r[0]!)!;
    for (let j = 0; j < h; j++) columns[g + j]![i] = Number(hr[j + 1]);
  });
  const X = new Float64Array(n * (g + h));
  for (let i = 0; i < n; i++) for (let j = 0; j < g + h; j++) X[i * (g + h) + j] = columns[j]![i]!;
  const lr = fitLogisticRegression(X, n, g + h, labels, { l2: 1 });
  const names = [
    ...guest.header.slice(2).map((c) => `guest_${c}`),
    ...host.header.slice(1).map((c) => `host_${c}`),
  ];
  return {
    model: { features: names, weights: Array.from(lr.coef), intercept: lr.intercept },
    columns,
    labels,
  };
}

export default async function run(args: string[]): Promise<BenchResult> {
  const dataDir = flag(args, 'data') ?? join(process.cwd(), '..', 'shared', 'data', 'default_credit');
  const runs = Number(flag(args, 'runs') ?? 5);
  const requests = Number(flag(args, 'requests') ?? 1000);
  const workers = Number(flag(args, 'workers') ?? 2);
  if (!(Number.isInteger(workers) && workers >= 0)) throw new Error('--workers needs a whole number >= 0');
  const loadStart = loadavg();
  const real = existsSync(join(dataDir, 'default_credit_hetero_guest.csv'));
  const all = real ? defaultCredit(dataDir) : syntheticPortfolio(30_000, 23);
  const rowsFlag = flag(args, 'rows');
  const rows = rowsFlag === undefined ? undefined : Number(rowsFlag);
  if (rows !== undefined && !(Number.isInteger(rows) && rows > 0))
    throw new Error('--rows needs a whole number > 0');
  const data =
    rows === undefined
      ? all
      : { ...all, columns: all.columns.map((c) => c.slice(0, rows)), labels: all.labels.slice(0, rows) };
  log(`${real ? 'default_credit' : 'synthetic'}: ${data.columns[0]!.length} x ${data.columns.length}`);
  const batch = await benchBatchScoring({ ...data, runs, poolSize: workers });
  log(`batch median ${batch.medianSeconds.toFixed(3)} s over ${runs} runs`);
  // Model-owner mode: keys on BATCH_RELEASE_PRESET, whose inputs must lie within +-8 (ckksValueBound);
  // the z-scored columns are clipped there (the reference scores use the same clipped columns).
  const bound = 8 * (1 - 2 ** -20);
  let clippedValues = 0;
  const clipped = data.columns.map((c) =>
    c.map((v) => {
      if (Math.abs(v) <= bound) return v;
      clippedValues++;
      return Math.sign(v) * bound;
    }),
  );
  const released = await benchBatchScoring({
    model: data.model,
    columns: clipped,
    labels: data.labels,
    runs: Math.min(runs, 3),
    poolSize: workers,
    resultTo: 'model-owner',
  });
  const releaseBlocks = Math.ceil(
    released.records / (CKKS_PRESETS[BATCH_RELEASE_PRESET].polyModulusDegree / 2),
  );
  const releaseSd = batchReleasePolicy(CKKS_PRESETS[BATCH_RELEASE_PRESET], releaseBlocks).noiseStdDev;
  log(`batch model-owner median ${released.medianSeconds.toFixed(3)} s, max error ${released.maxAbsError}`);
  const exact = await benchOnlineScoring('exact', requests);
  log(`online exact p50 ${exact.p50Ms.toFixed(2)} ms p99 ${exact.p99Ms.toFixed(2)} ms`);
  const band = await benchOnlineScoring('band', requests);
  log(`online band p50 ${band.p50Ms.toFixed(2)} ms p99 ${band.p99Ms.toFixed(2)} ms`);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
  const loadEnd = loadavg();
  return {
    summary: {
      batch_30k_seconds: batch.medianSeconds,
      batch_30k_cpu_seconds: batch.medianCpuSeconds,
      max_abs_error: batch.maxAbsError,
      online_p50_ms: exact.p50Ms,
      online_p99_ms: exact.p99Ms,
      band_p50_ms: band.p50Ms,
      band_p99_ms: band.p99Ms,
      auc_plain: batch.aucPlain ?? null,
      auc_encrypted: batch.aucEncrypted ?? null,
      model_owner_30k_seconds: released.medianSeconds,
      model_owner_30k_cpu_seconds: released.medianCpuSeconds,
      model_owner_max_abs_error: released.maxAbsError,
      model_owner_flooding_sd: releaseSd,
      model_owner_auc_encrypted: released.aucEncrypted ?? null,
    },
    parameters: {
      data: real
        ? 'default_credit (../shared/data), pooled 13 + 10 features, LR C=1'
        : 'synthetic 30,000 x 23',
      records: batch.records,
      features: batch.features,
      batchParams:
        'CKKS N=8192 q=[60,40,40,60] scale 2^40 (ckks-8192), seeded symmetric encryption, no compression',
      onlineParams: 'CKKS N=4096 q=[50,30,29] scale 2^30 (log q = 109, the 128-bit bound)',
      workersPerParty: workers,
      batchRuns: runs,
      onlineRequests: requests,
    },
    tables: [
      {
        title: 'Batch portfolio scoring (end to end, warm keys and workers)',
        columns: ['figure', 'ours', 'ANCHORS.md'],
        rows: [
          ['records x features', `${batch.records} x ${batch.features}`, '30,000 x 23'],
          [
            'median seconds',
            batch.medianSeconds,
            '1.13 s raw node-seal ops (public-key encryption), target <= 1.5 s',
          ],
          ['runs (s)', batch.runSeconds.map((s) => s.toFixed(3)).join(', '), ''],
          ['key generation + worker start (s, once)', batch.setupSeconds, 'context creation 253 ms'],
          [
            'process CPU s per run (all threads)',
            batch.cpuSeconds.map((s) => s.toFixed(2)).join(', '),
            'raw ops 1.13 s',
          ],
          ['CPU s / 2 cores (idle-machine wall estimate)', batch.medianCpuSeconds / 2, 'target <= 1.5 s'],
          ['max abs error vs plaintext', batch.maxAbsError, '1.3e-8 (raw, no flooding)'],
          [
            'AUC plaintext / encrypted',
            `${batch.aucPlain?.toFixed(6) ?? '-'} / ${batch.aucEncrypted?.toFixed(6) ?? '-'}`,
            '',
          ],
          [
            'MiB to model owner / back',
            `${mib(batch.bytesToModelOwner)} / ${mib(batch.bytesToDataOwner)}`,
            'seeded ct 192 KiB',
          ],
        ],
      },
      {
        title: 'Batch scoring, model owner learns the scores (release flooding sized for the key)',
        columns: ['figure', 'model-owner mode', 'data-owner mode (table above)'],
        rows: [
          ['CKKS preset', `${BATCH_RELEASE_PRESET} (N=16384, scale 2^55)`, 'ckks-8192 (N=8192, scale 2^40)'],
          [
            'records x features',
            `${released.records} x ${released.features}`,
            `${batch.records} x ${batch.features}`,
          ],
          ["input values clipped to +-8 (the preset's ckksValueBound)", clippedValues, 0],
          ['median seconds', released.medianSeconds, batch.medianSeconds],
          ['runs (s)', released.runSeconds.map((s) => s.toFixed(3)).join(', '), ''],
          [
            'process CPU s per run (all threads)',
            released.cpuSeconds.map((s) => s.toFixed(2)).join(', '),
            '',
          ],
          [
            'CPU s / 2 cores (idle-machine wall estimate)',
            released.medianCpuSeconds / 2,
            batch.medianCpuSeconds / 2,
          ],
          [
            'release flooding sd (sqrt(12 t) 2^15 E, 30 bits)',
            `${releaseSd.toExponential(2)} (t = ${releaseBlocks} blocks, fresh key per run)`,
            'none released (model owner floods 2^-20)',
          ],
          ['max abs error vs plaintext', released.maxAbsError, batch.maxAbsError],
          [
            'AUC plaintext / encrypted',
            `${released.aucPlain?.toFixed(6) ?? '-'} / ${released.aucEncrypted?.toFixed(6) ?? '-'}`,
            `${batch.aucPlain?.toFixed(6) ?? '-'} / ${batch.aucEncrypted?.toFixed(6) ?? '-'}`,
          ],
          [
            'MiB to model owner / back',
            `${mib(released.bytesToModelOwner)} / ${mib(released.bytesToDataOwner)}`,
            `${mib(batch.bytesToModelOwner)} / ${mib(batch.bytesToDataOwner)}`,
          ],
        ],
      },
      {
        title: `Online joint score (${requests} requests, warm keys)`,
        columns: ['mode', 'p50 ms', 'p99 ms', 'mean ms', 'bytes per request', 'check'],
        rows: [
          [
            'exact',
            exact.p50Ms,
            exact.p99Ms,
            exact.meanMs,
            exact.bytesPerRequest,
            `max abs error ${exact.maxAbsError.toExponential(2)}`,
          ],
          [
            'band only',
            band.p50Ms,
            band.p99Ms,
            band.meanMs,
            band.bytesPerRequest,
            `wrong bands ${band.wrongBands}`,
          ],
        ],
        note: 'Target (exact): p50 <= 30 ms, p99 <= 100 ms. ANCHORS.md has no online figure; at N=8192 one public-key encryption alone is 4.59 ms.',
      },
    ],
    notes: [
      'The machine is shared with other engineers (load average: last note): wall times are several times those of an idle box (node-seal symmetric encryption measured 12 ms here vs 1.53 ms in ANCHORS.md). The process CPU time of a run (all threads) is the load-independent figure: half of it estimates the idle 2-core wall time. Rerun on an idle box for the anchor conditions.',
      'Batch: the data owner holds the key and encrypts its own data with seeded symmetric encryption (ANCHORS: 1.53 ms vs 4.59 ms public-key); results carry flooding noise sd 2^-20 and a fresh encryption of zero.',
      "Model-owner mode: the data owner floods each released score with sd sqrt(12 t) 2^15 E (docs/protocols/batch-scoring.md; E = BATCH_RELEASE_ERROR_BOUND, t = the run's blocks under a fresh key); the table's max error is that noise (about 4-5 sd over 30,000 scores) plus the float64 step of the 2^30 mask.",
      `Load average (1 / 5 / 15 min) of this machine: ${load(loadStart)} at the start, ${load(loadEnd)} at the end of the run.`,
    ],
    raw: { batch, released, exact, band },
  };
}
