/**
 * The node's side of a job's stages: what each party does in each stage is written once in
 * @fedscore/pipeline (the stage functions and their registry, `HETERO_LR_PIPELINE`); this file binds
 * them to a node -- its job store and state directory as the stages' `PipelineStore`, its datasets, its
 * consent registry and PSI policy, its HE acceptance, its model registry (publish registers the version)
 * and the test-only fault injection. Parties, messages and what each learns per stage:
 * docs/protocols/node-job.md and the pipeline's stage files (packages/pipeline/src/stages/*).
 *
 * Threat model: as the protocols' (semi-honest parties; the arbiter colludes with no one); the node adds
 * authenticated, encrypted transport (mutual TLS) and refuses messages outside a granted stage attempt.
 * Reproducibility: the split and the training schedule derive from the job's seed, PSI's aligned result
 * is deterministic, so a re-run stage yields the same outputs; only HE noise differs between attempts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Channel,
  FedscoreError,
  type Logger,
  normalizeUscc,
  type PartyId,
  type ProgressCallback,
  type Table,
} from '@fedscore/core';
import {
  type EvaluateCheckpoint,
  type HeAcceptance,
  type HflPublishOutcome,
  type HflSecAggStep,
  type ConsentCheck as PipelineConsentCheck,
  type PipelineStore,
  type PsiCheckpoint,
  type PsiPolicy,
  type PublishCheckpoint,
  type PublishOutcome,
  pipelineFor,
  partyFeatures as pipelinePartyFeatures,
  runStageRole as runPipelineStage,
  type SecureBoostPublishOutcome,
  stageOf,
} from '@fedscore/pipeline';
import type { PsiBlindOffload } from '@fedscore/psi';
import type { CreditRules } from '@fedscore/scoring';
import type {
  BinSumOffload,
  PackedProductOffload,
  PartyFeatures,
  SecureBoostHistogramOffload,
} from '@fedscore/vfl';
import { enterpriseSetFingerprint } from '../audit/index.ts';
import type { ConsentFilterResult } from '../consent/index.ts';
import type { ModelRegistry } from '../registry/index.ts';
import type { TestFault } from './fault.ts';
import { registerHflModel } from './hfl.ts';
import { HFL_JOB_KIND } from './hfl-spec.ts';
import type { JobStore } from './job-store.ts';
import { registerSecureBoostModel } from './secureboost.ts';
import { SECUREBOOST_JOB_KIND } from './secureboost-spec.ts';
import { type JobSpec, type StageName, TREE_SCORE_JOB_KIND } from './spec.ts';
import { scoringModelPart } from './tree-score.ts';

export type {
  BinningCheckpoint,
  ConsentedSetRecord,
  ConsentSummary,
  EvaluateCheckpoint,
  HeAcceptance,
  PsiCheckpoint,
  PsiPolicy,
  PublishCheckpoint,
  TrainCheckpoint,
} from '@fedscore/pipeline';
export {
  ALIGN_PROTOCOL,
  admitSubmittedIds,
  EVALUATE_PROTOCOL,
  heOptIns,
  MASK_SEED_SECRET,
  maskKeyFor,
  NODE_PROTOCOL_VERSION,
  PUBLISH_PROTOCOL,
  SELECT_PROTOCOL,
} from '@fedscore/pipeline';

/**
 * A host's consent check of one job: the filter applied to a list of its enterprise ids (the runner's
 * is `ConsentRegistry.filterByConsentAsync`, which yields to the event loop between steps).
 */
export type ConsentCheck = (ids: readonly string[]) => ConsentFilterResult | Promise<ConsentFilterResult>;

export interface StageContext {
  readonly spec: JobSpec;
  readonly party: PartyId;
  /** The attempt key (session-id prefix). */
  readonly key: string;
  /** The stage attempt (0, 1, ...). */
  readonly attempt: number;
  readonly channel: Channel;
  readonly jobs: JobStore;
  /** This party's dataset by config name. */
  readonly data: (name: string) => Promise<Table>;
  readonly stateDir: string;
  readonly logger: Logger;
  readonly progress: ProgressCallback;
  /** Hosts that require consent: the check of this job (absent = every enterprise takes part). */
  readonly consent?: ConsentCheck;
  /** Hosts: bounds on the guest's submitted PSI set (absent: only PSI's own `maxPeerCount`). */
  readonly psiPolicy?: PsiPolicy;
  /** What this party's node accepts of HE (config `he`; absent: neither opt-in). */
  readonly he?: HeAcceptance;
  /** Where the train stage's packed products run (config `queue: pgboss`). */
  readonly offload?: PackedProductOffload;
  /** Where a binning host's encrypted bin sums run (the same queue). */
  readonly binSumOffload?: BinSumOffload;
  /** Where a SecureBoost host's CKKS histograms run (the same queue). */
  readonly secureBoostOffload?: SecureBoostHistogramOffload;
  /** Where this party's PSI blinding runs (the same queue). */
  readonly psiOffload?: PsiBlindOffload;
  /** Where publish registers the model (absent: files only); a scoring job reads its model part here. */
  readonly models?: ModelRegistry;
  /** A scoring job's guest: credit rules for bands and lines (config `scoring.api.rules`). */
  readonly creditRules?: CreditRules;
  /** Test-only fault injection (`fault.ts`). */
  readonly testFault?: TestFault;
}

