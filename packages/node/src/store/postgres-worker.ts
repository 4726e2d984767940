/**
 * The worker thread of a PostgreSQL store (postgres.ts): one `pg` client (one connection) per store,
 * driven by requests from the store's thread, which waits for each answer with `Atomics.wait` (the
 * store's API is synchronous, like node:sqlite's). Requests arrive one at a time on a MessagePort; the
 * answer is posted on the same port and then the shared flag is set and notified.
 *
 * Transactions take the store's write lock first: a transaction-scoped advisory lock keyed by the
 * schema, so the transactions of every replica on one database run one at a time, as SQLite's
 * `BEGIN IMMEDIATE` makes them in one file -- which is what keeps the audit chain one chain (each append
 * reads the last entry and writes the next in one transaction). A write outside a transaction takes the
 * lock in a transaction of its own. Waiting for the lock is bounded by `lock_timeout` (the store's busy
 * timeout).
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import pg from 'pg';

interface Init {
  readonly url: string;
  readonly schema: string | undefined;
  readonly flag: SharedArrayBuffer;
  readonly port: MessagePort;
  readonly readOnly: boolean;
  readonly lockTimeoutMs: number;
}

export type PgRequest =
  | { readonly op: 'connect' }
  | {
      readonly op: 'query';
      readonly sql: string;
      readonly params: readonly unknown[];
      /** Run it in a transaction of its own that holds the write lock (a write outside a transaction). */
      readonly locked: boolean;
    }
  | { readonly op: 'exec'; readonly sql: string; readonly locked: boolean }
  | { readonly op: 'begin' }
  | { readonly op: 'commit' }
  | { readonly op: 'rollback' }
  | { readonly op: 'close' }
  /** `SELECT 1`, answered not-ok after `timeoutMs` without waiting for it (health checks). */
  | { readonly op: 'ping'; readonly timeoutMs: number };

export type PgReply =
  | { readonly ok: true; readonly rows?: Record<string, unknown>[]; readonly rowCount?: number }
  | { readonly ok: false; readonly message: string; readonly sqlState?: string };

/** Class id of the store's advisory lock ('fscr'); the object id is the schema's hash. */
export const STORE_LOCK_CLASS = 0x66736372;

const init = workerData as Init;
const flag = new Int32Array(init.flag);

function toNumber(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

const builtins = pg.types;
const types = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === 'binary') return builtins.getTypeParser(oid, 'binary') as (value: string) => unknown;
    switch (oid) {
      case 20: // int8
        return toNumber;
      case 1700: // numeric (sum/avg of integers)
        return (v) => Number(v);
      case 16: // bool: SQLite has none
        return (v) => (v === 't' ? 1 : 0);
      case 17: {
        // bytea: a Uint8Array with its own buffer (a pooled Buffer would copy the whole pool when posted)
        const parse = builtins.getTypeParser(17, 'text') as (value: string) => Buffer;
        return (v) => new Uint8Array(parse(v));
      }
      default:
        return builtins.getTypeParser(oid, 'text') as (value: string) => unknown;
    }
  },
};

const client = new pg.Client({ connectionString: init.url, types, connectionTimeoutMillis: 20_000 });
let broken: string | undefined;
client.on('error', (e) => {
  broken = `the connection to PostgreSQL was lost (${e.message})`;
});

const LOCK = `SELECT pg_advisory_xact_lock(${STORE_LOCK_CLASS}, hashtext(current_schema()))`;

async function handle(req: PgRequest): Promise<PgReply> {
  if (broken !== undefined && req.op !== 'close') return { ok: false, message: broken };
  switch (req.op) {
    case 'connect': {
      await client.connect();
      if (init.schema !== undefined) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(init.schema)}`).catch(() => {});
        await client.query(`SET search_path TO ${quoteIdent(init.schema)}`);
      }
      await client.query(`SET lock_timeout = ${Math.trunc(init.lockTimeoutMs)}`);
      if (init.readOnly) await client.query('SET default_transaction_read_only = on');
      return { ok: true };
    }
    case 'query': {
      if (!req.locked) {
        const r = await client.query({ text: req.sql, values: req.params as unknown[] });
        return { ok: true, rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
      }
      await client.query(`BEGIN; ${LOCK}`);
      try {
        const r = await client.query({ text: req.sql, values: req.params as unknown[] });
        await client.query('COMMIT');
        return { ok: true, rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
    }
    case 'exec': {
      if (!req.locked) {
        await client.query(req.sql);
        return { ok: true };
      }
      await client.query(`BEGIN; ${LOCK}`);
      try {
        await client.query(req.sql);
        await client.query('COMMIT');
        return { ok: true };
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
    }
    case 'begin':
      try {
        await client.query(`BEGIN; ${LOCK}`);
      } catch (e) {
        // The lock was not granted (lock_timeout): leave no aborted transaction behind.
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
      return { ok: true };
    case 'commit': {
      // COMMIT of a transaction that an error aborted answers ROLLBACK: that must not look like a commit.
      const r = await client.query('COMMIT');
      if (r.command !== 'COMMIT')
        return { ok: false, message: 'the transaction was rolled back (an earlier statement failed)' };
      return { ok: true };
    }
    case 'rollback':
      await client.query('ROLLBACK');
      return { ok: true };
    case 'close':
      await client.end().catch(() => {});
      return { ok: true };
    case 'ping': {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), req.timeoutMs);
      });
      // A late SELECT 1 still completes on the connection before the next statement (pg queues them).
      const r = await Promise.race([client.query('SELECT 1'), late]).finally(() => clearTimeout(timer));
      return r === 'late' ? { ok: false, message: `no answer within ${req.timeoutMs} ms` } : { ok: true };
    }
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

init.port.on('message', (req: PgRequest) => {
  handle(req)
    .then(
      (reply) => reply,
      (e: unknown): PgReply => {
        const err = e as { message?: string; code?: string };
        return {
          ok: false,
          // PostgreSQL quotes a rejected value at the end of some messages: values stay out of errors.
          message: (err.message ?? String(e)).replace(/: ".*"$/s, ': (value withheld)'),
          ...(typeof err.code === 'string' && { sqlState: err.code }),
        };
      },
    )
    .then((reply) => {
      init.port.postMessage(reply);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      if (req.op === 'close') init.port.close();
    });
});
