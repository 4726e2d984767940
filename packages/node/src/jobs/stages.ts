/**
 * What each party does in each stage of a job, over its node's network `Channel`. One function per
 * stage and role; each reads this party's earlier checkpoints from its store and returns this stage's
 * checkpoint. Parties and messages per stage (the algorithm packages' own docs give their protocols):
 *
 *   psi       Each host first applies its consent registry to its own table
 *             (`ConsentRegistry.filterByConsent` for grantee = the guest, the job's purpose and categories,
 *             at the instant the host accepted the job) and runs PSI with the guest on the enterprises that
 *             consented only (packages/psi, mode 'both'); a guest announcing more ids than the host's policy
 *             allows (`PsiPolicy`: an absolute bound and a ratio to the host's consented set) is refused
 *             with `psi_policy` before the host sends any blinded id. The host then sends
 *             `consent-summary` (the aligned count, the consent-set reference and instant: no counts of
 *             its own table). The guest keeps the rows in every host's intersection, in its own file
 *             order, and sends each host `aligned-positions` (indices into that host's PSI result) and
 *             `test-positions` (the seeded, label-stratified hold-out). Hosts learn the aligned rows
 *             (enterprises that authorized this guest) and which are held out (as in FATE, where train
 *             and test are separate aligned tables), never a label, and nothing about the guest's other
 *             ids but their number; the guest learns which of its ids are among the host's consenting
 *             enterprises and their number, nothing about the host's non-consenting enterprises (issue 11,
 *             finding 3: PSI before consent told the guest which of its ids the host held whether or not
 *             they had consented).
 *   binning   guest: local bins + WOE/IV of its own columns; each host: its columns' bin sums under the
 *             guest's encrypted labels (packages/vfl WOE binning). The guest selects by IV (keeping at
 *             least the best feature of every party) and sends each host the names it keeps
 *             (`selected-features`): names only.
 *   train     hetero-LR (packages/vfl HeteroLrGuest / HeteroLrHost / HeteroLrArbiter) on the training
 *             rows and the selected features; each data party keeps its own part of the model.
 *   evaluate  each host sends its partial linear predictor x_h . w_h on the held-out rows
 *             (`partial-scores`, as FATE's hetero-LR prediction does); the guest adds its own and computes
 *             AUC and KS. A host learns nothing here; the guest learns the hosts' summed partial scores
 *             on held-out rows -- what joint scoring gives it anyway.
 *   publish   the guest sends each host `joint-model`: the joint descriptor (parties, published feature
 *             names, training settings -- what every party of the model may hold) and the test AUC/KS;
 *             each party writes its model (and the guest the joint descriptor and metrics) into its state
 *             directory and registers the version in its model registry (its own part of the model stays
 *             in its own registry). Hosts learn the joint model's aggregate test metrics.
 * Threat model: as the protocols' (semi-honest parties; the arbiter colludes with no one); the node adds
 * authenticated, encrypted transport (mutual TLS) and refuses messages outside a granted stage attempt.
 *
 * Reproducibility: the split and the training schedule derive from the job's seed, PSI's aligned result
 * is deterministic, so a re-run stage yields the same outputs; only HE noise differs between attempts.
 *
 * Training resumes within the stage (issue 8). Every role, the arbiter included, writes its hetero-LR
 * checkpoint at the end of every epoch into this party's store (`JobStore.saveEpochCheckpoint`, the last
 * 3 per job, one transaction each) and hands the ones it holds to the next attempt (`resumeFrom`); the
 * roles' handshake resumes every party from the latest epoch all of them hold. The guest's and hosts'
 * masks come from a per-job 256-bit key (`maskKeyFor`): an HMAC of the job id under this party's own
 * random 256-bit secret (`JobStore.partySecret`, kept in its store, never sent), from which hetero-LR
 * derives one ChaCha20 stream per release bound to the plan, this party's data, epoch and batch (vfl
 * plan.ts `maskSource`), so a resumed attempt on the same data draws the masks of the uninterrupted run and, under scheme 'none', ends bit-identical to it (CKKS: within its noise,
 * 1e-4; the jobs and integration tests check both).
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  auc,
  type Channel,
  type Column,
  defineStep,
  deriveSeed,
  FedscoreError,
  ks,
  type Logger,
  normalizeUscc,
  type PartyId,
  type ProgressCallback,
  ProtocolSession,
  seededRng,
  shuffleInPlace,
  type Table,
} from '@fedscore/core';
import { PSI_PROTOCOL, PSI_VERSION, runPsiGuest, runPsiHost } from '@fedscore/psi';
import {
  cipherProvider,
  type FeatureSelectionLineage,
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  HeteroLrArbiter,
  type HeteroLrCheckpoint,
  HeteroLrGuest,
  HeteroLrHost,
  type HeteroLrScheme,
  type IvScore,
  type JointModelDescriptor,
  type LrCipherProvider,
  type PartyFeatures,
  type PartyModel,
  parseCheckpoint,
  partyPartialScores,
  runWoeBinningGuest,
  runWoeBinningHost,
  selectByIv,
  serializeCheckpoint,
  serializeJointModel,
  serializePartyModel,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
  woeBinningLocal,
} from '@fedscore/vfl';
import { float64VectorStep, idListStep, uint32VectorStep } from '@fedscore/wire';
import { enterpriseSetFingerprint } from '../audit/index.ts';
import type { ConsentExclusions, ConsentFilterResult } from '../consent/index.ts';
import type { ModelRegistry } from '../registry/index.ts';
import type { TestFault } from './fault.ts';
import type { JobStore } from './job-store.ts';
import type { JobSpec, StageName } from './spec.ts';

/** The node's own small protocols around the algorithm packages' (names and versions on the wire). */
export const ALIGN_PROTOCOL = 'node.align';
export const SELECT_PROTOCOL = 'node.select';
export const EVALUATE_PROTOCOL = 'node.evaluate';
export const PUBLISH_PROTOCOL = 'node.publish';
/**
 * 3: PSI on the host's consented set; node.align carries `consent-summary` (aligned count, reference)
 * and no consented positions. (2: consent filtering after PSI.)
 */
