/**
 * The SecureBoost model (`secureboost`): vertical gradient-boosted trees (Cheng et al. 2019,
 * "SecureBoost: A Lossless Federated Learning Framework"; docs/protocols/secureboost.md) as stages of
 * the one pipeline. Roles: the guest is the labelled bank (it holds the HE key, grows every tree and
 * holds the tree structure and leaf weights); each host is a feature holder (e.g. the government node)
 * that keeps its own bin edges and the (feature, bin) of every split it owns. Stages:
 *
 *   psi       the model-independent align stage (PSI on the consented set, the stratified hold-out).
 *   train     vfl's `SecureBoostGuest` / `SecureBoostHost` on the training rows, over this stage's
 *             session: encrypted gradients and hessians to the hosts, flooded per-bin sums back, the
 *             guest's split decisions to the owning host. Each party keeps only its own model.
 *   evaluate  vfl's federated batch prediction (`SecureBoostPredictGuest` / `...Host`) on the held-out
 *             rows: each host answers for its own split ids only (a bitmap per split: which rows go
 *             left); the guest walks the trees and computes AUC and KS.
 *   publish   each party writes its own model file (the versioned vfl format: the guest's trees with a
 *             host split as (host, opaque split id); a host's split ids with its own feature, bin and
 *             edges) and its feature importance over its own features only; the guest sends each host
 *             `secureboost-model` (the model id, the parties, the hyperparameters, the aggregate test
 *             AUC/KS: no tree, no weight, no feature name). Registering is the caller's (the node's) step.
 *
 * What each party learns beyond the protocols' own tables (docs/protocols/secureboost.md): the hosts,
 * the aggregate test AUC/KS and the settings. Feature importance (vfl's `guestFeatureImportance`,
 * `hostSplitTotals`, `hostFeatureImportance`): the guest counts splits and sums gains of its own features
 * by name and of each host's splits per host (it never learns which host feature a split is on); a host
 * counts its own splits per feature, and totals their gains only when the job sets `shareSplitGains` (a
 * split's gain is a function of the guest's label-derived sums over a node whose rows the host knows, so
 * by default the guest keeps it; FATE's hosts likewise see split-count importance only).
 * Per-party settings: a host applies the job's `colsampleByTree` to its own features and expects the
 * split gains when the job's `shareSplitGains` is set -- values of the job spec it accepted.
 * Resume within train (docs/protocols/secureboost.md, "Resume"): after every finished tree each party
 * writes its own per-tree checkpoint (vfl's `SecureBoostCheckpoint`: the guest its trees, margins,
 * records and early-stopping state; a host its split records and release count) into its store's
 * within-stage checkpoints, and a new attempt hands the ones it holds to vfl's handshake, which resumes
 * every party from the latest tree all hold. The draws (validation split, row and feature subsamples)
 * come from a per-job key (`secureBoostKeyFor`: an HMAC of the job and party under this party's own
 * 256-bit secret), so the resumed run draws what the uninterrupted one drew. A host's count of released
 * histograms is kept as job events (`histograms_released`, written before each release, never dropped)
 * and read at the start of every attempt: the job has one release budget however many attempts it takes.
 * Threat model: the protocols' (semi-honest parties, no collusion between the guest and a host); the
 * node adds mutual TLS and grants each stage attempt only its protocols.
 */
