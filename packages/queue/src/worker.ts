/**
 * The worker-process side of the queue: a process on any machine of the party that takes tasks from a
 * pg-boss queue (executor.ts), runs them with a handler, and stores each result once under its task id.
 *
 * `serveTaskQueue` is generic (a handler of decoded tasks, their shared fields filled in from the blob
 * table and kept in memory by digest: codec.ts). `runHeTaskWorker` is the HE task worker `fedscore
 * worker` runs: one registry of task kinds by `op` (`HE_TASK_KINDS`: hetero-LR's packed products,
 * portfolio scoring's linear combinations; the CLI adds the WOE binning's bin sums and SecureBoost's
 * host histograms from @fedscore/vfl),
 * each evaluated under the PUBLIC CKKS context the task carries (or the one published for the queue),
 * loaded once per digest (Galois or public keys, no secret key: the bytes are decoded as a
 * public-context blob, and every kind's handler refuses a secret context). Its inputs are those contexts
 * and the tasks' bytes -- ciphertexts under the key holder's key and the party's plaintext batch values
 * -- and nothing else.
 *
 * Per delivery: if the task's result is stored, count the delivery and finish (a duplicate); if its
 * input is gone (the result was stored and collected), finish; otherwise run the handler, and store the
 * output -- or the typed error the handler threw, which is a result too (the same input fails the same
 * way) -- with `ON CONFLICT` keeping the first row, then NOTIFY the coordinator. A database error
 * propagates to pg-boss, which retries the delivery; a killed process's job expires and is retried.
 */
import { FedscoreError, type Logger, noopLogger } from '@fedscore/core';
import {
  BLOB_KIND,
  type CkksPublicContext,
  DEFAULT_DIAGONAL_CACHE_MIB,
  DiagonalCache,
  decodeBlob,
  linearCombinationsHandler,
  loadCkksPublicContext,
  packedProductHandler,
} from '@fedscore/he';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { decodeEnvelope, decodeValue, digestOf, encodeValue } from './codec.ts';
import { boolOf, copyRows, literal } from './copy.ts';
import { type ByteTransfer, byteTransferOf, ensureSchema, fromBase64, storeError } from './executor.ts';
import { NOTIFY_CHANNEL, PGBOSS_SCHEMA, QUEUE_NAME } from './schema.ts';

export interface TaskQueueWorkerOptions {
  readonly connectionString: string;
  readonly queue: string;
  /** Tasks this process runs at once (default 1: a CKKS batch uses one core). */
  readonly concurrency?: number;
  /** Poll interval for ready tasks besides LISTEN/NOTIFY wake-ups, seconds (default 0.5; >= 0.5). */
  readonly pollingIntervalSeconds?: number;
  readonly logger?: Logger;
  /** Bytes of decoded shared fields (codec.ts) kept in memory, least recently used evicted (default 256 MiB). */
  readonly blobCacheBytes?: number;
  /** Stops the worker: running tasks finish, no new ones are taken. */
  readonly signal?: AbortSignal;
  /** How task inputs and shared fields are read (executor.ts `ByteTransfer`; default 'copy'). */
  readonly transfer?: ByteTransfer;
}

/** A running worker. */
export interface TaskQueueWorker {
  /** Deliveries handled (computed, duplicate or already collected). */
  readonly handled: number;
  /** Resolves when the worker has stopped. */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

/** Take tasks from `queue` and answer them with `handler` until stopped. */
export async function serveTaskQueue<In, Out>(
  options: TaskQueueWorkerOptions,
  handler: (task: In, shared: Readonly<Record<string, string>>) => Out | Promise<Out>,
): Promise<TaskQueueWorker> {
  if (!QUEUE_NAME.test(options.queue)) {
    throw new FedscoreError('invalid_argument', 'a queue name is 1 to 100 of [A-Za-z0-9_.-]', {
      field: 'queue',
    });
  }
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new FedscoreError('out_of_range', 'concurrency must be an integer in [1, 64]', {
      field: 'concurrency',
    });
  }
  const logger = options.logger ?? noopLogger;
  const { queue } = options;
  const poll = options.pollingIntervalSeconds ?? 0.5;
  if (!Number.isFinite(poll) || poll < 0.5) {
    throw new FedscoreError('out_of_range', 'pollingIntervalSeconds must be >= 0.5', {
      field: 'pollingIntervalSeconds',
    });
  }
  const transfer = byteTransferOf(options.transfer);
  const pool = new pg.Pool({ connectionString: options.connectionString, max: concurrency + 1 });
  pool.on('error', () => undefined);
  let boss: PgBoss | undefined;
  let handled = 0;
  const blobs = new BlobCache(options.blobCacheBytes ?? 256 * 2 ** 20);

