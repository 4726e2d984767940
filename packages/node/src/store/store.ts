/**
 * The node's state store: one SQLite database (`node:sqlite`, synchronous) in the node's state directory,
 * shared by every module of the node (jobs, consent, audit log, model registry, monitoring).
 *
 * - `NodeStore.open(stateDir)` creates the directory (mode 0700) and `fedscore.sqlite` inside it (0600;
 *   SQLite gives its -wal and -shm files the database's mode), turns on WAL journaling (readers such as
 *   `fedscore audit verify` do not block the running node), foreign keys and a busy timeout (a second
 *   process waits for the write lock instead of failing at once). The directory is created one level at a
 *   time (a recursive mkdir loops forever under /proc), never on a pseudo file system (/proc, /sys). A
 *   directory or file with group or other access (an older build made them 0644) is tightened with a
 *   warning, or refused when this user does not own it.
 * - A store that existed is never silently re-created: the first open writes `fedscore.store` next to the
 *   database (a marker holding the store's random id, which the database also holds). Later opens refuse
 *   a database that is missing, empty (0 bytes: truncated) or another store (the ids differ) while the
 *   marker says it was initialised; an empty database file without a marker is refused as well (a
 *   truncated store of an older build). Deleting both files is the explicit way to start afresh.
 * - Migrations are per module: each module owns an ordered list of SQL scripts and `migrate()` applies the
 *   ones not yet applied, in one transaction. The SHA-256 of every applied script is recorded; an applied
 *   script whose text changed since is refused (append a new script instead), as is a store written by a
 *   newer build (more applied versions than this build knows).
 * - `transaction(fn)` runs `fn` inside `BEGIN IMMEDIATE` (the write lock is taken up front, so two
 *   processes never deadlock upgrading a read lock) and commits, or rolls back if `fn` throws. Nested
 *   calls become savepoints. `fn` must be synchronous: node:sqlite is synchronous and a transaction held
 *   open across an `await` would block every other writer; a returned Promise is rolled back and refused.
 * - `groupWrite(fn)` is the hot path's transaction (online scoring: an audit entry and a quota counter per
 *   request on each node): every write queued in one turn of the event loop runs in ONE transaction on the
 *   next turn, and each promise resolves once that transaction is durable -- on disk, as under
 *   `synchronous = FULL` -- so a caller that awaits it before answering answers only after its write
 *   survives a process crash and a power loss. The disk flush is NOT taken on the event loop: the group
 *   commits under `synchronous = NORMAL` (in WAL mode: the frames are written to the -wal file, no fsync;
 *   the connection is back to FULL for every other transaction), then the -wal file is flushed with an
 *   asynchronous `fdatasync` on libuv's thread pool, and only then do the group's promises resolve.
 *   Groups that commit while a flush is under way share the next flush (group commit across turns). In
 *   WAL mode a commit appends frames to the -wal file and a checkpoint (which under NORMAL still syncs
 *   the WAL before copying and the database after) is the only other writer, so a flushed -wal file holds
 *   every frame of the committed groups: the same durability as FULL's fsync inside COMMIT, without the
 *   event loop waiting for it (profile and figures: docs/scoring-api.md). A store not in WAL mode (in
 *   memory) commits groups under FULL as before. If one write of the group throws, nothing of the group is
 *   committed and every promise of it rejects; a failed flush rejects the promises it would have
 *   resolved. Closing the store commits a pending group and flushes it first.
 *
 * Every SQLite failure surfaces as `FedscoreError('store')` naming the store file; values are never put
 * into error messages (they may be enterprise identifiers or scores).
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open as openAsync } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { FedscoreError, type Logger, noopLogger } from '@fedscore/core';
import type { StoreDialect } from './dialect.ts';
import { PgConnection, redactUrl } from './postgres.ts';

/** File name of the database inside a state directory. */
export const STORE_FILE = 'fedscore.sqlite';
/** File name of the initialisation marker inside a state directory (the store's id; see the file comment). */
export const STORE_MARKER = 'fedscore.store';

/** Pseudo file systems a state directory can never live on (statfs magic numbers, linux/magic.h). */
const PSEUDO_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
]);

/** The store's own schema: its identity, matched against the marker. */
const STORE_IDENTITY: StoreMigrations = {
  module: 'store',
  steps: ['CREATE TABLE store_identity (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL) STRICT'],
};

