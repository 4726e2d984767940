/**
 * Per-epoch checkpoints of hetero-LR and the resume handshake.
 *
 * At the end of every epoch each role (guest, host, arbiter) hands its `onCheckpoint` callback a
 * `HeteroLrCheckpoint`: that party's own state only -- its weights, the epoch count, the early-stopping
 * state it holds, the mask stream it used and (guest) the validation history. Never another party's
 * data, never a key: the arbiter's (or, two-party, each party's own) HE keys are made afresh on resume,
 * which is sound because neither the masks nor the weights depend on them.
 *
 * Everything else a later epoch needs is a pure function of the plan and the epoch index: batch
 * membership (`fixedBatches`) and order (`batchOrder`), the learning rate (`learningRateAt`), the
 * validation split, and -- when a party's masks are key-derived (`maskKey`) -- its masks (one
 * ChaCha20 stream per release, bound to the plan and the party's data: plan.ts `maskSource`). So a run resumed after epoch k repeats exactly what an uninterrupted run does from epoch k on.
 *
 * Resume handshake (every session, after the key exchange): each host and the arbiter send the guest
 * the epochs they hold checkpoints for (`resume-offer`); the guest picks the latest epoch every party
 * (itself included) holds, or 0 (a fresh start) when there is none, and sends it to all (`resume-from`).
 * A party checks its checkpoints against the plan of the session (plan digest) and its own inputs (data
 * digest) before offering them: a checkpoint of another run, party, role or data set is a
 * `FedscoreError('checkpoint')`.
 *
 * Bytes: `serializeCheckpoint` writes two lines of UTF-8 JSON: a header {format, version, sha256} and
 * the checkpoint, the SHA-256 taken over the checkpoint line's exact bytes (any edited byte is caught).
 * Doubles survive JSON exactly (shortest round-trip form), so a restored weight vector is bit-identical.
 */
import { createHash } from 'node:crypto';
import { FedscoreError } from '@fedscore/core';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointRole,
  type HeteroLrCheckpoint,
  type MaskStream,
} from './checkpoint-state.ts';
import type { PartyFeatures } from './features.ts';
import type { Plan } from './plan.ts';

const enc = new TextEncoder();

/** SHA-256 (hex) of length-prefixed parts: injective on part lists. */
export function sha256Hex(parts: readonly (Uint8Array | string)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = typeof p === 'string' ? enc.encode(p) : p;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length, true);
    h.update(len);
    h.update(b);
  }
  return h.digest('hex');
}

/** The plan digest every party computes from the plan it received (max_columns excluded: arbiter only). */
export function planDigest(plan: Plan): string {
  const { maxColumns: _m, validationRows, ...rest } = plan;
  return sha256Hex([
    'hetero-lr/plan/1',
    JSON.stringify({ ...rest, hosts: [...rest.hosts], validationRows: Array.from(validationRows) }),
  ]);
}

function f64Bytes(v: ArrayLike<number>): Uint8Array {
  const a = Float64Array.from(v);
  return new Uint8Array(a.buffer);
}

/** The digest of a party's own inputs (feature names and values, and the labels when given). */
export function dataDigest(features: PartyFeatures, labels?: ArrayLike<number>): string {
  const parts: (Uint8Array | string)[] = ['hetero-lr/data/1', JSON.stringify(features.names)];
  for (const c of features.columns) parts.push(f64Bytes(c));
  if (labels !== undefined) parts.push('labels', f64Bytes(labels));
  return sha256Hex(parts);
}

// --- bytes ------------------------------------------------------------------------------------------

/** A header line (format, version, SHA-256 of the body bytes) and the checkpoint line, UTF-8 JSON. */
export function serializeCheckpoint(cp: HeteroLrCheckpoint): Uint8Array {
  validateCheckpoint(cp, 'checkpoint');
  return frameCheckpoint(CHECKPOINT_FORMAT, CHECKPOINT_VERSION, cp);
}

/**
 * The checkpoint framing every within-stage checkpoint of vfl uses (hetero-LR's per-epoch, SecureBoost's
 * per-tree): a header line {format, version, sha256} and the body line, both UTF-8 JSON, the SHA-256
 * taken over the body line's exact bytes.
 */
export function frameCheckpoint(format: string, version: number, body: unknown): Uint8Array {
  const line = enc.encode(JSON.stringify(body));
  const head = enc.encode(`${JSON.stringify({ format, version, sha256: bodyDigest(line) })}\n`);
  const out = new Uint8Array(head.length + line.length);
  out.set(head);
  out.set(line, head.length);
  return out;
}

function bodyDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

function bad(message: string, field: string): never {
  throw new FedscoreError('checkpoint', message, { field });
}

