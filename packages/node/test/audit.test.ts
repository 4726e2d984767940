/**
 * The hash-chained audit log. The reference for the hash is the byte layout documented in audit-log.ts,
 * recomputed here with node:crypto directly. Tampering is done the way an attacker with write access
 * would: SQL with the append-only triggers dropped, and raw byte edits of the database file.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuditGroupCommit,
  AuditLog,
  auditEntryHash,
  consentSetFingerprint,
  enterpriseSetFingerprint,
  GENESIS_HASH,
  NodeStore,
  reconcileAuditLogs,
  STORE_FILE,
  verifyAuditEntries,
} from '@fedscore/node';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const root = mkdtempSync(join(tmpdir(), 'fedscore-audit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
const newDir = (): string => join(root, `s${dirCount++}`);

function fixedClock(start = 1_700_000_000_000): () => number {
  let t = start;
  return () => (t += 1000);
}

const FP = enterpriseSetFingerprint(['91350100M000100Y43', '91110000100000000X']);

/** What an attacker with write access to the database does first (the statement differs per database). */
function dropTriggers(store: NodeStore, ...names: string[]): void {
  for (const n of names)
    store.exec(store.dialect === 'postgres' ? `DROP TRIGGER ${n} ON audit_log` : `DROP TRIGGER ${n}`);
}

function fill(log: AuditLog, n: number): void {
  for (let i = 1; i <= n; i++) {
    log.append({
      kind: i % 5 === 0 ? 'security_event' : 'data_use',
      actor: 'bank-a',
      dataOwner: 'gov',
      purpose: 'training',
      consentRef: `consent-${i}`,
      enterpriseFingerprint: FP,
      enterpriseCount: 2,
      job: `job-${String(i).padStart(4, '0')}`,
      details: { step: 'hetero-lr', epoch: i, final: i === n },
    });
  }
}

