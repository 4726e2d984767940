/**
 * The PostgreSQL connection of a `NodeStore` (store.ts): the store's synchronous API over the `pg` client,
 * which is asynchronous. The client lives in a worker thread of its own (postgres-worker.ts); each call
 * posts one request on a MessagePort and blocks the calling thread with `Atomics.wait` on a
 * SharedArrayBuffer until the worker has posted the answer (the technique of the `synckit` library,
 * written out here because a store needs one connection per instance, kept open across calls, and a
 * bounded wait; synckit runs one stateless function per worker file). The cost is one round trip to the
 * database per statement (on loopback ~0.1-0.3 ms, docs/deploy.md), on top of a thread hand-off.
 *
 * The SQL of the callers is SQLite's; dialect.ts turns it into PostgreSQL's in one place. Transactions
 * take the store's write lock (an advisory lock, postgres-worker.ts), so transactions of several replicas
 * on one database are serialised like SQLite's `BEGIN IMMEDIATE` serialises processes on one file.
 *
 * One difference callers must respect: in PostgreSQL a failed statement aborts its transaction; the
 * store then refuses further statements of that transaction and its commit (the caller's rollback
 * proceeds as on SQLite). Catching an error inside `transaction()` and continuing needs a nested
 * `transaction()` (a savepoint), which works on both stores.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { FedscoreError, siblingModuleUrl } from '@fedscore/core';
import { insertTarget, mayWrite, toPostgres } from './dialect.ts';
import type { PgReply, PgRequest } from './postgres-worker.ts';

type Row = Record<string, unknown>;

/** How long opening the connection may take (the worker's `connectionTimeoutMillis`, plus startup). */
export const CONNECT_TIMEOUT_MS = 20_000;

export interface PgConnectionOptions {
  readonly url: string;
  /** Schema of the store's tables (created when missing); default: the connection's search_path. */
  readonly schema?: string;
  readonly readOnly: boolean;
  /** How long a transaction waits for another replica's write lock (lock_timeout). */
  readonly lockTimeoutMs: number;
  /** How long one call waits for the worker before the store is declared broken. */
  readonly callTimeoutMs: number;
}