/**
 * The body of framed checkpoint bytes (`frameCheckpoint`), after checking the format, the version and
 * the checksum; `FedscoreError('checkpoint')` naming the field otherwise. The body's shape is the
 * caller's to check.
 */
export function unframeCheckpoint(bytes: Uint8Array, format: string, version: number): unknown {
  if (!(bytes instanceof Uint8Array)) bad('expected bytes', 'bytes');
  const nl = bytes.indexOf(0x0a);
  if (nl < 0) bad('not a checkpoint: no header line', 'bytes');
  const json = (b: Uint8Array, what: string): unknown => {
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
    } catch (e) {
      throw new FedscoreError('checkpoint', `not a checkpoint: the ${what} is not UTF-8 JSON`, {
        field: 'bytes',
        cause: e,
      });
    }
  };
  const head = json(bytes.subarray(0, nl), 'header');
  if (typeof head !== 'object' || head === null) bad('not a checkpoint header', 'bytes');
  const o = head as Record<string, unknown>;
  if (o.format !== format) bad(`format is not '${format}'`, 'format');
  if (o.version !== version) {
    bad(`checkpoint version ${String(o.version)}; this build reads ${version}`, 'version');
  }
  const body = bytes.subarray(nl + 1);
  if (typeof o.sha256 !== 'string' || o.sha256 !== bodyDigest(body)) {
    bad('checksum does not match the content (corrupt, truncated or edited)', 'sha256');
  }
  return json(body, 'body');
}

