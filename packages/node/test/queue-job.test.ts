/**
 * A job whose host node has `queue: pgboss` (issue 18): two in-process party nodes (bank = guest and
 * coordinator, government = host) over gRPC + mutual TLS, CKKS hetero-LR (default preset), the
 * government's packed products y = X^T [[d]] run as tasks on a pg-boss queue in a throwaway PostgreSQL
 * cluster by one `fedscore worker` process (public contexts only):
 *
 * - the job's models equal those of the same job with `queue: none` (same job id, seed and party
 *   secrets) within CKKS tolerance: each run encrypts with fresh randomness and the key holder floods
 *   its releases with fresh noise, so two runs need not agree bit for bit; the tolerance is 2e-3
 *   absolute on standardized weights of magnitude ~0.1-1. Observed: 0 (bit-identical models; the
 *   released gradients are rounded to a grid coarser than the CKKS error). A task count > 0 in the
 *   queue's result table proves the products went through the queue;
 * - the worker SIGKILLed while it holds a task loses nothing: the task is redelivered (pg-boss retry) to a
 *   new worker process, the job completes, and its models are within the same tolerance;
 * - the node's /metrics carries the queue's samples (up, tasks by state, retries) and, per task kind,
 *   the tasks it awaits and their latency (> 0 for the packed products, none for the other kinds);
 * - every task id carries the job and party (`<job>.government/...`), and once the job is done on the
 *   government's node a prune pass (`pruneQueueResults`) deletes all its task results.
 */
import type { JobSpecInput, PartyNode, TrainCheckpoint } from '@fedscore/node';
import { postgresUnavailable } from '@fedscore/queue/testing';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { type Party, useQueueJob } from './queue-job-fixture.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue job tests: ${unavailable}`);

const QUEUE = 'he-packed-product';
/** Absolute tolerance on the models' weights and intercept (see the header). */
const TOL = 2e-3;

