/**
 * The distributed `TaskExecutor` (`@fedscore/core/pool`): a party's batch tasks on a pg-boss queue in its
 * own PostgreSQL database, run by worker processes on any number of machines (worker.ts). The
 * coordinator replica -- the one holding the party's secret keys -- enqueues tasks and awaits their
 * results; workers receive only the queue's public context (`publishContext`) and the tasks' public
 * inputs. pg-boss rather than BullMQ on Redis: one database to run beside the store (measured against
 * BullMQ by `bench queue-choice`; docs/deploy.md, "Choosing the queue").
 *
 * At-least-once delivery, exactly-one result. pg-boss may deliver a task more than once (a worker killed
 * or cut off mid-task lets the job expire and it is retried on another worker; `retryLimit`). A task's id
 * ends with the SHA-256 of its bytes (codec.ts), its result row is keyed by (queue, task id) and written
 * once (`INSERT ... ON CONFLICT`), so the first stored row is the result of every delivery. Most tasks
 * are deterministic (CKKS evaluation without encryption: every delivery computes the same bytes); a
 * re-randomized one (portfolio scoring's blocks) computes another ciphertext of the same value per
 * delivery, and only the first stored is ever read. A delivery that finds the row only counts itself
 * (`deliveries`). Sending a task whose result is stored
 * returns that result without a new job.
 *
 * Shared fields (`sharedFields`, codec.ts): values that repeat across tasks -- a batch's columns, a job's
 * public context -- are stored once in `fedscore_task_blob` by digest and cached by the workers, so a
 * task moves only what changes (measured: benchmarks/results/queue.md). Each blob carries `last_used_at`,
 * set when a task naming it is sent (at most every `BLOB_TOUCH_SECONDS` per blob and executor); `pruneBlobs`
 * deletes those unused longer than a retention that no stored task input still names.
 *
 * Results reach the coordinator by LISTEN/NOTIFY (`fedscore_task_done`), with a poll of the result table
 * every `pollMs` as the floor (a notification sent while the listening connection was down is not
 * replayed). A task whose pg-boss job ended `failed` (retries used up) rejects with `worker_failed`; an
 * error the task itself raised is stored as its result and rejects with its code and field.
 *
 * Health (`health()`): queue depth and active tasks from pg-boss, failed jobs, and latency -- per task
 * the enqueue-to-result time seen here and the worker's own seconds -- as the node's metrics will read it.
 * pg-boss's counts are those its last monitor pass stored (every `superviseIntervalSeconds`), so they lag
 * by up to that interval; `pending` and the latencies are live.
 */
import { ERROR_CODES, type ErrorCode, FedscoreError } from '@fedscore/core';
import type { TaskExecutor, TaskRunOptions } from '@fedscore/core/pool';
import { BLOB_KIND, decodeBlob } from '@fedscore/he';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { decodeValue, encodeTask, jobIdOf, type TaskBlob, type TaskId, taskIdOf } from './codec.ts';
import { copyRows, literal, textOf } from './copy.ts';
import {
  CREATE_SCHEMA,
  EXTERNAL_COLUMNS,
  NOTIFY_CHANNEL,
  PGBOSS_SCHEMA,
  QUEUE_NAME,
  QUEUE_TABLES,
  ROLE_NAME,
  SCHEMA_LOCK,
  workerGrantSql,
} from './schema.ts';

export interface QueueExecutorOptions {
  /** `postgres://user@host:port/db` of the party's database. */
  readonly connectionString: string;
  /** The queue's name (one per kind of task, e.g. 'he-packed-product'). */
  readonly queue: string;
  /** A delivered task not completed in this time is retried elsewhere (default 300 s; >= 1). */
  readonly expireInSeconds?: number;
  /** Deliveries after the first before a task fails (default 5). */
  readonly retryLimit?: number;
  /** Poll of the result table behind LISTEN/NOTIFY, ms (default 1000). */
  readonly pollMs?: number;
  /** pg-boss's supervision pass (expired jobs back to retry), seconds (default 60; >= 1). */
  readonly superviseIntervalSeconds?: number;
  /** Connections of this executor's pool (default 4). */
  readonly maxConnections?: number;
  /**
   * Fields of a task stored once by content and cached by workers (codec.ts): those that repeat across
   * tasks, e.g. `['batch']` for packed products (a batch's columns, the same every epoch).
   */
  readonly sharedFields?: readonly string[];
  /**
   * How byte columns are read (`ByteTransfer`): 'copy' (default), binary COPY; 'base64', the text
   * encoding used before it, kept as the measured baseline and for a proxy that refuses COPY.
   */
  readonly transfer?: ByteTransfer;
}