/** The URL without its password (for `NodeStore.path`, errors and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

export class PgConnection {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #flag: Int32Array;
  readonly #where: string;
  readonly #callTimeoutMs: number;
  #broken: string | undefined;
  #closed = false;
  #inTransaction = false;
  /** An error aborted the open transaction: PostgreSQL refuses everything but its rollback. */
  #aborted = false;
  /** Identity column of each table (for `lastInsertRowid`); null: it has none. */
  readonly #identity = new Map<string, string | null>();

  constructor(options: PgConnectionOptions) {
    this.#where = redactUrl(options.url);
    this.#callTimeoutMs = options.callTimeoutMs;
    const shared = new SharedArrayBuffer(4);
    this.#flag = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#worker = new Worker(siblingModuleUrl('./postgres-worker', import.meta.url), {
      workerData: {
        url: options.url,
        schema: options.schema,
        flag: shared,
        port: port2,
        readOnly: options.readOnly,
        lockTimeoutMs: options.lockTimeoutMs,
      },
      transferList: [port2],
      // A worker inherits the process's flags; those of an `-e`/`-p` script (--input-type, the script
      // itself) make the worker fail to load, which this thread, blocked in Atomics.wait, cannot see.
      execArgv: workerExecArgv(process.execArgv),
    });
    this.#worker.unref();
    this.#worker.on('error', () => {
      this.#broken = 'the PostgreSQL worker thread failed';
    });
    try {
      // Bounded apart from statements: a worker that failed to load never answers at all.
      this.#call({ op: 'connect' }, Math.min(this.#callTimeoutMs, CONNECT_TIMEOUT_MS + 5000));
    } catch (e) {
      void this.#worker.terminate();
      throw e;
    }
  }

  get where(): string {
    return this.#where;
  }

  #call(req: PgRequest, timeoutMs = this.#callTimeoutMs): PgReply & { ok: true } {
    if (this.#closed) throw this.#error('the store is closed');
    if (this.#broken !== undefined) throw this.#error(this.#broken);
    Atomics.store(this.#flag, 0, 0);
    this.#port.postMessage(req);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#broken = `no answer from PostgreSQL within ${timeoutMs} ms`;
        void this.#worker.terminate();
        throw this.#error(this.#broken);
      }
      if (Atomics.wait(this.#flag, 0, 0, Math.min(left, 1000)) !== 'timed-out') break;
    }
    const msg = receiveMessageOnPort(this.#port);
    if (msg === undefined) {
      this.#broken = 'the PostgreSQL worker answered nothing';
      throw this.#error(this.#broken);
    }
    const reply = msg.message as PgReply;
    if (!reply.ok) {
      throw new FedscoreError(
        'store',
        reply.sqlState === '55P03'
          ? 'another replica held the store write lock too long (lock_timeout)'
          : reply.message,
        {
          file: this.#where,
          ...(reply.sqlState !== undefined && { details: { sqlState: reply.sqlState } }),
        },
      );
    }
    return reply;
  }

  #error(message: string): FedscoreError {
    return new FedscoreError('store', message, { file: this.#where });
  }

  /** Run one statement (translated); the rows it returns and the rows it changed. */
  #query(sql: string, params: readonly unknown[], returning?: string): { rows: Row[]; rowCount: number } {
    if (this.#aborted) {
      throw this.#error('the transaction was aborted by an earlier failed statement (PostgreSQL)');
    }
    // RETURNING goes after the translation (after an INSERT OR IGNORE's ON CONFLICT clause).
    const text =
      returning === undefined
        ? toPostgres(sql)
        : `${toPostgres(sql).replace(/\s*;?\s*$/, '')} RETURNING "${returning}"`;
    const values = params.map((p) => (typeof p === 'bigint' ? p.toString() : p));
    try {
      const r = this.#call({
        op: 'query',
        sql: text,
        params: values,
        locked: !this.#inTransaction && mayWrite(sql),
      });
      return { rows: r.rows ?? [], rowCount: r.rowCount ?? 0 };
    } catch (e) {
      if (this.#inTransaction) this.#aborted = true;
      throw e;
    }
  }

  run(sql: string, params: readonly unknown[]): { changes: number; lastInsertRowid: number } {
    const table = insertTarget(sql);
    const id = table === undefined ? null : this.#identityOf(table);
    if (id === null) {
      const r = this.#query(sql, params);
      return { changes: r.rowCount, lastInsertRowid: 0 };
    }
    // SQLite reports the rowid of the last insert; PostgreSQL returns the identity column when asked.
    const r = this.#query(sql, params, id);
    const last = r.rows.at(-1)?.[id];
    return { changes: r.rowCount, lastInsertRowid: typeof last === 'number' ? last : Number(last ?? 0) };
  }

  #identityOf(table: string): string | null {
    let id = this.#identity.get(table);
    if (id === undefined) {
      const r = this.#query(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(?) AND attidentity <> '' AND NOT attisdropped",
        [table],
      );
      id = (r.rows[0]?.attname as string | undefined) ?? null;
      this.#identity.set(table, id);
    }
    return id;
  }

  all(sql: string, params: readonly unknown[]): Row[] {
    return this.#query(sql, params).rows;
  }

  /** SQL text with several statements and no parameters (schema scripts). */
  exec(sql: string): void {
    if (this.#aborted) {
      throw this.#error('the transaction was aborted by an earlier failed statement (PostgreSQL)');
    }
    try {
      this.#call({ op: 'exec', sql: toPostgres(sql), locked: !this.#inTransaction && mayWrite(sql) });
    } catch (e) {
      if (this.#inTransaction) this.#aborted = true;
      throw e;
    }
  }

  begin(): void {
    this.#call({ op: 'begin' });
    this.#inTransaction = true;
    this.#aborted = false;
  }

  commit(): void {
    if (this.#aborted) {
      this.rollback();
      throw this.#error('the transaction was rolled back: an earlier statement of it failed');
    }
    this.#inTransaction = false;
    this.#call({ op: 'commit' });
  }

  rollback(): void {
    this.#inTransaction = false;
    this.#aborted = false;
    this.#call({ op: 'rollback' });
  }

  savepoint(name: string): void {
    this.exec(`SAVEPOINT ${name}`);
  }

  release(name: string): void {
    this.exec(`RELEASE SAVEPOINT ${name}`);
  }

  /** Roll back to a savepoint: the transaction is usable again (PostgreSQL's way to survive an error). */
  rollbackTo(name: string): void {
    this.#aborted = false;
    this.exec(`ROLLBACK TO SAVEPOINT ${name}`);
    this.exec(`RELEASE SAVEPOINT ${name}`);
  }

  /**
   * Whether the database answers `SELECT 1` within `timeoutMs` (the worker bounds the wait; the store is
   * not declared broken by a slow answer, only by no answer from the worker itself).
   */
  ping(timeoutMs: number): boolean {
    if (this.#inTransaction) return true; // a statement of the open transaction just answered
    try {
      this.#call({ op: 'ping', timeoutMs }, timeoutMs + 5000);
      return true;
    } catch {
      return false;
    }
  }

  hasTable(name: string): boolean {
    return this.all('SELECT to_regclass(?) IS NOT NULL AS x', [name])[0]?.x === 1;
  }

  close(): void {
    if (this.#closed) return;
    try {
      if (this.#broken === undefined) this.#call({ op: 'close' });
    } finally {
      this.#closed = true;
      void this.#worker.terminate();
    }
  }
}

/** The process's Node flags without those that only apply to a script given on the command line. */
export function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++; // and the script
      continue;
    }
    if (a.startsWith('--input-type') || a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}
