/**
 * Attack: a queue worker -- or whoever holds a worker machine's database credentials -- reads or rewrites
 * the party's state in the PostgreSQL database its queue shares with the node's store (issue 18; the
 * audit of issue 18, row 9). Source: least privilege, Saltzer and Schroeder, "The Protection of
 * Information in Computer Systems" (Proc. IEEE 63(9), 1975); PostgreSQL's privilege system (the manual's
 * "Privileges" section of "Data Definition", and GRANT).
 *
 * What it would recover: the party's 32-byte mask-seed secret (`job_secrets`, from which the node derives
 * every job's mask keys), the consent registry (which enterprises authorized whom) and the audit chain,
 * which it could also rewrite. Workers hold only public HE contexts (docs/threat-model.md); their
 * database role is the remaining path to the node's secrets.
 *
 * Weakened configuration: workers connect as the node's own database user (the old docs/deploy.md
 * sketch). That connection reads the planted secret's exact bytes from `job_secrets` and, as the tables'
 * owner, switches off the audit log's append-only trigger and updates its entries; and a node told to grant the queue to that user (`queue.workerRole: <the node's user>`), or
 * to a role an administrator granted a store table, refuses to start, naming `queue.workerRole`.
 *
 * Default (`queue.workerRole: fedscore_worker`, a role made by the database's administrator): the node
 * grants it pg-boss's schema and the queue's four tables at start. A `fedscore worker` process connected
 * as that role starts (it runs no DDL), and packed HE products sent by the coordinator come back
 * decrypting to M d within 1e-5 (ckks-8192 at scale 2^40, as the queue executor test). The same role is
 * refused (SQLSTATE 42501, permission denied) a SELECT on every table of the store, and an UPDATE, DELETE,
 * TRUNCATE, ALTER and DROP of the audit log. A restricted worker started before its queue (or the queue's
 * tables) exists exits with an error saying the coordinator creates it.
 */