export const NODE_PROTOCOL_VERSION = 3;
const CONSENT_SUMMARY = jsonStep('consent-summary', checkConsentSummary);
const JOINT_MODEL = jsonStep('joint-model', checkJointModelMessage);
const ALIGNED_POSITIONS = uint32VectorStep('aligned-positions');
const TEST_POSITIONS = uint32VectorStep('test-positions');
const SELECTED_FEATURES = idListStep('selected-features', { unique: true });
const PARTIAL_SCORES = float64VectorStep('partial-scores');

/** The protocols (and versions) whose messages a stage attempt accepts. */
export function stageProtocols(stage: StageName): Record<string, number> {
  switch (stage) {
    case 'psi':
      return { [PSI_PROTOCOL]: PSI_VERSION, [ALIGN_PROTOCOL]: NODE_PROTOCOL_VERSION };
    case 'binning':
      return { [WOE_BINNING_PROTOCOL]: WOE_BINNING_VERSION, [SELECT_PROTOCOL]: NODE_PROTOCOL_VERSION };
    case 'train':
      return { [HETERO_LR_PROTOCOL]: HETERO_LR_VERSION };
    case 'evaluate':
      return { [EVALUATE_PROTOCOL]: NODE_PROTOCOL_VERSION };
    case 'publish':
      return { [PUBLISH_PROTOCOL]: NODE_PROTOCOL_VERSION };
  }
}

/**
 * A host's consent check of a job, as the guest receives it: no identifiers and nothing about the host's
 * enterprises outside the intersection (PSI ran on the consented set only, so every aligned enterprise
 * is covered).
 */
export interface ConsentSummary {
  /** False when the host does not require consent (its config's governance.requireConsent). */
  readonly enforced: boolean;
  readonly purpose: string;
  /** Enterprises in the PSI intersection of the guest's ids with the host's consented set. */
  readonly aligned: number;
  /** `consentSetFingerprint` of the consents that cover the aligned set (absent when not enforced). */
  readonly consentRef?: string;
  /** The instant the consents were checked at (the host's acceptance of the job), ms since the epoch. */
  readonly at?: number;
}

/** What the host's consent check kept of its own table for PSI (host-local: never sent). */
export interface ConsentedSetRecord {
  /** Enterprises of the host's table that entered PSI. */
  readonly offered: number;
  readonly excluded: ConsentExclusions;
  readonly excludedTotal: number;
}

/** A host's consent check of one job: the filter applied to a list of its enterprise ids. */
export type ConsentCheck = (ids: readonly string[]) => ConsentFilterResult;

/** What a party's node accepts of HE in jobs (node config `he`), whatever the job's spec asks. */
export interface HeAcceptance {
  readonly allowPlaintextScheme: boolean;
  readonly allowWeakParameters: boolean;
}

/**
 * The HE opt-ins this party uses in a job: only those the job's spec asks for (`insecure`, deprecated,
 * asks for both) AND this party's own node config allows (absent config: neither).
 */
export function heOptIns(spec: JobSpec, accepted: HeAcceptance | undefined): HeAcceptance {
  return {
    allowPlaintextScheme:
      (spec.allowPlaintextScheme || spec.insecure) && accepted?.allowPlaintextScheme === true,
    allowWeakParameters:
      (spec.allowWeakParameters || spec.insecure) && accepted?.allowWeakParameters === true,
  };
}

/** A host's bounds on the id set a guest submits to PSI (node config `governance.psi`). */
export interface PsiPolicy {
  readonly maxSubmittedIds: number;
  /** Submitted ids per enterprise in the host's PSI set; 0 = no ratio bound. */
  readonly maxSubmittedRatio: number;
}

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
  /** Where publish registers the model (absent: files only). */
  readonly models?: ModelRegistry;
  /** Test-only fault injection (`fault.ts`). */
  readonly testFault?: TestFault;
}