describeStores('AuditLog', (backend) => {
  it('chains entries with the documented SHA-256 layout', () => {
    const log = new AuditLog(backend.newStore(), { now: fixedClock() });
    const a = log.append({
      kind: 'data_use',
      actor: 'bank-a',
      dataOwner: 'gov',
      purpose: 'scoring',
      job: 'j1',
    });
    const b = log.append({ kind: 'security_event', actor: 'gov', details: { z: 1, a: 'x' } });
    expect(a.seq).toBe(1);
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(b.prevHash).toBe(a.hash);
    const ref = (fields: unknown[]): string =>
      createHash('sha256')
        .update(`fedscore-audit-v1\n${JSON.stringify(fields)}`)
        .digest('hex');
    expect(a.hash).toBe(
      ref([1, a.at, 'data_use', 'bank-a', 'gov', 'scoring', null, null, null, 'j1', null, GENESIS_HASH]),
    );
    // details are hashed with sorted keys
    expect(b.hash).toBe(
      ref([2, b.at, 'security_event', 'gov', null, null, null, null, null, null, '{"a":"x","z":1}', a.hash]),
    );
    expect(auditEntryHash(b)).toBe(b.hash);
    expect(log.head()).toEqual({ entries: 2, hash: b.hash });
    expect(log.verify()).toEqual({ ok: true, entries: 2, head: b.hash });
    expect([...log.entries()].map((e) => e.seq)).toEqual([1, 2]);
    expect([...log.entries({ job: 'j1' })]).toEqual([a]);
  });

  it('validates entries, naming the field', () => {
    const log = new AuditLog(backend.newStore());
    const bad = (entry: unknown, field: string) =>
      expect(() => log.append(entry as never)).toThrow(expect.objectContaining({ field }));
    bad({ kind: 'gossip', actor: 'a' }, 'entry.kind');
    bad({ kind: 'data_use', actor: '' }, 'entry.actor');
    bad({ kind: 'data_use', actor: 'a', enterpriseFingerprint: 'abc' }, 'entry.enterpriseFingerprint');
    bad({ kind: 'data_use', actor: 'a', enterpriseCount: -1 }, 'entry.enterpriseCount');
    bad({ kind: 'data_use', actor: 'a', details: { x: { nested: 1 } } }, 'entry.details.x');
    bad({ kind: 'data_use', actor: 'a', details: { x: Number.NaN } }, 'entry.details.x');
    expect(log.head().entries).toBe(0);
  });

  it('refuses UPDATE and DELETE inside the database', () => {
    const store = backend.newStore();
    const log = new AuditLog(store);
    fill(log, 3);
    expect(() => store.run("UPDATE audit_log SET actor = 'x' WHERE seq = 2")).toThrow(/append-only/);
    expect(() => store.run('DELETE FROM audit_log WHERE seq = 3')).toThrow(/append-only/);
    expect(log.verify().ok).toBe(true);
  });

  it('rolls back with the enclosing transaction', () => {
    const store = backend.newStore();
    const log = new AuditLog(store);
    expect(() =>
      store.transaction(() => {
        log.append({ kind: 'data_use', actor: 'a' });
        throw new Error('job failed');
      }),
    ).toThrow('job failed');
    expect(log.head().entries).toBe(0);
  });

  it('names the first altered, removed or reordered entry (SQL tampering)', () => {
    const cases: [string, string, number, string][] = [
      ['field', "UPDATE audit_log SET purpose = 'scoring' WHERE seq = 7", 7, 'hash'],
      ['count', 'UPDATE audit_log SET enterprise_count = 3 WHERE seq = 4', 4, 'hash'],
      ['time', 'UPDATE audit_log SET at = at + 1 WHERE seq = 9', 9, 'hash'],
      [
        'details spelling',
        `UPDATE audit_log SET details = replace(details, '{', '{ ') WHERE seq = 5`,
        5,
        'malformed',
      ],
      ['rehashed entry', 'UPDATE audit_log SET hash = ? WHERE seq = 6', 6, 'hash'],
      ['deleted entry', 'DELETE FROM audit_log WHERE seq = 3', 3, 'sequence'],
    ];
    for (const [name, sql, seq, reason] of cases) {
      const store = backend.newStore();
      const log = new AuditLog(store, { now: fixedClock() });
      fill(log, 10);
      dropTriggers(store, 'audit_log_no_update', 'audit_log_no_delete');
      if (sql.includes('?')) store.run(sql, 'f'.repeat(64));
      else store.run(sql);
      const v = log.verify();
      expect(v.ok, name).toBe(false);
      expect(v.firstBad?.seq, name).toBe(seq);
      expect(v.firstBad?.reason, name).toBe(reason);
    }
  });

  it('detects a rewritten suffix (recomputed hashes) and truncation only against an anchor', () => {
    const store = backend.newStore();
    const log = new AuditLog(store, { now: fixedClock() });
    fill(log, 6);
    const anchor = log.head();
    dropTriggers(store, 'audit_log_no_delete');
    store.run('DELETE FROM audit_log WHERE seq > 4');
    expect(log.verify().ok).toBe(true); // a prefix of a chain is a chain
    expect(log.verify({ anchor })).toMatchObject({ ok: false, firstBad: { seq: 5, reason: 'anchor' } });
    // Re-append two different entries: a valid chain again, but not the anchored one.
    log.append({ kind: 'data_use', actor: 'bank-a', job: 'forged-5' });
    log.append({ kind: 'data_use', actor: 'bank-a', job: 'forged-6' });
    expect(log.verify().ok).toBe(true);
    expect(log.verify({ anchor })).toMatchObject({ ok: false, firstBad: { seq: 6, reason: 'anchor' } });
  });

  it('group commit (the scoring hot path): concurrent appends in one transaction per turn, in queue order', async () => {
    const log = new AuditLog(backend.newStore(), { now: fixedClock() });
    const group = new AuditGroupCommit(log);
    const entry = (i: number) => ({
      kind: 'data_use' as const,
      actor: 'bank-a',
      purpose: 'scoring',
      job: `req-${i}`,
    });
    const stored = await Promise.all(Array.from({ length: 25 }, (_, i) => group.append(entry(i))));
    expect(stored.map((e) => [e.seq, e.job])).toEqual(
      Array.from({ length: 25 }, (_, i) => [i + 1, `req-${i}`]),
    );
    const bad = await Promise.allSettled([
      group.append(entry(100)),
      group.append({ ...entry(101), kind: 'nope' as 'data_use' }),
    ]);
    expect(bad.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((await group.append(entry(102))).seq).toBe(26);
    expect(log.verify()).toMatchObject({ ok: true, entries: 26 });
  });

  it('verifies an exported log and reports a damaged export', () => {
    const log = new AuditLog(backend.newStore(), { now: fixedClock() });
    fill(log, 5);
    const exported = JSON.parse(JSON.stringify([...log.entries()])) as Record<string, unknown>[];
    expect(verifyAuditEntries(exported)).toMatchObject({ ok: true, entries: 5 });
    exported[2] = { ...exported[2], enterpriseCount: 99 };
    expect(verifyAuditEntries(exported)).toMatchObject({ ok: false, firstBad: { seq: 3, reason: 'hash' } });
    expect(verifyAuditEntries([{ seq: 1 }])).toMatchObject({
      ok: false,
      firstBad: { seq: 1, reason: 'malformed' },
    });
  });

  it('fingerprints sets independently of order and duplicates', () => {
    const a = enterpriseSetFingerprint(['B', 'A', 'B']);
    expect(a).toBe(enterpriseSetFingerprint(['A', 'B']));
    expect(a).toBe(createHash('sha256').update('fedscore-enterprise-set-v1\nA\nB').digest('hex'));
    expect(consentSetFingerprint(['c2', 'c1'])).toBe(consentSetFingerprint(['c1', 'c2', 'c1']));
  });
});

describe('AuditLog (SQLite file)', () => {
  it('names the altered entry when any byte of a stored field in the database file changes', () => {
    // Build one log, then for each case flip one character of one entry's stored text in the file.
    const base = newDir();
    const store = NodeStore.open(base);
    fill(new AuditLog(store, { now: fixedClock() }), 12);
    const entries = [...new AuditLog(store).entries()];
    store.close(); // checkpoints the WAL into the main file
    const original = readFileSync(join(base, STORE_FILE));
    const hex = '0123456789abcdef';
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: entries.length - 1 }),
        fc.constantFrom('job', 'hash', 'prevHash', 'consentRef', 'fingerprint'),
        fc.nat(),
        fc.integer({ min: 1, max: 15 }),
        (index, field, offsetSeed, delta) => {
          const e = entries[index]!;
          // Text columns are stored back to back in the record, so each of these strings occurs once.
          const bytes = Buffer.from(original);
          const locate = (needle: string): number => {
            const i = bytes.indexOf(Buffer.from(needle));
            expect(i).toBeGreaterThan(0);
            expect(bytes.lastIndexOf(Buffer.from(needle))).toBe(i);
            return i;
          };
          let at: number;
          let text: string;
          // (the job also occurs in the job index; the record's copy is the one followed by details)
          if (field === 'job') [at, text] = [locate(`${e.job!}{"epoch":`), e.job!];
          else if (field === 'consentRef')
            [at, text] = [locate(e.consentRef! + e.enterpriseFingerprint), e.consentRef!];
          else if (field === 'fingerprint')
            [at, text] = [locate(e.consentRef! + e.enterpriseFingerprint) + e.consentRef!.length, FP];
          else if (field === 'prevHash') [at, text] = [locate(e.prevHash + e.hash), e.prevHash];
          else [at, text] = [locate(e.prevHash + e.hash) + 64, e.hash];
          const pos = at + (offsetSeed % text.length);
          const old = String.fromCharCode(bytes[pos]!);
          const i = hex.indexOf(old);
          bytes[pos] = (i >= 0 ? hex[(i + delta) % 16]! : old === 'z' ? 'y' : 'z').charCodeAt(0);
          const dir = newDir();
          mkdirSync(dir);
          writeFileSync(join(dir, STORE_FILE), bytes);
          const s = NodeStore.open(dir, { readOnly: true });
          try {
            const v = new AuditLog(s).verify();
            expect(v.ok).toBe(false);
            // prevHash of entry n copies hash of n-1: either way the first bad entry is this record's.
            expect(v.firstBad?.seq).toBe(e.seq);
          } finally {
            s.close();
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60, seed: 8 },
    );
  });
});