import type { ChildProcess } from 'node:child_process';
import { normal, seededRng } from '@fedscore/core';
import {
  type CkksSecretContext,
  createCkksContext,
  emptyWork,
  type PackedPartsResult,
  type PackedProductRequest,
  packedLayout,
  packedProductOn,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import type { PartyNode } from '@fedscore/node';
import { NodeCluster } from '@fedscore/node/testing';
import { HE_TASK_SHARED_FIELDS, QUEUE_TABLES, QueueExecutor } from '@fedscore/queue';
import { type PgCluster, postgresUnavailable, startPgCluster, startWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the worker database role attack: ${unavailable}`);

const QUEUE = 'he-role';
const NODE_ROLE = 'fedscore';
const WORKER_ROLE = 'fedscore_worker';
const USCC = '91350100M000100Y43';
const TOL = 1e-5;
const B = 40;
const SLOTS = 4096;
const PERMISSION_DENIED = '42501';

describe.skipIf(unavailable !== undefined)('a queue worker database role (queue.workerRole)', () => {
  let db: PgCluster;
  let cluster: NodeCluster<'government'>;
  let node: PartyNode;
  let nodeUrl: string;
  let workerUrl: string;
  let secret: Uint8Array;
  const children: ChildProcess[] = [];

  /** The cluster's URL for `role` on the party's database. */
  const urlAs = (role: string, database = 'party'): string => {
    const u = new URL(db.url);
    u.username = role;
    u.pathname = `/${database}`;
    return u.toString();
  };

  async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }

  /** The SQLSTATE `sql` fails with under `url` (undefined if it succeeds). */
  const sqlState = (url: string, sql: string): Promise<string | undefined> =>
    withClient(url, (c) =>
      c.query(sql).then(
        () => undefined,
        (e: { code?: string }) => e.code ?? 'no code',
      ),
    );

  beforeAll(async () => {
    db = await startPgCluster();
    // What the database's administrator does once: the node's user owns the party's database; the
    // workers' role can log in and nothing more.
    await withClient(db.url, async (c) => {
      await c.query(`CREATE ROLE ${NODE_ROLE} LOGIN`);
      await c.query(`CREATE ROLE ${WORKER_ROLE} LOGIN`);
      await c.query(`CREATE DATABASE party OWNER ${NODE_ROLE}`);
    });
    nodeUrl = urlAs(NODE_ROLE);
    workerUrl = urlAs(WORKER_ROLE);
    cluster = await NodeCluster.create({
      parties: ['government'],
      config: () => ({
        store: { kind: 'postgres', url: nodeUrl },
        queue: { kind: 'pgboss', url: nodeUrl, name: QUEUE, workerRole: WORKER_ROLE },
      }),
    });
    node = await cluster.start('government');
    // The planted secrets: the party's mask-seed secret, a consent, and the audit entries it makes.
    secret = node.jobs.partySecret('mask-seed');
    const now = Date.now();
    node.consents.grant({
      enterprise: USCC,
      grantee: 'bank',
      purpose: 'training',
      scope: ['*'],
      grantedAt: now,
      expiresAt: now + 86_400_000,
    });
    expect(node.audit.verify().ok).toBe(true);
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await cluster?.close();
    db?.stop();
  });

  it('weakened: a worker connected as the node user reads the mask-seed secret and can rewrite the audit log', async () => {
    const stolen = await withClient(nodeUrl, async (c) => {
      const r = await c.query<{ secret: Buffer }>("SELECT secret FROM job_secrets WHERE name = 'mask-seed'");
      return r.rows[0]?.secret;
    });
    expect(stolen).toBeDefined();
    expect(Buffer.compare(stolen!, Buffer.from(secret))).toBe(0);
    await withClient(nodeUrl, async (c) => {
      await c.query('BEGIN');
      // The append-only trigger binds other roles, not the table's owner, who switches it off.
      await c.query('ALTER TABLE audit_log DISABLE TRIGGER ALL');
      const r = await c.query("UPDATE audit_log SET actor = 'worker'");
      expect(r.rowCount).toBeGreaterThan(0);
      await c.query('ROLLBACK');
    });
  }, 60_000);

  it('default: a fedscore worker as the worker role completes HE tasks', async () => {
    let ctx: CkksSecretContext | undefined;
    let ex: QueueExecutor<PackedProductRequest, PackedPartsResult> | undefined;
    try {
      const worker = await startWorker(workerUrl, QUEUE, children);
      let stderr = '';
      worker.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      const layout = packedLayout(64, 50, SLOTS);
      ctx = await createCkksContext({ rotations: packedRotationSteps(layout), relinearization: false });
      // The coordinator's side, as the node's user (the tables' owner), on the node's queue.
      ex = await QueueExecutor.create<PackedProductRequest, PackedPartsResult>({
        connectionString: nodeUrl,
        queue: QUEUE,
        pollMs: 200,
        sharedFields: HE_TASK_SHARED_FIELDS,
      });
      await ex.publishContext(ctx.serialize({ compression: 'none' }));
      const rng = seededRng(7);
      for (const p of [9, 30]) {
        const columns = Array.from({ length: p }, () => Float64Array.from({ length: B }, () => normal(rng)));
        const d = Float64Array.from({ length: B }, () => normal(rng));
        const expected = columns.map((c) => c.reduce((s, v, i) => s + v * d[i]!, 0));
        const plan = layout.productPlan(p);
        const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
        try {
          const out = await packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: `role-${p}` });
          const got = new Float64Array(p);
          plan.blocks.forEach((block, i) => {
            got.set(ctx!.decrypt(out[i]!).subarray(0, block.rows), block.rowOffset);
            out[i]!.dispose();
          });
          const err = Math.max(...expected.map((v, i) => Math.abs(v - got[i]!)));
          expect(err).toBeLessThan(TOL);
        } finally {
          enc.dispose();
        }
      }
      // The worker stored those results under its own role.
      const stored = await withClient(workerUrl, (c) =>
        c.query<{ n: number }>('SELECT count(*)::int AS n FROM fedscore_task_result WHERE queue = $1', [
          QUEUE,
        ]),
      );
      expect(stored.rows[0]!.n).toBeGreaterThanOrEqual(2);
      // Nothing the worker did under its role was refused (pg-boss's errors are logged as warnings).
      expect(stderr).not.toMatch(/permission denied|pg-boss error/);
    } finally {
      await ex?.close();
      ctx?.dispose();
    }
  }, 180_000);

  it('default: the worker role is refused every store table, and cannot touch the audit log', async () => {
    const storeTables = await withClient(nodeUrl, async (c) => {
      const r = await c.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT (c.relname = ANY($1))
         ORDER BY 1`,
        [QUEUE_TABLES],
      );
      return r.rows.map((row) => row.name);
    });
    // The store's tables are there (and hold the planted rows): a refusal is not a missing table.
    expect(storeTables).toEqual(expect.arrayContaining(['job_secrets', 'consents', 'audit_log', 'jobs']));
    for (const t of storeTables) {
      expect([t, await sqlState(workerUrl, `SELECT * FROM ${t} LIMIT 1`)]).toEqual([t, PERMISSION_DENIED]);
    }
    for (const sql of [
      "SELECT secret FROM job_secrets WHERE name = 'mask-seed'",
      'SELECT * FROM consents',
      "UPDATE audit_log SET actor = 'worker'",
      'DELETE FROM audit_log',
      'TRUNCATE audit_log',
      'ALTER TABLE audit_log DISABLE TRIGGER ALL',
      'DROP TABLE audit_log',
    ]) {
      expect([sql, await sqlState(workerUrl, sql)]).toEqual([sql, PERMISSION_DENIED]);
    }
    // Nor can it make itself a table in the party's schema (PostgreSQL 15 and later: before 15 every
    // role may create in `public` unless the administrator revokes it).
    const version = await withClient(workerUrl, (c) => c.query<{ v: string }>('SHOW server_version_num'));
    if (Number(version.rows[0]!.v) >= 150000) {
      expect(await sqlState(workerUrl, 'CREATE TABLE worker_stash (x int)')).toBe(PERMISSION_DENIED);
    }
    expect(node.audit.verify().ok).toBe(true);
  }, 60_000);

  it('a restricted worker started before its queue or tables exist says the coordinator creates them', async () => {
    await expect(startWorker(workerUrl, 'no-such-queue', children)).rejects.toThrow(/does not exist yet/);
    // Nor does it create the queue's tables in a database the node has not started on.
    await withClient(db.url, (c) => c.query(`CREATE DATABASE fresh OWNER ${NODE_ROLE}`));
    await expect(startWorker(urlAs(WORKER_ROLE, 'fresh'), QUEUE, children)).rejects.toThrow(
      /queue tables are not created yet/,
    );
  }, 60_000);

  it('weakened: the node refuses a worker role that reaches the store (its own user, or one granted a table)', async () => {
    // Another start of the party (the same store) on the same ports: the running node stops first.
    await cluster.stop(node);
    await expect(
      cluster.start('government', {
        run: 'own-user',
        config: { queue: { kind: 'pgboss', url: nodeUrl, name: QUEUE, workerRole: NODE_ROLE } },
      }),
    ).rejects.toMatchObject({ code: 'invalid_config', field: 'queue.workerRole' });
    await withClient(nodeUrl, (c) => c.query(`GRANT SELECT ON job_secrets TO ${WORKER_ROLE}`));
    try {
      const refused = cluster.start('government', { run: 'granted' });
      await expect(refused).rejects.toMatchObject({ code: 'invalid_config', field: 'queue.workerRole' });
      await expect(refused).rejects.toThrow(/job_secrets/);
    } finally {
      await withClient(nodeUrl, (c) => c.query(`REVOKE SELECT ON job_secrets FROM ${WORKER_ROLE}`));
    }
    // Revoked again, the same role is accepted.
    node = await cluster.start('government', { run: 'revoked' });
    expect(node.jobs.partySecret('mask-seed')).toEqual(secret);
  }, 60_000);
});
