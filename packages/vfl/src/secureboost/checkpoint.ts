/**
 * Per-tree checkpoints of SecureBoost and the resume handshake (the per-epoch scheme of hetero-LR's
 * checkpoint.ts, one tree for one epoch).
 *
 * After every finished tree each role hands its `onCheckpoint` callback its own state only:
 *   guest  the trees so far (its own splits as (feature, bin), a host's as (host, opaque split id), leaf
 *          weights), the base score, the current margin of every aligned row (its own label-derived
 *          values; enough to go on without re-walking host splits), the per-tree records and the
 *          early-stopping state (best metric and tree count). Its labels and features are not in it (a
 *          digest of them is, to refuse a checkpoint made on other data).
 *   host   its own split records so far ((feature, bin) per opaque split id and the tree of each), the
 *          count of trees it took part in, and its release count and budget. Never a gradient, a
 *          histogram, a label or anything of the guest's.
 * No key is stored: the guest's HE keys are made afresh on resume (sound: no tree depends on them), and
 * a party's draws (validation split, row and feature subsamples) come from a key-derived generator
 * (`rngKey`: one stream per tree, core's keyed-rng.ts) of which the checkpoint records only the one-way
 * key id, so a resumed run draws what the uninterrupted run drew. Flooding noise is fresh on every
 * attempt (it must be: re-using it would not hide anything new, and it does not change a split under
 * scheme `none`).
 *
 * Resume handshake (every training session, after host-hello): each host sends the guest the tree
 * counts it holds checkpoints of (`resume-offer`, its own count: guest-only trees are not its); the guest
 * picks the latest tree count k that it holds and every host holds (a host holds k <= guestOnlyTrees
 * trivially: it took part in none), and sends each host its own count for k (`resume-from`; 0 = start
 * afresh). A party checks its checkpoints against the session (plan digest, own data digest, key id)
 * before offering them: one of another run, party, role or data set is a `FedscoreError('checkpoint')`.
 *
 * The release count is privacy-critical: a host's flooding is sized for a budget of releases, and a
 * guest that makes an attempt fail would otherwise get a fresh budget. So besides its checkpoints a host
 * takes a `releaseLedger` that it updates before every histogram release (write-ahead) and reads at the
 * start of every attempt: its count goes on across attempts, and a new attempt under another budget is
 * refused (docs/protocols/secureboost.md, "Resume").
 */
import { FedscoreError } from '@fedscore/core';
import { dataDigest, frameCheckpoint, sha256Hex, unframeCheckpoint } from '../hetero-lr/checkpoint.ts';
import type { PartyFeatures } from '../hetero-lr/features.ts';
import type { HostSplit, SecureBoostNode } from './model.ts';

export const SECUREBOOST_CHECKPOINT_FORMAT = 'fedscore.secureboost-checkpoint';
export const SECUREBOOST_CHECKPOINT_VERSION = 1;

/** One tree's record on the guest (guest.ts `TreeRecord`; repeated here to keep the import one way). */
export interface CheckpointTreeRecord {
  readonly tree: number;
  readonly trainLoss: number;
  readonly splits: number;
  readonly seconds: number;
  readonly validation?: number;
}

interface CheckpointCommon {
  readonly format: typeof SECUREBOOST_CHECKPOINT_FORMAT;
  readonly version: typeof SECUREBOOST_CHECKPOINT_VERSION;
  readonly modelId: string;
  /** Digest of the plan as this party saw it (and of its own settings). */
  readonly planDigest: string;
  /** Digest of this party's own inputs (features; the guest's labels too). */
  readonly dataDigest: string;
  /** The one-way id of the key its draws came from (null: an unkeyed generator, never resumed from). */
  readonly rngKeyId: string | null;
  /** Trees finished: the guest's count of every tree, a host's count of the trees it took part in. */
  readonly tree: number;
}

export interface SecureBoostGuestCheckpoint extends CheckpointCommon {
  readonly role: 'guest';
  readonly baseScore: number;
  readonly trees: readonly (readonly SecureBoostNode[])[];
  readonly history: readonly CheckpointTreeRecord[];
  /** Early stopping: the best validation metric so far (null: none yet) and the tree count it came at. */
  readonly best: { readonly value: number | null; readonly trees: number };
  /** The margin (log-odds) of every aligned row after `tree` trees. */
  readonly score: readonly number[];
}

export interface SecureBoostHostCheckpoint extends CheckpointCommon {
  readonly role: 'host';
  readonly splits: readonly HostSplit[];
  /** This host's tree (0-based, its own count) of each split. */
  readonly splitTree: readonly number[];
  /** Histogram ciphertexts released so far (over every attempt) and the budget they count against. */
  readonly released: number;
  readonly releaseBudget: number;
}