/** Checkpoints, per stage and role. Row lists are positions in this party's own table. */
export interface PsiCheckpoint {
  /** This party's table row of each aligned position. */
  readonly rows: number[];
  /** Aligned positions held out for evaluation (sorted). */
  readonly test: number[];
  /** Consent check per data owner (host): on the guest every host's, on a host its own. */
  readonly consent?: Readonly<Record<string, ConsentSummary>>;
  /** On a host that requires consent: what its consent check kept of its own table (never sent). */
  readonly consentedSet?: ConsentedSetRecord;
}
export interface BinningCheckpoint {
  /** This party's features kept for training (column names). */
  readonly selected: string[];
  /** The guest's record of the selection (IV per party and feature, what was dropped and why). */
  readonly lineage?: FeatureSelectionLineage;
}
export interface TrainCheckpoint {
  readonly model?: PartyModel;
  readonly descriptor?: JointModelDescriptor;
  readonly epochs: number;
  readonly keptEpoch: number;
  readonly insecure: boolean;
  /** The epoch this attempt resumed from (0: trained from the start). */
  readonly resumedFrom: number;
}
export interface EvaluateCheckpoint {
  readonly testRows: number;
  readonly auc?: number;
  readonly ks?: number;
}
export interface PublishCheckpoint {
  readonly files: string[];
  /** The registry reference of the registered version (`name@N`), on parties with a registry. */
  readonly model?: string;
}

export async function runStageRole(stage: StageName, ctx: StageContext): Promise<unknown> {
  const role =
    ctx.party === ctx.spec.guest ? 'guest' : ctx.spec.hosts.includes(ctx.party) ? 'host' : 'arbiter';
  switch (stage) {
    case 'psi':
      return role === 'guest' ? psiGuest(ctx) : psiHost(ctx);
    case 'binning':
      return role === 'guest' ? binningGuest(ctx) : binningHost(ctx);
    case 'train':
      return train(ctx, role);
    case 'evaluate':
      return role === 'guest' ? evaluateGuest(ctx) : evaluateHost(ctx);
    case 'publish':
      return publish(ctx, role);
  }
}

