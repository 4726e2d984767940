/**
 * Several replicas of one party on one PostgreSQL store (issue 18): they share jobs, consent, the model
 * registry and the audit log, and their transactions are serialised by the database (the store's
 * advisory write lock), so replicas appending to the audit log concurrently still build one chain that
 * verifies. Skipped with the reason printed when no PostgreSQL binaries exist; a failure under CI=true.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  AuditLog,
  ConsentRegistry,
  enterpriseSetFingerprint,
  type JobSpec,
  JobStore,
  type ModelRegistration,
  ModelRegistry,
  NodeStore,
  validateJobSpec,
} from '@fedscore/node';
import { expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const T0 = Date.UTC(2026, 0, 1);
const USCC = '91350100M000100Y43';

describeStores('store replicas', (backend) => {
  if (backend.name === 'sqlite') {
    it('INSERT OR IGNORE and ON CONFLICT upserts behave alike on both stores (SQLite reference)', () => {
      upsertCase(backend.newStore());
    });
    return;
  }

  it('INSERT OR IGNORE and ON CONFLICT upserts behave alike on both stores; INSERT OR REPLACE is refused', () => {
    const store = backend.newStore();
    upsertCase(store);
    expect(() => store.run('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)', 'a', 1)).toThrow(
      expect.objectContaining({ code: 'unsupported', field: 'sql' }),
    );
  });

  it('two replicas appending concurrently (two threads, two connections) build one verifiable chain', async () => {
    const first = backend.newStore();
    const schema = schemaOf(first);
    new AuditLog(first); // migrations once, before the replicas race
    const n = 60;
    const barrier = new SharedArrayBuffer(4);
    const actors = ['replica-a', 'replica-b'];
    await Promise.all(
      actors.map(
        (actor) =>
          new Promise<void>((resolve, reject) => {
            const w = new Worker(new URL('./audit-replica-fixture.ts', import.meta.url), {
              workerData: { url: backend.url(), schema, actor, n, barrier, replicas: actors.length },
            });
            w.once('message', () => resolve());
            w.once('error', reject);
            w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`replica exited ${code}`))));
          }),
      ),
    );
    const log = new AuditLog(first);
    const v = log.verify();
    expect(v).toMatchObject({ ok: true, entries: 2 * n });
    const chain = [...log.entries()];
    expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
    for (const actor of actors) {
      // Each replica's entries are all there, in its own order.
      const jobs = chain.filter((e) => e.actor === actor).map((e) => e.job);
      expect(jobs).toEqual(Array.from({ length: n }, (_, i) => `${actor}-${i}`));
    }
    // How much the appends interleaved depends on the scheduler (2 to 119 switches between the replicas
    // in 120 entries were seen on a loaded 2-core machine): printed, and at least one switch asserted.
    // That a replica's transaction waits for another's is asserted by the busyTimeoutMs test below.
    const switches = chain.filter((e, i) => i > 0 && e.actor !== chain[i - 1]?.actor).length;
    console.log(`audit chain of ${2 * n} entries from 2 concurrent replicas: ${switches} replica switches`);
    expect(switches).toBeGreaterThanOrEqual(1);
  });

  it('two replicas starting at once on an empty schema both migrate it: one schema, no duplicate object', async () => {
    // Rounds: the schema missing (each replica creates it) and present but empty (created beforehand).
    for (const [round, precreate] of [false, true, false, true].entries()) {
      const schema = `m_${randomBytes(6).toString('hex')}`;
      if (precreate) backend.newStore().exec(`CREATE SCHEMA ${schema}`);
      const barrier = new SharedArrayBuffer(4);
      const replies = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<MigrateReply>((resolve, reject) => {
              const w = new Worker(new URL('./migrate-replica-fixture.ts', import.meta.url), {
                workerData: { url: backend.url(), schema, barrier, replicas: 2 },
              });
              w.once('message', (m: MigrateReply) => resolve(m));
              w.once('error', reject);
              w.once('exit', (code) => reject(new Error(`replica exited ${code} before replying`)));
            }),
        ),
      );
      // Both started, neither saw a duplicate-object (or any) error. (With the store's write lock taken
      // out of postgres-worker.ts, a replica of round 1 failed here with a 'store' error: checked once.)
      for (const r of replies) expect(r, `round ${round}`).toMatchObject({ ok: true });
      const [a, b] = replies as [MigrateReply & { ok: true }, MigrateReply & { ok: true }];
      expect(a.versions).toEqual(b.versions);
      for (const module of ['audit', 'consent', 'jobs', 'registry', 'store']) {
        expect(a.versions[module], module).toBeGreaterThanOrEqual(1);
      }
      // One schema version: each step applied once, one store identity.
      const after = NodeStore.postgres(backend.url(), { schema });
      try {
        const rows = after.all<{ module: string; version: number; n: number }>(
          'SELECT module, version, count(*) AS n FROM store_migrations GROUP BY module, version',
        );
        expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
        expect(after.schemaVersions()).toEqual(a.versions);
        expect(Number(after.get<{ n: number }>('SELECT count(*) AS n FROM store_identity')?.n)).toBe(1);
      } finally {
        after.close();
      }
    }
  }, 120_000);

  it('replicas share consent, models, jobs and one audit chain', () => {
    const a = backend.newStore();
    const b = backend.replicaOf(a);
    const auditA = new AuditLog(a, { now: () => T0 });
    const auditB = new AuditLog(b, { now: () => T0 });
    const consentA = new ConsentRegistry(a, { audit: auditA, party: 'gov', now: () => T0 });
    const consentB = new ConsentRegistry(b, { audit: auditB, party: 'gov', now: () => T0 });
    const granted = consentA.grant({
      enterprise: USCC,
      grantee: 'bank-a',
      purpose: 'training',
      scope: ['*'],
      grantedAt: T0,
      expiresAt: T0 + 86_400_000,
    });
    expect(consentB.get(granted.id)).toEqual(granted);
    consentB.revoke(granted.id, { reason: 'withdrawn' });
    expect(consentA.get(granted.id).revokedAt).toBe(T0);
    // Model versions are numbered across replicas (one sequence per name).
    const modelsA = new ModelRegistry(a, { party: 'bank-a', now: () => T0 });
    const modelsB = new ModelRegistry(b, { party: 'bank-a', now: () => T0 });
    const reg: ModelRegistration = {
      name: 'sme-line',
      algorithm: 'hetero-lr',
      modelId: 'run-1',
      parties: [
        { id: 'bank-a', role: 'guest', featureNames: ['revenue'] },
        { id: 'gov', role: 'host', featureNames: ['tax_paid'] },
      ],
      metrics: { auc: 0.7 },
      parameters: { learningRate: 0.15 },
      dataFingerprints: { trainingSet: enterpriseSetFingerprint([USCC]) },
    };
    expect(modelsA.register(reg).version).toBe(1);
    expect(modelsB.register({ ...reg, modelId: 'run-2' }).version).toBe(2);
    expect(modelsA.get('sme-line').modelId).toBe('run-2');
    // A job and its checkpoints one replica writes are the other's to resume.
    const jobsA = new JobStore(a);
    const jobsB = new JobStore(b);
    const spec = {
      ...validateJobSpec({
        guest: 'bank',
        hosts: ['government'],
        data: { bank: 'loans', government: 'credit' },
      }),
      id: 'job-1',
    } as JobSpec;
    jobsA.put(spec, 'bank');
    jobsA.saveEpochCheckpoint('job-1', 'train', 0, 2, Uint8Array.of(1, 2, 3));
    expect(jobsB.get('job-1')?.status).toBe(jobsA.get('job-1')?.status);
    expect(jobsB.epochCheckpoints('job-1', 'train').map((c) => [c.epoch, [...c.bytes]])).toEqual([
      [2, [1, 2, 3]],
    ]);
    // The audit entries of both replicas are one chain.
    expect(auditB.verify()).toMatchObject({ ok: true, entries: auditA.head().entries });
    expect(auditA.head()).toEqual(auditB.head());
  });

  it('a replica SIGKILLed inside a transaction leaves the previous checkpoints and frees the write lock', () => {
    const a = backend.newStore();
    const jobs = new JobStore(a);
    const spec = {
      ...validateJobSpec({
        guest: 'bank',
        hosts: ['government'],
        data: { bank: 'loans', government: 'credit' },
      }),
      id: 'j1',
    } as JobSpec;
    jobs.put(spec, 'bank');
    for (let e = 1; e <= 3; e++) jobs.saveEpochCheckpoint('j1', 'train', 0, e, Uint8Array.of(e));
    // Another replica (a process) rewrites epoch 2 (dropping 2 and 3 first) and is killed before COMMIT,
    // holding the store's write lock.
    const child = spawnSync(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        '--input-type=module',
        '-e',
        `import { JobStore, NodeStore } from '@fedscore/node';
         const store = NodeStore.postgres(${JSON.stringify(backend.url())}, { schema: ${JSON.stringify(schemaOf(a))} });
         const jobs = new JobStore(store);
         store.transaction(() => {
           jobs.saveEpochCheckpoint('j1', 'train', 1, 2, new TextEncoder().encode('torn'));
           process.kill(process.pid, 'SIGKILL');
         });`,
      ],
      { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 60_000 },
    );
    expect(child.signal, child.stderr).toBe('SIGKILL');
    // PostgreSQL rolled the transaction back when the connection dropped, and released the lock with it.
    expect(jobs.epochCheckpoints('j1', 'train').map((c) => [c.epoch, c.attempt, [...c.bytes]])).toEqual([
      [1, 0, [1]],
      [2, 0, [2]],
      [3, 0, [3]],
    ]);
    const t = Date.now();
    jobs.saveEpochCheckpoint('j1', 'train', 1, 4, Uint8Array.of(4));
    expect(Date.now() - t).toBeLessThan(4_000);
  });

  it('a replica that waits for the write lock longer than busyTimeoutMs fails with a store error', () => {
    const a = backend.newStore();
    const b = NodeStore.postgres(backend.url(), { schema: schemaOf(a), busyTimeoutMs: 200 });
    try {
      a.migrate({ module: 'kv', steps: ['CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL) STRICT'] });
      const t = Date.now();
      a.transaction(() => {
        a.run('INSERT INTO kv (k, v) VALUES (?, ?)', 'held', 1);
        // This thread holds the lock through `a`; `b` (another connection) cannot get it.
        expect(() => b.transaction(() => b.run('INSERT INTO kv (k, v) VALUES (?, ?)', 'waits', 2))).toThrow(
          expect.objectContaining({ code: 'store', message: expect.stringContaining('write lock') }),
        );
      });
      expect(Date.now() - t).toBeLessThan(5000);
      // b's failed attempt left nothing behind; it works once the lock is free.
      b.run('INSERT INTO kv (k, v) VALUES (?, ?)', 'later', 3);
      expect(a.all('SELECT k FROM kv ORDER BY k')).toEqual([{ k: 'held' }, { k: 'later' }]);
    } finally {
      b.close();
    }
  });
});

describeStores('job leases (which replica coordinates a job)', (backend) => {
  it('one holder at a time; renewed by its holder; taken over once expired; released', () => {
    const a = backend.newStore();
    const b = backend.name === 'postgres' ? backend.replicaOf(a) : a;
    const jobsA = new JobStore(a);
    const jobsB = new JobStore(b);
    jobsA.put(
      {
        ...validateJobSpec({
          guest: 'bank',
          hosts: ['government'],
          data: { bank: 'loans', government: 'credit' },
        }),
        id: 'j1',
      } as JobSpec,
      'bank',
    );
    const t = 1_000_000;
    expect(jobsA.claimLease('j1', 'replica-a', 15_000, t)).toBe(true);
    expect(jobsB.claimLease('j1', 'replica-b', 15_000, t + 1)).toBe(false);
    expect(jobsA.claimLease('j1', 'replica-a', 15_000, t + 10_000)).toBe(true); // renewed to t + 25 s
    expect(jobsB.claimLease('j1', 'replica-b', 15_000, t + 20_000)).toBe(false);
    expect(jobsB.lease('j1')).toEqual({ holder: 'replica-a', expiresAt: t + 25_000, epoch: 1 });
    // replica-a stops renewing (it died): replica-b takes the job over after the expiry, recorded.
    expect(jobsB.claimLease('j1', 'replica-b', 15_000, t + 25_001)).toBe(true);
    expect(jobsA.claimLease('j1', 'replica-a', 15_000, t + 25_002)).toBe(false);
    expect(jobsA.events('j1').filter((e) => e.kind === 'lease_taken_over')).toHaveLength(1);
    jobsA.releaseLease('j1', 'replica-a'); // not its lease: nothing happens
    expect(jobsA.lease('j1')?.holder).toBe('replica-b');
    jobsB.releaseLease('j1', 'replica-b');
    expect(jobsA.lease('j1')).toBeUndefined();
    expect(jobsA.claimLease('j1', 'replica-a', 15_000, t + 25_003)).toBe(true);
    expect(() => jobsA.claimLease('j1', '', 15_000)).toThrow(expect.objectContaining({ field: 'holder' }));
    expect(() => jobsA.claimLease('j1', 'x', 0)).toThrow(expect.objectContaining({ field: 'ttlMs' }));
  });

  // Fencing at the peers: a follower's store keeps the highest lease epoch the job's coordinator has
  // presented (shared by the follower's replicas) and refuses a lower one, changing nothing.
  it("a follower keeps the coordinator's highest lease epoch per job and refuses a lower one", () => {
    const a = backend.newStore();
    const b = backend.name === 'postgres' ? backend.replicaOf(a) : a;
    const govA = new JobStore(a);
    const govB = new JobStore(b);
    govA.put(
      {
        ...validateJobSpec({
          guest: 'bank',
          hosts: ['government'],
          data: { bank: 'loans', government: 'credit' },
        }),
        id: 'j3',
      } as JobSpec,
      'bank',
      'running',
    );
    expect(govA.observeCoordinatorEpoch('j3', 0)).toBe(false); // a coordinator without leases
    expect(govA.observeCoordinatorEpoch('j3', 1)).toBe(true); // raised: close attempts under 0
    expect(govB.observeCoordinatorEpoch('j3', 1)).toBe(false);
    expect(govB.observeCoordinatorEpoch('j3', 2)).toBe(true);
    const events = govA.events('j3').length;
    const stale = expect.objectContaining({
      code: 'lease_lost',
      field: 'lease_epoch',
      details: { job: 'j3', epoch: 1, seen: 2 },
    });
    // The other replica of the follower refuses the stale coordinator too (the epoch is in the store).
    expect(() => govA.observeCoordinatorEpoch('j3', 1)).toThrow(stale);
    expect(govA.leaseEpoch('j3')).toBe(2);
    expect(govA.events('j3').length).toBe(events);
    expect(() => govA.observeCoordinatorEpoch('j3', -1)).toThrow(
      expect.objectContaining({ field: 'lease_epoch' }),
    );
    expect(() => govA.observeCoordinatorEpoch('nope', 1)).toThrow(
      expect.objectContaining({ code: 'not_found' }),
    );
  });

  // Fencing (issue 18): a replica that stalled past its lease (a GC or VM pause, SIGSTOP) wakes up still
  // believing it coordinates the job. Every job-state write it makes is refused by the store with a typed
  // `lease_lost` error, because the job's lease epoch moved on at the takeover; the new holder's state
  // stands. On SQLite a store has one process (a single node takes no leases), so the two JobStores
  // share one connection there: the same SQL, exercised without a second connection.
  it('a replica that lost the lease can no longer write the job: every write is fenced by the lease epoch', () => {
    const a = backend.newStore();
    const b = backend.name === 'postgres' ? backend.replicaOf(a) : a;
    const jobsA = new JobStore(a);
    const jobsB = new JobStore(b);
    jobsA.put(
      {
        ...validateJobSpec({
          guest: 'bank',
          hosts: ['government'],
          data: { bank: 'loans', government: 'credit' },
        }),
        id: 'j2',
      } as JobSpec,
      'bank',
    );
    const t = 2_000_000;
    const bytes = (n: number): Uint8Array => new Uint8Array([n, n, n]);
    expect(jobsA.leaseEpoch('j2')).toBe(0);
    expect(jobsA.claimLease('j2', 'replica-a', 5_000, t)).toBe(true);
    expect(jobsA.fenceOf('j2')).toBe(1);
    // Replica A coordinates: its writes pass the fence.
    jobsA.setAttempt('j2', 'train', 0);
    jobsA.saveEpochCheckpoint('j2', 'train', 0, 1, bytes(1));
    jobsA.saveCheckpoint('j2', 'psi', 0, { rows: [1, 2] });
    expect(jobsA.claimLease('j2', 'replica-a', 5_000, t + 1_000)).toBe(true); // a renewal keeps the epoch
    expect(jobsA.leaseEpoch('j2')).toBe(1);
    // A stalls; its lease expires at t + 6 s; B takes the job over (epoch 2) and resumes it.
    expect(jobsB.claimLease('j2', 'replica-b', 5_000, t + 6_001)).toBe(true);
    expect(jobsB.fenceOf('j2')).toBe(2);
    expect(jobsB.events('j2').find((e) => e.kind === 'lease_taken_over')?.detail).toBe('epoch=2');
    jobsB.setAttempt('j2', 'train', 1);
    jobsB.saveEpochCheckpoint('j2', 'train', 1, 2, bytes(2));
    const before = {
      job: jobsB.require('j2'),
      epochs: jobsB.epochCheckpoints('j2', 'train'),
      psi: jobsB.checkpoint('j2', 'psi'),
      events: jobsB.events('j2').length,
    };
    // A wakes up: each of its writes is refused with a typed error, and changes nothing.
    const lost = expect.objectContaining({ code: 'lease_lost', field: 'lease' });
    expect(() => jobsA.setAttempt('j2', 'train', 1)).toThrow(lost);
    expect(() => jobsA.saveEpochCheckpoint('j2', 'train', 0, 2, bytes(9))).toThrow(lost);
    expect(() => jobsA.saveCheckpoint('j2', 'train', 0, { model: 'stale' })).toThrow(lost);
    expect(() => jobsA.saveCheckpoint('j2', 'psi', 0, { rows: [9] })).toThrow(lost);
    expect(() => jobsA.dropEpochCheckpoint('j2', 'train', 1)).toThrow(lost);
    expect(() => jobsA.event('j2', 'stage_done', 'train', 0, null)).toThrow(lost);
    expect(() => jobsA.finish('j2')).toThrow(lost);
    expect(() => jobsA.finish('j2', { code: 'io', message: 'x' })).toThrow(lost);
    let registered = false;
    expect(() =>
      jobsA.fenced('j2', () => {
        registered = true;
      }),
    ).toThrow(lost);
    expect(registered).toBe(false);
    expect(jobsB.require('j2')).toEqual(before.job);
    expect(jobsB.epochCheckpoints('j2', 'train')).toEqual(before.epochs);
    expect(jobsB.checkpoint('j2', 'psi')).toEqual(before.psi);
    expect(jobsB.checkpoint('j2', 'train')).toBeUndefined();
    expect(jobsB.events('j2')).toHaveLength(before.events);
    // A's renewal fails, even once B's lease has expired in turn: A never gets the job back silently.
    expect(jobsA.claimLease('j2', 'replica-a', 5_000, t + 6_002)).toBe(false);
    expect(jobsA.claimLease('j2', 'replica-a', 5_000, t + 20_000)).toBe(false);
    expect(jobsA.lease('j2')).toMatchObject({ holder: 'replica-b', epoch: 2 });
    // The new holder's writes go through and end the job.
    jobsB.saveCheckpoint('j2', 'train', 1, { model: 'b' });
    jobsB.finish('j2');
    expect(jobsA.require('j2').status).toBe('done');
    expect(jobsA.checkpoint('j2', 'train')?.output).toEqual({ model: 'b' });
    // A store without a fence on the job (a follower, a single node, an operator's tool) is not fenced.
    const jobsC = new JobStore(b);
    jobsC.event('j2', 'note', null, null, null);
    // Released: a later claim (a retry, another replica) is a new epoch.
    jobsB.releaseLease('j2', 'replica-b');
    jobsA.releaseLease('j2', 'replica-a');
    expect(jobsA.claimLease('j2', 'replica-a', 5_000, t + 30_000)).toBe(true);
    expect(jobsA.fenceOf('j2')).toBe(3);
  });
});

/** The store's schema (every PostgreSQL test store has its own). */
type MigrateReply =
  | { readonly ok: true; readonly versions: Record<string, number> }
  | { readonly ok: false; readonly code?: string; readonly message?: string };