/** The protocols (and versions) whose messages a stage attempt accepts (the pipeline's stage registry). */
export function stageProtocols(stage: StageName, spec?: Pick<JobSpec, 'kind'>): Record<string, number> {
  return { ...stageOf(pipelineFor(spec?.kind ?? 'hetero-lr'), stage).protocols };
}

/** Run this party's side of `stage` of a job: the pipeline's stage function, bound to this node. */
export async function runStageRole(stage: StageName, ctx: StageContext): Promise<unknown> {
  // Test-only (fault.ts): die at the first progress report after the epoch's checkpoint is committed.
  let killArmed = false;
  const consent = ctx.consent as PipelineConsentCheck | undefined;
  const output = await runPipelineStage(stageOf(pipelineFor(ctx.spec.kind ?? 'hetero-lr'), stage), {
    spec: ctx.spec,
    party: ctx.party,
    key: ctx.key,
    channel: ctx.channel,
    store: nodeStore(ctx),
    table: () => ownTable(ctx),
    labelField: `data.${ctx.spec.data[ctx.party]}.label`,
    logger: ctx.logger,
    progress: (p) => {
      if (killArmed) process.kill(process.pid, 'SIGKILL');
      ctx.progress(p);
    },
    onEpochSaved: (epoch) => {
      if (epoch === ctx.testFault?.killAfterEpoch) killArmed = true;
    },
    ...(ctx.testFault?.hflDropout !== undefined && { onSecAggStep: hflDropoutHook(ctx) }),
    ...(consent !== undefined && { consent }),
    ...(ctx.psiPolicy !== undefined && { psiPolicy: ctx.psiPolicy }),
    ...(ctx.he !== undefined && { he: ctx.he }),
    ...(ctx.offload !== undefined && { offload: ctx.offload }),
    ...(ctx.binSumOffload !== undefined && { binSumOffload: ctx.binSumOffload }),
    ...(ctx.secureBoostOffload !== undefined && { secureBoostOffload: ctx.secureBoostOffload }),
    ...(ctx.psiOffload !== undefined && { psiOffload: ctx.psiOffload }),
    ...(ctx.spec.kind === TREE_SCORE_JOB_KIND && {
      scoringModel: () => scoringModelPart(ctx),
      ...(ctx.creditRules !== undefined && ctx.party === ctx.spec.guest && { creditRules: ctx.creditRules }),
    }),
  });
  if (stage !== 'publish') return output;
  if (ctx.spec.kind === TREE_SCORE_JOB_KIND) return output;
  if (ctx.spec.kind === HFL_JOB_KIND) return registerHflModel(ctx, output as HflPublishOutcome);
  if (ctx.spec.kind === SECUREBOOST_JOB_KIND) {
    return registerSecureBoostModel(
      { ...ctx, table: () => ownTable(ctx) },
      output as SecureBoostPublishOutcome,
    );
  }
  const out = output as PublishOutcome;
  if (ctx.models === undefined || out.joint === undefined)
    return { files: out.files } satisfies PublishCheckpoint;
  const model = await registerJobModel(ctx, ctx.models, out);
  return { files: out.files, model } satisfies PublishCheckpoint;
}

/**
 * Test-only (fault.ts): an 'hfl' bank that drops out of a round after a secure-aggregation step, by
 * stalling there for good or by killing its own process.
 */
function hflDropoutHook(ctx: StageContext): (round: number, step: HflSecAggStep) => Promise<void> {
  const f = ctx.testFault!.hflDropout!;
  return (round, step) => {
    if (round !== f.round || step !== f.step) return Promise.resolve();
    ctx.logger.warn('test fault: dropping out of the hfl round', { round, step, how: f.how });
    if (f.how === 'kill') process.kill(process.pid, 'SIGKILL');
    return new Promise<void>(() => {});
  };
}