/** A value bound to or read from SQL. Integers come back as `number` (exact up to 2^53). */
export type SqlValue = null | number | bigint | string | Uint8Array;
export type SqlRow = Readonly<Record<string, SqlValue>>;

/** The ordered schema scripts of one module. Script i (0-based) is schema version i + 1. */
export interface StoreMigrations {
  /** Module name, e.g. 'audit' or 'jobs'; unique within a store. */
  readonly module: string;
  /** SQL scripts (may hold several statements). Never edit an applied one: append a new one. */
  readonly steps: readonly string[];
  /**
   * PostgreSQL's text of step i where the generic rewrite (dialect.ts) does not do (triggers); undefined
   * entries use `steps[i]` rewritten. The hash recorded is that of the text a store applied.
   */
  readonly postgres?: readonly (string | undefined)[];
}

export interface OpenStoreOptions {
  readonly logger?: Logger;
  /** How long a writer waits for another process's write lock before failing. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** Open an existing store read-only (no directory creation, no migrations). */
  readonly readOnly?: boolean;
  /**
   * How a committed group transaction's -wal file is flushed to disk before its `groupWrite` promises
   * resolve (default: `fdatasync` on libuv's thread pool, the event loop never waits for it). Tests pass a
   * slow or failing one to check that nothing resolves before the flush has completed.
   */
  readonly flushFile?: (file: string) => Promise<void>;
}

export interface OpenPostgresOptions {
  readonly logger?: Logger;
  /**
   * Schema holding the store's tables (created when missing); default: the connection's search_path
   * (normally public). Replicas of one party use the same database and schema.
   */
  readonly schema?: string;
  /** How long a transaction waits for another replica's write lock before failing. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** How long one statement may take before the store is declared broken. Default 120000 ms. */
  readonly callTimeoutMs?: number;
  /** Open read-only (no migrations; every transaction read-only). */
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
  /** Which database holds the store: the embedded SQLite file (default) or PostgreSQL. */
  readonly dialect: StoreDialect;
  /** The SQLite database, or undefined for a PostgreSQL store (then `#pg`). */
  readonly #db: DatabaseSync | undefined;
  readonly #pg: PgConnection | undefined;
  readonly #logger: Logger;
  readonly #statements = new Map<string, StatementSync>();
  #depth = 0;
  #closed = false;
  /** Writes queued for the next group transaction (`groupWrite`). */
  #group: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  #groupScheduled = false;
  /**
   * The -wal file when group transactions commit under NORMAL and are flushed off the event loop (a
   * writable store in WAL mode); undefined: they commit under FULL.
   */
  #wal: string | undefined;
  readonly #flushFile: (file: string) => Promise<void>;
  /** Committed groups waiting for the next flush of the -wal file. */
  #unflushed: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #flushing = false;
  /** close() flushed the -wal file itself: a flush still under way that fails afterwards changes nothing. */
  #flushedAtClose = false;
  /** The descriptor of the -wal file the default flush uses (opened on the first flush). */
  #walHandle: Promise<FileHandle> | undefined;
  /** The state directory was flushed once after the -wal file first was (its directory entry). */
  #dirFlushed = false;

  private constructor(
    db: DatabaseSync | PgConnection,
    path: string,
    readOnly: boolean,
    logger: Logger,
    flushFile: ((file: string) => Promise<void>) | undefined,
  ) {
    if (db instanceof PgConnection) {
      this.#pg = db;
      this.dialect = 'postgres';
    } else {
      this.#db = db;
      this.dialect = 'sqlite';
    }
    this.path = path;
    this.readOnly = readOnly;
    this.#logger = logger;
    this.#flushFile = flushFile ?? ((file) => this.#flushToDisk(file));
  }