  /** The task of a stored envelope, its shared fields filled in from the cache or the blob table. */
  const taskOf = async (input: Buffer): Promise<{ task: In; shared: Readonly<Record<string, string>> }> => {
    const env = decodeEnvelope(input);
    const entries = Object.entries(env.shared);
    if (entries.length === 0) return { task: env.task as In, shared: env.shared };
    const task: Record<string, unknown> = { ...(env.task as Record<string, unknown>) };
    for (const [field, hash] of entries) {
      let value = blobs.get(hash);
      if (value === undefined) {
        // `hash` is SHA-256 hex (decodeEnvelope checked it), inlined for COPY as a literal.
        const bytes =
          transfer === 'copy'
            ? ((
                await copyRows(pool, `SELECT bytes FROM fedscore_task_blob WHERE hash = ${literal(hash)}`)
              )[0]?.[0] ?? null)
            : fromBase64(
                (
                  await pool.query<{ bytes: string }>(
                    "SELECT encode(bytes, 'base64') AS bytes FROM fedscore_task_blob WHERE hash = $1",
                    [hash],
                  )
                ).rows[0]?.bytes ?? null,
              );
        // Not a result: a blob the coordinator stored before the task cannot be missing unless the
        // database lost it, so the delivery fails and pg-boss retries (then fails) the job.
        if (bytes === null) throw new Error(`shared field ${field} (${hash}) is not stored`);
        if (digestOf(bytes) !== hash) throw new Error(`shared field ${field} does not match its digest`);
        value = decodeValue(bytes, field);
        blobs.set(hash, value, bytes.byteLength);
      }
      task[field] = value;
    }
    return { task: task as In, shared: env.shared };
  };

