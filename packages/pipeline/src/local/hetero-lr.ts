/**
 * Hetero-LR with every party in this process, for `fedscore train hetero-lr`, `fedscore demo` and
 * `fedscore binning`'s alignment: the job's own stages (registry.ts) run by `runStageInProcess` over
 * the in-memory network with the real wire codec, each party with its own table and store:
 *
 *   1. psi (stages/align.ts): ECDH-PSI between the guest and each host; the guest keeps the rows in
 *      every intersection, in its own file order, and draws the label-stratified hold-out (hosts learn
 *      which aligned rows are test rows, as in FATE, where train and test are separate aligned tables);
 *   2. features: each party's own columns (`partyFeatures`: categories one-hot, missing values kept as
 *      NaN; the vfl roles impute and standardize their own columns, fitted on the training rows), or
 *      each party's WOE values (the CLI's `engineer` step);
 *   3. train (stages/train.ts): hetero-LR on the training rows;
 *   4. evaluate (stages/evaluate.ts): each host sends its partial linear predictor x_h . w_h and the
 *      guest adds its own (as FATE's hetero-LR prediction does), on the test rows and the training rows.
 *      Encrypted scoring is the scoring package's job, not this evaluation's.
 *
 * Also the small helpers the CLI's other commands share (`guestOnlyLr`, `subsetFeatures`, ...).
 */
import {
  auc,
  FedscoreError,
  featureColumns,
  fitLogisticRegression,
  ks,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  predictProba,
  standardize,
  type Table,
} from '@fedscore/core';
import type { PsiIdKindChoice } from '@fedscore/psi';
import {
  ARBITER_ID,
  type CipherProviderOptions,
  type EpochRecord,
  type HeteroLrHyperparams,
  type HeteroLrMode,
  type HeteroLrRuntime,
  type HeteroLrScheme,
  type JointModelDescriptor,
  type PartyFeatures,
  type PartyModel,
} from '@fedscore/vfl';
import type { EvaluateCheckpoint, PsiCheckpoint, PsiRunRecord, TrainCheckpoint } from '../checkpoints.ts';
import type { IdSource, InProcessSettings, JobPlan } from '../context.ts';
import { type BatchDefaults, resolveBatch } from '../defaults.ts';
import { HETERO_LR_PIPELINE, stageOf } from '../registry.ts';
import { trainPositions } from '../stages/rows.ts';
import {
  type InProcessParty,
  type InProcessRun,
  type MemoryStore,
  memoryStore,
  runStageInProcess,
} from './in-process.ts';

/** The rows `idx` of every column. */
export function subsetFeatures(f: PartyFeatures, idx: ArrayLike<number>): PartyFeatures {
  return {
    names: f.names,
    columns: f.columns.map((c) => {
      const out = new Float64Array(idx.length);
      for (let i = 0; i < idx.length; i++) out[i] = c[idx[i]!]!;
      return out;
    }),
  };
}

export interface Scores {
  readonly auc: number;
  readonly ks: number;
}

export interface HeSettings {
  readonly scheme: HeteroLrScheme;
  readonly ckksPreset?: 'ckks-8192' | 'ckks-8192-deep' | 'ckks-16384' | 'ckks-16384-release';
  /** Paillier modulus bits (default 2048; 1024 is below 128-bit security and flagged). */
  readonly paillierBits?: number;
}

/** What the output says about the security of a run, by scheme. */
export function securityNote(s: HeSettings, insecure: boolean): string {
  if (s.scheme === 'none') {
    return 'INSECURE DEBUG RUN (--he none): no encryption, every intermediate value crosses the wire in plaintext';
  }
  if (s.scheme === 'paillier') {
    return `BASELINE: Paillier-${s.paillierBits ?? 2048} variant (FATE-style, one ciphertext per value)${insecure ? '; modulus below 128-bit security: INSECURE' : ''}`;
  }
  return `CKKS ${s.ckksPreset ?? 'ckks-16384-release'}${insecure ? ' with INSECURE test parameters' : ' (128-bit security)'}`;
}