function session(ctx: StageContext, protocol: string, version: number, name: string): ProtocolSession {
  return new ProtocolSession(ctx.channel, { protocol, version, session: `${ctx.key}/${name}` });
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

// ------------------------------------------------------------------------------------------------ psi

async function psiGuest(ctx: StageContext): Promise<PsiCheckpoint> {
  const table = await ownTable(ctx);
  const labels = requireLabels(table, ctx);
  const perHost: Map<number, number>[] = [];
  const consent: Record<string, ConsentSummary> = {};
  for (const host of ctx.spec.hosts) {
    const r = await runPsiGuest(table.ids, {
      channel: ctx.channel,
      peer: host,
      session: `${ctx.key}/psi-${host}`,
      mode: 'both',
      logger: ctx.logger,
      progress: ctx.progress,
    });
    if (r.rows === undefined) throw new FedscoreError('internal', 'PSI returned no rows', { field: 'psi' });
    const s = session(ctx, ALIGN_PROTOCOL, NODE_PROTOCOL_VERSION, `align-${host}`);
    const summary = await s.receive(host, CONSENT_SUMMARY);
    if (summary.aligned !== r.rows.length) {
      throw new FedscoreError('protocol_step', `${host}'s consent summary does not match the intersection`, {
        field: 'consent-summary.aligned',
      });
    }
    // Every position of the intersection is a consented enterprise: the host ran PSI on those only.
    const m = new Map<number, number>();
    r.rows.forEach((g, k) => {
      m.set(g, k);
    });
    perHost.push(m);
    consent[host] = summary;
  }
  // Rows in every host's intersection, in the guest's file order (PSI's own order is randomized).
  const kept = [...perHost[0]!.keys()].filter((g) => perHost.every((m) => m.has(g))).sort((a, b) => a - b);
  if (kept.length === 0) {
    // The guest cannot tell "not held" from "held without consent": that is the point.
    throw Object.values(consent).some((c) => c.enforced)
      ? new FedscoreError('consent', "no enterprise of this party is among the hosts' consenting ones", {
          field: 'consent',
        })
      : new FedscoreError('invalid_argument', 'the parties share no enterprise: empty intersection', {
          field: 'data',
        });
  }
  const test = stratifiedHoldout(
    kept.map((r) => labels[r]!),
    ctx.spec.testFraction,
    deriveSeed(ctx.spec.seed, 'test-split'),
  );
  for (const [h, host] of ctx.spec.hosts.entries()) {
    const s = session(ctx, ALIGN_PROTOCOL, NODE_PROTOCOL_VERSION, `align-${host}`);
    await s.send(
      host,
      ALIGNED_POSITIONS,
      Uint32Array.from(kept, (g) => perHost[h]!.get(g)!),
    );
    await s.send(host, TEST_POSITIONS, Uint32Array.from(test));
  }
  ctx.logger.info('psi stage done', {
    aligned: kept.length,
    test: test.length,
    hosts: ctx.spec.hosts.length,
  });
  return { rows: kept, test, consent };
}

async function psiHost(ctx: StageContext): Promise<PsiCheckpoint> {
  const table = await ownTable(ctx);
  // Consent first (issue 11, finding 3): the rows of this party's table that may take part in this job.
  // Only they enter PSI, so the guest learns nothing about an enterprise that did not authorize it --
  // not even whether this party holds it -- and this party nothing about the guest's other customers.
  const offered: number[] = [];
  let consentedSet: ConsentedSetRecord | undefined;
  if (ctx.consent === undefined) {
    table.ids.forEach((_, row) => {
      offered.push(row);
    });
  } else {
    const f = ctx.consent(table.ids);
    const ok = new Set(f.included);
    table.ids.forEach((id, row) => {
      const u = normalizeUscc(id);
      if (ok.delete(u)) offered.push(row);
    });
    consentedSet = { offered: offered.length, excluded: f.excluded, excludedTotal: f.excludedTotal };
    ctx.logger.info('consent applied before psi', {
      offered: offered.length,
      excluded: f.excludedTotal,
    });
    if (offered.length === 0) {
      throw new FedscoreError('consent', 'no enterprise of this party has consent for this use', {
        field: 'consent',
      });
    }
  }
  const policy = ctx.psiPolicy;
  const r = await runPsiHost(
    offered.map((row) => table.ids[row]!),
    {
      channel: ctx.channel,
      peer: ctx.spec.guest,
      session: `${ctx.key}/psi-${ctx.party}`,
      mode: 'both',
      logger: ctx.logger,
      progress: ctx.progress,
      ...(policy !== undefined && {
        admitPeerCount: (count: number) => admitSubmittedIds(count, offered.length, policy),
      }),
    },
  );
  if (r.rows === undefined) throw new FedscoreError('internal', 'PSI returned no rows', { field: 'psi' });
  const psiRows = Array.from(r.rows, (k) => offered[k]!);
  let summary: ConsentSummary;
  if (ctx.consent === undefined) {
    summary = { enforced: false, purpose: ctx.spec.consent.purpose, aligned: psiRows.length };
  } else {
    // The reference of the consents covering exactly the aligned set (the same instant as above).
    const g = ctx.consent(psiRows.map((row) => table.ids[row]!));
    if (g.included.length !== psiRows.length) {
      throw new FedscoreError('internal', 'an aligned enterprise lost its consent within the job', {
        field: 'consent',
      });
    }
    summary = {
      enforced: true,
      purpose: ctx.spec.consent.purpose,
      aligned: psiRows.length,
      consentRef: g.consentRef,
      at: g.at,
    };
  }
  const s = session(ctx, ALIGN_PROTOCOL, NODE_PROTOCOL_VERSION, `align-${ctx.party}`);
  await s.send(ctx.spec.guest, CONSENT_SUMMARY, summary);
  const positions = await s.receive(ctx.spec.guest, ALIGNED_POSITIONS);
  const test = await s.receive(ctx.spec.guest, TEST_POSITIONS);
  const rows = Array.from(positions, (k, i) => {
    const row = psiRows[k];
    if (row === undefined) {
      throw new FedscoreError('protocol_step', `aligned position ${i} points outside the intersection`, {
        field: 'aligned-positions',
      });
    }
    return row;
  });
  for (const t of test) {
    if (t >= rows.length) {
      throw new FedscoreError('protocol_step', 'a test position outside the aligned rows', {
        field: 'test-positions',
      });
    }
  }
  return {
    rows,
    test: Array.from(test),
    consent: { [ctx.party]: summary },
    ...(consentedSet !== undefined && { consentedSet }),
  };
}

/**
 * The host's policy on the guest's announced PSI set size: at most `maxSubmittedIds`, and at most
 * `maxSubmittedRatio` per enterprise of the host's own PSI set (`offered`). `psi_policy` otherwise.
 */
export function admitSubmittedIds(count: number, offered: number, policy: PsiPolicy): void {
  if (count > policy.maxSubmittedIds) {
    throw new FedscoreError(
      'psi_policy',
      `the guest submits ${count} ids to PSI; this data owner accepts at most ${policy.maxSubmittedIds}`,
      {
        field: 'governance.psi.maxSubmittedIds',
        details: { submitted: count, limit: policy.maxSubmittedIds },
      },
    );
  }
  const byRatio = Math.floor(policy.maxSubmittedRatio * offered);
  if (policy.maxSubmittedRatio > 0 && count > byRatio) {
    throw new FedscoreError(
      'psi_policy',
      `the guest submits ${count} ids to PSI; this data owner accepts at most ${policy.maxSubmittedRatio} per consenting enterprise (${byRatio})`,
      { field: 'governance.psi.maxSubmittedRatio', details: { submitted: count, limit: byRatio } },
    );
  }
}

/** Seeded, label-stratified hold-out: sorted positions. */
export function stratifiedHoldout(labels: readonly number[], fraction: number, seed: string): number[] {
  const rng = seededRng(seed);
  const test: number[] = [];
  for (const cls of [0, 1]) {
    const idx: number[] = [];
    labels.forEach((y, i) => {
      if (y === cls) idx.push(i);
    });
    shuffleInPlace(rng, idx);
    test.push(...idx.slice(0, Math.round(idx.length * fraction)));
  }
  return test.sort((a, b) => a - b);
}

function trainPositions(psi: PsiCheckpoint): number[] {
  const test = new Set(psi.test);
  const out: number[] = [];
  for (let i = 0; i < psi.rows.length; i++) if (!test.has(i)) out.push(i);
  return out;
}

// ------------------------------------------------------------------------------------------------ binning

async function binningGuest(ctx: StageContext): Promise<BinningCheckpoint> {
  const table = await ownTable(ctx);
  const labels = requireLabels(table, ctx);
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const y = Float64Array.from(rows, (r) => labels[r]!);
  const b = ctx.spec.binning;
  const local = woeBinningLocal(
    ctx.party,
    table.columns.map((c) => subsetColumn(c, rows)),
    y,
    {
      method: b.method,
      bins: b.bins,
    },
  );
  const scores: IvScore[] = local.map((l) => ({ party: ctx.party, name: l.model.name, iv: l.table.iv }));
  for (const host of ctx.spec.hosts) {
    const r = await runWoeBinningGuest(
      session(ctx, WOE_BINNING_PROTOCOL, WOE_BINNING_VERSION, `woe-${host}`),
      host,
      {
        labels: y,
        scheme: b.scheme,
        ...heOptIns(ctx.spec, ctx.he),
        logger: ctx.logger,
        progress: ctx.progress,
      },
    );
    for (const f of r.features) scores.push({ party: host, name: f.name, iv: f.table.iv });
  }
  const lineage = selectByIv(scores, { minIv: b.minIv });
  const selectedOf = (party: string): string[] => {
    const own = lineage.selected.filter((s) => s.party === party).map((s) => s.name);
    if (own.length > 0) return own;
    // A party with no feature above the threshold keeps its best one: hetero-LR needs a column per party.
    const best = scores.filter((s) => s.party === party).sort((a, c) => c.iv - a.iv)[0];
    return best === undefined ? [] : [best.name];
  };
  for (const host of ctx.spec.hosts) {
    const s = session(ctx, SELECT_PROTOCOL, NODE_PROTOCOL_VERSION, `select-${host}`);
    await s.send(host, SELECTED_FEATURES, selectedOf(host));
  }
  return { selected: selectedOf(ctx.party), lineage };
}

async function binningHost(ctx: StageContext): Promise<BinningCheckpoint> {
  const table = await ownTable(ctx);
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const b = ctx.spec.binning;
  await runWoeBinningHost(
    session(ctx, WOE_BINNING_PROTOCOL, WOE_BINNING_VERSION, `woe-${ctx.party}`),
    ctx.spec.guest,
    {
      columns: table.columns.map((c) => subsetColumn(c, rows)),
      binning: { method: b.method, bins: b.bins },
      allowSchemes: heOptIns(ctx.spec, ctx.he).allowPlaintextScheme
        ? ['ckks', 'paillier', 'none']
        : ['ckks', 'paillier'],
      ...heOptIns(ctx.spec, ctx.he),
      logger: ctx.logger,
      progress: ctx.progress,
    },
  );
  const s = session(ctx, SELECT_PROTOCOL, NODE_PROTOCOL_VERSION, `select-${ctx.party}`);
  const selected = await s.receive(ctx.spec.guest, SELECTED_FEATURES);
  const names = new Set(table.columns.map((c) => c.name));
  for (const n of selected) {
    if (!names.has(n)) {
      throw new FedscoreError('protocol_step', 'the guest selected a feature this party does not have', {
        field: 'selected-features',
      });
    }
  }
  return { selected };
}

// ------------------------------------------------------------------------------------------------ train

function selectedFeatures(ctx: StageContext, table: Table): string[] {
  if (!ctx.spec.binning.enabled) return table.columns.map((c) => c.name);
  return ctx.jobs.requireCheckpoint<BinningCheckpoint>(ctx.spec.id, 'binning').selected;
}

/** The name of the party secret the mask keys derive from (`JobStore.partySecret`). */
export const MASK_SEED_SECRET = 'hetero-lr.mask-seed';

/**
 * The party's hetero-LR mask key for a job: HMAC-SHA256 under its own 256-bit secret of the job id and
 * party, 32 bytes. The same on every attempt of the job (a resumed attempt draws the masks of the
 * uninterrupted run, hetero-LR binding them further to the plan and the party's data); different for
 * every job; unknown to every other party (the secret never leaves the node's store; the key is never
 * written anywhere -- checkpoints record only its one-way id). Before issue 11 this was a hex string
 * that the masks' seeded generator squeezed into 32 bits (brute-forced in ~30 s per core).
 */
export function maskKeyFor(secret: Uint8Array, job: string, party: PartyId): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) {
    throw new FedscoreError('invalid_argument', 'expected a 256-bit (32-byte) secret', {
      field: 'secret',
    });
  }
  return new Uint8Array(
    createHmac('sha256', secret).update(`fedscore/hetero-lr/mask-key/2\0${job}\0${party}`).digest(),
  );
}

