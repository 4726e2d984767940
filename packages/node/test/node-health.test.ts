/**
 * Issue 18: what a node's /healthz says about its store, its lease and its work queue, and the pruning of
 * the queue's task results by the node that coordinates the tasks -- on both stores (the node's store in
 * SQLite, then in PostgreSQL; the queue is always pg-boss on a throwaway loopback PostgreSQL cluster).
 *
 * - /healthz: the store's kind, reachable (a `SELECT 1` bounded by STORE_HEALTH_TIMEOUT_MS), its
 *   per-module schema versions, this node's lease role (`single` on SQLite; on PostgreSQL `standby`, then
 *   `holder` while it coordinates a job), the queue's depth; and no connection string: both URLs come
 *   from variables (`urlEnv`) holding a planted password, which is searched for in /healthz and /metrics
 *   (and the URLs themselves). On PostgreSQL, a store whose database is stopped is reported unreachable
 *   with HTTP 503 and `status: degraded`, within the timeout.
 * - pruning: task results stored under a done job's id are deleted, those of a running job kept; an
 *   untagged result older than `queue.resultRetentionHours` goes too; and a pruned task run again (the
 *   pg-boss job of its id still kept as completed) is computed again rather than lost.
 *
 * Skipped with the reason printed without PostgreSQL binaries (the queue needs them); a failure under
 * CI=true (postgresUnavailable throws there).
 */
import { join } from 'node:path';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  type HealthReport,
  type JobSpec,
  type PartyNode,
  STORE_HEALTH_TIMEOUT_MS,
  validateJobSpec,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides } from '@fedscore/node/testing';
import { QueueExecutor, serveTaskQueue, type TaskQueueWorker } from '@fedscore/queue';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const why = postgresUnavailable();
if (why !== undefined) console.log(`skipping the node health and queue pruning tests: ${why}`);

const PARTIES = ['bank', 'government'] as const;
type Party = (typeof PARTIES)[number];
const SECRET = 'pl4nted-db-s3cret';
const QUEUE = 'health-q';

/** A URL with the planted password (the loopback clusters trust local connections: it is never asked). */
const withPassword = (url: string): string =>
  url.replace('postgres://postgres@', `postgres://postgres:${SECRET}@`);