/**
 * How a byte column is read from PostgreSQL: 'copy', in binary COPY format (copy.ts: the bytes as they
 * are); 'base64', as `encode(col, 'base64')` text decoded here. Byte parameters (task inputs, outputs,
 * blobs) are sent in binary either way: pg sends a Buffer parameter in binary format.
 */
export type ByteTransfer = 'copy' | 'base64';

/** The transfers `transfer` accepts. */
export const BYTE_TRANSFERS: readonly ByteTransfer[] = ['copy', 'base64'];

/** `transfer` checked (default 'copy'). */
export function byteTransferOf(transfer: ByteTransfer | undefined): ByteTransfer {
  const t = transfer ?? 'copy';
  if (!BYTE_TRANSFERS.includes(t)) {
    throw new FedscoreError('invalid_argument', `transfer is one of ${BYTE_TRANSFERS.join(', ')}`, {
      field: 'transfer',
    });
  }
  return t;
}

/** Queue depth and task latency (ms), for health checks and metrics. */
export interface QueueHealth {
  readonly queue: string;
  /** Tasks waiting for a worker (pg-boss `queuedCount`: created or waiting to be retried). */
  readonly queued: number;
  /** Tasks a worker holds now. */
  readonly active: number;
  /** Jobs that used up their retries (kept until pg-boss's retention deletes them). */
  readonly failed: number;
  /** Tasks this executor awaits. */
  readonly pending: number;
  /** Deliveries after the first, over the queue's jobs pg-boss still keeps (expired or failed ones). */
  readonly retries: number;
  /** Enqueue-to-result ms of the tasks this executor completed (last `LATENCY_WINDOW`). */
  readonly latencyMs: LatencySummary;
  /** Seconds workers spent in the task (last `LATENCY_WINDOW` stored results of the queue), as ms. */
  readonly taskMs: LatencySummary;
}

/**
 * The tasks this executor awaits (its own kind of task, whatever else shares the queue), live: how many,
 * how many of those pg-boss holds queued (created or waiting to be retried) or active now, and the
 * enqueue-to-result latency of those it completed (last `LATENCY_WINDOW`).
 */
export interface AwaitedTasks {
  readonly pending: number;
  readonly queued: number;
  readonly active: number;
  readonly latencyMs: LatencySummary;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

/** How many recent latencies the summaries cover. */
export const LATENCY_WINDOW = 1000;

interface Pending {
  readonly started: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly cleanup: () => void;
}

interface ResultRow {
  task_id: string;
  output: Buffer | null;
  error: { code?: string; message: string; field?: string } | null;
}

/** Outputs read per COPY when a poll finds many results at once. */
const COLLECT_CHUNK = 64;

/** How many stored blob digests the executor remembers before it forgets them all (and re-sends). */
const MAX_REMEMBERED_BLOBS = 100_000;
/**
 * A blob this executor sent is marked used again (`last_used_at`) when a task naming it is sent at least
 * this long after its last mark: the mark costs one query, not one per task. `pruneBlobs` refuses a
 * retention under `BLOB_MIN_RETENTION_SECONDS`, well above it, so a blob in use is never that old.
 */
export const BLOB_TOUCH_SECONDS = 60;
/** The shortest blob retention `pruneBlobs` accepts (ten touch intervals). */
export const BLOB_MIN_RETENTION_SECONDS = 10 * BLOB_TOUCH_SECONDS;

function checkQueueName(queue: string): void {
  if (typeof queue !== 'string' || !QUEUE_NAME.test(queue)) {
    throw new FedscoreError('invalid_argument', 'a queue name is 1 to 100 of [A-Za-z0-9_.-]', {
      field: 'queue',
    });
  }
}

function positive(value: number | undefined, fallback: number, min: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) {
    throw new FedscoreError('out_of_range', `${field} must be a number >= ${min}`, { field });
  }
  return v;
}

/**
 * Whether the executor's tables are in place in their current shape (every table, `last_used_at` and its
 * index, the EXTERNAL byte columns): then `ensureSchema` runs no DDL, so a worker under a role without
 * CREATE or ownership (`workerGrantSql`) starts. A table the role cannot see counts as missing.
 */
const SCHEMA_READY = `SELECT
  ${QUEUE_TABLES.map((t) => `to_regclass('${t}') IS NOT NULL`).join(' AND ')}
  AND to_regclass('fedscore_task_blob_last_used') IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('fedscore_task_blob')
              AND attname = 'last_used_at' AND NOT attisdropped)
  AND (SELECT count(*) FROM pg_attribute a
       JOIN (VALUES ${EXTERNAL_COLUMNS.map(([t, c]) => `('${t}', '${c}')`).join(', ')}) AS e (t, c)
         ON a.attrelid = to_regclass(e.t) AND a.attname = e.c
       WHERE a.attstorage = 'e') = ${EXTERNAL_COLUMNS.length} AS ready`;