  /**
   * The default flush: `fdatasync` on libuv's thread pool, of a descriptor of the -wal file kept open
   * while the store is (SQLite deletes or replaces the -wal file only when the last connection to the
   * database closes, never while this one is open). Other files (the directory) are opened each time.
   */
  async #flushToDisk(file: string): Promise<void> {
    if (file !== this.#wal) return flushToDisk(file);
    this.#walHandle ??= openAsync(file, 'r');
    const opened = this.#walHandle;
    let handle: FileHandle;
    try {
      handle = await opened;
    } catch (e) {
      if (this.#walHandle === opened) this.#walHandle = undefined;
      throw e;
    }
    await handle.datasync();
  }

  /** Open (creating if needed) the store of the state directory `stateDir`. */
  static open(stateDir: string, options: OpenStoreOptions = {}): NodeStore {
    if (typeof stateDir !== 'string' || stateDir.length === 0) {
      throw new FedscoreError('invalid_argument', 'expected a state directory path', { field: 'stateDir' });
    }
    const readOnly = options.readOnly === true;
    const logger = options.logger ?? noopLogger;
    const path = join(stateDir, STORE_FILE);
    if (!readOnly) {
      ensureStateDir(stateDir);
      keepPrivate(stateDir, 0o700, logger);
    }
    const marker = readMarker(stateDir);
    const size = fileSize(path);
    if (marker !== undefined && (size === undefined || size === 0)) {
      throw new FedscoreError(
        'store',
        size === undefined
          ? `the store was deleted: ${STORE_MARKER} says this directory holds store ${marker.id} but ${STORE_FILE} is gone (restore it from a backup; delete ${STORE_MARKER} too only to start an empty store)`
          : `the store is empty (0 bytes, truncated?): ${STORE_MARKER} says this directory holds store ${marker.id} (restore ${STORE_FILE} from a backup)`,
        { file: path, field: 'stateDir' },
      );
    }
    if (size === 0) {
      throw new FedscoreError(
        'store',
        `the store file is empty (0 bytes, truncated?): restore it from a backup, or delete it to start an empty store`,
        { file: path, field: 'stateDir' },
      );
    }
    const created = size === undefined;
    const store = NodeStore.#openFile(path, readOnly, options, (s) => {
      // A new file is empty until the first write: make it private (quietly) before anything is written.
      if (!readOnly) {
        for (const f of [path, `${path}-wal`, `${path}-shm`])
          keepPrivate(f, 0o600, created ? undefined : logger);
      }
      if (marker !== undefined) damagedIfFails(path, () => s.#matchMarker(marker));
    });
    try {
      if (marker === undefined && !readOnly) damagedIfFails(path, () => store.#adopt(stateDir, created));
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /**
   * Open the store in a PostgreSQL database (`url`: postgres://user@host:port/db; give the password in
   * PGPASSWORD or a password file rather than in the URL, which is never logged either way). Several
   * replicas of one party open the same database (and schema) and share everything the store holds.
   * Migrations run as on SQLite, serialised across replicas by the store's write lock.
   */
  static postgres(url: string, options: OpenPostgresOptions = {}): NodeStore {
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      throw new FedscoreError('invalid_argument', 'expected a postgres:// URL', { field: 'storeUrl' });
    }
    const timeout = options.busyTimeoutMs ?? 5000;
    const callTimeout = options.callTimeoutMs ?? 120_000;
    for (const [field, v] of [
      ['busyTimeoutMs', timeout],
      ['callTimeoutMs', callTimeout],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new FedscoreError('out_of_range', `${v} is not a non-negative integer`, { field });
      }
    }
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
      throw new FedscoreError('invalid_argument', 'a schema name is a lower-case SQL identifier', {
        field: 'storeSchema',
      });
    }
    const readOnly = options.readOnly === true;
    const logger = options.logger ?? noopLogger;
    let conn: PgConnection;
    try {
      conn = new PgConnection({
        url,
        ...(options.schema !== undefined && { schema: options.schema }),
        readOnly,
        lockTimeoutMs: timeout,
        callTimeoutMs: callTimeout,
      });
    } catch (e) {
      throw new FedscoreError(
        'store',
        `cannot open the store (${e instanceof Error ? e.message : String(e)})`,
        {
          file: redactUrl(url),
          field: 'storeUrl',
          cause: e,
        },
      );
    }
    const store = new NodeStore(conn, conn.where, readOnly, logger, undefined);
    try {
      if (!readOnly) {
        store.transaction(() => store.exec(MIGRATIONS_TABLE));
        store.migrate(STORE_IDENTITY);
        store.transaction(() => {
          if (store.#storeId() === undefined) {
            const id = randomUUID();
            store.run('INSERT INTO store_identity (id, created_at) VALUES (?, ?)', id, Date.now());
            logger.info('store created', { store: id });
          }
        });
      }
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /** True when the store holds a table (or view) of that name. */
  hasTable(name: string): boolean {
    if (this.#pg !== undefined) return this.#call(() => this.#pg?.hasTable(name) === true);
    return (
      this.get("SELECT 1 AS x FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?", name) !==
      undefined
    );
  }

  #storeId(): string | undefined {
    return this.hasTable('store_identity')
      ? this.get<{ id: string }>('SELECT id FROM store_identity LIMIT 1')?.id
      : undefined;
  }

  /** Refuse a database that is not the store the marker names (replaced or re-created). */
  #matchMarker(marker: StoreMarker): void {
    const id = this.#storeId();
    if (id !== marker.id) {
      throw new FedscoreError(
        'store',
        `${STORE_FILE} is not the store this directory was initialised with (${STORE_MARKER} names store ${marker.id}, the database ${id === undefined ? 'none' : `store ${id}`}): it was replaced or re-created`,
        { file: this.path, field: 'stateDir' },
      );
    }
  }

  /** Give a new store (or one of an older build) its id and write the marker. */
  #adopt(stateDir: string, created: boolean): void {
    this.migrate(STORE_IDENTITY);
    let id = this.#storeId();
    if (id === undefined) {
      id = randomUUID();
      this.run('INSERT INTO store_identity (id, created_at) VALUES (?, ?)', id, Date.now());
    }
    writeMarker(stateDir, { format: 1, id });
    this.#logger.info(created ? 'store created' : 'store marker written', { store: id });
  }

  /** A private in-memory store (tests, dry runs). */
  static inMemory(options: Omit<OpenStoreOptions, 'readOnly'> = {}): NodeStore {
    return NodeStore.#openFile(':memory:', false, options);
  }

  static #openFile(
    path: string,
    readOnly: boolean,
    options: OpenStoreOptions,
    beforeWrites?: (store: NodeStore) => void,
  ): NodeStore {
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
    const store = new NodeStore(db, path, readOnly, options.logger ?? noopLogger, options.flushFile);
    try {
      // Reading the schema fails fast on a file that is not a SQLite database.
      db.prepare('SELECT count(*) AS n FROM sqlite_schema').get();
    } catch (e) {
      db.close();
      throw new FedscoreError('store', `not a usable store (${sqliteMessage(e)})`, { file: path, cause: e });
    }
    try {
      // Checks that must see the file as it was, before this open writes anything to it.
      beforeWrites?.(store);
    } catch (e) {
      store.close();
      throw e;
    }
    try {
      if (!readOnly && path !== ':memory:') {
        const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
        // A file system without shared memory keeps the rollback journal: groups then commit under FULL.
        if (mode?.journal_mode === 'wal') store.#wal = `${path}-wal`;
      }
      if (!readOnly) db.exec('PRAGMA synchronous = FULL');
      if (!readOnly) db.exec(MIGRATIONS_TABLE);
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
      if (v === 0 && steps.length > 0) {
        const any = this.#hasMigrations();
        throw new FedscoreError(
          'store',
          any
            ? `this store holds no ${module} data yet (nothing of that kind was ever written to it)`
            : 'this file holds no fedscore store (a new or empty database: a node creates its store on first start)',
          { file: this.path, field: 'stateDir' },
        );
      }
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
        if (row.version !== i + 1 || row.sha256 !== sha256Hex(this.#stepText(migrations, i))) {
          throw new FedscoreError(
            'store',
            `module '${module}' schema script ${i + 1} differs from the one applied to this store`,
            { file: this.path, field: `migrations.steps[${i}]` },
          );
        }
      }
      for (let i = applied.length; i < steps.length; i++) {
        const sql = this.#stepText(migrations, i);
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

  /** The text of migration step i this store applies (its dialect's). */
  #stepText(migrations: StoreMigrations, i: number): string {
    const own = this.dialect === 'postgres' ? migrations.postgres?.[i] : undefined;
    return own ?? migrations.steps[i] ?? '';
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

  #hasMigrations(): boolean {
    try {
      return this.get('SELECT 1 AS x FROM store_migrations LIMIT 1') !== undefined;
    } catch {
      return false;
    }
  }

  /**
   * Whether the database answers a trivial query within `timeoutMs`, and how long it took (health
   * checks; never throws). SQLite: the embedded file, a local read. PostgreSQL: `SELECT 1` over the
   * store's connection, its wait bounded by `timeoutMs`.
   */
  ping(timeoutMs = 2000): { reachable: boolean; latencyMs: number } {
    const t0 = performance.now();
    let reachable: boolean;
    if (this.#closed) reachable = false;
    else if (this.#pg !== undefined) reachable = this.#pg.ping(timeoutMs);
    else {
      try {
        this.get('SELECT 1 AS x');
        reachable = true;
      } catch {
        reachable = false;
      }
    }
    return { reachable, latencyMs: Math.round((performance.now() - t0) * 100) / 100 };
  }

  /** Every module's applied schema version (`migrate`), by module name. */
  schemaVersions(): Record<string, number> {
    try {
      const rows = this.all<{ module: string; v: number }>(
        'SELECT module, max(version) AS v FROM store_migrations GROUP BY module ORDER BY module',
      );
      return Object.fromEntries(rows.map((r) => [r.module, Number(r.v)]));
    } catch (e) {
      if (this.readOnly && e instanceof FedscoreError) return {};
      throw e;
    }
  }

  /**
   * SQLite's quick check (page structure, no index cross-check); the problems found, empty when sound. A
   * file too damaged to check is one problem.
   */
  quickCheck(): string[] {
    // PostgreSQL checks its own pages (checksums, amcheck): nothing the store can do from a connection.
    if (this.#pg !== undefined) return [];
    try {
      const rows = this.all<{ quick_check: string }>('PRAGMA quick_check');
      return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
    } catch (e) {
      return [e instanceof Error ? e.message : String(e)];
    }
  }

  /** Run one statement that returns no rows. */
  run(sql: string, ...params: SqlValue[]): RunResult {
    const pg = this.#pg;
    if (pg !== undefined) return this.#call(() => pg.run(sql, params));
    const r = this.#call(() => this.#prepare(sql).run(...(params as SQLInputValue[])));
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  /** The first row of a query, or undefined. */
  get<T extends object = SqlRow>(sql: string, ...params: SqlValue[]): T | undefined {
    const pg = this.#pg;
    if (pg !== undefined) return this.#call(() => pg.all(sql, params)[0]) as T | undefined;
    return this.#call(() => this.#prepare(sql).get(...(params as SQLInputValue[]))) as T | undefined;
  }

  /** All rows of a query. */
  all<T extends object = SqlRow>(sql: string, ...params: SqlValue[]): T[] {
    const pg = this.#pg;
    if (pg !== undefined) return this.#call(() => pg.all(sql, params)) as T[];
    return this.#call(() => this.#prepare(sql).all(...(params as SQLInputValue[]))) as T[];
  }

  /** Rows one at a time (large tables; do not write to the same table while iterating). */
  *iterate<T extends object = SqlRow>(sql: string, ...params: SqlValue[]): Generator<T> {
    const pg = this.#pg;
    if (pg !== undefined) {
      // One query, all rows at once (a PostgreSQL cursor would hold a transaction open between yields).
      yield* this.#call(() => pg.all(sql, params)) as T[];
      return;
    }
    const it = this.#call(() => this.#prepare(sql).iterate(...(params as SQLInputValue[])));
    while (true) {
      const next = this.#call(() => it.next());
      if (next.done === true) return;
      yield next.value as T;
    }
  }

  /** Run SQL text with several statements and no parameters (schema scripts). */
  exec(sql: string): void {
    this.#call(() => (this.#pg !== undefined ? this.#pg.exec(sql) : this.#sqlite().exec(sql)));
  }

  /**
   * Run `fn` atomically: commit if it returns, roll back if it throws (the error is rethrown). Nested
   * calls are savepoints. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    this.#assertOpen();
    const depth = this.#depth;
    const savepoint = `sp_${depth}`;
    const pg = this.#pg;
    if (pg !== undefined) this.#call(() => (depth === 0 ? pg.begin() : pg.savepoint(savepoint)));
    else this.exec(depth === 0 ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
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
        if (pg !== undefined) this.#call(() => (depth === 0 ? pg.rollback() : pg.rollbackTo(savepoint)));
        else this.exec(depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
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
    if (pg !== undefined) this.#call(() => (depth === 0 ? pg.commit() : pg.release(savepoint)));
    else this.exec(depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`);
    return result;
  }

  /**
   * Queue `fn` (synchronous writes) for the next group transaction; resolves with its result once that
   * transaction has committed (module comment).
   */
  groupWrite<T>(fn: () => T): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#group.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#groupScheduled) {
        this.#groupScheduled = true;
        setImmediate(() => this.#flushGroup());
      }
    });
  }

  #flushGroup(): void {
    this.#groupScheduled = false;
    const batch = this.#group;
    this.#group = [];
    if (batch.length === 0) return;
    let results: unknown[];
    const wal = this.#wal;
    try {
      // NORMAL for this commit only: the -wal file is flushed below, off the event loop (file comment).
      if (wal !== undefined) this.exec('PRAGMA synchronous = NORMAL');
      try {
        results = this.transaction(() => batch.map((w) => w.fn()));
      } finally {
        if (wal !== undefined) this.exec('PRAGMA synchronous = FULL');
      }
    } catch (e) {
      for (const w of batch) w.reject(e);
      return;
    }
    const resolveAll = (): void => {
      batch.forEach((w, i) => {
        w.resolve(results[i]);
      });
    };
    if (wal === undefined) {
      resolveAll();
      return;
    }
    this.#unflushed.push({
      resolve: resolveAll,
      reject: (e) => {
        for (const w of batch) w.reject(e);
      },
    });
    this.#startFlush();
  }