describe.skipIf(why !== undefined).each(['sqlite', 'postgres'] as const)(
  'node health and queue results [%s]',
  (kind) => {
    let queueDb: PgCluster;
    let storeDb: PgCluster | undefined;
    let cluster: NodeCluster<Party>;
    let node: PartyNode;
    let env: Record<string, string>;
    let loans: string;

    beforeAll(async () => {
      queueDb = await startPgCluster();
      if (kind === 'postgres') storeDb = await startPgCluster();
      env = {
        FEDSCORE_TEST_QUEUE_URL: withPassword(queueDb.url),
        ...(storeDb !== undefined && { FEDSCORE_TEST_STORE_URL: withPassword(storeDb.url) }),
      };
      cluster = await NodeCluster.create({
        parties: PARTIES,
        http: true,
        config: (): NodeConfigOverrides => ({
          data: { loans: { path: loans, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } },
          queue: { kind: 'pgboss', urlEnv: 'FEDSCORE_TEST_QUEUE_URL', name: QUEUE },
          ...(kind === 'postgres' && {
            store: { kind: 'postgres', urlEnv: 'FEDSCORE_TEST_STORE_URL', schema: 'bank' },
          }),
        }),
      });
      loans = (
        await writePopulation({ enterprises: 200, bankCustomers: 120, seed: 5 }, join(cluster.dir, 'data'))
      ).bank.path;
      // Only the bank runs: the government stays down (a job the bank coordinates waits for it).
      node = await cluster.start('bank', { env });
    }, 120_000);

    afterAll(async () => {
      await cluster?.close();
      queueDb?.stop();
      storeDb?.stop();
    });

    const get = async (path: string): Promise<{ status: number; text: string }> => {
      const r = await fetch(`http://127.0.0.1:${node.httpPort}${path}`);
      return { status: r.status, text: await r.text() };
    };
    const health = async (): Promise<{ status: number; report: HealthReport; text: string }> => {
      const r = await get('/healthz');
      return { status: r.status, report: JSON.parse(r.text) as HealthReport, text: r.text };
    };
    const spec = (id: string): JobSpec => ({
      ...validateJobSpec({
        id,
        guest: 'bank',
        hosts: ['government'],
        data: { bank: 'loans', government: 'credit' },
        binning: { enabled: false },
        train: { scheme: 'ckks', maxEpochs: 1 },
      }),
      id,
    });

    it('/healthz reports the store, its schema versions, the lease role and the queue depth, no secrets', async () => {
      // The queue's health is read in the background: wait for its first read.
      let h = await health();
      for (let i = 0; i < 100 && h.report.queue?.up !== true; i++) {
        await new Promise((r) => setTimeout(r, 100));
        h = await health();
      }
      console.log(`/healthz [${kind}]: ${h.text}`);
      expect(h.status).toBe(200);
      expect(h.report.status).toBe('ok');
      expect(h.report.store).toMatchObject({ kind, reachable: true });
      expect(h.report.store!.latencyMs).toBeGreaterThanOrEqual(0);
      expect(h.report.store!.latencyMs).toBeLessThan(STORE_HEALTH_TIMEOUT_MS);
      // The modules the node migrated at start, each at its version (>= 1).
      const schema = h.report.store!.schema;
      for (const module of ['audit', 'jobs']) expect(schema[module], module).toBeGreaterThanOrEqual(1);
      expect(schema).toEqual(
        Object.fromEntries(Object.keys(schema).map((m) => [m, node.store.schemaVersion(m)])),
      );
      expect(h.report.lease).toEqual(
        kind === 'sqlite'
          ? { role: 'single', jobs: 0 }
          : { role: 'standby', jobs: 0, leaseMs: 15_000, renewMs: 500 },
      );
      const idle = { pending: 0, queued: 0, active: 0 };
      expect(h.report.queue).toEqual({
        up: true,
        queued: 0,
        active: 0,
        pending: 0,
        kinds: { packedProduct: idle, binSums: idle, sbHistogram: idle, psi: idle },
      });
      // Neither URL (nor its password, user@host or port) is in what the node serves without authentication.
      const metrics = (await get('/metrics')).text;
      for (const text of [h.text, metrics]) {
        expect(text).not.toContain(SECRET);
        for (const db of [queueDb, storeDb]) {
          if (db === undefined) continue;
          expect(text).not.toContain(db.url);
          expect(text).not.toContain(`:${new URL(db.url).port}`);
        }
        expect(text).not.toMatch(/postgres(ql)?:\/\//);
      }
    });

    it('a node coordinating a job: the lease holder on PostgreSQL (single on SQLite); then cancelled', async () => {
      node.submit(spec('held-job'));
      let h = await health();
      for (let i = 0; i < 100 && h.report.lease?.jobs !== 1; i++) {
        await new Promise((r) => setTimeout(r, 50));
        h = await health();
      }
      // The government is down: the job waits for it (peerDownSeconds), coordinated here.
      expect(node.jobs.require('held-job').status).toBe('running');
      expect(h.report.lease).toMatchObject(
        kind === 'sqlite' ? { role: 'single', jobs: 1 } : { role: 'holder', jobs: 1 },
      );
      node.cancel('held-job', 'test');
      const ended = await node.runner.waitFor('held-job', 30_000);
      expect(ended.status).toBe('cancelled');
      for (let i = 0; i < 100 && h.report.lease?.jobs !== 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        h = await health();
      }
      expect(h.report.lease?.role).toBe(kind === 'sqlite' ? 'single' : 'standby');
    });

    it("prunes a done job's task results, keeps a running job's, and drops untagged ones past the retention", async () => {
      type Sum = { readonly a: number; readonly b: number };
      const worker: TaskQueueWorker = await serveTaskQueue<Sum, number>(
        { connectionString: queueDb.url, queue: QUEUE },
        (t) => t.a + t.b,
      );
      const executor = await QueueExecutor.create<Sum, number>({
        connectionString: queueDb.url,
        queue: QUEUE,
      });
      const db = new pg.Client({ connectionString: queueDb.url });
      await db.connect();
      try {
        // Two jobs in the node's store, coordinated by the (absent) government, so this node's runner
        // leaves them alone: one done, one running.
        node.jobs.put(spec('done-job'), 'government', 'running');
        node.jobs.finish('done-job');
        node.jobs.put(spec('live-job'), 'government', 'running');
        expect(await executor.run({ a: 1, b: 2 }, { taskId: 'done-job' })).toBe(3);
        // As the pipeline tags a job's tasks: `<job>.<party>`.
        expect(await executor.run({ a: 3, b: 4 }, { taskId: 'done-job.bank' })).toBe(7);
        expect(await executor.run({ a: 5, b: 6 }, { taskId: 'live-job' })).toBe(11);
        expect(await executor.run({ a: 7, b: 8 })).toBe(15);
        expect(await executor.run({ a: 9, b: 10 })).toBe(19);
        // One untagged result stored 200 hours ago (past the default 168 h), one fresh.
        const untagged = executor.taskId({ a: 7, b: 8 });
        await db.query(
          `UPDATE fedscore_task_result SET finished_at = now() - interval '200 hours' WHERE queue = $1 AND task_id = $2`,
          [QUEUE, untagged],
        );
        const rows = async (): Promise<string[]> =>
          (
            await db.query<{ task_id: string }>(
              'SELECT task_id FROM fedscore_task_result WHERE queue = $1 ORDER BY task_id',
              [QUEUE],
            )
          ).rows.map((r) => r.task_id);
        const before = await rows();
        expect(before.filter((id) => id.startsWith('done-job'))).toHaveLength(2);
        expect(before).toHaveLength(5);

        const report = await node.pruneQueueResults();
        expect(report).toEqual({ doneJobs: 1, removed: 3, blobsRemoved: 0 });
        const after = await rows();
        expect(after.filter((id) => id.startsWith('done-job'))).toEqual([]);
        expect(after.filter((id) => id.startsWith('live-job/'))).toHaveLength(1);
        expect(after).not.toContain(untagged);
        expect(after).toContain(executor.taskId({ a: 9, b: 10 }));
        expect(after).toHaveLength(2);
        // A second pass finds nothing new.
        expect(await node.pruneQueueResults()).toEqual({ doneJobs: 0, removed: 0, blobsRemoved: 0 });
        // A pruned task sent again is computed again (its completed pg-boss job is replaced), not lost.
        expect(await executor.run({ a: 1, b: 2 }, { taskId: 'done-job' })).toBe(3);
        expect(await executor.deliveries(executor.taskId({ a: 1, b: 2 }, 'done-job'))).toBe(1);
      } finally {
        await db.end();
        await executor.close();
        await worker.stop();
      }
    }, 120_000);

    if (kind !== 'postgres') return;
    it('a store whose database is down is reported unreachable: 503, degraded', async () => {
      storeDb!.stop();
      const t0 = Date.now();
      const h = await health();
      expect(Date.now() - t0).toBeLessThan(STORE_HEALTH_TIMEOUT_MS + 3000);
      expect(h.status).toBe(503);
      expect(h.report.status).toBe('degraded');
      expect(h.report.store).toMatchObject({ kind: 'postgres', reachable: false, schema: {} });
      expect(h.text).not.toContain(SECRET);
    });
  },
);