import { createHmac } from 'node:crypto';
import {
  auc,
  FedscoreError,
  featureColumns,
  ks,
  loadRngKey,
  type PartyId,
  type RngKey,
  type Table,
} from '@fedscore/core';
import {
  type FeatureImportance,
  guestFeatureImportance,
  hostFeatureImportance,
  hostSplitTotals,
  type PartyFeatures,
  parseGuestModel,
  parseHostModel,
  parseSecureBoostCheckpoint,
  type ReleaseLedger,
  SECUREBOOST_PREDICT_PROTOCOL,
  SECUREBOOST_PROTOCOL,
  SECUREBOOST_VERSION,
  type SecureBoostCheckpoint,
  SecureBoostGuest,
  type SecureBoostGuestModel,
  SecureBoostHost,
  type SecureBoostHostModel,
  type SecureBoostHyperparams,
  SecureBoostPredictGuest,
  SecureBoostPredictHost,
  serializeGuestModel,
  serializeHostModel,
  serializeSecureBoostCheckpoint,
  type TreeRecord,
} from '@fedscore/vfl';
import type { EvaluateCheckpoint, PsiCheckpoint } from '../checkpoints.ts';
import { heOptIns, type PartyRole, requireLabels, type StageContext, stageSession } from '../context.ts';
import { SECUREBOOST_DEFAULTS } from '../defaults.ts';
import {
  NODE_PROTOCOL_VERSION,
  PUBLISH_PROTOCOL,
  SECUREBOOST_MODEL_MESSAGE,
  type SecureBoostModelMessage,
} from '../messages.ts';
import type { StageDef } from '../stage-def.ts';
import type { PipelineStore } from '../store.ts';
import { trainPositions } from './rows.ts';
import { heldCheckpoints, taskPrefix } from './train.ts';

/** The model kind of the registry and of a node job's `kind`. */
export const SECUREBOOST_MODEL = 'secureboost';

/** The train stage's checkpoint on a party: its own model (serialized, the vfl format) and the run. */
export interface SecureBoostTrainCheckpoint {
  readonly role: 'guest' | 'host';
  /** This party's own model, `serializeGuestModel` / `serializeHostModel` text. */
  readonly model: string;
  /** The hyperparameters the guest trained with (the plan's over `SECUREBOOST_DEFAULTS`). */
  readonly hyperparams: SecureBoostHyperparams;
  readonly scheme: 'ckks' | 'paillier' | 'none';
  readonly insecure: boolean;
  /** On the guest: one record per tree (training loss, splits, seconds). */
  readonly history?: readonly TreeRecord[];
  /** The tree count this party's attempt resumed from (0: grown from the first tree; a host's own count). */
  readonly resumedFrom?: number;
  /**
   * On a host: histogram ciphertexts released for decryption over every attempt of the job, and the
   * budget its flooding was sized for.
   */
  readonly released?: number;
  readonly releaseBudget?: number;
  /**
   * On a host of a job with `shareSplitGains`: the gain of each of its split ids as the guest sent them
   * (JSON: a gain the guest did not send is null).
   */
  readonly splitGains?: readonly (number | null)[];
}

/** One feature's (or, on the guest, one host's) importance: splits on it and their summed gain. */
export interface SplitImportance {
  readonly splits: number;
  /** Summed split gain (loss reduction); absent where this party does not hold the gains (a host). */
  readonly gain?: number;
}

/** A party's feature importance, over its own features only (names of no other party's features). */
export interface SecureBoostImportance {
  readonly party: string;
  readonly role: 'guest' | 'host';
  /** Per own feature name (features never split on are listed with 0 splits). */
  readonly features: Readonly<Record<string, SplitImportance>>;
  /** On the guest: per host id, the splits of that host and their gain (which feature is not known). */
  readonly hosts?: Readonly<Record<string, SplitImportance>>;
}

/** What publish produced on this party (the node registers the version from it). */
export interface SecureBoostPublishOutcome {
  readonly files: string[];
  /** The joint facts every party holds (as sent by the guest). */
  readonly joint: SecureBoostModelMessage;
  /** This party's own model file (the vfl versioned format). */
  readonly partyModel: string;
  readonly importance: SecureBoostImportance;
}

/** Every feature column of this party's table on `rows`, or undefined when it has none (a label-only guest). */
function ownFeatures(table: Table, rows: ArrayLike<number>): PartyFeatures | undefined {
  const f = featureColumns(table, rows);
  return f.columns.length === 0 ? undefined : f;
}

/** The plan's hyperparameters over the defaults (new optional fields of vfl's options flow through). */
export function secureBoostHyperparams(ctx: StageContext): SecureBoostHyperparams {
  const { trees, depth, learningRate, bins } = SECUREBOOST_DEFAULTS;
  return { trees, depth, learningRate, bins, ...ctx.spec.secureboost };
}