/** PostgreSQL's SQLSTATE for a privilege the role lacks. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Create the executor's tables (idempotent; safe from concurrent processes). Nothing is run when they are
 * in place; a role that may not create them (a restricted worker started before the coordinator) gets a
 * `store` error that says so.
 */
export async function ensureSchema(pool: pg.Pool): Promise<void> {
  try {
    const r = await pool.query<{ ready: boolean }>(SCHEMA_READY);
    if (r.rows[0]?.ready === true) return;
  } catch (e) {
    throw storeError('read the queue tables', e);
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await client.query(CREATE_SCHEMA);
    for (const [table, column] of EXTERNAL_COLUMNS) {
      const r = await client.query<{ s: string }>(
        `SELECT attstorage AS s FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`,
        [table, column],
      );
      if (r.rows[0]?.s !== 'e')
        await client.query(`ALTER TABLE ${table} ALTER ${column} SET STORAGE EXTERNAL`);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((e as { code?: string }).code === INSUFFICIENT_PRIVILEGE) {
      throw new FedscoreError(
        'store',
        "queue database: the queue tables are not created yet and this role may not create them: start the coordinator (the node, as the tables' owner) first",
        { field: 'connectionString', cause: e },
      );
    }
    throw storeError('create the queue tables', e);
  } finally {
    client.release();
  }
}

/**
 * With `transfer: 'base64'`, byte columns are read as `encode(col, 'base64')` and decoded here: pg
 * (pg-protocol has no binary results) returns bytea as hex text, twice the bytes, and base64 -- 4/3 --
 * was measured 35-45 % faster than hex for a 2.5 MB task (benchmarks/results/queue.md); binary COPY
 * (copy.ts, the default) is faster again. PostgreSQL's base64 breaks lines, which Node's decoder skips.
 */
export function fromBase64(text: string | null): Buffer | null {
  return text === null ? null : Buffer.from(text, 'base64');
}

export function storeError(what: string, e: unknown): FedscoreError {
  if (e instanceof FedscoreError) return e;
  return new FedscoreError('store', `queue database: cannot ${what}: ${(e as Error).message}`, {
    field: 'connectionString',
    cause: e,
  });
}

function summary(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: values.length,
    p50: nearestRank(sorted, 0.5),
    p95: nearestRank(sorted, 0.95),
    max: sorted[sorted.length - 1]!,
  };
}

export class QueueExecutor<In, Out> implements TaskExecutor<In, Out> {
  readonly queue: string;
  readonly #pool: pg.Pool;
  readonly #boss: PgBoss;
  readonly #listener: pg.Client;
  readonly #expireInSeconds: number;
  readonly #retryLimit: number;
  readonly #sharedFields: readonly string[];
  readonly #transfer: ByteTransfer;
  /** Digests of the shared blobs this executor has stored (each is sent to the database once). */
  /** Blobs this executor stored or marked used, by digest: when it last did (performance.now() ms). */
  readonly #storedBlobs = new Map<string, number>();
  /** Shared values already encoded, by identity (codec.ts `encodeTask`). */
  readonly #encoded = new WeakMap<object, TaskBlob>();
  readonly #pending = new Map<TaskId, Pending>();
  /** Prefixes whose tasks were dropped (`dropTasks`): a task of one is refused, one stored meanwhile deleted. */
  readonly #dropped = new Set<string>();
  readonly #latencies: number[] = [];
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  private constructor(
    options: QueueExecutorOptions,
    pool: pg.Pool,
    boss: PgBoss,
    listener: pg.Client,
    pollMs: number,
  ) {
    this.queue = options.queue;
    this.#pool = pool;
    this.#boss = boss;
    this.#listener = listener;
    this.#expireInSeconds = positive(options.expireInSeconds, 300, 1, 'expireInSeconds');
    this.#retryLimit = positive(options.retryLimit, 5, 0, 'retryLimit');
    this.#sharedFields = [...(options.sharedFields ?? [])];
    this.#transfer = byteTransferOf(options.transfer);
    this.#timer = setInterval(() => void this.#poll(), pollMs);
    this.#timer.unref();
    listener.on('notification', (n) => {
      if (n.channel !== NOTIFY_CHANNEL || n.payload === undefined) return;
      const cut = n.payload.indexOf(' ');
      if (n.payload.slice(0, cut) !== this.queue) return;
      const id = n.payload.slice(cut + 1);
      if (this.#pending.has(id)) this.#collect([id]).catch(() => undefined); // the poll retries
    });
  }

  /** Connect, create the tables and the pg-boss queue, and listen for results. */
  static async create<In, Out>(options: QueueExecutorOptions): Promise<QueueExecutor<In, Out>> {
    checkQueueName(options.queue);
    const pollMs = positive(options.pollMs, 1000, 10, 'pollMs');
    byteTransferOf(options.transfer);
    positive(options.expireInSeconds, 300, 1, 'expireInSeconds');
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: positive(options.maxConnections, 4, 1, 'maxConnections'),
    });
    pool.on('error', () => undefined); // an idle client's error; the next query reports it
    const boss = new PgBoss({
      connectionString: options.connectionString,
      superviseIntervalSeconds: positive(options.superviseIntervalSeconds, 60, 1, 'superviseIntervalSeconds'),
      monitorIntervalSeconds: positive(options.superviseIntervalSeconds, 60, 1, 'superviseIntervalSeconds'),
      // The supervision pass covers the queues in this cache: a queue created here joins it at once only
      // if the cache refreshes as often as the pass runs.
      queueCacheIntervalSeconds: positive(
        options.superviseIntervalSeconds,
        60,
        1,
        'superviseIntervalSeconds',
      ),
      useListenNotify: true,
      max: 2,
    });
    boss.on('error', () => undefined); // supervision errors recur on the next pass; queries report their own
    const listener = new pg.Client({ connectionString: options.connectionString });
    listener.on('error', () => undefined);
    try {
      await ensureSchema(pool);
      await boss.start();
      if ((await boss.getQueue(options.queue)) === null) {
        await boss.createQueue(options.queue, { notify: true }).catch(async (e: unknown) => {
          if ((await boss.getQueue(options.queue)) === null) throw e; // lost a creation race otherwise
        });
      }
      await listener.connect();
      await listener.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (e) {
      await Promise.allSettled([pool.end(), boss.stop({ graceful: false }), listener.end()]);
      throw storeError('start the queue', e);
    }
    return new QueueExecutor<In, Out>(options, pool, boss, listener, pollMs);
  }

