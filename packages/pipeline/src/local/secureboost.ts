/**
 * SecureBoost with every party in this process, for `fedscore train secureboost`: the `secureboost`
 * pipeline's own stages (registry.ts: psi, train, evaluate, publish) run by `runStageInProcess` over the
 * in-memory network with the real wire codec, each party with its own table and store -- the role
 * functions a node runs over gRPC. The plan carries what a node job does not: the split seed as given
 * or id lists, PSI's id kind, and a training-rows pass in evaluation.
 */
import { FedscoreError, type Logger, noopLogger, noProgress, type ProgressCallback } from '@fedscore/core';
import type { PsiIdKindChoice } from '@fedscore/psi';
import {
  parseGuestModel,
  parseHostModel,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  type SecureBoostHyperparams,
  type TreeRecord,
} from '@fedscore/vfl';
import type { EvaluateCheckpoint, PsiCheckpoint, PsiRunRecord } from '../checkpoints.ts';
import type { InProcessSettings, JobPlan } from '../context.ts';
import { SECUREBOOST_PIPELINE, stageOf } from '../registry.ts';
import type {
  SecureBoostImportance,
  SecureBoostPublishOutcome,
  SecureBoostTrainCheckpoint,
} from '../stages/secureboost.ts';
import type { HeSettings, InProcessDataParty, Scores } from './hetero-lr.ts';
import { securityNote } from './hetero-lr.ts';
import { type InProcessParty, type MemoryStore, memoryStore, runStageInProcess } from './in-process.ts';

export interface InProcessSecureBoostInput {
  /** The label holder; its table must have the label. */
  readonly guest: InProcessDataParty;
  readonly hosts: readonly InProcessDataParty[];
  readonly he: HeSettings;
  /** vfl's hyperparameters, as given (over `SECUREBOOST_DEFAULTS`; unknown to this file, they flow through). */
  readonly hyperparams: SecureBoostHyperparams;
  /** Seed of the stratified hold-out (without `splitIds`). */
  readonly seed: number;
  /** Share of each class held out (without `splitIds`). */
  readonly testFraction: number;
  /** The split as id lists of the guest's ids instead. */
  readonly splitIds?: InProcessSettings['splitIds'];
  /** PSI id kind (default 'auto') and blinding threads. */
  readonly idKind?: PsiIdKindChoice;
  readonly psiThreads?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

export interface InProcessSecureBoostResult {
  readonly psi: readonly PsiRunRecord[];
  readonly psiSeconds: number;
  /** Rows in every intersection (before id lists narrowed them). */
  readonly aligned: number;
  readonly trainRows: number;
  readonly testRows: number;
  readonly guestModel: SecureBoostGuestModel;
  /** Each host's own model, in host order. */
  readonly hostModels: readonly SecureBoostHostModel[];
  /** Each party's feature importance over its own features, guest first. */
  readonly importance: readonly SecureBoostImportance[];
  /** Each party's published files (name -> text), guest first. */
  readonly files: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly history: readonly TreeRecord[];
  readonly trees: number;
  /** The train stage's wall time (key generation and the public context included), and per tree. */
  readonly secondsTotal: number;
  /** Mean of the trees' own seconds (encrypting g and h to the last split record). */
  readonly secondsPerTree: number;
  /** Bytes each party sent during training. */
  readonly bytesSent: Readonly<Record<string, number>>;
  readonly train: Scores;
  readonly test: Scores;
  /** The held-out rows: the guest's ids, labels and scores (log-odds), in the hold-out's order. */
  readonly testScores: {
    readonly ids: readonly string[];
    readonly labels: Float64Array;
    readonly margins: Float64Array;
  };
  readonly insecure: boolean;
  readonly security: string;
  /** Every party's store (checkpoints of every stage). */
  readonly stores: ReadonlyMap<string, MemoryStore>;
}

/** The SecureBoost pipeline's stages with every party in this process. */
export async function runSecureBoostInProcess(
  input: InProcessSecureBoostInput,
): Promise<InProcessSecureBoostResult> {
  const logger = input.logger ?? noopLogger;
  const progress = input.progress ?? noProgress;
  const he = input.he;
  const paillierBits = he.paillierBits ?? 2048;
  const weak = he.scheme === 'paillier' && paillierBits < 2048;
  const plain = he.scheme === 'none';
  const plan: JobPlan = {
    id: `secureboost-${Date.now().toString(36)}`,
    kind: SECUREBOOST_PIPELINE.model,
    guest: input.guest.id,
    hosts: input.hosts.map((p) => p.id),
    seed: input.seed,
    testFraction: input.testFraction,
    binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'ckks' },
    train: {
      scheme: he.scheme,
      ...(he.ckksPreset !== undefined && { ckksPreset: he.ckksPreset }),
      ...(he.scheme === 'paillier' && { paillierBits }),
      maxEpochs: 1,
    },
    consent: { purpose: 'training' },
    allowPlaintextScheme: plain,
    allowWeakParameters: weak,
    secureboost: input.hyperparams,
    inProcess: {
      splitSeed: input.seed,
      ...(input.splitIds !== undefined && { splitIds: input.splitIds }),
      psi: {
        idKind: input.idKind ?? 'auto',
        ...(input.psiThreads !== undefined && { threads: input.psiThreads }),
      },
      evaluateTrain: true,
    },
  };
  // Choosing the plaintext scheme or weak parameters here is choosing it for every party of this run.
  const accepts = { allowPlaintextScheme: plain, allowWeakParameters: weak };
  const data = [input.guest, ...input.hosts];
  const parties: InProcessParty[] = data.map((p) => ({
    id: p.id,
    table: p.table,
    store: memoryStore(),
    he: accepts,
    ...(p.idSource !== undefined && { idSource: p.idSource }),
  }));
  const run = { plan, parties, logger, progress };
  const storeOf = (id: string): MemoryStore => parties.find((p) => p.id === id)!.store;

