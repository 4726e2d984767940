/**
 * The scoring benchmark's measurements (benchmarks/src/scoring.bench.ts; `pnpm bench scoring`):
 * batch portfolio scoring end to end (encryption by the data owner on its workers, transfer through the
 * real wire encoding, evaluation on the model owner's workers, decryption) with keys and workers warm,
 * and the online joint score over `requests` requests in both modes. Timing only; no I/O.
 */
import {
  auc,
  createInMemoryNetwork,
  nearestRankPercentile,
  normal,
  ProtocolSession,
  type Rng,
  runParties,
  seededRng,
  uniform,
} from '@fedscore/core';
import {
  type LinearScoreModel,
  linearScores,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  type OnlineMode,
  OnlineScoringBank,
  OnlineScoringGovernment,
  runBatchScoring,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { median } from './report.ts';

export interface BatchBenchInput {
  readonly model: LinearScoreModel;
  readonly columns: readonly Float64Array[];
  readonly labels?: ArrayLike<number>;
  /** Timed runs (median reported). Default 3. */
  readonly runs?: number;
  readonly poolSize?: number;
  /** Who learns the scores. Default 'data-owner'; 'model-owner' runs on BATCH_RELEASE_PRESET keys. */
  readonly resultTo?: 'data-owner' | 'model-owner';
}

export interface BatchBenchResult {
  readonly records: number;
  readonly features: number;
  readonly runSeconds: readonly number[];
  readonly medianSeconds: number;
  /**
   * Process CPU seconds (all threads) of each timed run: on an idle 2-core machine the wall time of a
   * run is at least about half of it, and it does not grow with other processes' load as wall time does.
   */
  readonly cpuSeconds: readonly number[];
  readonly medianCpuSeconds: number;
  readonly setupSeconds: number;
  readonly maxAbsError: number;
  readonly bytesToModelOwner: number;
  readonly bytesToDataOwner: number;
  readonly aucPlain?: number;
  readonly aucEncrypted?: number;
}

/** Synthetic portfolio: `records` x `features` standard normal columns, a logistic label. */
export function syntheticPortfolio(
  records: number,
  features: number,
  rng: Rng = seededRng(1),
): { model: LinearScoreModel; columns: Float64Array[]; labels: Float64Array } {
  const columns = Array.from({ length: features }, () =>
    Float64Array.from({ length: records }, () => normal(rng)),
  );
  const model = {
    features: columns.map((_, j) => `x${j}`),
    weights: columns.map(() => normal(rng, 0, 0.3)),
    intercept: -1.4,
  };
  const z = linearScores(model, columns);
  const labels = Float64Array.from(z, (v) => (uniform(rng) < 1 / (1 + Math.exp(-v)) ? 1 : 0));
  return { model, columns, labels };
}

export async function benchBatchScoring(input: BatchBenchInput): Promise<BatchBenchResult> {
  const reference = linearScores(input.model, input.columns as Float64Array[]);
  const runs: number[] = [];
  const cpu: number[] = [];
  let setup = 0;
  let maxAbsError = 0;
  let last: Float64Array | undefined;
  let bytes = { toModel: 0, toData: 0 };
  for (let r = 0; r < (input.runs ?? 3); r++) {
    const out = await runBatchScoring({
      model: input.model,
      columns: input.columns,
      poolSize: input.poolSize ?? 2,
      ...(input.resultTo !== undefined && { resultTo: input.resultTo }),
    });
    cpu.push(out.runCpuSeconds);
    runs.push(out.runSeconds);
    setup = out.setupSeconds;
    for (let i = 0; i < reference.length; i++)
      maxAbsError = Math.max(maxAbsError, Math.abs(out.scores[i]! - reference[i]!));
    last = out.scores;
    bytes = { toModel: out.bytesToModelOwner, toData: out.bytesToDataOwner };
  }
  return {
    records: reference.length,
    features: input.columns.length,
    runSeconds: runs,
    medianSeconds: median(runs),
    cpuSeconds: cpu,
    medianCpuSeconds: median(cpu),
    setupSeconds: setup,
    maxAbsError,
    bytesToModelOwner: bytes.toModel,
    bytesToDataOwner: bytes.toData,
    ...(input.labels !== undefined &&
      last !== undefined && {
        aucPlain: auc(input.labels, reference),
        aucEncrypted: auc(input.labels, last),
      }),
  };
}

export interface OnlineBenchResult {
  readonly mode: OnlineMode;
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxAbsError: number;
  readonly wrongBands: number;
  readonly bytesPerRequest: number;
}

/** `requests` online requests with warm keys; partial scores drawn like scorecard points. */
export async function benchOnlineScoring(
  mode: OnlineMode,
  requests: number,
  seed = 3,
): Promise<OnlineBenchResult> {
  const rng = seededRng(seed);
  const thresholds = [660, 630, 600, 570];
  const gov = new Map<string, number>();
  const bankParts: { id: string; part: number }[] = [];
  for (let i = 0; i < requests; i++) {
    const id = `A${i}`;
    gov.set(id, 150 + 40 * normal(rng));
    bankParts.push({ id, part: 450 + 40 * normal(rng) });
  }
  const bank = await OnlineScoringBank.create({ mode, thresholds });
  // Both roles run here on synthetic scores: the benchmark measures exact mode's cost too, so its
  // government allows it (a real government's policy refuses exact mode by default).
  const government = new OnlineScoringGovernment({
    partialScoreOf: (id) => gov.get(id),
    policy: { allowExactMode: true, maxThresholds: thresholds.length },
  });
  const network = createInMemoryNetwork(['bank', 'government'], envelopeCodec);
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session: 'bench' };
  const lat: number[] = [];
  let maxAbsError = 0;
  let wrongBands = 0;
  await runParties(network, {
    gov: () => government.serve(new ProtocolSession(network.channel('government'), spec), 'bank'),
    bank: async () => {
      await bank.open(new ProtocolSession(network.channel('bank'), spec), 'government', 'bench');
      // warm-up requests (not timed): JIT and WASM caches
      for (let i = 0; i < Math.min(20, requests); i++) await bank.score(bankParts[i]!.id, bankParts[i]!.part);
      for (const { id, part } of bankParts) {
        const t0 = performance.now();
        const r = await bank.score(id, part);
        lat.push(performance.now() - t0);
        const s = part + gov.get(id)!;
        if (mode === 'exact') maxAbsError = Math.max(maxAbsError, Math.abs(r.score! - s));
        else {
          let k = 0;
          while (k < thresholds.length && s < thresholds[k]!) k++;
          if (k !== r.thresholdIndex) wrongBands++;
        }
      }
      await bank.close();
    },
  });
  const stats = network.channel('bank').stats();
  const total = (stats.bytesSent['government'] ?? 0) + (stats.bytesReceived['government'] ?? 0);
  bank.dispose();
  government.dispose();
  return {
    mode,
    requests,
    p50Ms: nearestRankPercentile(lat, 50),
    p99Ms: nearestRankPercentile(lat, 99),
    meanMs: lat.reduce((a, b) => a + b, 0) / lat.length,
    maxAbsError,
    wrongBands,
    bytesPerRequest: Math.round(total / (requests + Math.min(20, requests))),
  };
}