export type SecureBoostCheckpoint = SecureBoostGuestCheckpoint | SecureBoostHostCheckpoint;

/**
 * A host's count of released histogram ciphertexts that outlives an attempt (the node keeps it in its
 * job store; it is never reset for the job). `released` and `budget` are the totals recorded so far
 * (0 and undefined before the first release); `record` persists a new total before the release is sent.
 */
export interface ReleaseLedger {
  readonly released: number;
  readonly budget?: number;
  record(released: number, budget: number): void;
}

/** The framed bytes of a checkpoint (hetero-LR's framing: header line with SHA-256, body line). */
export function serializeSecureBoostCheckpoint(cp: SecureBoostCheckpoint): Uint8Array {
  validateSecureBoostCheckpoint(cp, 'checkpoint');
  return frameCheckpoint(SECUREBOOST_CHECKPOINT_FORMAT, SECUREBOOST_CHECKPOINT_VERSION, cp);
}

/** Parse and verify checkpoint bytes (format, version, checksum, field types). */
export function parseSecureBoostCheckpoint(bytes: Uint8Array): SecureBoostCheckpoint {
  const cp = unframeCheckpoint(bytes, SECUREBOOST_CHECKPOINT_FORMAT, SECUREBOOST_CHECKPOINT_VERSION);
  validateSecureBoostCheckpoint(cp, 'checkpoint');
  return cp;
}

function bad(message: string, field: string): never {
  throw new FedscoreError('checkpoint', message, { field });
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function checkNode(n: unknown, size: number, field: string): void {
  const x = n as Record<string, unknown> | null;
  if (typeof x !== 'object' || x === null) bad('expected a node', field);
  if (x.kind === 'leaf') {
    if (!isFiniteNumber(x.weight)) bad('expected a finite leaf weight', `${field}.weight`);
    return;
  }
  if (x.kind !== 'guest-split' && x.kind !== 'host-split') bad('unknown node kind', `${field}.kind`);
  for (const k of ['left', 'right'] as const) {
    if (!isCount(x[k]) || (x[k] as number) >= size) bad('expected a node index', `${field}.${k}`);
  }
  if (!isFiniteNumber(x.gain)) bad('expected a finite gain', `${field}.gain`);
  const ids = x.kind === 'guest-split' ? (['feature', 'bin'] as const) : (['host', 'splitId'] as const);
  for (const k of ids) if (!isCount(x[k])) bad('expected a count', `${field}.${k}`);
}

/** Check the shape of a checkpoint object (also of one handed over in memory). */
export function validateSecureBoostCheckpoint(
  cp: unknown,
  field: string,
): asserts cp is SecureBoostCheckpoint {
  if (typeof cp !== 'object' || cp === null) bad('expected a checkpoint object', field);
  const c = cp as Record<string, unknown>;
  if (c.format !== SECUREBOOST_CHECKPOINT_FORMAT) bad('not a SecureBoost checkpoint', `${field}.format`);
  if (c.version !== SECUREBOOST_CHECKPOINT_VERSION) bad('unsupported version', `${field}.version`);
  for (const k of ['modelId', 'planDigest', 'dataDigest'] as const) {
    if (typeof c[k] !== 'string' || (c[k] as string).length === 0) bad('expected a string', `${field}.${k}`);
  }
  if (!(c.rngKeyId === null || (typeof c.rngKeyId === 'string' && /^[0-9a-f]{32}$/.test(c.rngKeyId)))) {
    bad('expected a key id or null', `${field}.rngKeyId`);
  }
  if (!isCount(c.tree) || c.tree < 1) bad('expected a tree count >= 1', `${field}.tree`);
  if (c.role === 'guest') {
    if (!isFiniteNumber(c.baseScore)) bad('expected a number', `${field}.baseScore`);
    const trees = c.trees;
    if (!Array.isArray(trees) || trees.length !== c.tree)
      bad('expected one node list per tree', `${field}.trees`);
    trees.forEach((t: unknown, i: number) => {
      if (!Array.isArray(t) || t.length === 0) bad('expected nodes', `${field}.trees[${i}]`);
      t.forEach((n: unknown, j: number) => {
        checkNode(n, t.length, `${field}.trees[${i}][${j}]`);
      });
    });
    const h = c.history;
    if (!Array.isArray(h) || h.length !== c.tree) bad('expected one record per tree', `${field}.history`);
    h.forEach((r: unknown, i: number) => {
      const x = r as Record<string, unknown> | null;
      if (
        typeof x !== 'object' ||
        x === null ||
        x.tree !== i + 1 ||
        !isFiniteNumber(x.trainLoss) ||
        !isCount(x.splits) ||
        !isFiniteNumber(x.seconds) ||
        !(x.validation === undefined || isFiniteNumber(x.validation))
      ) {
        bad('bad tree record', `${field}.history[${i}]`);
      }
    });
    const b = c.best as Record<string, unknown> | null;
    if (
      typeof b !== 'object' ||
      b === null ||
      !(b.value === null || isFiniteNumber(b.value)) ||
      !isCount(b.trees) ||
      b.trees > c.tree
    ) {
      bad('expected { value, trees }', `${field}.best`);
    }
    if (!Array.isArray(c.score) || !c.score.every(isFiniteNumber))
      bad('expected finite margins', `${field}.score`);
    return;
  }
  if (c.role !== 'host') bad('unknown role', `${field}.role`);
  const s = c.splits;
  const st = c.splitTree;
  if (!Array.isArray(s) || !Array.isArray(st) || s.length !== st.length) {
    bad('expected splits and their trees', `${field}.splits`);
  }
  s.forEach((x: unknown, i: number) => {
    const r = x as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null || r.splitId !== i || !isCount(r.feature) || !isCount(r.bin)) {
      bad('bad split record', `${field}.splits[${i}]`);
    }
  });
  st.forEach((t: unknown, i: number) => {
    if (!isCount(t) || t >= (c.tree as number) || (i > 0 && t < (st[i - 1] as number))) {
      bad('bad split tree', `${field}.splitTree[${i}]`);
    }
  });
  if (!isCount(c.released) || !isCount(c.releaseBudget) || c.released > c.releaseBudget) {
    bad('expected released <= releaseBudget', `${field}.released`);
  }
}

