/**
 * The worker pool every package uses (`@fedscore/core/pool`, a subpath so browser users of core never
 * load node:worker_threads): a fixed number of worker threads, each running one module that loads its own
 * WebAssembly instance (node-seal, libsodium) once at start-up, then serves tasks one at a time. Tasks
 * wait in one first-in first-out queue and go to whichever worker is idle.
 *
 * - Queue limit: `maxQueue` tasks may wait (running ones not counted); one more is refused at once with
 *   `FedscoreError('queue_full')`, so a caller that floods the pool learns it instead of growing memory.
 * - Cancellation: an `AbortSignal` per task. A queued task leaves the queue; a running task's promise
 *   rejects at once with `FedscoreError('aborted')` and the worker's eventual answer is dropped. The
 *   worker is not terminated: reloading a CKKS context with its Galois keys costs far more than letting
 *   one batch finish, and tasks here are short (one batch).
 * - Crashes: a worker that throws outside a task or exits fails its running task with
 *   `FedscoreError('worker_failed')`; the pool starts a replacement (same module, same `workerData`)
 *   unless `respawn` is false (the workerData is a secret that was wiped after start-up), and the queue
 *   keeps flowing on the other workers meanwhile.
 * - An exception inside a task is that task's error only: a `FedscoreError` keeps its code and field
 *   across the thread boundary; anything else becomes `taskErrorCode` (default `internal`).
 * - Idle workers are unref'd: a forgotten pool never keeps a process alive (call `close()` anyway).
 *
 * Chosen over piscina and tinypool on measurement (docs/architecture.md, "Worker pools"): for the
 * batch-sized tasks fedscore runs all three are within noise, and this one adds no dependency, speaks
 * FedscoreError, and keeps a worker (and its loaded keys) across cancellations.
 *
 * The worker side is `serveTasks` below.
 */
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, type Transferable, Worker } from 'node:worker_threads';
import { ERROR_CODES, type ErrorCode, FedscoreError } from './errors.ts';

export interface WorkerPoolOptions {
  /** The worker module (use `siblingModuleUrl('./worker', import.meta.url)`). */
  readonly module: URL;
  /** Worker threads, 1 to 256; default: the machine's available parallelism. */
  readonly size?: number;
  /** Copied into every worker (`workerData`) when it starts. */
  readonly workerData?: unknown;
  /** Tasks allowed to wait for a worker; default unlimited. */
  readonly maxQueue?: number;
  /** Names the workers in errors, e.g. 'HE worker'. */
  readonly name?: string;
  /** Start a replacement for a crashed worker (default true). */
  readonly respawn?: boolean;
  /** Code of a task's error that is not a FedscoreError (default 'internal'). */
  readonly taskErrorCode?: ErrorCode;
}

export interface RunOptions<P = unknown> extends TaskRunOptions {
  /** Buffers moved (not copied) to the worker; unusable here afterwards. */
  readonly transfer?: readonly Transferable[];
  /** Called with each value the task reports through `TaskContext.progress`. */
  readonly onProgress?: (value: P) => void;
  /**
   * Run on this worker (0 .. size-1) only, e.g. one that holds a cache the task needs; it waits for
   * that worker even while others are idle. A crashed worker's replacement takes its index with a new
   * `generation`, so the caller can tell its cache is gone.
   */
  readonly worker?: number;
}

/**
 * Where batch tasks run: the one interface of this pool (worker threads of this process) and of a
 * distributed executor (`@fedscore/queue`: a pg-boss queue on PostgreSQL, worker processes on other
 * machines). A caller that only runs tasks takes a `TaskExecutor`, so the same code spreads its batches
 * over threads or over machines. `taskId` names a task for an executor that may deliver it more than
 * once (the distributed one keys the result by it); this pool runs each call once and ignores it.
 */
export interface TaskExecutor<In, Out> {
  run(task: In, options?: TaskRunOptions): Promise<Out>;
  close(): Promise<void>;
}

