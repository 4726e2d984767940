/**
 * The node's state store: one SQLite database (`node:sqlite`, synchronous) in the node's state directory,
 * shared by every module of the node (jobs, consent, audit log, model registry, monitoring).
 *
 * - `NodeStore.open(stateDir)` creates the directory (mode 0700) and `fedscore.sqlite` inside it, turns on
 *   WAL journaling (readers such as `fedscore audit verify` do not block the running node), foreign keys
 *   and a busy timeout (a second process waits for the write lock instead of failing at once).
 * - Migrations are per module: each module owns an ordered list of SQL scripts and `migrate()` applies the
 *   ones not yet applied, in one transaction. The SHA-256 of every applied script is recorded; an applied
 *   script whose text changed since is refused (append a new script instead), as is a store written by a
 *   newer build (more applied versions than this build knows).
 * - `transaction(fn)` runs `fn` inside `BEGIN IMMEDIATE` (the write lock is taken up front, so two
 *   processes never deadlock upgrading a read lock) and commits, or rolls back if `fn` throws. Nested
 *   calls become savepoints. `fn` must be synchronous: node:sqlite is synchronous and a transaction held
 *   open across an `await` would block every other writer; a returned Promise is rolled back and refused.
 *
 * Every SQLite failure surfaces as `FedscoreError('store')` naming the store file; values are never put
 * into error messages (they may be enterprise identifiers or scores).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { FedscoreError, type Logger, noopLogger } from '@fedscore/core';

/** File name of the database inside a state directory. */
export const STORE_FILE = 'fedscore.sqlite';

/** A value bound to or read from SQL. Integers come back as `number` (exact up to 2^53). */
export type SqlValue = null | number | bigint | string | Uint8Array;
export type SqlRow = Readonly<Record<string, SqlValue>>;

/** The ordered schema scripts of one module. Script i (0-based) is schema version i + 1. */
export interface StoreMigrations {
  /** Module name, e.g. 'audit' or 'jobs'; unique within a store. */
  readonly module: string;
  /** SQL scripts (may hold several statements). Never edit an applied one: append a new one. */
  readonly steps: readonly string[];
}

export interface OpenStoreOptions {
  readonly logger?: Logger;
  /** How long a writer waits for another process's write lock before failing. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** Open an existing store read-only (no directory creation, no migrations). */
  readonly readOnly?: boolean;
}