  const deliver = async (taskId: string): Promise<void> => {
    handled++;
    // One round trip: count this delivery on a stored result (a duplicate), or read the input -- only
    // when it is not a duplicate (a duplicate's bytes are not read).
    const found = await readDelivery(pool, transfer, queue, taskId);
    if (found === undefined || found.dup || found.input === null) return;
    // A task that does not decode fails the same way every time: its typed error is its result. A
    // database error reading a shared field is not (it propagates, and pg-boss retries the delivery).
    let task: In | undefined;
    let shared: Readonly<Record<string, string>> = {};
    let decodeError: FedscoreError | undefined;
    try {
      ({ task, shared } = await taskOf(found.input));
    } catch (e) {
      if (!(e instanceof FedscoreError)) throw e;
      decodeError = e;
    }
    const started = performance.now();
    let output: Buffer | null = null;
    let error: { code: string; message: string; field?: string } | null = null;
    try {
      if (decodeError !== undefined) throw decodeError;
      const out = await handler(task as In, shared);
      const bytes = encodeValue(out);
      output = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (e) {
      const fe = e instanceof FedscoreError ? e : undefined;
      error = {
        code: fe?.code ?? 'internal',
        message: fe?.message ?? `task failed: ${(e as Error).message}`,
        ...(fe?.field !== undefined && { field: fe.field }),
      };
    }
    const seconds = (performance.now() - started) / 1000;
    // One statement, so one round trip and one transaction: the first row wins, the input goes, and
    // the coordinator is notified at commit only if this delivery stored the result.
    await pool.query(
      `WITH stored AS (
         INSERT INTO fedscore_task_result (queue, task_id, output, error, task_seconds)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (queue, task_id) DO UPDATE SET deliveries = fedscore_task_result.deliveries + 1
         RETURNING (xmax = 0) AS inserted
       ), dropped AS (
         DELETE FROM fedscore_task_input WHERE queue = $1 AND task_id = $2
       )
       SELECT pg_notify($6, $7) FROM stored WHERE inserted`,
      [
        queue,
        taskId,
        output,
        error === null ? null : JSON.stringify(error),
        seconds,
        NOTIFY_CHANNEL,
        `${queue} ${taskId}`,
      ],
    );
  };

  try {
    await ensureSchema(pool);
    // A worker whose role does not own pg-boss's schema (a restricted worker role, workerGrantSql) leaves
    // installing and migrating it to the coordinator: pg-boss only checks the version then, and runs no
    // index builds of its own. Otherwise (the schema's owner, or no schema yet) pg-boss installs as before.
    const owner = await pool.query<{ owns: boolean }>(
      `SELECT n.oid IS NULL OR pg_has_role(current_user, n.nspowner, 'USAGE') AS owns
       FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1`,
      [PGBOSS_SCHEMA],
    );
    const owns = owner.rows[0]?.owns !== false;
    const b = new PgBoss({
      connectionString: options.connectionString,
      useListenNotify: true,
      max: 2,
      ...(!owns && { migrate: false }),
    });
    boss = b;
    b.on('error', (e: Error) => logger.warn('queue worker: pg-boss error', { error: e.message }));
    await b.start();
    if ((await b.getQueue(queue)) === null) {
      if (!owns) {
        throw new FedscoreError(
          'not_found',
          `queue ${queue} does not exist yet: the coordinator creates it (start the node with this queue first)`,
          { field: 'queue' },
        );
      }
      await b.createQueue(queue, { notify: true }).catch(async (e: unknown) => {
        if ((await b.getQueue(queue)) === null) throw e;
      });
    }
    await b.work<{ taskId: string }>(
      queue,
      {
        // Two at a time per slot, and fetch again at once after a full batch: pg-boss 12 only does so
        // with `burstWhenBatchFull` (off by default; ignored at batchSize 1). Without it a worker with a
        // backlog waited a poll interval after every batch (bench queue-choice: 5.2 tasks/s at 1 KiB for
        // one worker; 273 with it). Two keeps one task in hand while leaving the rest to other workers.
        batchSize: 2,
        burstWhenBatchFull: true,
        localConcurrency: concurrency,
        pollingIntervalSeconds: poll,
        // pg-boss polls a notify-enabled queue only every 30 s by default while NOTIFY is up, and a job
        // made ready again by expiry (a killed worker's task) or retry sends no notification: without
        // this a redelivery waited up to 30 s per pass (measured: 95-124 s after a kill).
        notifyPollingIntervalSeconds: poll,
      },
      async (jobs) => {
        for (const job of jobs) {
          const taskId = job.data?.taskId;
          if (typeof taskId !== 'string') continue; // not ours: finish it rather than retry it forever
          await deliver(taskId);
        }
      },
    );
  } catch (e) {
    await Promise.allSettled([boss?.stop({ graceful: false }), pool.end()]);
    throw storeError('start the queue worker', e);
  }
  const started = boss;
  logger.info('queue worker ready', { queue, concurrency });

  let stopping: Promise<void> | undefined;
  let done!: () => void;
  const stopped = new Promise<void>((r) => {
    done = r;
  });
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await started.stop({ graceful: true, close: true, timeout: 30_000 }).catch(() => undefined);
      await pool.end().catch(() => undefined);
      done();
    })();
    return stopping;
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  return {
    get handled() {
      return handled;
    },
    stopped,
    stop,
  };
}