function schemaOf(store: NodeStore): string {
  const row = store.get<{ s: string }>('SELECT current_schema() AS s');
  if (row === undefined) throw new Error('no schema');
  return row.s;
}

function upsertCase(store: NodeStore): void {
  store.migrate({
    module: 'kv',
    steps: ['CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL, blob BLOB, r REAL) STRICT'],
  });
  // An identity column (lastInsertRowid) together with INSERT OR IGNORE.
  store.migrate({
    module: 'ids',
    steps: ['CREATE TABLE ids (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE) STRICT'],
  });
  expect(store.run('INSERT OR IGNORE INTO ids (name) VALUES (?)', 'x')).toEqual({
    changes: 1,
    lastInsertRowid: 1,
  });
  expect(store.run('INSERT OR IGNORE INTO ids (name) VALUES (?)', 'x').changes).toBe(0);
  // (an ignored insert may use up an id on either database: compare with the row, not a constant)
  const y = store.run('INSERT INTO ids (name) VALUES (?)', 'y').lastInsertRowid;
  expect(y).toBe(store.get<{ id: number }>('SELECT id FROM ids WHERE name = ?', 'y')?.id);
  expect(y).toBeGreaterThan(1);
  const big = 2 ** 40 + 7;
  expect(store.run('INSERT OR IGNORE INTO kv (k, v) VALUES (?, ?)', 'a', big).changes).toBe(1);
  expect(store.run('INSERT OR IGNORE INTO kv (k, v) VALUES (?, ?)', 'a', 2).changes).toBe(0);
  store.run(
    'INSERT INTO kv (k, v, blob, r) VALUES (?, ?, ?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v + 1, blob = excluded.blob, r = excluded.r',
    'a',
    5,
    randomBytesFixed(),
    0.1,
  );
  expect(store.get('SELECT k, v, blob, r FROM kv')).toEqual({
    k: 'a',
    v: 6,
    blob: randomBytesFixed(),
    r: 0.1,
  });
  expect(
    store.get('SELECT count(*) AS n, sum(v) AS s FROM kv WHERE (? IS NULL OR k = ?)', null, 'a'),
  ).toEqual({
    n: 1,
    s: 6,
  });
  void randomBytes;
}

function randomBytesFixed(): Uint8Array {
  return Uint8Array.from({ length: 40 }, (_, i) => (i * 37) % 256);
}