export interface RunResult {
  readonly changes: number;
  readonly lastInsertRowid: number;
}

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS store_migrations (
  module TEXT NOT NULL,
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (module, version)
) STRICT`;

const MODULE_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export class NodeStore {
  /** Path of the database file, or ':memory:'. */
  readonly path: string;
  readonly readOnly: boolean;
  readonly #db: DatabaseSync;
  readonly #logger: Logger;
  readonly #statements = new Map<string, StatementSync>();
  #depth = 0;
  #closed = false;

  private constructor(db: DatabaseSync, path: string, readOnly: boolean, logger: Logger) {
    this.#db = db;
    this.path = path;
    this.readOnly = readOnly;
    this.#logger = logger;
  }

  /** Open (creating if needed) the store of the state directory `stateDir`. */
  static open(stateDir: string, options: OpenStoreOptions = {}): NodeStore {
    if (typeof stateDir !== 'string' || stateDir.length === 0) {
      throw new FedscoreError('invalid_argument', 'expected a state directory path', { field: 'stateDir' });
    }
    const readOnly = options.readOnly === true;
    const path = join(stateDir, STORE_FILE);
    if (!readOnly) {
      try {
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw new FedscoreError('io', `cannot create the state directory (${errnoOf(e)})`, {
          file: stateDir,
          field: 'stateDir',
          cause: e,
        });
      }
    }
    return NodeStore.#openFile(path, readOnly, options);
  }

  /** A private in-memory store (tests, dry runs). */
  static inMemory(options: Omit<OpenStoreOptions, 'readOnly'> = {}): NodeStore {
    return NodeStore.#openFile(':memory:', false, options);
  }

  static #openFile(path: string, readOnly: boolean, options: OpenStoreOptions): NodeStore {
    const timeout = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(timeout) || timeout < 0) {
      throw new FedscoreError('out_of_range', `${timeout} is not a non-negative integer`, {
        field: 'busyTimeoutMs',
      });
    }
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { readOnly, timeout, enableForeignKeyConstraints: true });
    } catch (e) {
      throw new FedscoreError('store', `cannot open the store (${sqliteMessage(e)})`, {
        file: path,
        cause: e,
      });
    }
    const store = new NodeStore(db, path, readOnly, options.logger ?? noopLogger);
    try {
      if (!readOnly && path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
      if (!readOnly) db.exec('PRAGMA synchronous = FULL');
      if (!readOnly) db.exec(MIGRATIONS_TABLE);
      // Reading the schema fails fast on a file that is not a SQLite database.
      db.prepare('SELECT count(*) AS n FROM sqlite_schema').get();
    } catch (e) {
      db.close();
      throw new FedscoreError('store', `not a usable store (${sqliteMessage(e)})`, { file: path, cause: e });
    }
    return store;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** True while inside `transaction()`. */
  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  /**
   * Apply `migrations.steps` not yet applied, in one transaction. Returns the module's schema version.
   * Refuses a changed applied script and a store from a newer build (both `store` errors naming the module).
   */
  migrate(migrations: StoreMigrations): number {
    const { module, steps } = migrations;
    if (typeof module !== 'string' || !MODULE_NAME.test(module)) {
      throw new FedscoreError('invalid_argument', 'module names are lowercase identifiers', {
        field: 'migrations.module',
      });
    }
    if (this.readOnly) {
      const v = this.schemaVersion(module);
      if (v < steps.length) {
        throw new FedscoreError(
          'store',
          `module '${module}' is at schema ${v}, this build needs ${steps.length}`,
          {
            file: this.path,
            field: 'migrations',
          },
        );
      }
      return v;
    }
    return this.transaction(() => {
      const applied = this.all<{ version: number; sha256: string }>(
        'SELECT version, sha256 FROM store_migrations WHERE module = ? ORDER BY version',
        module,
      );
      if (applied.length > steps.length) {
        throw new FedscoreError(
          'unsupported',
          `module '${module}' is at schema version ${applied.length}; this build knows ${steps.length}`,
          { file: this.path, field: 'migrations' },
        );
      }
      for (const [i, row] of applied.entries()) {
        if (row.version !== i + 1 || row.sha256 !== sha256Hex(steps[i] ?? '')) {
          throw new FedscoreError(
            'store',
            `module '${module}' schema script ${i + 1} differs from the one applied to this store`,
            { file: this.path, field: `migrations.steps[${i}]` },
          );
        }
      }
      for (let i = applied.length; i < steps.length; i++) {
        const sql = steps[i] ?? '';
        this.exec(sql);
        this.run(
          'INSERT INTO store_migrations (module, version, sha256, applied_at) VALUES (?, ?, ?, ?)',
          module,
          i + 1,
          sha256Hex(sql),
          Date.now(),
        );
        this.#logger.info('store migration applied', { module, version: i + 1 });
      }
      return steps.length;
    });
  }

  /** The module's applied schema version (0 if none). */
  schemaVersion(module: string): number {
    try {
      const row = this.get<{ v: number | null }>(
        'SELECT max(version) AS v FROM store_migrations WHERE module = ?',
        module,
      );
      return row?.v ?? 0;
    } catch (e) {
      // A read-only store that never saw a migration has no table yet.
      if (this.readOnly && e instanceof FedscoreError) return 0;
      throw e;
    }
  }

  /** Run one statement that returns no rows. */
  run(sql: string, ...params: SqlValue[]): RunResult {
    const r = this.#call(() => this.#prepare(sql).run(...(params as SQLInputValue[])));
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  /** The first row of a query, or undefined. */
  get<T extends object = SqlRow>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.#call(() => this.#prepare(sql).get(...(params as SQLInputValue[]))) as T | undefined;
  }

  /** All rows of a query. */
  all<T extends object = SqlRow>(sql: string, ...params: SqlValue[]): T[] {
    return this.#call(() => this.#prepare(sql).all(...(params as SQLInputValue[]))) as T[];
  }

  /** Rows one at a time (large tables; do not write to the same table while iterating). */
  *iterate<T extends object = SqlRow>(sql: string, ...params: SqlValue[]): Generator<T> {
    const it = this.#call(() => this.#prepare(sql).iterate(...(params as SQLInputValue[])));
    while (true) {
      const next = this.#call(() => it.next());
      if (next.done === true) return;
      yield next.value as T;
    }
  }

  /** Run SQL text with several statements and no parameters (schema scripts). */
  exec(sql: string): void {
    this.#call(() => this.#db.exec(sql));
  }

  /**
   * Run `fn` atomically: commit if it returns, roll back if it throws (the error is rethrown). Nested
   * calls are savepoints. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    this.#assertOpen();
    const depth = this.#depth;
    const savepoint = `sp_${depth}`;
    this.exec(depth === 0 ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
    this.#depth++;
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) {
        // Observe the promise so it never becomes an unhandled rejection, then refuse it.
        result.catch(() => {});
        throw new FedscoreError('internal', 'a store transaction body must be synchronous', {
          field: 'fn',
        });
      }
    } catch (e) {
      this.#depth--;
      try {
        this.exec(depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
      } catch (rollbackError) {
        this.#logger.error('store rollback failed', { file: this.path, depth });
        throw new FedscoreError('store', 'rollback failed after an error', {
          file: this.path,
          cause: rollbackError,
        });
      }
      throw e;
    }
    this.#depth--;
    this.exec(depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`);
    return result;
  }

  /** Run SQLite's integrity check; returns the problems found (empty when the file is sound). */
  integrityCheck(): string[] {
    const rows = this.all<{ integrity_check: string }>('PRAGMA integrity_check');
    return rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
  }

  close(): void {
    if (this.#closed) return;
    this.#statements.clear();
    this.#closed = true;
    try {
      this.#db.close();
    } catch (e) {
      throw new FedscoreError('store', `closing the store failed (${sqliteMessage(e)})`, {
        file: this.path,
        cause: e,
      });
    }
  }

  #prepare(sql: string): StatementSync {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  #assertOpen(): void {
    if (this.#closed) throw new FedscoreError('store', 'the store is closed', { file: this.path });
  }

  #call<T>(fn: () => T): T {
    this.#assertOpen();
    try {
      return fn();
    } catch (e) {
      if (e instanceof FedscoreError) throw e;
      throw new FedscoreError('store', sqliteMessage(e), { file: this.path, cause: e });
    }
  }
}

/** SHA-256 of UTF-8 text, lowercase hex. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

function sqliteMessage(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { errstr?: string }).errstr;
    return code !== undefined && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'error';
}
