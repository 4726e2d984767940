/**
 * PSI blinding on a party's work queue (issue 18): the batches `BlindingPool` runs on this process's
 * threads -- hash-to-group and blinding of own ids, blinding of the peer's points -- as self-contained,
 * idempotent tasks on a `TaskExecutor` (`@fedscore/queue`, kinds `psiHash` and `psiBlind`, served by
 * `fedscore worker`), so the party's worker processes on other machines do the scalar multiplications.
 *
 * The cut (measured, docs/protocols/psi.md "On a work queue"): a hash to the group costs ~21 us, a scalar
 * multiplication ~95 us (libsodium WASM, ristretto.ts). A party of n ids facing m does n hashes and
 * n + m multiplications, so hashing is ~10 % of its CPU: handing workers only the public part (hashing)
 * and keeping the exponentiations here would move almost nothing, and no split of a variable-base
 * multiplication keeps the exponent here while the workers do most of the work. So each task carries the
 * run's ephemeral scalar (fresh per run, never an HE key, never a cached host key: `runPsiParty` uses the
 * threads when the key comes from a host cache). Its exposure is bounded by the queue's tables: a task's
 * input (scalar, and for `psiHash` this party's own raw ids of the batch) is deleted when its result is
 * stored, and `PsiBlindOffload.dropTasks` deletes every input and result of the run when it ends (the
 * party calls it in `finally`, so on failure too). While the run lasts, whoever holds the database's
 * worker role can read them: that role is as trusted as the party's own data (docs/deploy.md).
 *
 * The peer's ids never appear in a task: only its blinded points, `H(y)^b`, and their keys `H(y)^ab`.
 * Each task is deterministic (same bytes in, same bytes out), so a redelivered task's stored result is the
 * result of every delivery; results are keyed by the task id (prefix + SHA-256 of the task's bytes).
 */
import { FedscoreError } from '@fedscore/core';
import type { TaskExecutor } from '@fedscore/core/pool';
import type { PackedIds } from './ids.ts';
import { rejection } from './pool.ts';
import {
  type BatchResult,
  blindBatch,
  domainPrefixBytes,
  hashToGroupBatch,
  loadSodium,
  POINT_BYTES,
  type PointBytes,
  SCALAR_BYTES,
  type ScalarBytes,
} from './ristretto.ts';

/** Hash a batch of own ids to the group and blind them: the `psiHash` task kind. */
export interface PsiHashTask {
  readonly op: 'psiHash';
  /** UTF-8 ids back to back (this party's own, normalized). */
  readonly ids: Uint8Array;
  /** n + 1 offsets into `ids`. */
  readonly offsets: Uint32Array;
  /** The run's ephemeral blinding scalar. */
  readonly scalar: Uint8Array;
  /** Hash-to-group domain tag (ids.ts `psiHashDomain`). */
  readonly domain: string;
}

/** Blind a batch of points (the peer's), keeping `outBytes` of each product: the `psiBlind` task kind. */
export interface PsiBlindTask {
  readonly op: 'psiBlind';
  readonly points: Uint8Array;
  readonly scalar: Uint8Array;
  readonly outBytes: number;
}

export type PsiTask = PsiHashTask | PsiBlindTask;

/** A task's answer: the products, or the index of the first element refused (a result too). */
export type PsiTaskOutput = { readonly out: Uint8Array } | { readonly rejected: number };

/** The task kinds a worker serves for PSI, by `op` (the CLI's `fedscore worker` registers them). */
export const PSI_TASK_KINDS = ['psiHash', 'psiBlind'] as const;

function bad(field: string, message: string): FedscoreError {
  return new FedscoreError('invalid_argument', message, { field });
}

function checkTaskScalar(scalar: unknown): asserts scalar is Uint8Array {
  if (!(scalar instanceof Uint8Array) || scalar.length !== SCALAR_BYTES) {
    throw bad('scalar', `a PSI task carries a ${SCALAR_BYTES}-byte scalar`);
  }
}

/**
 * Run one PSI task (a worker process's handler, and the in-process reference). Checks the task's shape
 * (typed errors naming the field), wipes its copy of the scalar afterwards, and never logs.
 */
export async function psiTaskHandler(task: PsiTask): Promise<PsiTaskOutput> {
  if (task === null || typeof task !== 'object') throw bad('op', 'a PSI task is an object with an op');
  await loadSodium();
  const scalar = task.scalar;
  checkTaskScalar(scalar);
  let result: BatchResult;
  try {
    if (task.op === 'psiHash') {
      const { ids, offsets, domain } = task;
      if (!(ids instanceof Uint8Array)) throw bad('ids', 'ids are bytes');
      if (!(offsets instanceof Uint32Array) || offsets.length < 1)
        throw bad('offsets', 'offsets are n + 1 uint32');
      for (let i = 0; i < offsets.length; i++) {
        if (offsets[i]! > ids.length || (i > 0 && offsets[i]! < offsets[i - 1]!)) {
          throw bad(`offsets[${i}]`, 'offsets must be ascending and within ids');
        }
      }
      if (typeof domain !== 'string') throw bad('domain', 'the hash domain is a string');
      try {
        domainPrefixBytes(domain);
      } catch (e) {
        throw bad('domain', (e as Error).message);
      }
      result = hashToGroupBatch(ids, offsets, scalar, domain);
    } else if (task.op === 'psiBlind') {
      const { points, outBytes } = task;
      if (!(points instanceof Uint8Array) || points.length % POINT_BYTES !== 0) {
        throw bad('points', `points are a multiple of ${POINT_BYTES} bytes`);
      }
      if (!Number.isInteger(outBytes) || outBytes < 1 || outBytes > POINT_BYTES) {
        throw bad('outBytes', `outBytes must be in [1, ${POINT_BYTES}]`);
      }
      result = blindBatch(points, scalar, outBytes);
    } else {
      throw bad('op', `not a PSI task kind: ${String((task as { op?: unknown }).op)}`);
    }
  } finally {
    scalar.fill(0);
  }
  return result.ok ? { out: result.out } : { rejected: result.index };
}