/** What every executor understands about one task. */
export interface TaskRunOptions {
  readonly signal?: AbortSignal;
  /** The task's identity: equal ids mean equal tasks (their one result is reused). */
  readonly taskId?: string;
}

/** What a task handler gets besides its input. */
export interface TaskContext {
  /** Report progress to the caller's `onProgress` (posted to the main thread, not awaited). */
  progress(value: unknown): void;
}

/** A handler's answer with buffers to move instead of copy (made by `transferring`). */
export class Transferring<T> {
  readonly value: T;
  readonly transfer: readonly Transferable[];

  constructor(value: T, transfer: readonly Transferable[]) {
    this.value = value;
    this.transfer = transfer;
  }
}

/** Wrap a handler's result so its buffers move to the main thread (e.g. `transferring(out, [out.buffer])`). */
export function transferring<T>(value: T, transfer: readonly Transferable[]): Transferring<T> {
  return new Transferring(value, transfer);
}

type TaskMessage = { readonly id: number; readonly task: unknown };
type ReplyMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly id: number; readonly value: unknown }
  | { readonly type: 'progress'; readonly id: number; readonly value: unknown }
  | {
      readonly type: 'error';
      readonly id: number;
      readonly error: {
        readonly code?: string;
        readonly message: string;
        readonly field?: string;
        readonly details?: Readonly<Record<string, string | number | boolean>>;
      };
    };