/**
 * The HE options for `trainHeteroLr`: Paillier below 2048 bits (the user's --paillier-bits) runs with
 * `allowWeakParameters`, flagged insecure and warned about; the plaintext scheme is a separate switch.
 */
export function cipherOptions(s: HeSettings, logger: Logger): CipherProviderOptions {
  const bits = s.paillierBits ?? 2048;
  return {
    logger,
    ...(s.ckksPreset !== undefined && { ckksPreset: s.ckksPreset }),
    ...(s.scheme === 'paillier' && { paillierBits: bits, allowWeakParameters: bits < 2048 }),
  };
}

/** A data party of an in-process hetero-LR run: its id, its own table and where its ids come from. */
export interface InProcessDataParty {
  readonly id: string;
  readonly table: Table;
  readonly idSource?: IdSource;
}

export interface InProcessHeteroLrInput {
  /** The label holder; its table must have the label. */
  readonly guest: InProcessDataParty;
  readonly hosts: readonly InProcessDataParty[];
  readonly mode: HeteroLrMode;
  readonly he: HeSettings;
  /** Every hyperparameter (`seed` also seeds the split); batch size and learning rate may be left out. */
  readonly hyperparams: HeteroLrHyperparams & { readonly maxEpochs: number; readonly seed: number };
  /** Share of each class held out (without `splitIds`). */
  readonly testFraction: number;
  /** The split as id lists of the guest's ids instead. */
  readonly splitIds?: InProcessSettings['splitIds'];
  /** PSI id kind (default 'auto') and blinding threads. */
  readonly idKind?: PsiIdKindChoice;
  readonly psiThreads?: number;
  /** Worker threads and cache of every party (default: vfl's, workers 'auto'). */
  readonly runtime?: HeteroLrRuntime;
  /**
   * Feature engineering between alignment and training (the CLI's WOE path, itself a protocol between
   * the parties): from each party's aligned rows and the training positions, each party's new table
   * with one row per aligned position (the guest's with the label). Training and evaluation read those.
   */
  readonly engineer?: (aligned: AlignedRows) => Promise<ReadonlyMap<string, Table>>;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

/** What alignment left: each party's table row of each aligned position, and the training positions. */
export interface AlignedRows {
  readonly rows: ReadonlyMap<string, readonly number[]>;
  readonly trainPositions: Uint32Array;
}

export interface InProcessHeteroLrResult {
  /** Each host's PSI run, as the guest saw it, and the PSI stage's wall time. */
  readonly psi: readonly PsiRunRecord[];
  readonly psiSeconds: number;
  /** Rows in every intersection (before id lists narrowed them). */
  readonly aligned: number;
  /** Per party id, its table row of each aligned position kept (guest first). */
  readonly rows: ReadonlyMap<string, readonly number[]>;
  /** Aligned positions trained on and held out. */
  readonly trainPositions: readonly number[];
  readonly testPositions: readonly number[];
  readonly batch: BatchDefaults;
  /** Every data party's model, guest first, and the joint descriptor. */
  readonly models: readonly PartyModel[];
  readonly descriptor: JointModelDescriptor;
  readonly history: readonly EpochRecord[];
  readonly epochs: number;
  readonly keptEpoch: number;
  /** Mean of the epochs' seconds, and the training stage's wall time (key generation included). */
  readonly secondsPerEpoch: number;
  readonly secondsTotal: number;
  /** Bytes each party sent during training. */
  readonly bytesSent: Readonly<Record<string, number>>;
  readonly train: Scores;
  readonly test: Scores;
  /** Bytes of the evaluation step: each host's plaintext partial predictions for train and test rows. */
  readonly evaluationBytes: number;
  readonly insecure: boolean;
  readonly security: string;
}

/** The job's `psi` stage over `run` (an empty intersection named as the CLI's `--id`). */
async function alignStage(run: InProcessRun): Promise<void> {
  await runStageInProcess(stageOf(HETERO_LR_PIPELINE, 'psi'), run).catch((e: unknown) => {
    // No consent is checked in process: an empty intersection is the ids (the CLI's --id column).
    if (e instanceof FedscoreError && e.code === 'invalid_argument' && e.field === 'data') {
      throw new FedscoreError(
        'invalid_argument',
        'the parties share no id: PSI found an empty intersection',
        {
          field: '--id',
          cause: e,
        },
      );
    }
    throw e;
  });
}

export interface InProcessAlignInput {
  /** The label holder (the align stage draws its hold-out by label; alignment alone ignores it). */
  readonly guest: InProcessDataParty;
  readonly hosts: readonly InProcessDataParty[];
  /** PSI id kind (default 'auto') and blinding threads. */
  readonly idKind?: PsiIdKindChoice;
  readonly psiThreads?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

export interface InProcessAlignment {
  readonly psi: readonly PsiRunRecord[];
  readonly psiSeconds: number;
  /** Per party id, its table row of each aligned position (the rows in every intersection). */
  readonly rows: ReadonlyMap<string, readonly number[]>;
}

/** Alignment alone, by the job's `psi` stage with every party in this process (e.g. `fedscore binning`). */
export async function alignInProcess(input: InProcessAlignInput): Promise<InProcessAlignment> {
  const data = [input.guest, ...input.hosts];
  const parties: InProcessParty[] = data.map((p) => ({
    id: p.id,
    table: p.table,
    store: memoryStore(),
    ...(p.idSource !== undefined && { idSource: p.idSource }),
  }));
  const plan: JobPlan = {
    id: `align-${Date.now().toString(36)}`,
    guest: input.guest.id,
    hosts: input.hosts.map((p) => p.id),
    seed: 1,
    testFraction: 0.5,
    binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'ckks' },
    train: { scheme: 'ckks', maxEpochs: 1 },
    consent: { purpose: 'training' },
    inProcess: {
      psi: {
        idKind: input.idKind ?? 'auto',
        ...(input.psiThreads !== undefined && { threads: input.psiThreads }),
      },
    },
  };
  const t0 = performance.now();
  await alignStage({
    plan,
    parties,
    ...(input.logger !== undefined && { logger: input.logger }),
    ...(input.progress !== undefined && { progress: input.progress }),
  });
  const psiSeconds = (performance.now() - t0) / 1000;
  const cp = (k: number): PsiCheckpoint => parties[k]!.store.checkpoint<PsiCheckpoint>('psi');
  return { psi: cp(0).psi ?? [], psiSeconds, rows: new Map(data.map((p, k) => [p.id, cp(k).rows])) };
}

/**
 * Hetero-LR with every party in this process, by the job's own stages (`psi`, `train`, `evaluate` of
 * `HETERO_LR_PIPELINE`, through `runStageInProcess`): what a node job runs over gRPC, run over the
 * in-memory network with each party's own store. The plan carries the in-process settings a node job
 * does not (the split seed as given or id lists, PSI's id kind, the full hyperparameters and runtime,
 * and a train-rows pass in evaluation).
 */
export async function runHeteroLrInProcess(input: InProcessHeteroLrInput): Promise<InProcessHeteroLrResult> {
  const logger = input.logger ?? noopLogger;
  const progress = input.progress ?? noProgress;
  const { he, hyperparams: h } = input;
  const arbiter = input.mode === 'arbiter' ? ARBITER_ID : undefined;
  const paillierBits = he.paillierBits ?? 2048;
  const weak = he.scheme === 'paillier' && paillierBits < 2048;
  const plain = he.scheme === 'none';
  const plan: JobPlan = {
    id: `hetero-lr-${Date.now().toString(36)}`,
    guest: input.guest.id,
    hosts: input.hosts.map((p) => p.id),
    arbiter,
    seed: h.seed,
    testFraction: input.testFraction,
    binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'ckks' },
    train: {
      scheme: he.scheme,
      ...(he.ckksPreset !== undefined && { ckksPreset: he.ckksPreset }),
      ...(he.scheme === 'paillier' && { paillierBits }),
      maxEpochs: h.maxEpochs,
      batchSize: h.batchSize,
      learningRate: h.learningRate,
      l2: h.l2,
      validationFraction: h.validationFraction,
    },
    consent: { purpose: 'training' },
    allowPlaintextScheme: plain,
    allowWeakParameters: weak,
    inProcess: {
      splitSeed: h.seed,
      ...(input.splitIds !== undefined && { splitIds: input.splitIds }),
      psi: {
        idKind: input.idKind ?? 'auto',
        ...(input.psiThreads !== undefined && { threads: input.psiThreads }),
      },
      hyperparams: h,
      ...(input.runtime !== undefined && { runtime: input.runtime }),
      evaluateTrain: true,
    },
  };
  // Choosing the plaintext scheme or weak parameters here is choosing it for every party of this run.
  const accepts = { allowPlaintextScheme: plain, allowWeakParameters: weak };
  const data = [input.guest, ...input.hosts];
  const parties: InProcessParty[] = [
    ...data.map((p) => ({
      id: p.id,
      table: p.table,
      store: memoryStore(),
      he: accepts,
      ...(p.idSource !== undefined && { idSource: p.idSource }),
    })),
    ...(arbiter === undefined ? [] : [{ id: arbiter, store: memoryStore(), he: accepts }]),
  ];
  const run: InProcessRun = { plan, parties, logger, progress };

