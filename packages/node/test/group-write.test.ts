/**
 * The store's group transaction (`NodeStore.groupWrite`) and the scoring quota's grouped admission
 * (`ScoringQuota.admitGrouped`), the hot path of online scoring: every write queued in one turn of the
 * event loop commits in one transaction, each promise resolves only after that commit, a failing write
 * fails its whole group with nothing committed, and concurrent admissions of one turn are counted
 * against each other before any of them is committed (no over-admission).
 */
import { isFedscoreError } from '@fedscore/core';
import { AuditGroupCommit, AuditLog, DEFAULT_SCORING_POLICY, NodeStore, ScoringQuota } from '@fedscore/node';
import { describe, expect, it, vi } from 'vitest';

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