/**
 * The hetero-LR checkpoints this party holds for the job (oldest first), parsed. A stored one that no
 * longer parses (corrupt bytes: the SHA-256 in its header catches any change) is dropped with a warning
 * and a job event: the handshake then resumes from an epoch every party still holds, or from the start.
 */
function heldCheckpoints(ctx: StageContext): HeteroLrCheckpoint[] {
  const held: HeteroLrCheckpoint[] = [];
  for (const r of ctx.jobs.epochCheckpoints(ctx.spec.id, 'train')) {
    try {
      held.push(parseCheckpoint(r.bytes));
    } catch (e) {
      const field = e instanceof FedscoreError ? (e.field ?? e.code) : 'bytes';
      ctx.logger.warn('stored training checkpoint refused; dropped', { epoch: r.epoch, field });
      ctx.jobs.dropEpochCheckpoint(ctx.spec.id, 'train', r.epoch);
      ctx.jobs.event(
        ctx.spec.id,
        'epoch_checkpoint_dropped',
        'train',
        ctx.attempt,
        `epoch=${r.epoch} field=${field}`,
      );
    }
  }
  return held;
}

async function train(ctx: StageContext, role: 'guest' | 'host' | 'arbiter'): Promise<TrainCheckpoint> {
  const t = ctx.spec.train;
  const resumeFrom = heldCheckpoints(ctx);
  let killArmed = false;
  const onCheckpoint = (cp: HeteroLrCheckpoint): void => {
    ctx.jobs.saveEpochCheckpoint(ctx.spec.id, 'train', ctx.attempt, cp.epoch, serializeCheckpoint(cp));
    if (cp.epoch === ctx.testFault?.killAfterEpoch) killArmed = true;
  };
  // Test-only (fault.ts): die at the first progress report after the epoch's checkpoint is committed.
  const progress: ProgressCallback = (p) => {
    if (killArmed) process.kill(process.pid, 'SIGKILL');
    ctx.progress(p);
  };
  const resumed = (from: number): void => {
    if (from === 0) return;
    ctx.jobs.event(ctx.spec.id, 'train_resumed', 'train', ctx.attempt, `epoch=${from}`);
    ctx.logger.info('training resumed', { epoch: from, held: resumeFrom.length });
  };
  const maskKey = (): Uint8Array =>
    maskKeyFor(ctx.jobs.partySecret(MASK_SEED_SECRET), ctx.spec.id, ctx.party);
  const { allowPlaintextScheme, allowWeakParameters } = heOptIns(ctx.spec, ctx.he);
  const providers = new Map<HeteroLrScheme, LrCipherProvider>();
  const ciphers = (s: HeteroLrScheme): LrCipherProvider => {
    let p = providers.get(s);
    if (p === undefined) {
      p = cipherProvider(s, {
        logger: ctx.logger,
        ...(t.ckksPreset !== undefined && { ckksPreset: t.ckksPreset }),
        ...(t.paillierBits !== undefined && { paillierBits: t.paillierBits }),
        allowWeakParameters,
      });
      providers.set(s, p);
    }
    return p;
  };
  const s = session(ctx, HETERO_LR_PROTOCOL, HETERO_LR_VERSION, 'lr');
  const arbiter = ctx.spec.arbiter;
  if (role === 'arbiter') {
    const r = await new HeteroLrArbiter({
      session: s,
      guest: ctx.spec.guest,
      ciphers,
      allowPlaintextScheme,
      floodingKey: maskKey(),
      onCheckpoint,
      resumeFrom,
      logger: ctx.logger,
    }).run();
    resumed(r.resumedFrom);
    return { epochs: r.epochs, keptEpoch: r.epochs, insecure: r.insecure, resumedFrom: r.resumedFrom };
  }
  const table = await ownTable(ctx);
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const rows = trainPositions(psi).map((p) => psi.rows[p]!);
  const features = partyFeatures(table, selectedFeatures(ctx, table), rows);
  if (role === 'guest') {
    const labels = requireLabels(table, ctx);
    const r = await new HeteroLrGuest({
      session: s,
      hosts: ctx.spec.hosts,
      ...(arbiter !== undefined && { arbiter }),
      mode: arbiter === undefined ? 'two-party' : 'arbiter',
      scheme: t.scheme,
      features,
      labels: Float64Array.from(rows, (r) => labels[r]!),
      hyperparams: {
        seed: ctx.spec.seed,
        maxEpochs: t.maxEpochs,
        ...(t.batchSize !== undefined && { batchSize: t.batchSize }),
        ...(t.learningRate !== undefined && { learningRate: t.learningRate }),
        ...(t.l2 !== undefined && { l2: t.l2 }),
        ...(t.validationFraction !== undefined && { validationFraction: t.validationFraction }),
      },
      ciphers,
      // The model id is part of the plan (and of every checkpoint's check).
      modelId: ctx.spec.id,
      maskKey: maskKey(),
      onCheckpoint,
      resumeFrom,
      logger: ctx.logger,
      onProgress: progress,
    }).run();
    resumed(r.resumedFrom);
    return {
      model: r.model,
      descriptor: r.descriptor,
      epochs: r.epochs,
      keptEpoch: r.keptEpoch,
      insecure: r.insecure,
      resumedFrom: r.resumedFrom,
    };
  }
  const r = await new HeteroLrHost({
    session: s,
    guest: ctx.spec.guest,
    ...(arbiter !== undefined && { arbiter }),
    features,
    ciphers,
    allowPlaintextScheme,
    maskKey: maskKey(),
    onCheckpoint,
    resumeFrom,
    logger: ctx.logger,
    onProgress: progress,
  }).run();
  resumed(r.resumedFrom);
  return {
    model: r.model,
    epochs: r.epochs,
    keptEpoch: r.keptEpoch,
    insecure: r.insecure,
    resumedFrom: r.resumedFrom,
  };
}