/** Count a delivery on a stored result (`dup`), or else read the task's input (null once collected). */
async function readDelivery(
  pool: pg.Pool,
  transfer: ByteTransfer,
  queue: string,
  taskId: string,
): Promise<{ dup: boolean; input: Buffer | null } | undefined> {
  const statement = (q: string, id: string, input: string) => `WITH dup AS (
       UPDATE fedscore_task_result SET deliveries = deliveries + 1
       WHERE queue = ${q} AND task_id = ${id} RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM dup) AS dup,
            (SELECT ${input} FROM fedscore_task_input
             WHERE queue = ${q} AND task_id = ${id} AND NOT EXISTS (SELECT 1 FROM dup)) AS input`;
  if (transfer === 'copy') {
    // The queue name and the task id (a pg-boss job's data, checked as a task id here) are inlined.
    // Not a task id (so not ours): finished without a result, as an id with no input is.
    if (!/^[A-Za-z0-9._:-]{0,200}\/[0-9a-f]{64}$/.test(taskId)) return undefined;
    const row = (await copyRows(pool, statement(literal(queue), literal(taskId), 'input')))[0];
    return row === undefined ? undefined : { dup: boolOf(row[0]), input: row[1] ?? null };
  }
  const r = await pool.query<{ dup: boolean; input: string | null }>(
    statement('$1', '$2', "encode(input, 'base64')"),
    [queue, taskId],
  );
  const row = r.rows[0];
  return row === undefined ? undefined : { dup: row.dup, input: fromBase64(row.input) };
}

