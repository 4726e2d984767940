import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFedscoreError } from '@fedscore/core';
import { NodeStore, STORE_FILE, type StoreMigrations } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fedscore-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const widgets: StoreMigrations = {
  module: 'widgets',
  steps: [
    'CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT',
    'ALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 0',
  ],
};

describe('NodeStore', () => {
  it('creates the state directory (0700) and the database, in WAL mode', () => {
    const dir = join(tempDir(), 'nested', 'state');
    const store = NodeStore.open(dir);
    expect(store.path).toBe(join(dir, STORE_FILE));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(store.get<{ journal_mode: string }>('PRAGMA journal_mode')?.journal_mode).toBe('wal');
    store.close();
    expect(store.isOpen).toBe(false);
  });

  it('applies migrations once, in order, and records them per module', () => {
    const dir = tempDir();
    const store = NodeStore.open(dir);
    expect(store.schemaVersion('widgets')).toBe(0);
    expect(store.migrate({ module: 'widgets', steps: widgets.steps.slice(0, 1) })).toBe(1);
    store.run('INSERT INTO widgets (name) VALUES (?)', 'a');
    expect(store.migrate(widgets)).toBe(2);
    expect(store.migrate(widgets)).toBe(2);
    expect(store.all('SELECT name, size FROM widgets')).toEqual([{ name: 'a', size: 0 }]);
    store.close();
    const again = NodeStore.open(dir);
    expect(again.schemaVersion('widgets')).toBe(2);
    expect(again.migrate(widgets)).toBe(2);
    again.close();
  });

  it('refuses a file that is not a SQLite database, naming it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, STORE_FILE), 'this is not a database, just some bytes'.repeat(40));
    let err: unknown;
    try {
      NodeStore.open(dir);
    } catch (e) {
      err = e;
    }
    expect(isFedscoreError(err, 'store')).toBe(true);
    expect((err as Error).message).toContain(STORE_FILE);
  });

  it('read-only opening sees committed data and cannot write', () => {
    const dir = tempDir();
    const writer = NodeStore.open(dir);
    writer.migrate(widgets);
    writer.run('INSERT INTO widgets (name) VALUES (?)', 'x');
    const reader = NodeStore.open(dir, { readOnly: true });
    expect(reader.migrate(widgets)).toBe(2);
    expect(reader.all('SELECT name FROM widgets')).toEqual([{ name: 'x' }]);
    expect(() => reader.run('INSERT INTO widgets (name) VALUES (?)', 'y')).toThrow(
      expect.objectContaining({ code: 'store' }),
    );
    reader.close();
    writer.close();
  });

  it('a second process sees committed writes (WAL, shared file)', () => {
    const dir = tempDir();
    const store = NodeStore.open(dir);
    store.migrate(widgets);
    store.run('INSERT INTO widgets (name, size) VALUES (?, ?)', 'from-parent', 7);
    const script = `const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(process.argv[1], { timeout: 5000 });
db.exec("INSERT INTO widgets (name, size) VALUES ('from-child', 9)");
process.stdout.write(JSON.stringify(db.prepare('SELECT count(*) AS n FROM widgets').get()));`;
    const out = execFileSync(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '-e', script, store.path],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out)).toEqual({ n: 2 });
    expect(store.get('SELECT size FROM widgets WHERE name = ?', 'from-child')).toEqual({ size: 9 });
    store.close();
  });
});

describeStores('NodeStore (either database)', (backend) => {
  it('refuses an applied script that changed, and a store from a newer build', () => {
    const store = backend.newStore();
    store.migrate(widgets);
    const edited = { module: 'widgets', steps: [`${widgets.steps[0]} `, widgets.steps[1] ?? ''] };
    expect(() => store.migrate(edited)).toThrow(
      expect.objectContaining({ code: 'store', field: 'migrations.steps[0]' }),
    );
    const older = { module: 'widgets', steps: widgets.steps.slice(0, 1) };
    expect(() => store.migrate(older)).toThrow(expect.objectContaining({ code: 'unsupported' }));
    expect(() => store.migrate({ module: 'Bad-Name', steps: [] })).toThrow(
      expect.objectContaining({ code: 'invalid_argument', field: 'migrations.module' }),
    );
  });

  it('a failing migration leaves no trace', () => {
    const store = backend.newStore();
    const bad = { module: 'broken', steps: ['CREATE TABLE t (x INTEGER)', 'THIS IS NOT SQL'] };
    expect(() => store.migrate(bad)).toThrow(expect.objectContaining({ code: 'store' }));
    expect(store.schemaVersion('broken')).toBe(0);
    expect(store.hasTable('t')).toBe(false);
  });

  it('transactions commit, roll back on error, nest as savepoints, and refuse async bodies', async () => {
    const store = backend.newStore();
    store.migrate(widgets);
    store.transaction(() => {
      store.run('INSERT INTO widgets (name) VALUES (?)', 'kept');
      expect(store.inTransaction).toBe(true);
    });
    expect(() =>
      store.transaction(() => {
        store.run('INSERT INTO widgets (name) VALUES (?)', 'lost');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    store.transaction(() => {
      store.run('INSERT INTO widgets (name) VALUES (?)', 'outer');
      expect(() =>
        store.transaction(() => {
          store.run('INSERT INTO widgets (name) VALUES (?)', 'inner');
          store.run('INSERT INTO widgets (name) VALUES (?)', 'outer'); // UNIQUE violation
        }),
      ).toThrow(expect.objectContaining({ code: 'store' }));
    });
    expect(store.inTransaction).toBe(false);
    const names = store.all<{ name: string }>('SELECT name FROM widgets ORDER BY id').map((r) => r.name);
    expect(names).toEqual(['kept', 'outer']);
    expect(() =>
      store.transaction(async () => store.run('INSERT INTO widgets (name) VALUES (?)', 'async')),
    ).toThrow(expect.objectContaining({ code: 'internal' }));
    expect(store.get("SELECT 1 AS x FROM widgets WHERE name = 'async'")).toBeUndefined();
  });

  it('iterates rows lazily and converts database failures into store errors', () => {
    const store = backend.newStore();
    store.migrate(widgets);
    for (let i = 0; i < 5; i++) store.run('INSERT INTO widgets (name, size) VALUES (?, ?)', `w${i}`, i);
    const sizes: number[] = [];
    for (const r of store.iterate<{ size: number }>('SELECT size FROM widgets ORDER BY size'))
      sizes.push(r.size);
    expect(sizes).toEqual([0, 1, 2, 3, 4]);
    expect(() => store.run('INSERT INTO nope VALUES (1)')).toThrow(
      expect.objectContaining({ code: 'store' }),
    );
    store.close();
    expect(() => store.get('SELECT 1')).toThrow(expect.objectContaining({ code: 'store' }));
  });
});