/** The name of the party secret the SecureBoost generator keys derive from (`PipelineStore.partySecret`). */
export const SECUREBOOST_RNG_SECRET = 'secureboost.rng-seed';

/**
 * Trees' worth of releases a host's budget holds beyond the plan's (vfl's `retryTrees`): a failed attempt
 * re-releases at most one (partial) tree, and a node tries a stage 5 times by default (`maxAttempts`),
 * so 4 covers a job's default retries; a job past them is refused further releases (`release_budget`).
 */
export const SECUREBOOST_RETRY_TREES = 4;

/** The job event a host records before each histogram release (its count over every attempt). */
export const RELEASES_EVENT = 'histograms_released';

/**
 * The party's SecureBoost generator key for a job: HMAC-SHA256 of the job id and party under its own
 * 256-bit secret (as hetero-LR's `maskKeyFor`, with its own label): the same on every attempt, different
 * per job, unknown to every other party (checkpoints record only its one-way id).
 */
export async function secureBoostKeyFor(secret: Uint8Array, job: string, party: PartyId): Promise<RngKey> {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new FedscoreError('invalid_argument', 'expected a 256-bit (32-byte) secret', { field: 'secret' });
  }
  const key = createHmac('sha256', secret)
    .update(`fedscore/secureboost/rng-key/1\0${job}\0${party}`)
    .digest();
  return loadRngKey(new Uint8Array(key), 'secret');
}

/**
 * A host's release count kept in its store as job events (`histograms_released released=N budget=B`,
 * written before each release, never dropped: a retried or resumed attempt reads the last one).
 */
export function releaseLedgerOf(store: PipelineStore): ReleaseLedger {
  const last = store.lastEvent(RELEASES_EVENT);
  const m = /^released=(\d{1,15}) budget=(\d{1,15})$/.exec(last ?? '');
  if (last !== undefined && m === null) {
    throw new FedscoreError('store', 'unreadable release count of this job', { field: RELEASES_EVENT });
  }
  return {
    released: m === null ? 0 : Number(m[1]),
    ...(m !== null && { budget: Number(m[2]) }),
    record: (released, budget) =>
      store.event(RELEASES_EVENT, 'train', `released=${released} budget=${budget}`),
  };
}

function trainCheckpoint(ctx: StageContext): SecureBoostTrainCheckpoint {
  const t = ctx.store.checkpoint<SecureBoostTrainCheckpoint>('train');
  if (typeof t?.model !== 'string') {
    throw new FedscoreError('job_state', 'no SecureBoost model in the train checkpoint', { field: 'train' });
  }
  return t;
}