// ------------------------------------------------------------------------------------------------ evaluate

async function partialOnTest(ctx: StageContext): Promise<Float64Array> {
  const table = await ownTable(ctx);
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const model = ctx.jobs.requireCheckpoint<TrainCheckpoint>(ctx.spec.id, 'train').model;
  if (model === undefined)
    throw new FedscoreError('job_state', 'no model in the train checkpoint', { field: 'train' });
  const rows = psi.test.map((p) => psi.rows[p]!);
  const f = partyFeatures(table, selectedFeatures(ctx, table), rows);
  return partyPartialScores(model, f.columns);
}

async function evaluateGuest(ctx: StageContext): Promise<EvaluateCheckpoint> {
  const table = await ownTable(ctx);
  const labels = requireLabels(table, ctx);
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  const z = await partialOnTest(ctx);
  for (const host of ctx.spec.hosts) {
    const s = session(ctx, EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, `scores-${host}`);
    const part = await s.receive(host, PARTIAL_SCORES);
    if (part.length !== z.length) {
      throw new FedscoreError('protocol_step', `${host} sent ${part.length} scores for ${z.length} rows`, {
        field: 'partial-scores',
      });
    }
    for (let i = 0; i < z.length; i++) z[i]! += part[i]!;
  }
  const y = Float64Array.from(psi.test, (p) => labels[psi.rows[p]!]!);
  return { testRows: z.length, auc: auc(y, z), ks: ks(y, z).ks };
}