interface Job {
  readonly id: number;
  readonly task: unknown;
  readonly transfer: readonly Transferable[];
  readonly resolve: (value: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly onProgress: ((value: unknown) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  /** The worker index it must run on, if pinned. */
  readonly worker: number | undefined;
  /** Settled (answered, aborted or failed): a later answer for it is dropped. */
  settled: boolean;
}

interface Slot {
  readonly worker: Worker;
  /** Stable position 0 .. size-1; a replacement takes the index of the worker it replaces. */
  readonly index: number;
  ready: boolean;
  job: Job | undefined;
  /** The worker ended (crash or close); its slot is replaced or dropped. */
  dead: boolean;
}

export class WorkerPool<In, Out> implements TaskExecutor<In, Out> {
  readonly size: number;
  readonly #options: WorkerPoolOptions;
  readonly #name: string;
  readonly #maxQueue: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  /** Per worker index: how many workers have started there (1 = the first). */
  readonly #generations: number[] = [];
  #nextId = 1;
  #closed: FedscoreError | undefined;

  private constructor(options: WorkerPoolOptions, size: number) {
    this.#options = options;
    this.size = size;
    this.#name = options.name ?? 'worker';
    this.#maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
  }

  /** Start `size` workers and wait until each has loaded its module (and called `serveTasks`). */
  static async create<In, Out>(options: WorkerPoolOptions): Promise<WorkerPool<In, Out>> {
    const size = options.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1 || size > 256) {
      throw new FedscoreError('out_of_range', `size must be an integer in [1, 256], got ${size}`, {
        field: 'size',
      });
    }
    const q = options.maxQueue;
    if (q !== undefined && !(q === Number.POSITIVE_INFINITY || (Number.isInteger(q) && q >= 0))) {
      throw new FedscoreError('out_of_range', 'maxQueue must be a non-negative integer', {
        field: 'maxQueue',
      });
    }
    const pool = new WorkerPool<In, Out>(options, size);
    const starts = Array.from({ length: size }, (_, i) => pool.#start(i));
    const results = await Promise.allSettled(starts);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      await pool.close();
      throw (failed as PromiseRejectedResult).reason;
    }
    return pool;
  }

  /** How many workers have started at `index` (a change means the one there was replaced). */
  generation(index: number): number {
    return this.#generations[index] ?? 0;
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Workers running a task. */
  get busy(): number {
    return this.#slots.filter((s) => s.job !== undefined).length;
  }

  /** Run `task` on the next idle worker; resolves with the handler's result. */
  run(task: In, options: RunOptions = {}): Promise<Out> {
    if (this.#closed) return Promise.reject(this.#closed);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(this.#name, signal));
    const pinned = options.worker;
    if (pinned !== undefined && !(Number.isInteger(pinned) && pinned >= 0 && pinned < this.size)) {
      return Promise.reject(
        new FedscoreError('out_of_range', `worker must be an integer in [0, ${this.size - 1}]`, {
          field: 'worker',
        }),
      );
    }
    const idle = this.#slots.some(
      (s) => s.ready && s.job === undefined && (pinned === undefined || s.index === pinned),
    );
    if (!idle && this.#queue.length >= this.#maxQueue) {
      return Promise.reject(
        new FedscoreError('queue_full', `${this.#name} queue is full (${this.#maxQueue} tasks waiting)`, {
          field: 'maxQueue',
          details: { maxQueue: this.#maxQueue },
        }),
      );
    }
    return new Promise<Out>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        task,
        transfer: options.transfer ?? [],
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: options.onProgress,
        signal,
        worker: pinned,
        onAbort: () => {
          if (job.settled) return;
          const at = this.#queue.indexOf(job);
          if (at >= 0) this.#queue.splice(at, 1);
          // A running job's worker finishes it; its answer is dropped (see the file comment).
          this.#settle(job, abortError(this.#name, signal!));
        },
        settled: false,
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /** Stop every worker; queued and running tasks fail with `channel_closed`. */
  async close(): Promise<void> {
    if (!this.#closed) this.#closed = new FedscoreError('channel_closed', `${this.#name} pool closed`);
    const err = this.#closed;
    for (const job of this.#queue.splice(0)) this.#settle(job, err);
    for (const s of this.#slots) {
      if (s.job) this.#settle(s.job, err);
      s.job = undefined;
      s.dead = true;
    }
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #start(index: number): Promise<void> {
    const worker = new Worker(this.#options.module, { workerData: this.#options.workerData });
    const slot: Slot = { worker, index, ready: false, job: undefined, dead: false };
    this.#generations[index] = (this.#generations[index] ?? 0) + 1;
    this.#slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: ReplyMessage) => {
        if (msg.type === 'ready') {
          slot.ready = true;
          worker.unref();
          resolve();
          this.#dispatch();
          return;
        }
        this.#answer(slot, msg);
      });
      const ended = (why: string, cause?: unknown): void => {
        if (slot.dead) return;
        slot.dead = true;
        this.#slots.splice(this.#slots.indexOf(slot), 1);
        // A typed error thrown while the worker started (e.g. weak HE parameters) keeps its code.
        const code = (cause as { code?: string } | undefined)?.code;
        const err = new FedscoreError(
          !slot.ready && isErrorCode(code) ? code : 'worker_failed',
          `${this.#name} ${why}`,
          { ...(cause !== undefined && { cause }) },
        );
        if (!slot.ready) {
          reject(err);
          return;
        }
        if (slot.job) this.#settle(slot.job, err);
        slot.job = undefined;
        void worker.terminate();
        if (this.#closed) return;
        if (this.#options.respawn !== false) {
          this.#start(slot.index).catch((e: unknown) => this.#lost(e as Error));
        } else {
          this.#lost(err);
        }
      };
      worker.on('error', (e: Error) => ended(`failed: ${e.message}`, e));
      worker.on('exit', (code) => {
        if (!this.#closed) ended(`exited with code ${code}`);
      });
    });
  }

  /** A worker could not be replaced: with none left, waiting tasks would wait forever. */
  #lost(err: Error): void {
    if (this.#slots.length > 0) {
      // Tasks pinned to a worker that is gone for good would wait forever.
      const live = new Set(this.#slots.map((s) => s.index));
      for (const job of [...this.#queue]) {
        if (job.worker === undefined || live.has(job.worker)) continue;
        this.#queue.splice(this.#queue.indexOf(job), 1);
        this.#settle(
          job,
          new FedscoreError('worker_failed', `${this.#name} ${job.worker} has failed`, { cause: err }),
        );
      }
      return;
    }
    this.#closed ??= new FedscoreError('worker_failed', `every ${this.#name} has failed`, { cause: err });
    for (const job of this.#queue.splice(0)) this.#settle(job, this.#closed);
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (!slot.ready || slot.job !== undefined || slot.dead) continue;
      const at = this.#queue.findIndex((j) => j.worker === undefined || j.worker === slot.index);
      if (at < 0) continue;
      const job = this.#queue.splice(at, 1)[0]!;
      slot.job = job;
      slot.worker.ref();
      try {
        slot.worker.postMessage({ id: job.id, task: job.task } satisfies TaskMessage, [...job.transfer]);
      } catch (e) {
        // e.g. a value that cannot be cloned: this task's error, the worker is fine
        slot.job = undefined;
        slot.worker.unref();
        this.#settle(
          job,
          new FedscoreError('invalid_argument', `task cannot be sent to a worker: ${(e as Error).message}`, {
            field: 'task',
            cause: e,
          }),
        );
      }
    }
  }

  #answer(slot: Slot, msg: Exclude<ReplyMessage, { type: 'ready' }>): void {
    const job = slot.job;
    if (job === undefined || job.id !== msg.id) return;
    if (msg.type === 'progress') {
      if (!job.settled) job.onProgress?.(msg.value);
      return;
    }
    slot.job = undefined;
    slot.worker.unref();
    this.#dispatch();
    if (msg.type === 'done') this.#settle(job, undefined, msg.value);
    else {
      const e = msg.error;
      const code = isErrorCode(e.code) ? e.code : (this.#options.taskErrorCode ?? 'internal');
      const message = isErrorCode(e.code) ? e.message : `${this.#name}: ${e.message}`;
      this.#settle(
        job,
        new FedscoreError(code, message, {
          ...(e.field !== undefined && { field: e.field }),
          ...(e.details !== undefined && { details: e.details }),
        }),
      );
    }
  }

  #settle(job: Job, error: Error | undefined, value?: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job.onAbort);
    if (error) job.reject(error);
    else job.resolve(value);
  }
}

function abortError(name: string, signal: AbortSignal): FedscoreError {
  return new FedscoreError('aborted', `${name} task cancelled`, { cause: signal.reason });
}

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);

function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && CODES.has(code);
}