/** Stage `train`, every role: vfl's SecureBoost guest or host on the training rows. */
export async function trainSecureBoostStage(
  ctx: StageContext,
  role: PartyRole,
): Promise<SecureBoostTrainCheckpoint> {
  if (role === 'arbiter') {
    throw new FedscoreError('invalid_argument', 'SecureBoost has no arbiter', { field: 'arbiter' });
  }
  const t = ctx.spec.train;
  const { allowPlaintextScheme, allowWeakParameters } = heOptIns(ctx.spec, ctx.he);
  const table = await ctx.table();
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const session = stageSession(ctx, SECUREBOOST_PROTOCOL, SECUREBOOST_VERSION, 'trees');
  const hyperparams = secureBoostHyperparams(ctx);
  // Per-tree checkpoints: the ones held go to the handshake; each new one is saved as it is made.
  const resumeFrom = heldCheckpoints<SecureBoostCheckpoint>(ctx, parseSecureBoostCheckpoint);
  const onCheckpoint = (cp: SecureBoostCheckpoint): void => {
    ctx.store.saveEpochCheckpoint('train', cp.tree, serializeSecureBoostCheckpoint(cp));
    ctx.onEpochSaved?.(cp.tree);
  };
  const resumed = (from: number): void => {
    if (from === 0) return;
    ctx.store.event('train_resumed', 'train', `tree=${from}`);
    ctx.logger.info('training resumed', { tree: from, held: resumeFrom.length });
  };
  const rngKey = await secureBoostKeyFor(
    ctx.store.partySecret(SECUREBOOST_RNG_SECRET),
    ctx.spec.id,
    ctx.party,
  );
  if (role === 'guest') {
    // The guest's own opt-in too: choosing 'none' is the job's and this party's decision, not a default.
    if (t.scheme === 'none' && !allowPlaintextScheme) {
      throw new FedscoreError('policy', 'the plaintext scheme none is refused', { field: 'scheme' });
    }
    const labels = requireLabels(table, ctx);
    const features = ownFeatures(table, rows);
    const r = await new SecureBoostGuest({
      session,
      hosts: ctx.spec.hosts,
      ...(features !== undefined && { features }),
      labels: Float64Array.from(rows, (i) => labels[i]!),
      scheme: t.scheme,
      hyperparams,
      he: {
        ...(t.ckksPreset !== undefined && { ckksPreset: t.ckksPreset }),
        ...(t.paillierBits !== undefined && { paillierBits: t.paillierBits }),
        allowWeakParameters,
      },
      modelId: ctx.spec.id,
      rngKey,
      onCheckpoint,
      resumeFrom,
      logger: ctx.logger,
      onProgress: ctx.progress,
    }).run();
    resumed(r.resumedFrom);
    return {
      role,
      model: serializeGuestModel(r.model),
      hyperparams,
      scheme: t.scheme,
      insecure: r.insecure || t.scheme === 'none',
      history: r.history,
      resumedFrom: r.resumedFrom,
    };
  }
  const features = ownFeatures(table, rows);
  if (features === undefined) {
    throw new FedscoreError('invalid_argument', 'a host needs at least one feature column', {
      field: 'columns',
    });
  }
  const r = await new SecureBoostHost({
    session,
    guest: ctx.spec.guest,
    features,
    allowPlaintextScheme,
    allowWeakParameters,
    // The job's values, which this party accepted with the job (docs/protocols/secureboost.md, "As a
    // pipeline and a job"): its own feature draw per tree, and whether the guest sends split gains.
    ...(hyperparams.colsampleByTree !== undefined && { colsampleByTree: hyperparams.colsampleByTree }),
    receiveSplitGains: hyperparams.shareSplitGains === true,
    rngKey,
    onCheckpoint,
    resumeFrom,
    releaseLedger: releaseLedgerOf(ctx.store),
    retryTrees: SECUREBOOST_RETRY_TREES,
    // A node's queue: this job's histograms as tasks, their ids prefixed with the job and party.
    ...(ctx.secureBoostOffload !== undefined && {
      histogramOffload: {
        ...ctx.secureBoostOffload,
        taskIdPrefix: taskPrefix(`${ctx.spec.id}.${ctx.party}.sb`),
      },
    }),
    logger: ctx.logger,
    onProgress: ctx.progress,
  }).run();
  resumed(r.resumedFrom);
  return {
    role,
    model: serializeHostModel(r.model),
    hyperparams,
    scheme: t.scheme,
    insecure: t.scheme === 'none',
    resumedFrom: r.resumedFrom,
    released: r.released,
    releaseBudget: r.releaseBudget,
    ...(r.splitGains !== undefined && {
      splitGains: Array.from(r.splitGains, (g) => (Number.isFinite(g) ? g : null)),
    }),
  };
}

type Pass = 'test' | 'train';

function passes(ctx: StageContext): Pass[] {
  return ctx.spec.inProcess?.evaluateTrain === true ? ['test', 'train'] : ['test'];
}

function passRows(ctx: StageContext, pass: Pass): number[] {
  const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
  const positions = pass === 'test' ? psi.test : trainPositions(psi);
  return positions.map((p) => psi.rows[p]!);
}