/** Parse and verify checkpoint bytes (format, version, checksum, field types). */
export function parseCheckpoint(bytes: Uint8Array): HeteroLrCheckpoint {
  const cp = unframeCheckpoint(bytes, CHECKPOINT_FORMAT, CHECKPOINT_VERSION);
  validateCheckpoint(cp, 'checkpoint');
  return cp;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/** Check the shape of a checkpoint object (also of one handed over in memory). */
export function validateCheckpoint(cp: unknown, field: string): asserts cp is HeteroLrCheckpoint {
  if (typeof cp !== 'object' || cp === null) bad('expected a checkpoint object', field);
  const c = cp as Record<string, unknown>;
  if (c.format !== CHECKPOINT_FORMAT) bad(`format is not '${CHECKPOINT_FORMAT}'`, `${field}.format`);
  if (c.version !== CHECKPOINT_VERSION) bad(`unsupported version ${String(c.version)}`, `${field}.version`);
  if (c.role !== 'guest' && c.role !== 'host' && c.role !== 'arbiter') bad('unknown role', `${field}.role`);
  for (const k of ['party', 'modelId', 'planDigest'] as const) {
    if (typeof c[k] !== 'string' || (c[k] as string).length === 0) bad('expected a string', `${field}.${k}`);
  }
  if (typeof c.dataDigest !== 'string') bad('expected a string', `${field}.dataDigest`);
  if (!isCount(c.epoch) || c.epoch < 1) bad('expected an epoch count >= 1', `${field}.epoch`);
  if (!isFiniteNumber(c.nextLearningRate)) bad('expected a number', `${field}.nextLearningRate`);
  for (const k of ['weights', 'kept'] as const) {
    const v = c[k];
    if (!Array.isArray(v) || !v.every(isFiniteNumber)) bad('expected finite numbers', `${field}.${k}`);
  }
  if ((c.weights as unknown[]).length !== (c.kept as unknown[]).length) {
    bad('weights and kept differ in length', `${field}.kept`);
  }
  if (!isCount(c.keptEpoch) || c.keptEpoch > c.epoch) bad('expected 0..epoch', `${field}.keptEpoch`);
  const m = c.masks as Record<string, unknown> | null;
  if (
    typeof m !== 'object' ||
    m === null ||
    !(
      m.kind === 'crypto' ||
      (m.kind === 'keyed' && typeof m.keyId === 'string' && /^[0-9a-f]{32}$/.test(m.keyId))
    )
  ) {
    bad("expected { kind: 'crypto' } or { kind: 'keyed', keyId }", `${field}.masks`);
  }
  if (c.role === 'guest') {
    const es = c.earlyStopping as Record<string, unknown> | undefined;
    if (
      typeof es !== 'object' ||
      es === null ||
      !(es.bestAuc === null || isFiniteNumber(es.bestAuc)) ||
      !isCount(es.sinceBest) ||
      typeof es.stop !== 'boolean'
    ) {
      bad('expected { bestAuc, sinceBest, stop }', `${field}.earlyStopping`);
    }
    const h = c.history;
    if (!Array.isArray(h) || h.length !== c.epoch) bad('expected one record per epoch', `${field}.history`);
    h.forEach((r: unknown, i: number) => {
      const x = r as Record<string, unknown> | null;
      if (
        typeof x !== 'object' ||
        x === null ||
        x.epoch !== i + 1 ||
        !isFiniteNumber(x.learningRate) ||
        !isFiniteNumber(x.seconds) ||
        !(x.validationAuc === undefined || isFiniteNumber(x.validationAuc))
      ) {
        bad('bad epoch record', `${field}.history[${i}]`);
      }
    });
  }
  if (c.role === 'arbiter' && !isCount(c.releases)) bad('expected a count', `${field}.releases`);
}

// --- what a role does with the checkpoints it holds -------------------------------------------------

export interface CheckpointExpectation {
  readonly role: CheckpointRole;
  readonly party: string;
  readonly modelId: string;
  readonly planDigest: string;
  readonly dataDigest: string;
  readonly weights: number;
  readonly maxEpochs: number;
  readonly masks: MaskStream;
}

/**
 * Check every checkpoint a party holds against the session (role, party, plan, own data, weight count);
 * returns them by epoch. Any mismatch is `FedscoreError('checkpoint')` naming the field.
 */
export function checkHeldCheckpoints(
  held: readonly HeteroLrCheckpoint[] | undefined,
  want: CheckpointExpectation,
): Map<number, HeteroLrCheckpoint> {
  const out = new Map<number, HeteroLrCheckpoint>();
  if (held === undefined) return out;
  if (!Array.isArray(held)) bad('expected an array of checkpoints', 'resumeFrom');
  held.forEach((cp, i) => {
    const field = `resumeFrom[${i}]`;
    validateCheckpoint(cp, field);
    if (cp.role !== want.role) bad(`a ${cp.role} checkpoint given to the ${want.role}`, `${field}.role`);
    if (cp.party !== want.party) bad(`checkpoint of party '${cp.party}'`, `${field}.party`);
    if (cp.modelId !== want.modelId) bad(`checkpoint of model '${cp.modelId}'`, `${field}.modelId`);
    if (cp.planDigest !== want.planDigest) {
      bad('checkpoint made under another plan (hyperparameters, rows, hosts or seed)', `${field}.planDigest`);
    }
    if (cp.dataDigest !== want.dataDigest)
      bad("checkpoint made on other data than this party's", `${field}.dataDigest`);
    if (cp.weights.length !== want.weights) {
      bad(`${cp.weights.length} weights, expected ${want.weights}`, `${field}.weights`);
    }
    if (cp.epoch > want.maxEpochs)
      bad(`epoch ${cp.epoch} beyond the plan's ${want.maxEpochs}`, `${field}.epoch`);
    const m = cp.masks;
    const w = want.masks;
    if (m.kind !== w.kind || (m.kind === 'keyed' && w.kind === 'keyed' && m.keyId !== w.keyId)) {
      bad('checkpoint drew its masks from another stream (maskKey differs)', `${field}.masks`);
    }
    if (out.has(cp.epoch)) bad(`two checkpoints of epoch ${cp.epoch}`, `${field}.epoch`);
    out.set(cp.epoch, cp);
  });
  return out;
}

/** The epochs a party offers, ascending. */
export function offeredEpochs(held: ReadonlyMap<number, HeteroLrCheckpoint>): Uint32Array {
  return Uint32Array.from([...held.keys()].sort((a, b) => a - b));
}

/**
 * The guest's decision: the latest epoch every party holds a checkpoint of (0 = start afresh). The
 * latest common one loses the least work; since every party keeps its last few checkpoints and they
 * checkpoint the same epochs, a party that died mid-epoch k+1 lags the others by at most one.
 */
export function commonResumeEpoch(offers: readonly ArrayLike<number>[]): number {
  if (offers.length === 0) return 0;
  let common = new Set(Array.from(offers[0]!));
  for (const o of offers.slice(1)) {
    const s = new Set(Array.from(o));
    common = new Set([...common].filter((e) => s.has(e)));
  }
  return common.size === 0 ? 0 : Math.max(...common);
}

/** The checkpoint a party restores for the agreed epoch (0 = none); holding none of it is a protocol error. */
export function checkpointFor(
  held: ReadonlyMap<number, HeteroLrCheckpoint>,
  epoch: number,
): HeteroLrCheckpoint | undefined {
  if (epoch === 0) return undefined;
  const cp = held.get(epoch);
  if (cp === undefined) {
    throw new FedscoreError(
      'protocol_step',
      `asked to resume from epoch ${epoch}, which this party did not offer`,
      {
        field: 'resume-from',
      },
    );
  }
  return cp;
}