describe('reconcileAuditLogs (data owner checks a user)', () => {
  const use = (log: AuditLog, job: string, ids: string[], purpose = 'training') =>
    log.append({
      kind: 'data_use',
      actor: 'bank-a',
      dataOwner: 'gov',
      purpose,
      job,
      enterpriseFingerprint: enterpriseSetFingerprint(ids),
      enterpriseCount: ids.length,
    });

  it('matches identical records and reports hidden, unknown and mismatched uses', () => {
    const gov = new AuditLog(NodeStore.inMemory());
    const bank = new AuditLog(NodeStore.inMemory());
    use(gov, 'j1', ['A', 'B']);
    use(bank, 'j1', ['A', 'B']);
    gov.append({ kind: 'security_event', actor: 'gov' }); // not a data use: ignored
    const clean = reconcileAuditLogs(gov.entries(), [...bank.entries()], {
      dataOwner: 'gov',
      user: 'bank-a',
    });
    expect(clean).toMatchObject({ ok: true, matched: 1, unclaimed: [], unknownToOwner: [], mismatched: [] });

    use(gov, 'j2', ['A']); // bank leaves it out
    use(bank, 'j3', ['C']); // gov never served it
    use(gov, 'j4', ['A', 'B'], 'scoring');
    use(bank, 'j4', ['A', 'B', 'C'], 'scoring'); // claimed on a larger set
    const r = reconcileAuditLogs(gov.entries(), [...bank.entries()], { dataOwner: 'gov', user: 'bank-a' });
    expect(r.ok).toBe(false);
    expect(r.matched).toBe(1);
    expect(r.unclaimed.map((u) => u.job)).toEqual(['j2']);
    expect(r.unknownToOwner.map((u) => u.job)).toEqual(['j3']);
    expect(r.mismatched.map((m) => [m.owner.enterpriseCount, m.claimed.enterpriseCount])).toEqual([[2, 3]]);
  });

  it('is not ok when the claimed log is not a valid chain', () => {
    const gov = new AuditLog(NodeStore.inMemory());
    const bank = new AuditLog(NodeStore.inMemory());
    use(gov, 'j1', ['A']);
    use(bank, 'j1', ['A']);
    const claimed = [...bank.entries()].map((e) => ({ ...e, at: e.at + 1 }));
    const r = reconcileAuditLogs(gov.entries(), claimed, { dataOwner: 'gov', user: 'bank-a' });
    expect(r.matched).toBe(1);
    expect(r.ok).toBe(false);
    expect(r.claimedChain.firstBad?.reason).toBe('hash');
  });

  it('group commit: concurrent appends land in queue order in one verifiable chain, each awaited until committed', async () => {
    const store = NodeStore.open(newDir());
    const log = new AuditLog(store, { now: fixedClock() });
    const group = new AuditGroupCommit(log);
    const entry = (i: number) => ({
      kind: 'data_use' as const,
      actor: 'bank-a',
      dataOwner: 'gov',
      purpose: 'scoring',
      job: `req-${i}`,
      enterpriseFingerprint: FP,
      enterpriseCount: 1,
    });
    const stored = await Promise.all(Array.from({ length: 25 }, (_, i) => group.append(entry(i))));
    expect(stored.map((e) => e.job)).toEqual(Array.from({ length: 25 }, (_, i) => `req-${i}`));
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(log.verify().ok).toBe(true);
    // An invalid entry fails its whole batch (nothing of it is stored); the next batch commits.
    const bad = Promise.allSettled([
      group.append(entry(100)),
      group.append({ ...entry(101), kind: 'nope' as 'data_use' }),
    ]);
    const results = await bad;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((await group.append(entry(102))).seq).toBe(26);
    expect(log.verify().ok).toBe(true);
    store.close();
  });
});
