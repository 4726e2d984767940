/**
 * The store's group transaction (`NodeStore.groupWrite`) and the scoring quota's grouped admission
 * (`ScoringQuota.admitGrouped`), the hot path of online scoring: every write queued in one turn of the
 * event loop commits in one transaction, each promise resolves only after that commit, a failing write
 * fails its whole group with nothing committed, and concurrent admissions of one turn are counted
 * against each other before any of them is committed (no over-admission).
 *
 * On a file store (WAL), a group commits under synchronous = NORMAL and its promises resolve only once the
 * -wal file has been flushed to disk off the event loop: checked with an injected flush that is held
 * open (nothing resolves before it completes, groups committed meanwhile share the next flush, a failed
 * flush rejects), and with a process killed by SIGKILL in the middle of a burst of requests: every
 * request it answered is in the audit log and the quota counters after the store is reopened.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFedscoreError } from '@fedscore/core';
import { AuditGroupCommit, AuditLog, DEFAULT_SCORING_POLICY, NodeStore, ScoringQuota } from '@fedscore/node';
import { afterEach, describe, expect, it, vi } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fedscore-group-write-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A flush whose completion the test decides: each call waits until `release(i)` / `fail(i)`. */
function heldFlush() {
  const calls: { file: string; release: () => void; fail: (e: Error) => void }[] = [];
  const flushFile = (file: string): Promise<void> =>
    new Promise((release, fail) => {
      calls.push({ file, release: () => release(), fail });
    });
  return { calls, flushFile };
}
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const MIGRATIONS = { module: 'gw_test', steps: ['CREATE TABLE gw (n INTEGER NOT NULL)'] };
const rows = (s: NodeStore): number[] => s.all<{ n: number }>('SELECT n FROM gw ORDER BY n').map((r) => r.n);

describe('NodeStore.groupWrite', () => {
  it('commits the writes of one turn in one transaction, and resolves after the commit', async () => {
    const store = NodeStore.inMemory();
    store.migrate(MIGRATIONS);
    const transaction = vi.spyOn(store, 'transaction');
    const done = [1, 2, 3, 4, 5].map((n) =>
      store.groupWrite(() => {
        store.run('INSERT INTO gw (n) VALUES (?)', n);
        return n * 10;
      }),
    );
    // Queued, not yet written.
    expect(rows(store)).toEqual([]);
    expect(await Promise.all(done)).toEqual([10, 20, 30, 40, 50]);
    expect(transaction).toHaveBeenCalledTimes(1);
    expect(rows(store)).toEqual([1, 2, 3, 4, 5]);
    expect(store.inTransaction).toBe(false);
    // The next turn's writes are the next group.
    await store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (6)'));
    expect(transaction).toHaveBeenCalledTimes(2);
    store.close();
  });

  it('a failing write fails its whole group, and nothing of it is committed', async () => {
    const store = NodeStore.inMemory();
    store.migrate(MIGRATIONS);
    const ok = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (1)'));
    const bad = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (NULL)'));
    const [a, b] = await Promise.allSettled([ok, bad]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(isFedscoreError((b as PromiseRejectedResult).reason, 'store')).toBe(true);
    expect(rows(store)).toEqual([]);
    store.close();
  });

  it('closing the store commits a pending group first', async () => {
    const store = NodeStore.inMemory();
    store.migrate(MIGRATIONS);
    const p = store.groupWrite(() => {
      store.run('INSERT INTO gw (n) VALUES (7)');
      return rows(store);
    });
    store.close();
    expect(await p).toEqual([7]);
  });

  it('AuditGroupCommit appends through it: the hash chain is that of single appends', async () => {
    const store = NodeStore.inMemory();
    const log = new AuditLog(store, { now: () => 1_700_000_000_000 });
    const group = new AuditGroupCommit(log);
    const entries = await Promise.all(
      ['a', 'b', 'c'].map((actor) => group.append({ kind: 'security_event', actor, details: { code: 'x' } })),
    );
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
    expect(entries[2]!.prevHash).toBe(entries[1]!.hash);
    expect(log.head()).toEqual({ entries: 3, hash: entries[2]!.hash });
    store.close();
  });
});

describe('ScoringQuota.admitGrouped', () => {
  const enterprise = '91350100M000100Y43';
  const policy = { ...DEFAULT_SCORING_POLICY, rate: { requests: 100, windowSeconds: 60 } };

  it('counts the admissions of one turn against each other: exactly the quota is admitted', async () => {
    const store = NodeStore.inMemory();
    const quota = new ScoringQuota(store, policy, { now: () => 1_700_000_000_000 });
    // Six requests in one turn, none committed when the next is decided; the quota is 4.
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => quota.admitGrouped('bank', enterprise)),
    );
    expect(answers).toEqual([undefined, undefined, undefined, undefined, 'quota_exceeded', 'quota_exceeded']);
    expect(quota.used('bank', enterprise)).toBe(4);
    // Committed: a new quota object over the same store (a restart) sees the 4.
    const restarted = new ScoringQuota(store, policy, { now: () => 1_700_000_000_001 });
    expect(restarted.admit('bank', enterprise)).toBe('quota_exceeded');
    expect(await restarted.admitGrouped('other-bank', enterprise)).toBeUndefined();
    store.close();
  });

  it('an admission is committed before its promise resolves', async () => {
    const store = NodeStore.inMemory();
    const quota = new ScoringQuota(store, policy, { now: () => 1_700_000_000_000 });
    const p = quota.admitGrouped('bank', enterprise);
    const stored = () => store.get<{ n: number }>('SELECT count(*) AS n FROM scoring_requests')?.n;
    expect(stored()).toBe(0);
    expect(await p).toBeUndefined();
    expect(stored()).toBe(1);
    store.close();
  });

  it('admitQueued: the decision at once, the counter committed with the audit entry of the same turn', async () => {
    const store = NodeStore.inMemory();
    const quota = new ScoringQuota(store, policy, { now: () => 1_700_000_000_000 });
    const group = new AuditGroupCommit(new AuditLog(store, { now: () => 1_700_000_000_000 }));
    const exec = vi.spyOn(store, 'exec');
    const { refusal, committed } = quota.admitQueued('bank', enterprise);
    expect(refusal).toBeUndefined();
    const entry = group.append({ kind: 'data_use', actor: 'bank', purpose: 'scoring' });
    await Promise.all([committed, entry]);
    // One commit (the audit entry's own transaction is a savepoint inside the group's).
    expect(exec.mock.calls.filter(([sql]) => sql === 'COMMIT')).toHaveLength(1);
    expect(quota.used('bank', enterprise)).toBe(1);
    store.close();
  });
});