  let t0 = performance.now();
  await runStageInProcess(stageOf(SECUREBOOST_PIPELINE, 'psi'), run).catch((e: unknown) => {
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
  const psiSeconds = (performance.now() - t0) / 1000;
  const guestPsi = storeOf(input.guest.id).checkpoint<PsiCheckpoint>('psi');

  const bytesSent: Record<string, number> = {};
  t0 = performance.now();
  const trained = await runStageInProcess(stageOf(SECUREBOOST_PIPELINE, 'train'), {
    ...run,
    onMessage: (m) => {
      bytesSent[m.from] = (bytesSent[m.from] ?? 0) + m.bytes.length;
    },
  });
  const secondsTotal = (performance.now() - t0) / 1000;
  const evaluated = await runStageInProcess(stageOf(SECUREBOOST_PIPELINE, 'evaluate'), run);
  const published = await runStageInProcess(stageOf(SECUREBOOST_PIPELINE, 'publish'), run);

  const g = trained[input.guest.id] as SecureBoostTrainCheckpoint;
  const ev = evaluated[input.guest.id] as EvaluateCheckpoint;
  if (ev.train === undefined) {
    throw new FedscoreError('internal', 'the guest kept no evaluation of the training rows', {
      field: 'evaluate',
    });
  }
  const history = g.history ?? [];
  const score = (s: { auc?: number; ks?: number }): Scores => ({
    auc: s.auc ?? Number.NaN,
    ks: s.ks ?? Number.NaN,
  });
  const insecure = g.insecure || plain;
  return {
    psi: guestPsi.psi ?? [],
    psiSeconds,
    aligned: guestPsi.aligned ?? guestPsi.rows.length,
    trainRows: guestPsi.rows.length - guestPsi.test.length,
    testRows: guestPsi.test.length,
    guestModel: parseGuestModel(g.model),
    hostModels: input.hosts.map((h) => parseHostModel((trained[h.id] as SecureBoostTrainCheckpoint).model)),
    importance: data.map((p) => (published[p.id] as SecureBoostPublishOutcome).importance),
    files: new Map(data.map((p) => [p.id, storeOf(p.id).artifacts])),
    history,
    trees: history.length,
    secondsTotal,
    secondsPerTree: history.length > 0 ? history.reduce((a, r) => a + r.seconds, 0) / history.length : 0,
    bytesSent,
    train: score(ev.train),
    test: score(ev),
    testScores: {
      ids: guestPsi.test.map((p) => input.guest.table.ids[guestPsi.rows[p]!]!),
      labels: Float64Array.from(guestPsi.test, (p) => input.guest.table.label![guestPsi.rows[p]!]!),
      margins: Float64Array.from(ev.testMargins ?? []),
    },
    insecure,
    security: securityNote(he, insecure),
    stores: new Map(data.map((p) => [p.id, storeOf(p.id)])),
  };
}