/**
 * The worker side: call once the module's own start-up (loading WebAssembly, keys) is done. Each task's
 * input is passed to `handler`; its result (or `transferring(result, buffers)`) goes back to the pool.
 */
export function serveTasks<In, Out>(
  handler: (task: In, context: TaskContext) => Out | Transferring<Out> | Promise<Out | Transferring<Out>>,
): void {
  const port = parentPort;
  if (isMainThread || port === null) {
    throw new FedscoreError('unsupported', 'serveTasks must run in a worker thread');
  }
  port.on('message', async ({ id, task }: TaskMessage) => {
    const context: TaskContext = {
      progress: (value) => port.postMessage({ type: 'progress', id, value } satisfies ReplyMessage),
    };
    let reply: ReplyMessage;
    let transfer: readonly Transferable[] = [];
    try {
      const out = await handler(task as In, context);
      if (out instanceof Transferring) {
        reply = { type: 'done', id, value: out.value };
        transfer = out.transfer;
      } else reply = { type: 'done', id, value: out };
    } catch (e) {
      const fe = e instanceof FedscoreError ? e : undefined;
      reply = {
        type: 'error',
        id,
        error: {
          ...(fe !== undefined && { code: fe.code }),
          // the pool re-attaches the field: send the message without its "field '...': " prefix
          message:
            fe?.field !== undefined
              ? fe.message.replace(`field '${fe.field}': `, '')
              : e instanceof Error
                ? e.message
                : String(e),
          ...(fe?.field !== undefined && { field: fe.field }),
          ...(fe?.details !== undefined && { details: fe.details }),
        },
      };
    }
    port.postMessage(reply, [...transfer]);
  });
  port.postMessage({ type: 'ready' } satisfies ReplyMessage);
}