async function evaluateHost(ctx: StageContext): Promise<EvaluateCheckpoint> {
  const z = await partialOnTest(ctx);
  const s = session(ctx, EVALUATE_PROTOCOL, NODE_PROTOCOL_VERSION, `scores-${ctx.party}`);
  await s.send(ctx.spec.guest, PARTIAL_SCORES, z);
  return { testRows: z.length };
}

// ------------------------------------------------------------------------------------------------ publish

/** What the guest tells each host at publish: the joint descriptor and the aggregate test metrics. */
interface JointModelMessage {
  readonly descriptor: string;
  readonly metrics: Readonly<Record<string, number>>;
}

async function publish(ctx: StageContext, role: 'guest' | 'host' | 'arbiter'): Promise<PublishCheckpoint> {
  const dir = join(ctx.stateDir, 'models', ctx.spec.id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    files.push(p);
  };
  const t = ctx.jobs.requireCheckpoint<TrainCheckpoint>(ctx.spec.id, 'train');
  if (role === 'arbiter') {
    write(`${ctx.party}.json`, `${JSON.stringify({ job: ctx.spec.id, role, epochs: t.epochs }, null, 2)}\n`);
    return { files };
  }
  const own = t.model === undefined ? undefined : serializePartyModel(t.model);
  if (own !== undefined) write(`${ctx.party}.model.json`, own);
  const psi = ctx.jobs.requireCheckpoint<PsiCheckpoint>(ctx.spec.id, 'psi');
  let joint: JointModelMessage;
  let selection: FeatureSelectionLineage | undefined;
  if (role === 'guest') {
    if (t.descriptor === undefined) {
      throw new FedscoreError('job_state', 'no joint descriptor in the train checkpoint', { field: 'train' });
    }
    const ev = ctx.jobs.requireCheckpoint<EvaluateCheckpoint>(ctx.spec.id, 'evaluate');
    selection = ctx.spec.binning.enabled
      ? ctx.jobs.requireCheckpoint<BinningCheckpoint>(ctx.spec.id, 'binning').lineage
      : undefined;
    joint = {
      descriptor: serializeJointModel(t.descriptor),
      metrics: {
        ...(ev.auc !== undefined && { auc: ev.auc }),
        ...(ev.ks !== undefined && { ks: ev.ks }),
        testRows: ev.testRows,
      },
    };
    write('joint.json', joint.descriptor);
    write(
      'metrics.json',
      `${JSON.stringify(
        {
          job: ctx.spec.id,
          test: ev,
          epochs: t.epochs,
          keptEpoch: t.keptEpoch,
          insecure: t.insecure,
          aligned: psi.rows.length,
          consent: psi.consent ?? null,
          selection: selection ?? null,
        },
        null,
        2,
      )}\n`,
    );
    for (const host of ctx.spec.hosts) {
      await session(ctx, PUBLISH_PROTOCOL, NODE_PROTOCOL_VERSION, `model-${host}`).send(
        host,
        JOINT_MODEL,
        joint,
      );
    }
  } else {
    joint = await session(ctx, PUBLISH_PROTOCOL, NODE_PROTOCOL_VERSION, `model-${ctx.party}`).receive(
      ctx.spec.guest,
      JOINT_MODEL,
    );
  }
  if (ctx.models === undefined) return { files };
  const model = await registerJobModel(ctx, joint, own, psi, selection);
  return { files, model };
}

