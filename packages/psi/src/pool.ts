/**
 * The blinding pool: hash-to-group and scalar multiplication on node:worker_threads, one libsodium WASM
 * instance per worker, so both cores of a party node work on a PSI run. Jobs are batches (a few thousand
 * elements, ~0.5 s each), served first-in first-out by whichever worker is idle; inputs and outputs move
 * as transferred ArrayBuffers, so the main thread only routes bytes.
 *
 * Why a pool here and not packages/he's: psi sits above he and wire in the package order but libsodium
 * lives only here, and a blinding job needs nothing but libsodium; the pool is ~150 lines.
 *
 * `threads: 0` runs the same batch functions on the calling thread (small sets, tests, environments
 * without workers). Workers are unref'd while idle, so a forgotten pool never keeps a process alive; call
 * `close()` anyway to free their memory.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FedscoreError, siblingModuleUrl } from '@fedscore/core';
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

interface Pending {
  readonly request: WorkerRequest;
  readonly transfer: ArrayBuffer[];
  readonly resolve: (out: Uint8Array) => void;
  readonly reject: (e: Error) => void;
  readonly field: string;
  readonly indexBase: number;
  readonly elements: number;
  readonly mults: number;
  readonly hashes: number;
}

interface Slot {
  readonly worker: Worker;
  job: Pending | undefined;
}

export class BlindingPool {
  readonly threads: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed: Error | undefined;
  #stats = { jobs: 0, hashed: 0, multiplied: 0, busyMs: 0, cpuMs: 0, blindCpuMs: 0, blindMultiplied: 0 };

  private constructor(threads: number) {
    this.threads = threads;
  }

  /** Start the workers and wait until each has loaded libsodium. */
  static async create(options: BlindingPoolOptions = {}): Promise<BlindingPool> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 0 || threads > 256) {
      throw new FedscoreError('out_of_range', `threads must be an integer in [0, 256], got ${threads}`, {
        field: 'threads',
      });
    }
    const pool = new BlindingPool(threads);
    await loadSodium();
    await Promise.all(Array.from({ length: threads }, () => pool.#startWorker()));
    return pool;
  }

  #startWorker(): Promise<void> {
    const worker = new Worker(siblingModuleUrl('./blind-worker', import.meta.url));
    const slot: Slot = { worker, job: undefined };
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') {
          started = true;
          this.#slots.push(slot);
          worker.unref();
          resolve();
          this.#dispatch();
          return;
        }
        this.#finish(slot, msg);
      });
      worker.on('error', (e: Error) => {
        const err = new FedscoreError('internal', `blinding worker failed: ${e.message}`, { cause: e });
        if (!started) reject(err);
        this.#fail(err);
      });
      worker.on('exit', (code) => {
        if (this.#closed === undefined) {
          const err = new FedscoreError('internal', `blinding worker exited with code ${code}`);
          if (!started) reject(err);
          this.#fail(err);
        }
      });
    });
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
      {
        op: 'hash',
        id: this.#nextId++,
        ids: bytes,
        offsets,
        scalar: scalar ? new Uint8Array(scalar) : null,
        domain,
      },
      [bytes.buffer, offsets.buffer],
      'ids',
      0,
      n,
      scalar ? n : 0,
      n,
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
      { op: 'blind', id: this.#nextId++, points: copy, scalar: new Uint8Array(scalar), outBytes },
      [copy.buffer],
      field,
      indexBase,
      n,
      n,
      0,
    );
  }

  stats(): BlindingPoolStats {
    return { threads: this.threads, ...this.#stats };
  }

  /** Stop the workers; queued and running jobs fail with `channel_closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#fail(new FedscoreError('channel_closed', 'blinding pool closed'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #submit(
    request: WorkerRequest,
    transfer: ArrayBuffer[],
    field: string,
    indexBase: number,
    elements: number,
    mults: number,
    hashes: number,
  ): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.threads === 0) {
      return Promise.resolve().then(() => this.#runInline(request, field, indexBase, mults, hashes));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#queue.push({ request, transfer, resolve, reject, field, indexBase, elements, mults, hashes });
      this.#dispatch();
    });
  }

  #runInline(
    request: WorkerRequest,
    field: string,
    indexBase: number,
    mults: number,
    hashes: number,
  ): Uint8Array {
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
    this.#account(performance.now() - t0, (cpu.user + cpu.system) / 1000, mults, hashes);
    if (!result.ok) throw rejection(request, field, indexBase + result.index);
    return result.out;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job !== undefined) continue;
      const job = this.#queue.shift();
      if (job === undefined) break;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.request, job.transfer);
    }
  }

  #finish(slot: Slot, msg: Exclude<WorkerReply, { type: 'ready' }>): void {
    const job = slot.job;
    slot.job = undefined;
    slot.worker.unref();
    this.#dispatch();
    if (job === undefined || job.request.id !== msg.id) {
      this.#fail(new FedscoreError('internal', 'blinding worker answered a job it was not given'));
      return;
    }
    if (msg.type === 'done') {
      this.#account(msg.busyMs, msg.cpuMs, job.mults, job.hashes);
      job.resolve(msg.out);
    } else if (msg.type === 'rejected') {
      this.#account(msg.busyMs, msg.cpuMs, 0, 0);
      job.reject(rejection(job.request, job.field, job.indexBase + msg.index));
    } else {
      job.reject(new FedscoreError('internal', `blinding worker: ${msg.message}`));
    }
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

  #fail(err: Error): void {
    this.#closed ??= err;
    for (const job of this.#queue.splice(0)) job.reject(err);
    for (const slot of this.#slots) {
      if (slot.job) {
        slot.job.reject(err);
        slot.job = undefined;
      }
    }
  }
}

function checkScalar(scalar: ScalarBytes): void {
  if (!(scalar instanceof Uint8Array) || scalar.length !== SCALAR_BYTES) {
    throw new FedscoreError('invalid_argument', `expected a ${SCALAR_BYTES}-byte scalar`, {
      field: 'scalar',
    });
  }
}

function rejection(request: WorkerRequest, field: string, index: number): FedscoreError {
  if (request.op === 'hash') {
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