/** The guest's scores of a pass: the hosts answer for their own splits; the guest walks the trees. */
export async function predictGuestPass(
  ctx: StageContext,
  model: SecureBoostGuestModel,
  pass: Pass,
): Promise<{ rows: number; auc: number; ks: number; margins: Float64Array }> {
  const table = await ctx.table();
  const labels = requireLabels(table, ctx);
  const rows = passRows(ctx, pass);
  const features = model.bins.length === 0 ? undefined : ownFeatures(table, rows);
  const margins = await new SecureBoostPredictGuest({
    session: stageSession(ctx, SECUREBOOST_PREDICT_PROTOCOL, SECUREBOOST_VERSION, `predict-${pass}`),
    hosts: ctx.spec.hosts,
    model,
    rows: rows.length,
    ...(features !== undefined && { features }),
  }).run();
  const y = Float64Array.from(rows, (r) => labels[r]!);
  return { rows: rows.length, auc: auc(y, margins), ks: ks(y, margins).ks, margins };
}

async function predictHostPass(ctx: StageContext, model: SecureBoostHostModel, pass: Pass): Promise<number> {
  const table = await ctx.table();
  const rows = passRows(ctx, pass);
  const features = ownFeatures(table, rows);
  if (features === undefined) {
    throw new FedscoreError('invalid_argument', 'a host needs at least one feature column', {
      field: 'columns',
    });
  }
  await new SecureBoostPredictHost({
    session: stageSession(ctx, SECUREBOOST_PREDICT_PROTOCOL, SECUREBOOST_VERSION, `predict-${pass}`),
    guest: ctx.spec.guest,
    model,
    features,
  }).run();
  return rows.length;
}

/** Stage `evaluate`: federated prediction on the held-out rows (and the training rows in process). */
export async function evaluateSecureBoostStage(
  ctx: StageContext,
  role: PartyRole,
): Promise<EvaluateCheckpoint> {
  const t = trainCheckpoint(ctx);
  if (role === 'guest') {
    const model = parseGuestModel(t.model);
    const test = await predictGuestPass(ctx, model, 'test');
    const out: EvaluateCheckpoint = {
      testRows: test.rows,
      auc: test.auc,
      ks: test.ks,
      ...(ctx.spec.inProcess !== undefined && { testMargins: Array.from(test.margins) }),
    };
    if (!passes(ctx).includes('train')) return out;
    const train = await predictGuestPass(ctx, model, 'train');
    return { ...out, train: { rows: train.rows, auc: train.auc, ks: train.ks } };
  }
  const model = parseHostModel(t.model);
  let testRows = 0;
  let trainRows: number | undefined;
  for (const pass of passes(ctx)) {
    const n = await predictHostPass(ctx, model, pass);
    if (pass === 'test') testRows = n;
    else trainRows = n;
  }
  return { testRows, ...(trainRows !== undefined && { train: { rows: trainRows } }) };
}

/** vfl's per-feature importance as the published record (name -> splits and, where known, gain). */
function byFeature(list: readonly FeatureImportance[]): Record<string, SplitImportance> {
  const out: Record<string, SplitImportance> = {};
  for (const f of list) out[f.feature] = { splits: f.splits, ...(f.gain !== undefined && { gain: f.gain }) };
  return out;
}

/**
 * The guest's importance (vfl's `guestFeatureImportance` and `hostSplitTotals`): its own features by
 * name, and each host's splits per host (no host feature name: it holds host splits by opaque id).
 */
export function guestImportance(party: string, model: SecureBoostGuestModel): SecureBoostImportance {
  const hosts: Record<string, SplitImportance> = {};
  for (const h of hostSplitTotals(model)) hosts[h.host] = { splits: h.splits, gain: h.gain };
  return { party, role: 'guest', features: byFeature(guestFeatureImportance(model)), hosts };
}

/**
 * A host's importance (vfl's `hostFeatureImportance`): splits per own feature, and their total gain
 * when the job shared the gains of its splits (`shareSplitGains`; else the gains stay with the guest).
 */
export function hostImportance(
  party: string,
  model: SecureBoostHostModel,
  splitGains?: readonly (number | null)[],
): SecureBoostImportance {
  const gains = splitGains === undefined ? undefined : splitGains.map((g) => g ?? Number.NaN);
  return { party, role: 'host', features: byFeature(hostFeatureImportance(model, gains)) };
}