/** Register the job's model in this party's registry once (a re-run publish finds its earlier version). */
async function registerJobModel(
  ctx: StageContext,
  joint: JointModelMessage,
  own: string | undefined,
  psi: PsiCheckpoint,
  selection: FeatureSelectionLineage | undefined,
): Promise<string> {
  const models = ctx.models!;
  const name = ctx.spec.model ?? ctx.spec.id;
  const existing = models.list({ name }).find((m) => m.modelId === ctx.spec.id);
  if (existing !== undefined) return existing.ref;
  const table = await ownTable(ctx);
  const idsAt = (positions: Iterable<number>): string[] =>
    [...positions].map((p) => normalizeUscc(table.ids[psi.rows[p]!]!));
  const all = psi.rows.map((_, p) => p);
  const test = new Set(psi.test);
  const v = models.registerHeteroLr({
    name,
    jointModel: joint.descriptor,
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
  });
  ctx.logger.info('model registered', { model: v.ref });
  return v.ref;
}

/** A JSON payload step validated by `check` (errors are `wire_decode` naming the field). */
function jsonStep<T>(name: string, check: (value: unknown, field: string) => T) {
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });
  return defineStep<T>(name, {
    encode: (v) => enc.encode(JSON.stringify(v)),
    decode: (b) => {
      let value: unknown;
      try {
        value = JSON.parse(dec.decode(b));
      } catch (e) {
        throw new FedscoreError('wire_decode', 'not UTF-8 JSON', { field: name, cause: e });
      }
      return check(value, name);
    },
  });
}

function bad(field: string, what: string): FedscoreError {
  return new FedscoreError('wire_decode', `expected ${what}`, { field });
}

function objectWith(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(field, 'an object');
  for (const k of Object.keys(value)) if (!keys.includes(k)) throw bad(`${field}.${k}`, 'no such field');
  return value as Record<string, unknown>;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad(field, 'a non-negative integer');
  }
  return value;
}

function checkConsentSummary(value: unknown, field: string): ConsentSummary {
  const o = objectWith(value, field, ['enforced', 'purpose', 'aligned', 'consentRef', 'at']);
  if (typeof o['enforced'] !== 'boolean') throw bad(`${field}.enforced`, 'a boolean');
  if (typeof o['purpose'] !== 'string' || !/^[a-z]{1,32}$/.test(o['purpose'])) {
    throw bad(`${field}.purpose`, 'a purpose');
  }
  const aligned = count(o['aligned'], `${field}.aligned`);
  const ref = o['consentRef'];
  if (ref !== undefined && (typeof ref !== 'string' || !/^consents:[0-9a-f]{64}$/.test(ref))) {
    throw bad(`${field}.consentRef`, 'consents:<sha256>');
  }
  const at = o['at'];
  if (at !== undefined) count(at, `${field}.at`);
  return {
    enforced: o['enforced'],
    purpose: o['purpose'],
    aligned,
    ...(ref !== undefined && { consentRef: ref as string }),
    ...(at !== undefined && { at: at as number }),
  };
}

function checkJointModelMessage(value: unknown, field: string): JointModelMessage {
  const o = objectWith(value, field, ['descriptor', 'metrics']);
  if (typeof o['descriptor'] !== 'string' || o['descriptor'].length > 1_000_000) {
    throw bad(`${field}.descriptor`, 'the joint descriptor as JSON text');
  }
  const m = objectWith(o['metrics'], `${field}.metrics`, ['auc', 'ks', 'testRows']);
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${field}.metrics.${k}`, 'a finite number');
    metrics[k] = v;
  }
  return { descriptor: o['descriptor'], metrics };
}

// ------------------------------------------------------------------------------------------------ helpers

function requireLabels(table: Table, ctx: StageContext): Float64Array {
  if (table.label === undefined) {
    throw new FedscoreError('invalid_config', 'the guest dataset has no label column', {
      field: `data.${ctx.spec.data[ctx.party]}.label`,
    });
  }
  return table.label;
}

/** The rows `rows` of a column. */
export function subsetColumn(c: Column, rows: readonly number[]): Column {
  if (c.kind === 'numeric') {
    const values = new Float64Array(rows.length);
    let missing = 0;
    rows.forEach((r, i) => {
      const v = c.values[r]!;
      values[i] = v;
      if (Number.isNaN(v)) missing++;
    });
    return { kind: 'numeric', name: c.name, values, missing };
  }
  const codes = new Int32Array(rows.length);
  let missing = 0;
  rows.forEach((r, i) => {
    const v = c.codes[r]!;
    codes[i] = v;
    if (v < 0) missing++;
  });
  return { kind: 'categorical', name: c.name, codes, categories: c.categories, missing };
}

/** Feature columns of `names` for `rows`: numeric as is (NaN = missing), categorical one-hot. */
export function partyFeatures(
  table: Table,
  names: readonly string[],
  rows: readonly number[],
): PartyFeatures {
  const wanted = new Set(names);
  const out: { names: string[]; columns: Float64Array[] } = { names: [], columns: [] };
  for (const c of table.columns) {
    if (!wanted.has(c.name)) continue;
    if (c.kind === 'numeric') {
      out.names.push(c.name);
      out.columns.push(Float64Array.from(rows, (r) => c.values[r]!));
    } else {
      c.categories.forEach((level, k) => {
        out.names.push(`${c.name}=${level}`);
        out.columns.push(Float64Array.from(rows, (r) => (c.codes[r] === k ? 1 : 0)));
      });
    }
  }
  if (out.columns.length === 0) {
    throw new FedscoreError('invalid_argument', 'no feature column selected for this party', {
      field: 'features',
    });
  }
  return out;
}