/** The digest of a plan and a party's own settings that bear on its state (both as JSON values). */
export function secureBoostPlanDigest(plan: unknown, settings: unknown): string {
  return sha256Hex(['secureboost/plan/1', JSON.stringify(plan), JSON.stringify(settings)]);
}

/** The digest of a party's own inputs (its features, if any, and the guest's labels). */
export function secureBoostDataDigest(
  features: PartyFeatures | undefined,
  labels?: ArrayLike<number>,
): string {
  return dataDigest(features ?? { names: [], columns: [] }, labels);
}

export interface SecureBoostCheckpointExpectation {
  readonly role: 'guest' | 'host';
  readonly modelId: string;
  readonly planDigest: string;
  readonly dataDigest: string;
  readonly rngKeyId: string | null;
  /** The largest tree count a checkpoint may hold (the plan's trees). */
  readonly maxTrees: number;
}

/**
 * Check every checkpoint a party holds against the session; returns them by tree count. A checkpoint
 * made with an unkeyed generator (rngKeyId null) is refused: its draws cannot be repeated.
 */
export function checkHeldTrees(
  held: readonly SecureBoostCheckpoint[] | undefined,
  want: SecureBoostCheckpointExpectation,
): Map<number, SecureBoostCheckpoint> {
  const out = new Map<number, SecureBoostCheckpoint>();
  if (held === undefined) return out;
  if (!Array.isArray(held)) bad('expected an array of checkpoints', 'resumeFrom');
  held.forEach((cp, i) => {
    const field = `resumeFrom[${i}]`;
    validateSecureBoostCheckpoint(cp, field);
    if (cp.role !== want.role) bad(`a ${cp.role} checkpoint given to the ${want.role}`, `${field}.role`);
    if (cp.modelId !== want.modelId) bad(`checkpoint of model '${cp.modelId}'`, `${field}.modelId`);
    if (cp.planDigest !== want.planDigest) {
      bad(
        'checkpoint made under another plan (hyperparameters, rows, hosts or settings)',
        `${field}.planDigest`,
      );
    }
    if (cp.dataDigest !== want.dataDigest)
      bad("checkpoint made on other data than this party's", `${field}.dataDigest`);
    if (cp.rngKeyId === null || cp.rngKeyId !== want.rngKeyId) {
      bad('checkpoint drew from another generator (rngKey differs or was not keyed)', `${field}.rngKeyId`);
    }
    if (cp.tree > want.maxTrees) bad(`tree ${cp.tree} beyond the plan's ${want.maxTrees}`, `${field}.tree`);
    if (out.has(cp.tree)) bad(`two checkpoints of tree ${cp.tree}`, `${field}.tree`);
    out.set(cp.tree, cp);
  });
  return out;
}

/**
 * The guest's decision: the latest tree count it holds that every host holds too, in each host's own
 * count (`k - guestOnlyTrees`; a count <= guestOnlyTrees needs nothing of a host). 0 = start afresh.
 */
export function commonResumeTree(
  guest: Iterable<number>,
  hosts: readonly ArrayLike<number>[],
  guestOnlyTrees: number,
): number {
  const offers = hosts.map((o) => new Set(Array.from(o)));
  let best = 0;
  for (const k of guest) {
    const h = k - guestOnlyTrees;
    if (k > best && offers.every((o) => h <= 0 || o.has(h))) best = k;
  }
  return best;
}