describe.skipIf(unavailable !== undefined)('a job with queue: pgboss on the host node', () => {
  const JOB = 'queued-lr';
  const spec: JobSpecInput & { id: string } = {
    id: JOB,
    guest: 'bank',
    hosts: ['government'],
    data: { bank: 'loans', government: 'credit' },
    seed: 3,
    binning: { enabled: false },
    train: { scheme: 'ckks', maxEpochs: 2, batchSize: 128 },
  };

  const q = useQueueJob({
    population: { enterprises: 500, bankCustomers: 400, seed: 17 },
    http: true,
    // Every product to the queue (the default floor of 64 columns would keep these on the threads);
    // expiry short enough for the kill test's redelivery, long enough for a task on this machine.
    queue: (run, url) => ({ kind: 'pgboss', url, name: `${QUEUE}-${run}`, minColumns: 1, expireSeconds: 20 }),
  });

  const run = (
    name: string,
    during?: (nodes: Record<Party, PartyNode>) => Promise<void>,
    after?: (nodes: Record<Party, PartyNode>) => Promise<void>,
  ): Promise<Record<Party, TrainCheckpoint>> =>
    q.run<TrainCheckpoint>(name, spec, 'train', { during, after });

  const params = (t: TrainCheckpoint): number[] => [...t.model!.weights, t.model!.intercept];
  const maxDiff = (a: TrainCheckpoint, b: TrainCheckpoint): number => {
    const x = params(a);
    const y = params(b);
    expect(x.length).toBe(y.length);
    return Math.max(...x.map((v, i) => Math.abs(v - y[i]!)));
  };
  const tasksOf = async (queue: string): Promise<{ results: number; retries: number }> => {
    const c = new pg.Client({ connectionString: q.url });
    await c.connect();
    try {
      const r = await c.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM fedscore_task_result WHERE queue = $1 AND error IS NULL',
        [queue],
      );
      // Every task id carries the job's id and party (the node prunes a done job's results by it).
      const untagged = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM fedscore_task_result WHERE queue = $1 AND task_id NOT LIKE 'queued-lr.government/%'",
        [queue],
      );
      expect(untagged.rows[0]!.n).toBe(0);
      const j = await c.query<{ n: number }>(
        'SELECT coalesce(sum(retry_count), 0)::int AS n FROM pgboss.job WHERE name = $1',
        [queue],
      );
      return { results: r.rows[0]!.n, retries: j.rows[0]!.n };
    } finally {
      await c.end();
    }
  };

  let reference: Record<Party, TrainCheckpoint> | undefined;

  it('equals the queue: none run within tolerance, its products done by a worker process', async () => {
    reference = await run('none');
    expect(reference.bank.epochs).toBe(2);
    await q.startWorker(`${QUEUE}-queued`);
    let metrics = '';
    let stored: { results: number; retries: number } | undefined;
    const queued = await run(
      'queued',
      async (nodes) => {
        // Scrape /metrics while the job runs.
        const url = `http://127.0.0.1:${nodes.government.httpPort}/metrics`;
        // Until a packed product has completed and a health read (every 5 s) has seen it.
        const done =
          /fedscore_queue_task_latency_count\{queue="he-packed-product-queued",kind="packedProduct"\} [1-9]/;
        for (let i = 0; i < 1500 && !done.test(metrics); i++) {
          await new Promise((r) => setTimeout(r, 200));
          metrics = await (await fetch(url)).text();
        }
      },
      async (nodes) => {
        // Once the job is done on the government's node too, its node prunes the job's task results.
        expect((await nodes.government.runner.waitFor(JOB, 30_000)).status).toBe('done');
        stored = await tasksOf(`${QUEUE}-queued`);
        expect(stored.results).toBeGreaterThan(0);
        const pruned = await nodes.government.pruneQueueResults();
        expect(pruned).toEqual({ doneJobs: 1, removed: stored.results, blobsRemoved: 0 });
        expect((await tasksOf(`${QUEUE}-queued`)).results).toBe(0);
      },
    );
    const diff = Math.max(
      maxDiff(queued.bank, reference.bank),
      maxDiff(queued.government, reference.government),
    );
    console.log(`queue job: max |queued - none| over the models = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(TOL);
    // The products went through the queue (counted before the prune).
    expect(stored?.results).toBeGreaterThan(0);
    expect(metrics).toMatch(/fedscore_queue_up\{queue="he-packed-product-queued"\} 1/);
    expect(metrics).toMatch(/fedscore_queue_tasks\{queue="he-packed-product-queued",state="pending"\} \d+/);
    expect(metrics).toMatch(/fedscore_queue_retries_total\{queue="he-packed-product-queued"\} \d+/);
    // The depth pg-boss counts (every kind) ...
    expect(metrics).toMatch(/fedscore_queue_tasks\{queue="he-packed-product-queued",state="queued"\} \d+/);
    // ... and per kind: the products' latency, from the tasks this node completed (a task of 4096 rows
    // takes tens of ms at least, so every quantile is > 0 and ordered); the other kinds had none.
    const sample = (name: string, labels: string): number => {
      const m = metrics.match(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm'));
      expect(m, `${name}{${labels}}`).not.toBeNull();
      return Number(m![1]);
    };
    const ql = 'queue="he-packed-product-queued"';
    const lat = (kind: string, quantile: string) =>
      sample('fedscore_queue_task_latency_ms', `${ql},kind="${kind}",quantile="${quantile}"`);
    expect(sample('fedscore_queue_task_latency_count', `${ql},kind="packedProduct"`)).toBeGreaterThan(0);
    const [p50, p95, max] = [
      lat('packedProduct', '0.5'),
      lat('packedProduct', '0.95'),
      lat('packedProduct', '1'),
    ];
    console.log(`queue job: packed product latency p50 ${p50} ms, p95 ${p95} ms, max ${max} ms`);
    expect(p50).toBeGreaterThan(0);
    expect(p95).toBeGreaterThanOrEqual(p50);
    expect(max).toBeGreaterThanOrEqual(p95);
    for (const kind of ['binSums', 'sbHistogram']) {
      expect(sample('fedscore_queue_task_latency_count', `${ql},kind="${kind}"`)).toBe(0);
      expect(sample('fedscore_queue_kind_tasks', `${ql},kind="${kind}",state="pending"`)).toBe(0);
    }
    for (const state of ['pending', 'queued', 'active']) {
      expect(
        sample('fedscore_queue_kind_tasks', `${ql},kind="packedProduct",state="${state}"`),
      ).toBeGreaterThanOrEqual(0);
    }
  }, 900_000);

  it('a worker SIGKILLed while it holds a task loses nothing; the model is the same', async () => {
    expect(reference).toBeDefined();
    const queue = `${QUEUE}-killed`;
    const victim = await q.startWorker(queue);
    const killed = await run('killed', async () => {
      const c = new pg.Client({ connectionString: q.url });
      await c.connect();
      try {
        const active = async () =>
          (
            await c.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'active'",
              [queue],
            )
          ).rows[0]!.n;
        let n = 0;
        for (let i = 0; i < 3000 && n === 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
          n = await active();
        }
        expect(n).toBeGreaterThan(0);
      } finally {
        await c.end();
      }
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      await q.startWorker(queue);
    });
    const diff = Math.max(
      maxDiff(killed.bank, reference!.bank),
      maxDiff(killed.government, reference!.government),
    );
    console.log(`queue job with a killed worker: max |killed - none| = ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(TOL);
    const t = await tasksOf(queue);
    expect(t.results).toBeGreaterThan(0);
    expect(t.retries).toBeGreaterThanOrEqual(1);
  }, 900_000);
});