/** Load the public context the coordinator published for `queue`. */
async function publishedContext(connectionString: string, queue: string): Promise<Uint8Array> {
  const client = new pg.Client({ connectionString });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ context: Buffer }>(
      'SELECT context FROM fedscore_queue_context WHERE queue = $1',
      [queue],
    );
    const bytes = r.rows[0]?.context;
    if (bytes === undefined) {
      throw new FedscoreError('not_found', `no public context is published for queue ${queue}`, {
        field: 'queue',
      });
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (e) {
    throw storeError('read the published context', e);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The shared fields of the HE tasks (`QueueExecutorOptions.sharedFields`): a packed product's batch
 * columns (the same in every epoch), the public context every task carries (the same for a whole job),
 * a binning run's bin index, cells and layout (the same for every batch range), and a SecureBoost
 * host's packed gradients of a batch range (the same for every level of a tree; its bin index and
 * layout are the run's), each stored once and cached by the workers. A field a task does not have is
 * skipped.
 */
export const HE_TASK_SHARED_FIELDS: readonly string[] = [
  'batch',
  'context',
  'binIndex',
  'cells',
  'layout',
  'packedGradients',
];

/** @deprecated The old name of `HE_TASK_SHARED_FIELDS`. */
export const PACKED_PRODUCT_SHARED_FIELDS: readonly string[] = HE_TASK_SHARED_FIELDS;

/**
 * What a worker keeps per loaded context for its kinds (`HeTaskKind`'s second argument): the encoded
 * diagonals of packed products' column blocks (`evict: 'lru'`, `HeTaskWorkerOptions.diagonalCacheBytes`),
 * disposed with the context.
 */
export interface HeTaskResources {
  readonly diagonals: DiagonalCache;
}

/**
 * One kind of HE task a worker serves, named by the task's `op`: a handler made once per loaded PUBLIC
 * context (the factory must refuse a secret one), then called with each task of that kind (its `context`
 * field removed). Tasks are self-contained; a handler keeps nothing between tasks but caches of public
 * values (encoded weights, `resources`' encoded diagonals).
 */
export type HeTaskKind = (ctx: CkksPublicContext, resources: HeTaskResources) => (task: never) => unknown;

/**
 * The kinds every HE worker serves (@fedscore/he's task handlers): hetero-LR's packed products and
 * portfolio scoring's linear combinations. Kinds whose evaluation lives in higher packages (the WOE
 * binning's bin sums, @fedscore/vfl) are added by the process that starts the worker (`kinds`, the CLI).
 */
export const HE_TASK_KINDS: Readonly<Record<string, HeTaskKind>> = {
  packedProduct: packedProductHandler,
  linearCombinations: linearCombinationsHandler,
};

/** Loaded contexts a worker keeps (one per job running on the queue; the least recently used goes). */
const MAX_CONTEXTS = 4;

export interface HeTaskWorkerOptions extends TaskQueueWorkerOptions {
  /**
   * Bytes of encoded packed-product diagonals kept per loaded context, least recently used product
   * evicted (default `DEFAULT_DIAGONAL_CACHE_MIB`, 1 GiB: what each of the node's HE threads keeps; 0 =
   * encode per task). A hetero-LR batch's columns are the same every epoch, so a worker that sees a batch
   * again skips its encodes (bench queue --diagonals); results are the same bytes either way.
   */
  readonly diagonalCacheBytes?: number;
  /** Accept a context below 128-bit security (tests and benchmarks only). */
  readonly allowWeakParameters?: boolean;
  /** Task kinds served besides (or replacing) `HE_TASK_KINDS`, by `op`. */
  readonly kinds?: Readonly<Record<string, HeTaskKind>>;
  /**
   * Task kinds that need no CKKS context, by `op` (PSI's blinding, @fedscore/psi): called with the whole
   * task; no context is loaded for them.
   */
  readonly plainKinds?: Readonly<Record<string, PlainTaskKind>>;
}

/** A task kind served without a CKKS context (`HeTaskWorkerOptions.plainKinds`). */
export type PlainTaskKind = (task: never) => unknown;

/** @deprecated The old name of `HeTaskWorkerOptions`. */
export type HeProductWorkerOptions = HeTaskWorkerOptions;

interface LoadedContext {
  readonly ctx: CkksPublicContext;
  readonly diagonals: DiagonalCache;
  readonly handlers: Map<string, (task: never) => unknown>;
  uses: number;
  evicted: boolean;
}

/**
 * The HE task worker: serve the queue's tasks -- each names its kind by `op` (`HE_TASK_KINDS` and
 * `kinds`) -- under the public context each task carries (loaded once per digest, `MAX_CONTEXTS` kept),
 * or under the one the coordinator published for the queue for a task without one. Bytes that are not a
 * public context are refused before anything is loaded (`decodeBlob`), and every handler refuses a
 * secret context. A task of an unknown kind fails with `invalid_argument` naming `op` (a stored error).
 */
export async function runHeTaskWorker(options: HeTaskWorkerOptions): Promise<TaskQueueWorker> {
  const kinds: Readonly<Record<string, HeTaskKind>> = { ...HE_TASK_KINDS, ...options.kinds };
  const logger = options.logger ?? noopLogger;
  const diagonalBytes = options.diagonalCacheBytes ?? DEFAULT_DIAGONAL_CACHE_MIB * 2 ** 20;
  if (typeof diagonalBytes !== 'number' || !Number.isFinite(diagonalBytes) || diagonalBytes < 0) {
    throw new FedscoreError('out_of_range', 'diagonalCacheBytes must be a number >= 0', {
      field: 'diagonalCacheBytes',
    });
  }
  const free = (c: LoadedContext): void => {
    c.diagonals.dispose();
    c.ctx.dispose();
  };
  const loaded = new Map<string, Promise<LoadedContext>>();
  const load = async (bytes: Uint8Array): Promise<LoadedContext> => {
    decodeBlob(bytes, BLOB_KIND.publicContext);
    const ctx = await loadCkksPublicContext(bytes, {
      ...(options.allowWeakParameters === true && { allowWeakParameters: true }),
    });
    const diagonals = new DiagonalCache(ctx, diagonalBytes, { evict: 'lru' });
    return { ctx, diagonals, handlers: new Map(), uses: 0, evicted: false };
  };
  const contextOf = (digest: string, bytes: () => Promise<Uint8Array>): Promise<LoadedContext> => {
    let entry = loaded.get(digest);
    if (entry === undefined) {
      entry = bytes().then(load);
      entry.catch(() => loaded.delete(digest));
      loaded.set(digest, entry);
      while (loaded.size > MAX_CONTEXTS) {
        const [oldest, gone] = loaded.entries().next().value as [string, Promise<LoadedContext>];
        loaded.delete(oldest);
        void gone.then(
          (c) => {
            c.evicted = true;
            if (c.uses === 0) free(c);
          },
          () => undefined,
        );
      }
    } else {
      loaded.delete(digest);
      loaded.set(digest, entry);
    }
    return entry;
  };
  const handle = async (
    req: { readonly op?: unknown; readonly context?: Uint8Array },
    shared: Readonly<Record<string, string>>,
  ): Promise<unknown> => {
    if (req === null || typeof req !== 'object') {
      throw new FedscoreError('invalid_argument', 'a task is an object with an op', { field: 'op' });
    }
    const op = req.op;
    const plain = options.plainKinds;
    if (plain !== undefined && typeof op === 'string' && Object.hasOwn(plain, op)) {
      return plain[op]!(req as never);
    }
    const kind = typeof op === 'string' && Object.hasOwn(kinds, op) ? kinds[op] : undefined;
    if (kind === undefined) {
      throw new FedscoreError('invalid_argument', `this worker serves no task kind ${String(op)}`, {
        field: 'op',
      });
    }
    const { context, ...task } = req;
    const c =
      context === undefined
        ? await contextOf('published', () => publishedContext(options.connectionString, options.queue))
        : await contextOf(shared.context ?? digestOf(context), async () => context);
    c.uses++;
    try {
      let handler = c.handlers.get(op as string);
      if (handler === undefined) {
        handler = kind(c.ctx, { diagonals: c.diagonals });
        c.handlers.set(op as string, handler);
      }
      // The kind checks its own task's shape (each handler validates `op` and its fields).
      const before = c.diagonals.stats;
      const out = handler(task as never);
      const after = c.diagonals.stats;
      if (after.hits !== before.hits || after.encodes !== before.encodes) {
        // Counts only (diagonals served from the cache, encoded, products evicted; bytes held): what
        // an operator sizes --diagonal-cache-mib by, and what bench queue --epoch counts hits with.
        logger.debug('queue worker: diagonal cache', {
          hits: after.hits - before.hits,
          encodes: after.encodes - before.encodes,
          evictions: after.evictions - before.evictions,
          bytes: c.diagonals.bytes,
        });
      }
      return out;
    } finally {
      c.uses--;
      if (c.evicted && c.uses === 0) free(c);
    }
  };
  const worker = await serveTaskQueue<{ op?: unknown; context?: Uint8Array }, unknown>(options, handle);
  void worker.stopped.then(async () => {
    for (const entry of loaded.values())
      await entry.then(
        (c) => free(c),
        () => undefined,
      );
  });
  return worker;
}

/** @deprecated The old name of `runHeTaskWorker` (it serves every HE task kind now). */
export const runHeProductWorker: (options: HeTaskWorkerOptions) => Promise<TaskQueueWorker> = runHeTaskWorker;

/** Decoded shared fields by digest, least recently used evicted beyond a byte budget. */
class BlobCache {
  readonly #budget: number;
  readonly #entries = new Map<string, { value: unknown; bytes: number }>();
  #bytes = 0;

  constructor(budget: number) {
    if (!Number.isFinite(budget) || budget < 0) {
      throw new FedscoreError('out_of_range', 'blobCacheBytes must be a number >= 0', {
        field: 'blobCacheBytes',
      });
    }
    this.#budget = budget;
  }

  get(hash: string): unknown {
    const e = this.#entries.get(hash);
    if (e === undefined) return undefined;
    this.#entries.delete(hash);
    this.#entries.set(hash, e);
    return e.value;
  }

  set(hash: string, value: unknown, bytes: number): void {
    if (bytes > this.#budget) return;
    this.#entries.set(hash, { value, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#budget) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }
}