  let t0 = performance.now();
  await alignStage(run);
  const psiSeconds = (performance.now() - t0) / 1000;
  const storeOf = (id: string): MemoryStore => parties.find((p) => p.id === id)!.store;
  const guestPsi = storeOf(input.guest.id).checkpoint<PsiCheckpoint>('psi');
  const trainPos = trainPositions(guestPsi);
  const rows = new Map(data.map((p) => [p.id, storeOf(p.id).checkpoint<PsiCheckpoint>('psi').rows]));
  let tables = new Map(data.map((p) => [p.id, p.table]));
  if (input.engineer !== undefined) {
    tables = new Map(await input.engineer({ rows, trainPositions: Uint32Array.from(trainPos) }));
    // Each party's new table holds its aligned rows in aligned order: position p is row p.
    for (const [k, p] of data.entries()) {
      const t = tables.get(p.id);
      if (t === undefined || t.nRows !== guestPsi.rows.length) {
        throw new FedscoreError(
          'internal',
          `no engineered table of ${guestPsi.rows.length} rows for ${p.id}`,
          {
            field: 'engineer',
          },
        );
      }
      const store = storeOf(p.id);
      const cp = store.checkpoint<PsiCheckpoint>('psi');
      store.save('psi', { ...cp, rows: cp.rows.map((_, i) => i) });
      parties[k] = { ...parties[k]!, table: t };
    }
  }