/**
 * Where a party's PSI blinding runs instead of its threads (`PsiPartyOptions.offload`; a node's
 * `queue: pgboss`). One pool call is one task: own ids in batches of the party's `batchSize`, the peer's
 * points in the peer's batches.
 */
export interface PsiBlindOffload {
  readonly executor: TaskExecutor<PsiTask, PsiTaskOutput>;
  /**
   * Task id prefix (the job, party and peer; default `psi`): the party appends its run's random key
   * label, so each run's tasks have a prefix of their own; the id ends with the task's digest.
   */
  readonly taskIdPrefix?: string;
  /**
   * Ids per batch this party sends, so per own-id task, when `PsiPartyOptions.batchSize` is not given
   * (default `DEFAULT_PSI_TASK_IDS`). The peer's points are blinded in the peer's batches.
   */
  readonly batchSize?: number;
  /** Tasks in flight per stream (default `DEFAULT_PSI_OFFLOAD_WINDOW`). */
  readonly window?: number;
  /**
   * Delete every stored input and result of the tasks under `prefix` (the run's scalar and raw ids with
   * them); called by the party when the run ends, succeeded or not. A queue executor's `dropTasks`.
   */
  readonly dropTasks?: (prefix: string) => Promise<unknown>;
}

/**
 * Own ids per task (and per batch message) when offloading: 16384 ids are ~1.9 s of hashing and blinding
 * on one core, so the queue's fixed cost per task (~60-90 ms: enqueue, store, collect) stays a few per
 * cent (benchmarks/results/queue-psi.md); the threads' 4096 would make it ~15-20 %.
 */
export const DEFAULT_PSI_TASK_IDS = 16384;

/** Tasks in flight per stream on a queue: enough to keep several worker processes busy. */
export const DEFAULT_PSI_OFFLOAD_WINDOW = 8;

/** The pool surface `runPsiParty` uses, over a task executor. */
export class OffloadBlinder {
  readonly threads: number;
  readonly #offload: PsiBlindOffload;

  constructor(offload: PsiBlindOffload) {
    const w = offload.window ?? DEFAULT_PSI_OFFLOAD_WINDOW;
    if (!Number.isInteger(w) || w < 1 || w > 1024) {
      throw new FedscoreError('out_of_range', 'offload.window must be an integer in [1, 1024]', {
        field: 'offload.window',
      });
    }
    this.threads = w;
    this.#offload = offload;
  }

  async hashToGroup(ids: PackedIds, scalar: ScalarBytes, domain: string): Promise<PointBytes> {
    const n = ids.offsets.length - 1;
    const bytes = new Uint8Array(ids.bytes.subarray(ids.offsets[0], ids.offsets[n]));
    const offsets = ids.offsets.map((o) => o - ids.offsets[0]!);
    const task: PsiHashTask = { op: 'psiHash', ids: bytes, offsets, scalar: new Uint8Array(scalar), domain };
    return this.#run(task, 'ids', 0);
  }

  async blind(
    points: PointBytes,
    scalar: ScalarBytes,
    options: { outBytes?: number; field?: string; indexBase?: number } = {},
  ): Promise<Uint8Array> {
    const { outBytes = POINT_BYTES, field = 'points', indexBase = 0 } = options;
    if (points.length % POINT_BYTES !== 0) {
      throw new FedscoreError(
        'wire_decode',
        `expected a multiple of ${POINT_BYTES} bytes, got ${points.length}`,
        {
          field,
        },
      );
    }
    const task: PsiBlindTask = {
      op: 'psiBlind',
      points: new Uint8Array(points),
      scalar: new Uint8Array(scalar),
      outBytes,
    };
    return this.#run(task, field, indexBase);
  }

  async #run(task: PsiTask, field: string, indexBase: number): Promise<Uint8Array> {
    const prefix = this.#offload.taskIdPrefix;
    let out: PsiTaskOutput;
    try {
      out = await this.#offload.executor.run(task, prefix === undefined ? {} : { taskId: prefix });
    } finally {
      task.scalar.fill(0);
    }
    if ('out' in out && out.out instanceof Uint8Array) return out.out;
    if ('rejected' in out && Number.isInteger(out.rejected))
      throw rejection(task.op === 'psiHash' ? 'hash' : 'blind', field, indexBase + out.rejected);
    throw new FedscoreError('worker_failed', 'a PSI task returned no output', { field: 'output' });
  }
}