describe('groupWrite on a file store: durable before it resolves, the flush off the event loop', () => {
  it('commits at once, resolves only after the -wal file (and once the directory) is flushed', async () => {
    const dir = tempDir();
    const { calls, flushFile } = heldFlush();
    const store = NodeStore.open(dir, { flushFile });
    store.migrate(MIGRATIONS);
    let resolved = false;
    const p = store
      .groupWrite(() => store.run('INSERT INTO gw (n) VALUES (1)'))
      .then(() => {
        resolved = true;
      });
    await turn();
    // Committed (another connection sees it) but not yet flushed: the promise waits.
    const reader = NodeStore.open(dir, { readOnly: true });
    expect(rows(reader)).toEqual([1]);
    expect(calls.map((c) => c.file)).toEqual([`${store.path}-wal`]);
    await turn();
    expect(resolved).toBe(false);
    calls[0]!.release();
    await turn();
    // The -wal file's first flush is followed by one of the directory (its entry), once.
    expect(calls.map((c) => c.file)).toEqual([`${store.path}-wal`, dir]);
    expect(resolved).toBe(false);
    calls[1]!.release();
    await p;
    // Every other transaction is still synchronous = FULL (2); the group's NORMAL was for its commit.
    expect(store.get<{ synchronous: number }>('PRAGMA synchronous')?.synchronous).toBe(2);
    reader.close();
    store.close();
  });

  it('the default flush (fdatasync of the -wal file): groups resolve, close and reopen keep them', async () => {
    const dir = tempDir();
    const store = NodeStore.open(dir);
    store.migrate(MIGRATIONS);
    for (const n of [1, 2, 3]) {
      const batch = [n * 10, n * 10 + 1].map((v) =>
        store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (?)', v)),
      );
      await Promise.all(batch);
    }
    const last = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (99)'));
    store.close();
    await last;
    const again = NodeStore.open(dir);
    expect(rows(again)).toEqual([10, 11, 20, 21, 30, 31, 99]);
    again.close();
  });

  it('groups that commit while a flush is under way share the next flush', async () => {
    const { calls, flushFile } = heldFlush();
    const store = NodeStore.open(tempDir(), { flushFile });
    store.migrate(MIGRATIONS);
    const first = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (1)'));
    await turn();
    expect(calls).toHaveLength(1);
    // Three more turns, three more groups, all committed while the first flush is held.
    const later: Promise<unknown>[] = [];
    for (const n of [2, 3, 4]) {
      later.push(store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (?)', n)));
      await turn();
    }
    expect(rows(store)).toEqual([1, 2, 3, 4]);
    expect(calls).toHaveLength(1);
    let laterDone = false;
    void Promise.all(later).then(() => {
      laterDone = true;
    });
    calls[0]!.release(); // the -wal file
    await turn();
    calls[1]!.release(); // the directory
    await first;
    // The later groups were not covered by the first flush (their frames may postdate it): one more.
    expect(laterDone).toBe(false);
    expect(calls).toHaveLength(3);
    expect(calls[2]!.file).toBe(`${store.path}-wal`);
    calls[2]!.release();
    await Promise.all(later);
    store.close();
  });

  it('a failed flush rejects the groups it was to make durable; later groups are flushed again', async () => {
    const { calls, flushFile } = heldFlush();
    const store = NodeStore.open(tempDir(), { flushFile });
    store.migrate(MIGRATIONS);
    const p = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (1)'));
    await turn();
    calls[0]!.fail(new Error('EIO'));
    const e = await p.catch((x: unknown) => x);
    expect(isFedscoreError(e, 'store')).toBe(true);
    const q = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (2)'));
    await turn();
    calls[1]!.release();
    await turn();
    calls[2]!.release();
    await q;
    store.close();
  });

  it('close() flushes committed groups itself and resolves them', async () => {
    const { calls, flushFile } = heldFlush();
    const store = NodeStore.open(tempDir(), { flushFile });
    store.migrate(MIGRATIONS);
    const held = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (1)'));
    await turn();
    const pending = store.groupWrite(() => store.run('INSERT INTO gw (n) VALUES (2)'));
    store.close();
    await pending;
    // The flush under way fails after close() flushed the file itself: its group is durable all the same.
    calls[0]!.fail(new Error('closed'));
    await held;
  });

  it('the quota counts an admission once while its group is being flushed', async () => {
    const { calls, flushFile } = heldFlush();
    const store = NodeStore.open(tempDir(), { flushFile });
    const quota = new ScoringQuota(store, {
      quota: { requests: 2, windowSeconds: 86_400 },
      rate: { requests: 100, windowSeconds: 60 },
    });
    const a = quota.admitQueued('bank', '91350100M000100Y43');
    expect(a.refusal).toBeUndefined();
    await turn(); // committed, flush held: the row is stored and no longer pending
    expect(quota.used('bank', '91350100M000100Y43')).toBe(1);
    expect(quota.admitQueued('bank', '91350100M000100Y43').refusal).toBeUndefined();
    expect(quota.admitQueued('bank', '91350100M000100Y43').refusal).toBe('quota_exceeded');
    for (const c of calls) c.release();
    await turn();
    for (const c of calls) c.release();
    await a.committed;
    store.close();
  });

  it('SIGKILL in the middle of a burst: every answered request is in the audit log and the quota', async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', join(here, 'group-write-crash-fixture.ts'), dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const answered: string[] = [];
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    let buffered = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_c, sig) => resolve(sig)),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answers in time: ${err.slice(-2000)}`)), 60_000);
      child.stdout.on('data', (b: Buffer) => {
        buffered += b.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) if (line.startsWith('answered ')) answered.push(line.slice(9));
        // Killed while requests of the next bursts are queued, committed or being flushed.
        if (answered.length >= 400 && child.exitCode === null && !child.killed) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    expect(await exited, err.slice(-2000)).toBe('SIGKILL');
    // Lines that reached the pipe before the kill were answers too.
    for (const line of buffered.split('\n')) if (line.startsWith('answered ')) answered.push(line.slice(9));
    expect(answered.length).toBeGreaterThanOrEqual(400);

    const store = NodeStore.open(dir);
    const audit = new AuditLog(store);
    expect(audit.verify().ok).toBe(true);
    const logged = new Set([...audit.entries({ kind: 'data_use' })].map((e) => e.job));
    const missing = answered.filter((id) => !logged.has(id));
    expect(missing).toEqual([]);
    const counted = store.get<{ n: number }>('SELECT count(*) AS n FROM scoring_requests')?.n ?? 0;
    expect(counted).toBeGreaterThanOrEqual(answered.length);
    // Every audit entry's request was counted (admission and entry commit in the same group).
    expect(counted).toBe(logged.size);
    store.close();
  }, 90_000);
});