  /**
   * Flush the -wal file for the groups committed so far, unless a flush is under way: the groups that
   * committed after it started wait for the next one (their frames may have been written after it began).
   */
  #startFlush(): void {
    if (this.#flushing || this.#unflushed.length === 0 || this.#wal === undefined) return;
    this.#flushing = true;
    const waiting = this.#unflushed;
    this.#unflushed = [];
    const wal = this.#wal;
    const dir = dirname(this.path);
    const flushed = this.#flushFile(wal).then(async () => {
      if (!this.#dirFlushed) {
        await this.#flushFile(dir);
        this.#dirFlushed = true;
      }
    });
    flushed.then(
      () => {
        this.#flushing = false;
        for (const w of waiting) w.resolve();
        this.#startFlush();
      },
      (e: unknown) => {
        this.#flushing = false;
        if (this.#flushedAtClose) {
          for (const w of waiting) w.resolve();
          return;
        }
        this.#logger.error('store flush failed', { file: wal });
        const err = new FedscoreError('store', 'flushing the write-ahead log to disk failed', {
          file: wal,
          cause: e,
        });
        for (const w of waiting) w.reject(err);
        this.#startFlush();
      },
    );
  }

  /** Run SQLite's integrity check; returns the problems found (empty when the file is sound). */
  integrityCheck(): string[] {
    if (this.#pg !== undefined) return [];
    const rows = this.all<{ integrity_check: string }>('PRAGMA integrity_check');
    return rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
  }

  close(): void {
    if (this.#closed) return;
    this.#flushGroup();
    // Committed groups not yet flushed: flushed here (blocking; closing is rare), then resolved. A flush
    // already under way resolves its own groups when it completes.
    const waiting = this.#unflushed;
    this.#unflushed = [];
    if ((waiting.length > 0 || this.#flushing) && this.#wal !== undefined) {
      try {
        flushToDiskSync(this.#wal);
        this.#flushedAtClose = true;
        for (const w of waiting) w.resolve();
      } catch (e) {
        const err = new FedscoreError('store', 'flushing the write-ahead log to disk failed', {
          file: this.#wal,
          cause: e,
        });
        for (const w of waiting) w.reject(err);
      }
    }
    // Closed once the operations under way on it are done (FileHandle.close waits for them).
    this.#walHandle?.then((h) => h.close()).catch(() => {});
    this.#walHandle = undefined;
    this.#statements.clear();
    this.#closed = true;
    try {
      if (this.#pg !== undefined) this.#pg.close();
      else this.#sqlite().close();
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
      stmt = this.#sqlite().prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  #sqlite(): DatabaseSync {
    if (this.#db === undefined) throw new FedscoreError('internal', 'not a SQLite store', { field: 'store' });
    return this.#db;
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

/**
 * `fdatasync` of a file (or a directory: its entries) on libuv's thread pool. fsync and fdatasync act on
 * the file, not on the descriptor (POSIX; Linux flushes the inode's dirty pages whoever wrote them), so a
 * descriptor of our own flushes what SQLite's connection wrote.
 */
async function flushToDisk(file: string): Promise<void> {
  const handle = await openAsync(file, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

function flushToDiskSync(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
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

/** Run `fn`; a store error without a field (SQLite could not read the file) names a damaged store. */
function damagedIfFails(path: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof FedscoreError && e.code === 'store' && e.field === undefined) {
      throw new FedscoreError(
        'store',
        `the store is damaged (${sqliteMessage(e.cause ?? e)}): restore it from a backup`,
        {
          file: path,
          field: 'stateDir',
          cause: e,
        },
      );
    }
    throw e;
  }
}

interface StoreMarker {
  readonly format: 1;
  readonly id: string;
}

function readMarker(stateDir: string): StoreMarker | undefined {
  const file = join(stateDir, STORE_MARKER);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw new FedscoreError('store', `cannot read the store marker (${errnoOf(e)})`, { file, cause: e });
  }
  try {
    const m = JSON.parse(text) as { format?: unknown; id?: unknown };
    if (m.format === 1 && typeof m.id === 'string' && m.id.length > 0) return { format: 1, id: m.id };
  } catch {
    // reported below
  }
  throw new FedscoreError('store', 'the store marker is damaged: restore it from a backup', {
    file,
    field: 'stateDir',
  });
}

/** Write the marker atomically (temp file, fsync, rename), mode 0600. */
function writeMarker(stateDir: string, marker: StoreMarker): void {
  const file = join(stateDir, STORE_MARKER);
  const tmp = `${file}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(marker)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    throw new FedscoreError('io', `cannot write the store marker (${errnoOf(e)})`, {
      file,
      field: 'stateDir',
      cause: e,
    });
  }
}

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw new FedscoreError('store', `cannot read the store file (${errnoOf(e)})`, {
      file: path,
      field: 'stateDir',
      cause: e,
    });
  }
}

/**
 * Create the state directory (0700) one level at a time below its nearest existing ancestor, refusing a
 * pseudo file system and a path through a file. Node's recursive mkdir spins forever on some /proc paths.
 */
function ensureStateDir(stateDir: string): void {
  const fail = (message: string, cause?: unknown): FedscoreError =>
    new FedscoreError('io', `cannot create the state directory: ${message}`, {
      file: stateDir,
      field: 'stateDir',
      ...(cause !== undefined && { cause }),
    });
  const missing: string[] = [];
  let dir = resolve(stateDir);
  let st: Stats | undefined;
  for (;;) {
    try {
      st = statSync(dir);
      break;
    } catch (e) {
      const code = errnoOf(e);
      if (code !== 'ENOENT') throw fail(`${dir} is not accessible (${code})`, e);
      missing.unshift(dir);
      const up = dirname(dir);
      if (up === dir) throw fail('no existing ancestor directory');
      dir = up;
    }
  }
  if (!st.isDirectory()) throw fail(`${dir} is not a directory`);
  let fsType: number | undefined;
  try {
    fsType = statfsSync(dir).type;
  } catch {
    fsType = undefined;
  }
  const pseudo = fsType === undefined ? undefined : PSEUDO_FILE_SYSTEMS.get(fsType);
  if (pseudo !== undefined) throw fail(`${dir} is on the ${pseudo} pseudo file system`);
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw fail(`mkdir ${d} failed (${errnoOf(e)})`, e);
    }
  }
}

/**
 * Give `path` (when it exists) no group or other access: an older build created files 0644. Tightened with
 * a warning when this user owns it; refused when it does not (it cannot be fixed from here).
 */
function keepPrivate(path: string, mode: number, logger: Logger | undefined): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw new FedscoreError('store', `cannot check the mode (${errnoOf(e)})`, { file: path, cause: e });
  }
  const current = st.mode & 0o777;
  if ((current & 0o077) === 0) return;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new FedscoreError(
      'store',
      `mode ${current.toString(8)} gives group or other users access and the file belongs to another user (uid ${st.uid}): make it ${mode.toString(8)}`,
      { file: path, field: 'stateDir' },
    );
  }
  try {
    chmodSync(path, mode);
  } catch (e) {
    throw new FedscoreError('store', `cannot restrict mode ${current.toString(8)} (${errnoOf(e)})`, {
      file: path,
      field: 'stateDir',
      cause: e,
    });
  }
  logger?.warn('store access tightened', { file: path, from: current.toString(8), to: mode.toString(8) });
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'error';
}