  // Batch size and learning rate left unset: the defaults for this many rows and the widest party.
  const widest = Math.max(
    ...data.map((p, k) => featureColumns(tables.get(p.id)!, []).names.length + (k === 0 ? 1 : 0)),
  );
  const batch = resolveBatch(trainPos.length, widest, h);
  const trainPlan: JobPlan = { ...plan, train: { ...plan.train, ...batch } };
  const bytesSent: Record<string, number> = {};
  t0 = performance.now();
  const trained = await runStageInProcess(stageOf(HETERO_LR_PIPELINE, 'train'), {
    ...run,
    plan: trainPlan,
    progress: epochProgress(progress),
    onMessage: (m) => {
      bytesSent[m.from] = (bytesSent[m.from] ?? 0) + m.bytes.length;
    },
  });
  const secondsTotal = (performance.now() - t0) / 1000;
  const evaluated = await runStageInProcess(stageOf(HETERO_LR_PIPELINE, 'evaluate'), run);

  const g = trained[input.guest.id] as TrainCheckpoint;
  const ev = evaluated[input.guest.id] as EvaluateCheckpoint;
  if (g.descriptor === undefined || g.model === undefined || ev.train === undefined) {
    throw new FedscoreError('internal', 'the guest kept no model or evaluation', { field: 'train' });
  }
  const history = g.history ?? [];
  const insecure = g.insecure || plain;
  const score = (s: { auc?: number; ks?: number }): Scores => ({
    auc: s.auc ?? Number.NaN,
    ks: s.ks ?? Number.NaN,
  });
  return {
    psi: guestPsi.psi ?? [],
    psiSeconds,
    aligned: guestPsi.aligned ?? guestPsi.rows.length,
    rows,
    trainPositions: trainPos,
    testPositions: guestPsi.test,
    batch,
    models: data.map((p) => (trained[p.id] as TrainCheckpoint).model!),
    descriptor: g.descriptor,
    history,
    epochs: g.epochs,
    keptEpoch: g.keptEpoch,
    secondsPerEpoch: g.epochs > 0 ? history.reduce((a, r) => a + r.seconds, 0) / g.epochs : 0,
    secondsTotal,
    bytesSent,
    train: score(ev.train),
    test: score(ev),
    evaluationBytes: 8 * guestPsi.rows.length * input.hosts.length,
    insecure,
    security: securityNote(he, insecure),
  };
}