/** Numbers, strings and booleans of the hyperparameters (the registry's parameters). */
function scalarParameters(h: SecureBoostHyperparams): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(h)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (v !== null && v !== undefined) out[k] = JSON.stringify(v);
  }
  return out;
}

/** Stage `publish`: each party writes its own model and importance; the guest tells the hosts the rest. */
export async function publishSecureBoostStage(
  ctx: StageContext,
  role: PartyRole,
): Promise<SecureBoostPublishOutcome> {
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    files.push(ctx.store.writeArtifact(name, text));
  };
  const t = trainCheckpoint(ctx);
  const session = (party: string) =>
    stageSession(ctx, PUBLISH_PROTOCOL, NODE_PROTOCOL_VERSION, `secureboost-model-${party}`);
  let joint: SecureBoostModelMessage;
  let importance: SecureBoostImportance;
  if (role === 'guest') {
    const model = parseGuestModel(t.model);
    const ev = ctx.store.checkpoint<EvaluateCheckpoint>('evaluate');
    joint = {
      modelId: model.modelId,
      guest: ctx.spec.guest,
      hosts: [...ctx.spec.hosts],
      scheme: t.scheme,
      trees: model.trees.length,
      parameters: scalarParameters(t.hyperparams),
      metrics: {
        ...(ev.auc !== undefined && { auc: ev.auc }),
        ...(ev.ks !== undefined && { ks: ev.ks }),
        testRows: ev.testRows,
      },
    };
    importance = guestImportance(ctx.party, model);
    for (const host of ctx.spec.hosts) {
      await session(host).send(host, SECUREBOOST_MODEL_MESSAGE, joint);
    }
    const psi = ctx.store.checkpoint<PsiCheckpoint>('psi');
    write(
      'metrics.json',
      `${JSON.stringify(
        {
          job: ctx.spec.id,
          model: SECUREBOOST_MODEL,
          test: ev,
          trees: model.trees.length,
          insecure: t.insecure,
          aligned: psi.rows.length,
          consent: psi.consent ?? null,
          history: t.history ?? [],
        },
        null,
        2,
      )}\n`,
    );
  } else if (role === 'host') {
    joint = await session(ctx.party).receive(ctx.spec.guest, SECUREBOOST_MODEL_MESSAGE);
    importance = hostImportance(ctx.party, parseHostModel(t.model), t.splitGains);
  } else {
    throw new FedscoreError('invalid_argument', 'SecureBoost has no arbiter', { field: 'arbiter' });
  }
  write(`${ctx.party}.secureboost.json`, `${t.model}\n`);
  write(`${ctx.party}.importance.json`, `${JSON.stringify(importance, null, 2)}\n`);
  return { files, joint, partyModel: t.model, importance };
}

/** Stage `train` of SecureBoost. */
export const SECUREBOOST_TRAIN_STAGE: StageDef = {
  name: 'train',
  protocols: { [SECUREBOOST_PROTOCOL]: SECUREBOOST_VERSION },
  roles: {
    guest: (ctx) => trainSecureBoostStage(ctx, 'guest'),
    host: (ctx) => trainSecureBoostStage(ctx, 'host'),
  },
};

/** Stage `evaluate` of SecureBoost: federated prediction on the held-out rows. */
export const SECUREBOOST_EVALUATE_STAGE: StageDef = {
  name: 'evaluate',
  protocols: { [SECUREBOOST_PREDICT_PROTOCOL]: SECUREBOOST_VERSION },
  roles: {
    guest: (ctx) => evaluateSecureBoostStage(ctx, 'guest'),
    host: (ctx) => evaluateSecureBoostStage(ctx, 'host'),
  },
};

/** Stage `publish` of SecureBoost: each party's own model and importance. */
export const SECUREBOOST_PUBLISH_STAGE: StageDef = {
  name: 'publish',
  protocols: { [PUBLISH_PROTOCOL]: NODE_PROTOCOL_VERSION },
  roles: {
    guest: (ctx) => publishSecureBoostStage(ctx, 'guest'),
    host: (ctx) => publishSecureBoostStage(ctx, 'host'),
  },
};