  /**
   * Publish the public CKKS context the queue's workers load (replacing an earlier one). Bytes of a secret
   * context are refused: only `ctx.serialize()` output (blob kind public context) is accepted.
   */
  async publishContext(context: Uint8Array): Promise<void> {
    if (!(context instanceof Uint8Array)) {
      throw new FedscoreError('invalid_argument', 'expected public context bytes', { field: 'context' });
    }
    decodeBlob(context, BLOB_KIND.publicContext);
    try {
      await this.#pool.query(
        `INSERT INTO fedscore_queue_context (queue, context) VALUES ($1, $2)
         ON CONFLICT (queue) DO UPDATE SET context = EXCLUDED.context, published_at = now()`,
        [this.queue, Buffer.from(context.buffer, context.byteOffset, context.byteLength)],
      );
    } catch (e) {
      throw storeError('publish the context', e);
    }
  }

  /** Enqueue `task` (or find its stored result) and resolve with its output. */
  async run(task: In, options: TaskRunOptions = {}): Promise<Out> {
    if (this.#closed) throw new FedscoreError('channel_closed', 'task queue executor closed');
    const { signal } = options;
    if (signal?.aborted) throw new FedscoreError('aborted', 'task cancelled', { cause: signal.reason });
    const { bytes, blobs } = encodeTask(task, this.#sharedFields, this.#encoded);
    const id = taskIdOf(options.taskId, bytes);
    if (options.taskId !== undefined && this.#dropped.has(options.taskId)) {
      throw new FedscoreError('aborted', 'task dropped with its run', { field: 'taskId' });
    }
    const existing = this.#pending.get(id);
    if (existing) {
      // The same task twice at once: one job, both callers get its result.
      return new Promise<Out>((resolve, reject) => {
        const prev = this.#pending.get(id)!;
        this.#pending.set(id, {
          started: prev.started,
          cleanup: prev.cleanup,
          resolve: (v) => {
            prev.resolve(v);
            resolve(v as Out);
          },
          reject: (e) => {
            prev.reject(e);
            reject(e);
          },
        });
      });
    }
    const result = new Promise<Out>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.#pending.get(id)?.reject === rejectOnce) {
          this.#pending.delete(id);
          reject(new FedscoreError('aborted', 'task cancelled', { cause: signal?.reason }));
        }
      };
      const rejectOnce = (e: Error): void => reject(e);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        started: performance.now(),
        resolve: resolve as (v: unknown) => void,
        reject: rejectOnce,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
    });
    try {
      for (const blob of blobs) {
        const now = performance.now();
        const last = this.#storedBlobs.get(blob.hash);
        if (last !== undefined && now - last < BLOB_TOUCH_SECONDS * 1000) continue;
        // Mark it used; a blob not (or no longer: pruned) stored is inserted. A prune running at once
        // either sees the new mark (PostgreSQL re-checks a row it waited on) or ran first: then the
        // update finds nothing and the insert stores the blob again.
        const touched = await this.#pool.query(
          'UPDATE fedscore_task_blob SET last_used_at = now() WHERE hash = $1',
          [blob.hash],
        );
        if (touched.rowCount === 0) {
          await this.#pool.query(
            `INSERT INTO fedscore_task_blob (hash, bytes) VALUES ($1, $2)
             ON CONFLICT (hash) DO UPDATE SET last_used_at = now()`,
            [blob.hash, Buffer.from(blob.bytes.buffer, blob.bytes.byteOffset, blob.bytes.byteLength)],
          );
        }
        if (this.#storedBlobs.size >= MAX_REMEMBERED_BLOBS) this.#storedBlobs.clear();
        this.#storedBlobs.set(blob.hash, now);
      }
      const inserted = await this.#pool.query(
        `INSERT INTO fedscore_task_input (queue, task_id, input)
         SELECT $1, $2, $3 WHERE NOT EXISTS
           (SELECT 1 FROM fedscore_task_result WHERE queue = $1 AND task_id = $2)
         ON CONFLICT DO NOTHING`,
        [this.queue, id, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
      );
      if (inserted.rowCount === 1 && options.taskId !== undefined && this.#dropped.has(options.taskId)) {
        // Its run was dropped while this input was being stored (the drop's DELETE may not have seen
        // it): delete it here, so nothing of a dropped run stays.
        await this.#pool.query('DELETE FROM fedscore_task_input WHERE queue = $1 AND task_id = $2', [
          this.queue,
          id,
        ]);
        this.#fail(id, new FedscoreError('aborted', 'task dropped with its run', { field: 'taskId' }));
        return result;
      }
      if (inserted.rowCount === 1) {
        const jobId = jobIdOf(this.queue, id);
        const send = () =>
          this.#boss.send(
            this.queue,
            { taskId: id },
            {
              id: jobId,
              retryLimit: this.#retryLimit,
              retryDelay: 0,
              expireInSeconds: this.#expireInSeconds,
            },
          );
        if ((await send()) === null) {
          // pg-boss still keeps an ended job of this id whose result was pruned (`pruneResults`): the task
          // runs again under a new job of the same id. A job still queued or active serves it as it is.
          const old = await this.#boss.getJobById(this.queue, jobId);
          if (old !== null && ['completed', 'failed', 'cancelled'].includes(old.state)) {
            await this.#boss.deleteJob(this.queue, jobId);
            await send();
          }
        }
      }
      await this.#collect([id]);
    } catch (e) {
      this.#fail(id, storeError('enqueue a task', e));
    }
    return result;
  }

  /**
   * Let the database role `role` serve this database's queues as a worker and nothing else: run
   * `workerGrantSql` (as this executor's role, the tables' owner) and then check that `role` can use no
   * other table in the database -- the party's store, when it shares the database, holds job secrets,
   * consents, checkpoints and the audit chain. The role must exist (made by the database's administrator,
   * with its password); a superuser, a role that owns or inherits the store's tables, or one granted
   * them is refused with `invalid_config` naming `workerRole` and the tables (their names only).
   */
  async grantWorkerRole(role: string): Promise<void> {
    if (typeof role !== 'string' || !ROLE_NAME.test(role)) {
      throw new FedscoreError('invalid_argument', 'a worker role is a lower-case SQL identifier', {
        field: 'workerRole',
      });
    }
    let found: { rolsuper: boolean } | undefined;
    try {
      found = (
        await this.#pool.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [
          role,
        ])
      ).rows[0];
    } catch (e) {
      throw storeError('read the worker role', e);
    }
    if (found === undefined) {
      throw new FedscoreError('not_found', `the worker role ${role} does not exist (CREATE ROLE it first)`, {
        field: 'workerRole',
      });
    }
    if (found.rolsuper) {
      throw new FedscoreError(
        'invalid_config',
        `the worker role ${role} is a superuser: it bypasses every privilege`,
        {
          field: 'workerRole',
        },
      );
    }
    const client = await this.#pool.connect().catch((e: unknown) => {
      throw storeError('grant the worker role', e);
    });
    let reach: string[];
    try {
      await client.query('BEGIN');
      // Serialised with table creation (ensureSchema) and with other replicas granting at once.
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await client.query(workerGrantSql(role));
      const usage = await client.query<{ schema: string; ok: boolean }>(
        `SELECT current_schema() AS schema, has_schema_privilege($1, current_schema(), 'USAGE') AS ok`,
        [role],
      );
      if (usage.rows[0]?.ok === false) {
        await client.query(`GRANT USAGE ON SCHEMA ${quoteIdent(usage.rows[0].schema)} TO ${role}`);
      }
      const other = await client.query<{ name: string }>(
        `SELECT n.nspname || '.' || c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', $2)
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
           AND NOT (n.nspname = current_schema() AND c.relname = ANY($3))
           AND has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
         ORDER BY 1`,
        [role, PGBOSS_SCHEMA, QUEUE_TABLES],
      );
      reach = other.rows.map((r) => r.name);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw storeError('grant the worker role', e);
    } finally {
      client.release();
    }
    if (reach.length > 0) {
      const shown =
        reach.slice(0, 10).join(', ') + (reach.length > 10 ? `, and ${reach.length - 10} more` : '');
      throw new FedscoreError(
        'invalid_config',
        `the worker role ${role} can use tables outside the queue: ${shown} (a worker role must not own, inherit or be granted them)`,
        { field: 'workerRole', details: { tables: reach.length } },
      );
    }
  }

  /** Queue depth, active and failed tasks, and latency summaries. */
  async health(): Promise<QueueHealth> {
    try {
      const q = await this.#boss.getQueue(this.queue);
      const retries = await this.#pool.query<{ n: number }>(
        'SELECT coalesce(sum(retry_count), 0)::int AS n FROM pgboss.job WHERE name = $1',
        [this.queue],
      );
      const times = await this.#pool.query<{ task_seconds: number }>(
        `SELECT task_seconds FROM fedscore_task_result WHERE queue = $1 ORDER BY finished_at DESC LIMIT $2`,
        [this.queue, LATENCY_WINDOW],
      );
      return {
        queue: this.queue,
        queued: q?.queuedCount ?? 0,
        active: q?.activeCount ?? 0,
        failed: q?.failedCount ?? 0,
        pending: this.#pending.size,
        retries: retries.rows[0]?.n ?? 0,
        latencyMs: summary(this.#latencies),
        taskMs: summary(times.rows.map((r) => r.task_seconds * 1000)),
      };
    } catch (e) {
      throw storeError('read the queue health', e);
    }
  }

  /**
   * The tasks this executor awaits and their latency (`AwaitedTasks`). Several executors may share one
   * queue (a node's task kinds do): `health()` counts the whole queue, this only this executor's tasks,
   * read from pg-boss's job rows by id (live, unlike pg-boss's cached counts).
   */
  async awaited(): Promise<AwaitedTasks> {
    const ids = [...this.#pending.keys()];
    const latencyMs = summary(this.#latencies);
    if (ids.length === 0) return { pending: 0, queued: 0, active: 0, latencyMs };
    try {
      const r = await this.#pool.query<{ state: string; n: number }>(
        `SELECT state::text AS state, count(*)::int AS n FROM pgboss.job
         WHERE name = $1 AND id = ANY($2::uuid[]) GROUP BY state`,
        [this.queue, ids.map((id) => jobIdOf(this.queue, id))],
      );
      let queued = 0;
      let active = 0;
      for (const row of r.rows) {
        if (row.state === 'created' || row.state === 'retry') queued += row.n;
        else if (row.state === 'active') active += row.n;
      }
      return { pending: ids.length, queued, active, latencyMs };
    } catch (e) {
      throw storeError('read the awaited tasks', e);
    }
  }

  /**
   * Delete stored results of this queue (their inputs went when they were stored): those whose task id
   * prefix (`run`'s `taskId`, the part before '/') is one of `prefixes` or extends one with a '.' -- a
   * finished job's, say: prefix `credit-1` covers `credit-1.bank` (the pipeline tags a job's tasks
   * `<job>.<party>`) -- and, with `olderThanSeconds`, every one stored longer ago than that. Results this executor still awaits
   * are kept. Returns how many rows went. At-least-once stays safe: a late duplicate delivery of a pruned
   * task finds no input and finishes without running (worker.ts).
   */
  async pruneResults(options: {
    readonly prefixes?: readonly string[];
    readonly olderThanSeconds?: number;
    /** Task ids never pruned besides this executor's own awaited ones (another executor's on the same queue). */
    readonly keep?: readonly string[];
  }): Promise<number> {
    const prefixes = [...(options.prefixes ?? [])];
    for (const p of prefixes) taskIdOf(p, new Uint8Array(0)); // the prefix rule (typed error naming taskId)
    const age = options.olderThanSeconds;
    if (age !== undefined && !(Number.isFinite(age) && age >= 0)) {
      throw new FedscoreError('out_of_range', 'olderThanSeconds must be a number >= 0', {
        field: 'olderThanSeconds',
      });
    }
    if (prefixes.length === 0 && age === undefined) return 0;
    try {
      const r = await this.#pool.query(
        `DELETE FROM fedscore_task_result
         WHERE queue = $1 AND NOT (task_id = ANY($2))
           AND (split_part(task_id, '/', 1) = ANY($3)
                OR split_part(split_part(task_id, '/', 1), '.', 1) = ANY($3)
                OR ($4::double precision IS NOT NULL
                    AND finished_at < now() - make_interval(secs => $4::double precision)))`,
        [this.queue, [...this.#pending.keys(), ...(options.keep ?? [])], prefixes, age ?? null],
      );
      return r.rowCount ?? 0;
    } catch (e) {
      throw storeError('prune task results', e);
    }
  }

  /**
   * Delete the shared blobs (`fedscore_task_blob`, every queue's) that no task has named for longer than
   * `olderThanSeconds` (their `last_used_at`) and that no stored task input names: a task still waiting
   * or being retried keeps its input row until its result is stored, and its input holds each blob's
   * digest as its hex string (the V8 serializer writes a one-byte string's bytes as they are, so the
   * digest's ASCII bytes are searched for in the input). A task sent later that names a pruned blob stores
   * it again (`run`). Returns how many blobs went. `olderThanSeconds` is at least
   * `BLOB_MIN_RETENTION_SECONDS` (an executor marks a blob it sends at most every `BLOB_TOUCH_SECONDS`).
   */
  async pruneBlobs(options: { readonly olderThanSeconds: number }): Promise<number> {
    const age = options.olderThanSeconds;
    if (!(Number.isFinite(age) && age >= BLOB_MIN_RETENTION_SECONDS)) {
      throw new FedscoreError(
        'out_of_range',
        `olderThanSeconds must be a number >= ${BLOB_MIN_RETENTION_SECONDS}`,
        { field: 'olderThanSeconds' },
      );
    }
    try {
      const r = await this.#pool.query(
        `DELETE FROM fedscore_task_blob b
         WHERE b.last_used_at < now() - make_interval(secs => $1::double precision)
           AND NOT EXISTS (SELECT 1 FROM fedscore_task_input i
                           WHERE position(convert_to(b.hash, 'UTF8') IN i.input) > 0)`,
        [age],
      );
      // Forget what was marked: the next task naming a pruned blob stores it again.
      this.#storedBlobs.clear();
      return r.rowCount ?? 0;
    } catch (e) {
      throw storeError('prune task blobs', e);
    }
  }

  /**
   * Delete every stored input and result of the tasks whose id prefix is `prefix` (exactly: the part
   * before the `/`), awaited or not, and stop awaiting them here (they reject with `aborted`). For a run
   * whose tasks carry a secret of the run (PSI's ephemeral scalar, @fedscore/psi offload.ts): called when
   * the run ends, so nothing of it stays in the tables. The prefix stays dropped in this executor: a later
   * task under it is refused, and one whose input was being stored during the drop deletes it (so the
   * prefix must name one run). A worker that later takes such a task's job finds
   * no input and finishes without running it (worker.ts). Returns the rows deleted.
   */
  async dropTasks(prefix: string): Promise<number> {
    taskIdOf(prefix, new Uint8Array(0)); // the prefix rule (typed error naming taskId)
    if (prefix === '') {
      throw new FedscoreError('invalid_argument', 'dropTasks needs a non-empty prefix', { field: 'taskId' });
    }
    // Marked first: a task of this prefix whose input is being stored now deletes it itself (run).
    if (this.#dropped.size >= MAX_REMEMBERED_BLOBS) this.#dropped.clear();
    this.#dropped.add(prefix);
    const gone = new FedscoreError('aborted', 'task dropped with its run');
    for (const id of [...this.#pending.keys()]) if (id.startsWith(`${prefix}/`)) this.#fail(id, gone);
    try {
      const r = await this.#pool.query<{ n: number }>(
        `WITH i AS (DELETE FROM fedscore_task_input WHERE queue = $1 AND split_part(task_id, '/', 1) = $2 RETURNING 1),
              o AS (DELETE FROM fedscore_task_result WHERE queue = $1 AND split_part(task_id, '/', 1) = $2 RETURNING 1)
         SELECT (SELECT count(*) FROM i)::int + (SELECT count(*) FROM o)::int AS n`,
        [this.queue, prefix],
      );
      return r.rows[0]?.n ?? 0;
    } catch (e) {
      throw storeError("drop a run's tasks", e);
    }
  }

  /** The ids of the tasks this executor still awaits (never pruned by `pruneResults`). */
  pendingTaskIds(): string[] {
    return [...this.#pending.keys()];
  }

  /** How many deliveries reached a task's stored result (1 = exactly once), or 0 without a result. */
  async deliveries(taskId: TaskId): Promise<number> {
    const r = await this.#pool.query<{ deliveries: number }>(
      'SELECT deliveries FROM fedscore_task_result WHERE queue = $1 AND task_id = $2',
      [this.queue, taskId],
    );
    return r.rows[0]?.deliveries ?? 0;
  }

  /** The id `run` gives `task` under `prefix`. */
  taskId(task: In, prefix?: string): TaskId {
    return taskIdOf(prefix, encodeTask(task, this.#sharedFields, this.#encoded).bytes);
  }

  /** Stop listening and disconnect; awaited tasks reject with `channel_closed` (their jobs stay queued). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const err = new FedscoreError('channel_closed', 'task queue executor closed');
    for (const id of [...this.#pending.keys()]) this.#fail(id, err);
    await Promise.allSettled([this.#listener.end(), this.#boss.stop({ graceful: false, close: true })]);
    await this.#pool.end().catch(() => undefined);
  }

  #fail(id: TaskId, e: Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.cleanup();
    p.reject(e);
  }

  async #poll(): Promise<void> {
    if (this.#closed || this.#pending.size === 0) return;
    try {
      const ids = [...this.#pending.keys()];
      await this.#collect(ids);
      // Jobs that used up their retries: their tasks will never get a result.
      const now = performance.now();
      const stale = ids.filter((id) => {
        const p = this.#pending.get(id);
        return p !== undefined && now - p.started > this.#expireInSeconds * 1000;
      });
      for (const id of stale.slice(0, 100)) {
        const job = await this.#boss.getJobById(this.queue, jobIdOf(this.queue, id));
        if (job?.state === 'failed' || job?.state === 'cancelled') {
          this.#fail(
            id,
            new FedscoreError('worker_failed', `task ${id} ${job.state} after ${job.retryCount} retries`, {
              field: 'taskId',
            }),
          );
        }
      }
    } catch {
      // the database is away; the next poll tries again
    }
  }

  /**
   * The stored results among `ids`. Binary COPY inlines the ids (it takes no parameters), so a poll's
   * many ids are first narrowed to those with a result by an ordinary query, and the outputs read
   * `COLLECT_CHUNK` at a time; one id (a notification) is read at once.
   */
  async #results(ids: readonly TaskId[]): Promise<ResultRow[]> {
    if (this.#transfer === 'base64') {
      const r = await this.#pool.query<{ task_id: string; output: string | null; error: ResultRow['error'] }>(
        `SELECT task_id, encode(output, 'base64') AS output, error
         FROM fedscore_task_result WHERE queue = $1 AND task_id = ANY($2)`,
        [this.queue, ids],
      );
      return r.rows.map((row) => ({ ...row, output: fromBase64(row.output) }));
    }
    let found = ids;
    if (ids.length > 1) {
      const r = await this.#pool.query<{ task_id: string }>(
        'SELECT task_id FROM fedscore_task_result WHERE queue = $1 AND task_id = ANY($2)',
        [this.queue, ids],
      );
      found = r.rows.map((row) => row.task_id);
    }
    const out: ResultRow[] = [];
    for (let i = 0; i < found.length; i += COLLECT_CHUNK) {
      const list = found
        .slice(i, i + COLLECT_CHUNK)
        .map(literal)
        .join(', ');
      const rows = await copyRows(
        this.#pool,
        `SELECT task_id, output, error::text FROM fedscore_task_result
         WHERE queue = ${literal(this.queue)} AND task_id IN (${list})`,
      );
      for (const [id, output, error] of rows) {
        const e = textOf(error);
        out.push({ task_id: textOf(id)!, output: output ?? null, error: e === null ? null : JSON.parse(e) });
      }
    }
    return out;
  }

  /** Settle the awaited tasks among `ids` whose results are stored. */
  async #collect(ids: readonly TaskId[]): Promise<void> {
    for (const row of await this.#results(ids)) {
      const p = this.#pending.get(row.task_id);
      if (!p) continue;
      this.#pending.delete(row.task_id);
      p.cleanup();
      this.#latencies.push(performance.now() - p.started);
      if (this.#latencies.length > LATENCY_WINDOW) this.#latencies.shift();
      if (row.error !== null) {
        const { error } = row;
        p.reject(
          new FedscoreError(toCode(error.code), error.message, {
            ...(error.field !== undefined && { field: error.field }),
          }),
        );
        continue;
      }
      try {
        p.resolve(decodeValue(row.output ?? Buffer.alloc(0), 'output'));
      } catch (e) {
        p.reject(e as Error);
      }
    }
  }
}

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);

function toCode(code: string | undefined): ErrorCode {
  return code !== undefined && CODES.has(code) ? (code as ErrorCode) : 'internal';
}

/** A PostgreSQL identifier, double-quoted. */
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The nearest-rank percentile of sorted values. */
function nearestRank(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
