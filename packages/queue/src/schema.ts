/**
 * The tables the executor keeps beside pg-boss's own schema (`pgboss`), in the same database:
 *
 * - `fedscore_task_input`: a task's bytes while it waits (pg-boss's job row carries only the task id, so
 *   a 1 MiB batch is not copied into JSON); deleted once its result is stored.
 * - `fedscore_task_result`: one row per (queue, task id), written once (`ON CONFLICT`): the output
 *   bytes or a typed error, the seconds the worker spent, and how many deliveries reached it.
 * - `fedscore_task_blob`: a task's shared field (codec.ts), stored once under the SHA-256 of its bytes;
 *   `last_used_at` is when a task naming it was last sent (executor.ts `pruneBlobs`; added to tables
 *   created before it by `ALTER TABLE ... ADD COLUMN IF NOT EXISTS`, existing rows counting as used now).
 * - `fedscore_queue_context`: the public CKKS context of a queue's tasks, which worker processes load.
 *   Only a public context is accepted (executor.ts `publishContext`).
 *
 * Creation runs under a transaction-scoped advisory lock: coordinators and workers start concurrently.
 *
 * The byte columns are stored EXTERNAL (out of line, uncompressed): ciphertexts and float64 columns do
 * not compress, and PostgreSQL's default (pglz on every value over 2 kB) spent time trying. `STORAGE` in
 * `CREATE TABLE` needs PostgreSQL 16; on 15 (Debian 12) it is set with `ALTER TABLE` when not yet set
 * (`EXTERNAL_COLUMNS`).
 */
export const NOTIFY_CHANNEL = 'fedscore_task_done';

export const SCHEMA_LOCK = 0x66656471; // 'fedq'

export const CREATE_SCHEMA = `
CREATE TABLE IF NOT EXISTS fedscore_task_input (
  queue text NOT NULL,
  task_id text NOT NULL,
  input bytea NOT NULL,
  enqueued_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, task_id)
);
CREATE TABLE IF NOT EXISTS fedscore_task_result (
  queue text NOT NULL,
  task_id text NOT NULL,
  output bytea,
  error jsonb,
  task_seconds double precision NOT NULL,
  deliveries integer NOT NULL DEFAULT 1,
  finished_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, task_id)
);
CREATE TABLE IF NOT EXISTS fedscore_task_blob (
  hash text PRIMARY KEY,
  bytes bytea NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE fedscore_task_blob ADD COLUMN IF NOT EXISTS last_used_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS fedscore_task_blob_last_used ON fedscore_task_blob (last_used_at);
CREATE TABLE IF NOT EXISTS fedscore_queue_context (
  queue text PRIMARY KEY,
  context bytea NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now()
);
`;

/** (table, column) of the byte columns stored EXTERNAL. */
export const EXTERNAL_COLUMNS: readonly (readonly [string, string])[] = [
  ['fedscore_task_input', 'input'],
  ['fedscore_task_result', 'output'],
  ['fedscore_task_blob', 'bytes'],
];

/** A queue name pg-boss and our tables accept. */
export const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** The tables of `CREATE_SCHEMA`, in the connection's current schema. */
export const QUEUE_TABLES: readonly string[] = [
  'fedscore_task_input',
  'fedscore_task_result',
  'fedscore_task_blob',
  'fedscore_queue_context',
];

/** pg-boss's schema (its default; neither the executor nor the worker changes it). */
export const PGBOSS_SCHEMA = 'pgboss';

/** A PostgreSQL role name the worker grants accept: a lower-case SQL identifier, never quoted. */
export const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The privileges of a queue worker's database role (docs/deploy.md section 7, "A database role for the
 * workers"): exactly what worker.ts does, and nothing of the party's store (job secrets, consents,
 * checkpoints, audit chain) that may share the database.
 *
 * - pg-boss (`pgboss`): read and write its tables (fetch, complete, retry and supervise jobs, register
 *   the worker instance), use its sequences and call its functions. Tables pg-boss creates later (a new
 *   queue's partition) are covered by default privileges of the role that runs these grants. The job rows
 *   hold task ids only (executor.ts): the task bytes are in `fedscore_task_input`.
 * - `fedscore_task_input`: read a task's bytes, delete them once its result is stored.
 * - `fedscore_task_result`: insert a result, count a duplicate delivery (UPDATE), read both back.
 * - `fedscore_task_blob`, `fedscore_queue_context`: read the shared fields and the published public
 *   context. Workers never write them (the coordinator does).
 *
 * No CREATE anywhere: the coordinator (the node, or a process as the tables' owner) creates and migrates
 * the tables and pg-boss's schema before workers start; a worker that finds them in place runs no DDL
 * (worker.ts). Run by the tables' owner (`QueueExecutor.grantWorkerRole`); the role must exist (it is made
 * with its password by whoever administers the database, as the SQL in docs/deploy.md).
 */
export function workerGrantSql(role: string): string {
  if (!ROLE_NAME.test(role)) throw new Error(`not a role name: ${role}`);
  const s = PGBOSS_SCHEMA;
  return `
GRANT USAGE ON SCHEMA ${s} TO ${role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${role};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${s} TO ${role};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${role};
ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role};
ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${role};
ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT EXECUTE ON FUNCTIONS TO ${role};
GRANT SELECT, DELETE ON fedscore_task_input TO ${role};
GRANT SELECT, INSERT, UPDATE ON fedscore_task_result TO ${role};
GRANT SELECT ON fedscore_task_blob, fedscore_queue_context TO ${role};
`;
}
