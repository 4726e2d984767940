/**
 * The blinding pool: hash-to-group and scalar multiplication on node:worker_threads, one libsodium WASM
 * instance per worker, so both cores of a party node work on a PSI run. Jobs are batches (a few thousand
 * elements, ~0.5 s each), served first-in first-out by whichever worker is idle (the core worker pool,
 * `@fedscore/core/pool`, which every package shares); inputs and outputs move as transferred ArrayBuffers,
 * so the main thread only routes bytes. This file adds what is PSI's own: input checks, the errors that
 * name the bad element, and the work counters.
 *
 * `threads: 0` runs the same batch functions on the calling thread (small sets, tests, environments
 * without workers). Workers are unref'd while idle, so a forgotten pool never keeps a process alive; call
 * `close()` anyway to free their memory.
 */
import { availableParallelism } from 'node:os';
import { FedscoreError, siblingModuleUrl } from '@fedscore/core';
import { WorkerPool } from '@fedscore/core/pool';
import type { PackedIds } from './ids.ts';
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
import type { WorkerReply, WorkerRequest } from './worker-messages.ts';

export interface BlindingPoolOptions {
  /** Worker threads; default: the machine's available parallelism. 0 = run on the calling thread. */
  readonly threads?: number;
}

export interface BlindOptions {
  /** Bytes kept of each product: 32 (a point to send on) or a prefix (a comparison key). Default 32. */
  readonly outBytes?: number;
  /** Names the input in errors, e.g. the wire step the points came in. */
  readonly field?: string;
  /** Index of the batch's first element within that input (errors name `field[indexBase + i]`). */
  readonly indexBase?: number;
}

/** Work done so far (for benchmarks: per-core rates come from `busyMs`). */
export interface BlindingPoolStats {
  readonly threads: number;
  readonly jobs: number;
  /** Ids hashed to the group. */
  readonly hashed: number;
  /** Scalar multiplications. */
  readonly multiplied: number;
  /** Sum over workers of the wall time spent inside jobs. */
  readonly busyMs: number;
  /** Sum over workers of their CPU time inside jobs (on a shared machine, less than `busyMs`). */
  readonly cpuMs: number;
  /** CPU time of the jobs that only multiply (peer points); `blindMultiplied / blindCpuMs` is the pure rate. */
  readonly blindCpuMs: number;
  /** Scalar multiplications in blind-only jobs. */
  readonly blindMultiplied: number;
}

/** What a job needs besides its request: where its elements sit in the caller's input, and its work. */
interface JobInfo {
  readonly field: string;
  readonly indexBase: number;
  readonly mults: number;
  readonly hashes: number;
}

export class BlindingPool {
  readonly threads: number;
  readonly #workers: WorkerPool<WorkerRequest, WorkerReply> | undefined;
  #closed: FedscoreError | undefined;
  #stats = { jobs: 0, hashed: 0, multiplied: 0, busyMs: 0, cpuMs: 0, blindCpuMs: 0, blindMultiplied: 0 };

  private constructor(threads: number, workers: WorkerPool<WorkerRequest, WorkerReply> | undefined) {
    this.threads = threads;
    this.#workers = workers;
  }