/**
 * The guest alone, centralized on its own columns (which it may do): mean imputation and standardization
 * fitted on the training rows, then L2 logistic regression (l2 = 1 / C, as scikit-learn's C) by Newton.
 */
export function guestOnlyLr(
  features: PartyFeatures,
  labels: Float64Array,
  trainRows: Uint32Array,
  testRows: Uint32Array,
  c = 1,
): { train: Scores; test: Scores; features: number } {
  const d = features.columns.length;
  const means = features.columns.map((col) => {
    let s = 0;
    let n = 0;
    for (const r of trainRows) {
      const v = col[r]!;
      if (!Number.isNaN(v)) {
        s += v;
        n++;
      }
    }
    return n > 0 ? s / n : 0;
  });
  const matrix = (rows: Uint32Array): Float64Array => {
    const out = new Float64Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < d; j++) {
        const v = features.columns[j]![rows[i]!]!;
        out[i * d + j] = Number.isNaN(v) ? means[j]! : v;
      }
    }
    return out;
  };
  const scaled = standardize(matrix(trainRows), trainRows.length, d, {
    X: matrix(testRows),
    nRows: testRows.length,
  });
  const yTrain = gather(labels, trainRows);
  const yTest = gather(labels, testRows);
  const model = fitLogisticRegression(scaled.train, trainRows.length, d, yTrain, { l2: 1 / c });
  const pTrain = predictProba(model, scaled.train, trainRows.length);
  const pTest = predictProba(model, scaled.test!, testRows.length);
  return {
    train: { auc: auc(yTrain, pTrain), ks: ks(yTrain, pTrain).ks },
    test: { auc: auc(yTest, pTest), ks: ks(yTest, pTest).ks },
    features: d,
  };
}

export function gather(values: Float64Array, rows: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]!]!;
  return out;
}

/** Positions of `subset` ids within `ids` (every one must be present). */
export function positionsOf(ids: readonly string[], subset: readonly string[]): Uint32Array {
  const pos = new Map<string, number>();
  ids.forEach((id, i) => {
    pos.set(id, i);
  });
  return Uint32Array.from(subset, (id, k) => {
    const p = pos.get(id);
    if (p === undefined) {
      throw new FedscoreError('not_found', `id number ${k + 1} of the split is not an aligned row`, {
        field: 'ids',
      });
    }
    return p;
  });
}

/**
 * Training progress as one bar per epoch ('hetero-LR epoch 3/10', batches done of total) instead of the
 * trainer's alternating batch and epoch events.
 */
export function epochProgress(progress: ProgressCallback): ProgressCallback {
  let epoch = 1;
  let maxEpochs: number | undefined;
  return (e) => {
    if (e.stage === 'hetero-lr epoch') {
      epoch = e.done + 1;
      maxEpochs = e.total;
      return;
    }
    if (e.stage === 'hetero-lr batch') {
      const of = maxEpochs === undefined ? '' : `/${maxEpochs}`;
      progress({ ...e, stage: `hetero-LR epoch ${epoch}${of}` });
      return;
    }
    progress(e);
  };
}