/** The node's job store and state directory as the pipeline's store of this job and stage attempt. */
function nodeStore(ctx: StageContext): PipelineStore {
  return jobPipelineStore(ctx.jobs, ctx.spec.id, ctx.attempt, ctx.stateDir, ctx.testFault);
}

/**
 * Job `id`'s state in this node's job store (SQLite or PostgreSQL) and state directory, as the pipeline's
 * store of one attempt of a stage: the stages' checkpoints, the within-stage (per-epoch, per-tree)
 * checkpoints, the party secrets, the job's events and its artifacts under `<stateDir>/models/<id>`.
 */
export function jobPipelineStore(
  jobs: JobStore,
  id: string,
  attempt: number,
  stateDir: string,
  testFault?: TestFault,
): PipelineStore {
  const dir = join(stateDir, 'models', id);
  return {
    checkpoint: <T>(s: string) => jobs.requireCheckpoint<T>(id, s as StageName),
    epochCheckpoints: (s) => jobs.epochCheckpoints(id, s as StageName),
    saveEpochCheckpoint: (s, epoch, bytes) => {
      // Test-only (fault.ts): freeze just before this write; it is the first thing done on SIGCONT.
      if (epoch === testFault?.stopBeforeEpoch) process.kill(process.pid, 'SIGSTOP');
      jobs.saveEpochCheckpoint(id, s as StageName, attempt, epoch, bytes);
    },
    dropEpochCheckpoint: (s, epoch) => jobs.dropEpochCheckpoint(id, s as StageName, epoch),
    partySecret: (name) => jobs.partySecret(name),
    event: (kind, s, detail) => jobs.event(id, kind, s, attempt, detail),
    lastEvent: (kind) => jobs.lastEvent(id, kind)?.detail ?? undefined,
    writeArtifact: (name, text) => {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const p = join(dir, name);
      writeFileSync(p, text, { mode: 0o600 });
      return p;
    },
  };
}

async function ownTable(ctx: StageContext): Promise<Table> {
  const name = ctx.spec.data[ctx.party];
  if (name === undefined) {
    throw new FedscoreError('invalid_config', `the job names no dataset for '${ctx.party}'`, {
      field: `data.${ctx.party}`,
    });
  }
  return ctx.data(name);
}

/** Register the job's model in this party's registry once (a re-run publish finds its earlier version). */
async function registerJobModel(
  ctx: StageContext,
  models: ModelRegistry,
  out: PublishOutcome,
): Promise<string> {
  const joint = out.joint;
  if (joint === undefined)
    throw new FedscoreError('internal', 'publish gave no joint model', { field: 'publish' });
  const own = out.partyModel;
  const selection = out.selection;
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const name = ctx.spec.model ?? ctx.spec.id;
  const existing = models.list({ name }).find((m) => m.modelId === ctx.spec.id);
  if (existing !== undefined) return existing.ref;
  const table = await ownTable(ctx);
  const idsAt = (positions: Iterable<number>): string[] =>
    [...positions].map((p) => normalizeUscc(table.ids[psi.rows[p]!]!));
  const all = psi.rows.map((_, p) => p);
  const test = new Set(psi.test);
  // The guest's test-set curves (aggregate groups of >= the release floor of rows; hosts have none).
  const curves = ctx.jobs.checkpoint<EvaluateCheckpoint>(ctx.spec.id, 'evaluate')?.output.curves;
  // Fenced: a replica that lost the job's lease registers no model (job-store.ts, lease_epoch).
  const v = ctx.jobs.fenced(ctx.spec.id, () =>
    models.registerHeteroLr({
      name,
      jointModel: joint.descriptor,
      ...(curves !== undefined && { evaluation: curves }),
      ...(own !== undefined && { partyModel: own }),
      metrics: joint.metrics,
      // The same fingerprints on every party (each computes them from its own copy of the ids).
      dataFingerprints: {
        alignedSet: enterpriseSetFingerprint(idsAt(all)),
        trainingSet: enterpriseSetFingerprint(idsAt(all.filter((p) => !test.has(p)))),
        testSet: enterpriseSetFingerprint(idsAt(psi.test)),
      },
      lineage: {
        job: ctx.spec.id,
        ...(ctx.spec.binning.enabled && { binning: `${ctx.spec.id}/binning` }),
        ...(selection !== undefined && { selection }),
      },
    }),
  );
  ctx.logger.info('model registered', { model: v.ref });
  return v.ref;
}

/** Feature columns of `names` for `rows`: numeric as is (NaN = missing), categorical one-hot. */
export function partyFeatures(
  table: Table,
  names: readonly string[],
  rows: readonly number[],
): PartyFeatures {
  return pipelinePartyFeatures(table, rows, names);
}