  /** Start the workers and wait until each has loaded libsodium. */
  static async create(options: BlindingPoolOptions = {}): Promise<BlindingPool> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 0 || threads > 256) {
      throw new FedscoreError('out_of_range', `threads must be an integer in [0, 256], got ${threads}`, {
        field: 'threads',
      });
    }
    await loadSodium();
    const workers =
      threads === 0
        ? undefined
        : await WorkerPool.create<WorkerRequest, WorkerReply>({
            module: siblingModuleUrl('./blind-worker', import.meta.url),
            size: threads,
            name: 'blinding worker',
          });
    return new BlindingPool(threads, workers);
  }

  /**
   * Hash each id to ristretto255 under `domain` (the prepared ids' `hashDomain`, which names their kind)
   * and multiply by `scalar`: n x 32 bytes. With `scalar` undefined the unblinded points are returned
   * (tests and the privacy check only; never send them).
   */
  hashToGroup(ids: PackedIds, scalar: ScalarBytes | undefined, domain: string): Promise<PointBytes> {
    if (scalar !== undefined) checkScalar(scalar);
    try {
      if (typeof domain !== 'string') throw new TypeError('the hash domain must be a string');
      domainPrefixBytes(domain);
    } catch (e) {
      throw new FedscoreError('invalid_argument', (e as Error).message, { field: 'domain', cause: e });
    }
    const n = ids.offsets.length - 1;
    const bytes = new Uint8Array(ids.bytes.subarray(ids.offsets[0], ids.offsets[n]));
    const offsets = ids.offsets.map((o) => o - ids.offsets[0]!);
    return this.#submit(
      { op: 'hash', ids: bytes, offsets, scalar: scalar ? new Uint8Array(scalar) : null, domain },
      [bytes.buffer, offsets.buffer],
      { field: 'ids', indexBase: 0, mults: scalar ? n : 0, hashes: n },
    );
  }

  /**
   * Multiply each 32-byte point by `scalar`, keeping the first `outBytes` bytes of each product. A point
   * that is not a canonical ristretto255 encoding is a `psi_invalid_point` error naming `field[index]`.
   */
  blind(points: PointBytes, scalar: ScalarBytes, options: BlindOptions = {}): Promise<Uint8Array> {
    const { outBytes = POINT_BYTES, field = 'points', indexBase = 0 } = options;
    checkScalar(scalar);
    if (points.length % POINT_BYTES !== 0) {
      throw new FedscoreError(
        'wire_decode',
        `expected a multiple of ${POINT_BYTES} bytes, got ${points.length}`,
        {
          field,
        },
      );
    }
    if (!Number.isInteger(outBytes) || outBytes < 1 || outBytes > POINT_BYTES) {
      throw new FedscoreError('out_of_range', `outBytes must be in [1, ${POINT_BYTES}]`, {
        field: 'outBytes',
      });
    }
    // a fresh buffer (a Node Buffer's slice() is a view, and its ArrayBuffer must not be transferred)
    const copy = new Uint8Array(points);
    const n = copy.length / POINT_BYTES;
    return this.#submit(
      { op: 'blind', points: copy, scalar: new Uint8Array(scalar), outBytes },
      [copy.buffer],
      { field, indexBase, mults: n, hashes: 0 },
    );
  }

  stats(): BlindingPoolStats {
    return { threads: this.threads, ...this.#stats };
  }

  /** Stop the workers; queued and running jobs fail with `channel_closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = new FedscoreError('channel_closed', 'blinding pool closed');
    await this.#workers?.close();
  }

  async #submit(request: WorkerRequest, transfer: ArrayBuffer[], job: JobInfo): Promise<Uint8Array> {
    if (this.#closed) throw this.#closed;
    if (this.#workers === undefined) {
      await Promise.resolve();
      return this.#runInline(request, job);
    }
    let reply: WorkerReply;
    try {
      reply = await this.#workers.run(request, { transfer });
    } catch (e) {
      // a pool closed under a running job: the pool's own closing error names it
      throw this.#closed !== undefined && (e as FedscoreError).code === 'channel_closed' ? this.#closed : e;
    }
    if (reply.type === 'done') {
      this.#account(reply.busyMs, reply.cpuMs, job.mults, job.hashes);
      return reply.out;
    }
    this.#account(reply.busyMs, reply.cpuMs, 0, 0);
    throw rejection(request.op, job.field, job.indexBase + reply.index);
  }

  #runInline(request: WorkerRequest, job: JobInfo): Uint8Array {
    const t0 = performance.now();
    const cpu0 = process.threadCpuUsage();
    let result: BatchResult;
    try {
      result =
        request.op === 'hash'
          ? hashToGroupBatch(request.ids, request.offsets, request.scalar ?? undefined, request.domain)
          : blindBatch(request.points, request.scalar, request.outBytes);
    } finally {
      request.scalar?.fill(0);
    }
    const cpu = process.threadCpuUsage(cpu0);
    this.#account(performance.now() - t0, (cpu.user + cpu.system) / 1000, job.mults, job.hashes);
    if (!result.ok) throw rejection(request.op, job.field, job.indexBase + result.index);
    return result.out;
  }

  #account(busyMs: number, cpuMs: number, mults: number, hashes: number): void {
    this.#stats.jobs++;
    this.#stats.busyMs += busyMs;
    this.#stats.cpuMs += cpuMs;
    if (hashes === 0) {
      this.#stats.blindCpuMs += cpuMs;
      this.#stats.blindMultiplied += mults;
    }
    this.#stats.multiplied += mults;
    this.#stats.hashed += hashes;
  }
}

function checkScalar(scalar: ScalarBytes): void {
  if (!(scalar instanceof Uint8Array) || scalar.length !== SCALAR_BYTES) {
    throw new FedscoreError('invalid_argument', `expected a ${SCALAR_BYTES}-byte scalar`, {
      field: 'scalar',
    });
  }
}

/** The typed error of a refused batch element (offload.ts reuses it for a task's stored refusal). */
export function rejection(op: WorkerRequest['op'], field: string, index: number): FedscoreError {
  if (op === 'hash') {
    return new FedscoreError('invalid_argument', `id ${index} of the batch is too long to hash`, {
      field: `${field}[${index}]`,
    });
  }
  return new FedscoreError(
    'psi_invalid_point',
    'not a canonical ristretto255 element, or its product is the identity',
    { field: `${field}[${index}]` },
  );
}
