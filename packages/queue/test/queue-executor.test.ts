/**
 * The distributed task executor (pg-boss on a throwaway PostgreSQL cluster) running hetero-LR's packed
 * batch product y = M [[d]] in worker processes that hold only the public CKKS context:
 *
 * - results equal the local HE pool's bit for bit (the serialized ciphertexts), and decrypt to M d in
 *   float64 within 1e-5 (ckks-8192 at scale 2^40, sums of <= 50 products of standard normals: docs/he.md);
 * - a worker SIGKILLed while it holds a task loses nothing: the job expires, is redelivered to another
 *   worker, and every result is still the local pool's bytes;
 * - `awaited()` counts an executor's own tasks live: queued while no worker runs, active while one
 *   computes, none once the result is in, with their enqueue-to-result latency; a second executor on
 *   the same queue counts none of them (a node's task kinds share one queue);
 * - a duplicate delivery of a finished task stores no second result (one row, counted deliveries, same
 *   bytes), and the same task sent twice makes one job;
 * - one worker process serves two jobs' tasks, each carrying its own public context (stored once per
 *   context, loaded once by digest), every result within 1e-5 of M d under its own key; a weakened
 *   coordinator that puts its secret context in a task (the bytes hold the key: positive control) is
 *   refused by `packedProductOn` before anything is stored;
 * - batch columns sent again (the next epoch) are not stored again, and still give the pool's bytes;
 * - shared blobs no task has named for the retention and no waiting task names are pruned; a waiting
 *   task's blobs are kept (it then runs to the pool's bytes), and a task sent after the prune stores
 *   its blobs again and gives the same bytes as before;
 * - what a worker receives -- the published context and every task's bytes -- holds no window of the
 *   coordinator's secret key (the search plants the key in a copy and finds it: positive control; a
 *   weakened coordinator that publishes its secret context is caught by the same search and refused).
 */
import type { ChildProcess } from 'node:child_process';
import { normal, seededRng } from '@fedscore/core';
import { expectNoSecret, findSecret } from '@fedscore/core/testing';
import {
  type CkksSecretContext,
  type CkksVector,
  createCkksContext,
  createHeWorkerPool,
  emptyWork,
  type HeWorkerPool,
  type PackedLayout,
  type PackedPartsResult,
  type PackedProductRequest,
  packedLayout,
  packedProductHandler,
  packedProductOn,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import { ckksSecretKeyBytes } from '@fedscore/he/testing';
import {
  decodeEnvelope,
  encodeTask,
  jobIdOf,
  PACKED_PRODUCT_SHARED_FIELDS,
  QueueExecutor,
  taskIdOf,
} from '@fedscore/queue';
import { startWorker as startQueueWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, postgresUnavailable, startPgCluster } from './pg-cluster.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue executor tests: ${unavailable}`);

const TOL = 1e-5;
const B = 50;
const SLOTS = 4096;

type Executor = QueueExecutor<PackedProductRequest, PackedPartsResult>;

let cluster: PgCluster | undefined;
let ctx: CkksSecretContext;
let layout: PackedLayout;
let local: HeWorkerPool;
const children: ChildProcess[] = [];

/** A `fedscore worker` process (the CLI command a deployment runs), resolved once it is ready. */
const startWorker = (queue: string): Promise<ChildProcess> => startQueueWorker(cluster!.url, queue, children);

function problem(p: number, seed: number) {
  const rng = seededRng(seed);
  const columns = Array.from({ length: p }, () => Float64Array.from({ length: B }, () => normal(rng)));
  const d = Float64Array.from({ length: B }, () => normal(rng));
  const expected = columns.map((c) => c.reduce((s, v, i) => s + v * d[i]!, 0));
  return { columns, d, expected };
}

function bytesOf(vectors: readonly CkksVector[]): Uint8Array[] {
  const out = vectors.map((v) => v.serialize({ compression: 'none' }));
  for (const v of vectors) v.dispose();
  return out;
}

/** Each product twice: on the local pool and on `executor`; returns both serializations and decryptions. */
async function both(executor: Executor, p: number, seed: number, prefix: string) {
  const { columns, d, expected } = problem(p, seed);
  const plan = layout.productPlan(p);
  const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
  try {
    const [mine, theirs] = await Promise.all([
      local.packedProduct(enc, plan, columns, B),
      packedProductOn(executor, enc, plan, columns, B, emptyWork(), { taskId: prefix }),
    ]);
    const decrypted = new Float64Array(p);
    plan.blocks.forEach((block, i) => {
      decrypted.set(ctx.decrypt(theirs[i]!).subarray(0, block.rows), block.rowOffset);
    });
    return { local: bytesOf(mine), queued: bytesOf(theirs), decrypted, expected };
  } finally {
    enc.dispose();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function executor(queue: string, extra: { expireInSeconds?: number } = {}): Promise<Executor> {
  const ex = await QueueExecutor.create<PackedProductRequest, PackedPartsResult>({
    connectionString: cluster!.url,
    queue,
    pollMs: 200,
    superviseIntervalSeconds: 1,
    sharedFields: PACKED_PRODUCT_SHARED_FIELDS,
    ...extra,
  });
  await ex.publishContext(ctx.serialize({ compression: 'none' }));
  return ex;
}

describe.skipIf(unavailable !== undefined)('queue executor (pg-boss) for packed HE products', () => {
  beforeAll(async () => {
    cluster = await startPgCluster();
    layout = packedLayout(64, 100, SLOTS);
    ctx = await createCkksContext({ rotations: packedRotationSteps(layout), relinearization: false });
    // One worker: an unsplit product, evaluated and folded on one thread, as a queue task is.
    local = await createHeWorkerPool({ size: 1, context: ctx.serialize({ compression: 'none' }) });
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await local?.close();
    ctx?.dispose();
    cluster?.stop();
  });

  it('equals the local pool bit for bit over two worker processes; health reports depth and latency', async () => {
    const ex = await executor('equal');
    try {
      await Promise.all([startWorker('equal'), startWorker('equal')]);
      const runs = await Promise.all(
        [
          [5, 11],
          [20, 12],
          [37, 13],
          [64, 14],
        ].map(([p, seed]) => both(ex, p!, seed!, `job-1.epoch-0.batch-${seed}`)),
      );
      for (const r of runs) {
        expect(r.queued.length).toBe(r.local.length);
        expectSameBytes(r.queued, r.local);
        expect(maxAbsDiff(r.decrypted, r.expected)).toBeLessThan(TOL);
      }
      // The same batch columns again (another d, as in the next epoch): their blob is not stored twice,
      // and the worker that cached it still gives the local pool's bytes.
      const c = new pg.Client({ connectionString: cluster!.url });
      await c.connect();
      const blobs = async () =>
        (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM fedscore_task_blob')).rows[0]!.n;
      const before = await blobs();
      const { columns } = problem(20, 12);
      const d2 = Float64Array.from({ length: B }, (_, i) => Math.sin(i));
      const enc2 = ctx.encrypt(replicate(d2, layout.width, SLOTS));
      try {
        const plan = layout.productPlan(20);
        const [mine, theirs] = await Promise.all([
          local.packedProduct(enc2, plan, columns, B),
          packedProductOn(ex, enc2, plan, columns, B, emptyWork(), { taskId: 'job-1.epoch-1.batch-12' }),
        ]);
        expectSameBytes(bytesOf(theirs), bytesOf(mine));
      } finally {
        enc2.dispose();
      }
      expect(await blobs()).toBe(before);
      await c.end();
      // pg-boss marks a job completed just after its result is stored.
      let h = await ex.health();
      for (let i = 0; i < 100 && h.active > 0; i++) h = await sleep(50).then(() => ex.health());
      expect(h).toMatchObject({ queue: 'equal', queued: 0, active: 0, failed: 0, pending: 0 });
      expect(h.latencyMs.count).toBe(5);
      expect(h.latencyMs.p50).toBeGreaterThan(0);
      expect(h.taskMs.count).toBe(5);
      expect(h.taskMs.max).toBeLessThanOrEqual(h.latencyMs.max);
    } finally {
      await ex.close();
    }
  }, 180_000);

  it('a worker SIGKILLed while it holds a task loses nothing and changes no result', async () => {
    // Expiry well above a task's time on this loaded machine: a task still running at expiry is delivered
    // again too (harmless, but it multiplies the work).
    const ex = await executor('kill', { expireInSeconds: 15 });
    const boss = new PgBoss({ connectionString: cluster!.url });
    boss.on('error', () => undefined);
    await boss.start();
    try {
      const victim = await startWorker('kill');
      const seeds = [21, 22, 23, 24];
      const pending = seeds.map((seed) => both(ex, 20, seed, `kill.batch-${seed}`));
      // Kill it the moment it holds a task: a job of this queue in pg-boss state 'active', read from the
      // job table itself (health()'s counts are pg-boss's cached queue statistics, refreshed only by its
      // monitor, so they can still say 0 while a worker holds a job).
      const db = new pg.Client({ connectionString: cluster!.url });
      await db.connect();
      const activeJobs = async () =>
        (
          await db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'kill' AND state = 'active'",
          )
        ).rows[0]!.n;
      let active = await activeJobs();
      for (let i = 0; i < 600 && active === 0; i++) {
        await sleep(50);
        active = await activeJobs();
      }
      await db.end();
      expect(active).toBeGreaterThan(0);
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      const killedAt = performance.now();
      await startWorker('kill');
      const runs = await Promise.all(pending);
      console.log(
        `kill test: all results ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
      );
      for (const r of runs) {
        expectSameBytes(r.queued, r.local);
        expect(maxAbsDiff(r.decrypted, r.expected)).toBeLessThan(TOL);
      }
      // The task the victim held was delivered again (a retry of its job).
      const c = new pg.Client({ connectionString: cluster!.url });
      await c.connect();
      const ids = (
        await c.query<{ task_id: string }>("SELECT task_id FROM fedscore_task_result WHERE queue = 'kill'")
      ).rows.map((r) => r.task_id);
      await c.end();
      expect(ids.length).toBe(seeds.length);
      const retries = await Promise.all(
        ids.map(async (id) => (await boss.getJobById('kill', jobIdOf('kill', id)))?.retryCount ?? 0),
      );
      expect(Math.max(...retries)).toBeGreaterThanOrEqual(1);
    } finally {
      await boss.stop({ graceful: false, close: true });
      await ex.close();
    }
  }, 240_000);

  it('awaited(): each executor on a shared queue counts its own tasks live, queued then active, and their latency', async () => {
    const ex = await executor('awaited');
    // A second executor on the same queue (a node's other task kinds share its queue).
    const other = await executor('awaited');
    try {
      const { columns, d, expected } = problem(64, 41);
      const plan = layout.productPlan(64);
      const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
      try {
        const product = packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: 'awaited' });
        // No worker yet: the task waits in pg-boss, queued.
        let a = await ex.awaited();
        for (let i = 0; i < 200 && (a.pending === 0 || a.queued < a.pending); i++) {
          a = await sleep(25).then(() => ex.awaited());
        }
        expect(a.pending).toBeGreaterThan(0);
        expect(a).toMatchObject({ queued: a.pending, active: 0 });
        expect(a.latencyMs.count).toBe(0);
        const idle = { pending: 0, queued: 0, active: 0, latencyMs: { count: 0, p50: 0, p95: 0, max: 0 } };
        expect(await other.awaited()).toEqual(idle);
        // A worker takes it: active while it computes, then nothing awaited.
        await startWorker('awaited');
        let sawActive = false;
        let settled = false;
        void product.finally(() => {
          settled = true;
        });
        while (!settled) {
          const now = await ex.awaited();
          if (now.active > 0) sawActive = true;
          expect(now.queued + now.active).toBeLessThanOrEqual(now.pending);
          await sleep(20);
        }
        const parts = await product;
        const decrypted = new Float64Array(64);
        plan.blocks.forEach((block, i) => {
          decrypted.set(ctx.decrypt(parts[i]!).subarray(0, block.rows), block.rowOffset);
        });
        for (const v of parts) v.dispose();
        expect(maxAbsDiff(decrypted, expected)).toBeLessThan(TOL);
        expect(sawActive).toBe(true);
        const done = await ex.awaited();
        expect(done).toMatchObject({ pending: 0, queued: 0, active: 0 });
        expect(done.latencyMs.count).toBe(a.pending);
        expect(done.latencyMs.p50).toBeGreaterThan(0);
        expect(done.latencyMs.max).toBeGreaterThanOrEqual(done.latencyMs.p50);
        // The other executor awaited nothing and completed nothing.
        expect(await other.awaited()).toEqual(idle);
      } finally {
        enc.dispose();
      }
    } finally {
      await Promise.all([ex.close(), other.close()]);
    }
  }, 180_000);

  it('a duplicate delivery stores one result; the same task twice makes one job', async () => {
    const ex = await executor('dup');
    const boss = new PgBoss({ connectionString: cluster!.url });
    boss.on('error', () => undefined);
    await boss.start();
    const c = new pg.Client({ connectionString: cluster!.url });
    await c.connect();
    try {
      await startWorker('dup');
      const { columns, d } = problem(8, 31);
      const plan = layout.productPlan(8);
      const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
      let first: Uint8Array[];
      try {
        // Two identical calls at once: one task id, one job.
        const [a, b] = await Promise.all([
          packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: 'dup' }),
          packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: 'dup' }),
        ]);
        first = bytesOf(a);
        expectSameBytes(bytesOf(b), first);
        const rows = await c.query<{ task_id: string; output: Buffer; deliveries: number }>(
          "SELECT task_id, output, deliveries FROM fedscore_task_result WHERE queue = 'dup'",
        );
        expect(rows.rows.length).toBe(1);
        const { task_id: id, output } = rows.rows[0]!;
        expect(rows.rows[0]!.deliveries).toBe(1);
        // At-least-once: pg-boss delivers the task again (a second job naming the same task id).
        await boss.send('dup', { taskId: id });
        for (let i = 0; i < 400 && (await ex.deliveries(id)) < 2; i++) await sleep(50);
        expect(await ex.deliveries(id)).toBe(2);
        const after = await c.query<{ output: Buffer }>(
          "SELECT output FROM fedscore_task_result WHERE queue = 'dup'",
        );
        expect(after.rows.length).toBe(1);
        expect(Buffer.compare(after.rows[0]!.output, output)).toBe(0);
        // Sent again later: its stored result, no new job.
        const again = bytesOf(
          await packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: 'dup' }),
        );
        expectSameBytes(again, first);
      } finally {
        enc.dispose();
      }
    } finally {
      await c.end();
      await boss.stop({ graceful: false, close: true });
      await ex.close();
    }
  }, 180_000);

  it('one worker serves two jobs: each task carries its public context, loaded once by digest', async () => {
    const ex = await executor('jobs');
    // A second job's keys: another context, the same layout.
    const ctx2 = await createCkksContext({ rotations: packedRotationSteps(layout), relinearization: false });
    const c = new pg.Client({ connectionString: cluster!.url });
    await c.connect();
    try {
      await startWorker('jobs');
      const contexts = [ctx, ctx2].map((k) => k.serialize({ compression: 'none' }));
      const runs = await Promise.all(
        [0, 1, 0, 1].map(async (k, i) => {
          const key = k === 0 ? ctx : ctx2;
          const { columns, d, expected } = problem(16, 60 + i);
          const plan = layout.productPlan(16);
          const enc = key.encrypt(replicate(d, layout.width, SLOTS));
          try {
            const out = await packedProductOn(ex, enc, plan, columns, B, emptyWork(), {
              taskId: `job-${k}`,
              context: contexts[k]!,
            });
            const got = new Float64Array(16);
            plan.blocks.forEach((block, b) => {
              got.set(key.decrypt(out[b]!).subarray(0, block.rows), block.rowOffset);
            });
            for (const v of out) v.dispose();
            return maxAbsDiff(got, expected);
          } finally {
            enc.dispose();
          }
        }),
      );
      for (const err of runs) expect(err).toBeLessThan(TOL);
      // Each context is one blob (stored once, whatever the number of tasks).
      const blobs = await c.query<{ n: number }>(
        // (a blob is the value's structured-clone bytes: the context and a few bytes of header; the
        // batch columns' blobs are far smaller)
        'SELECT count(*)::int AS n FROM fedscore_task_blob WHERE length(bytes) >= $1',
        [Math.min(...contexts.map((b) => b.byteLength))],
      );
      expect(blobs.rows[0]!.n).toBe(2);
      // Weakened: a coordinator putting its secret context in a task. The bytes hold the key (positive
      // control of the search), and packedProductOn refuses them before any task is stored.
      const secretBytes = ctx.serializeSecret({ compression: 'none' });
      expect(findSecret(secretBytes, ckksSecretKeyBytes(ctx))).toBeDefined();
      const before = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM fedscore_task_blob'))
        .rows[0]!.n;
      const { columns, d } = problem(4, 70);
      const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
      try {
        await expect(
          packedProductOn(ex, enc, layout.productPlan(4), columns, B, emptyWork(), {
            taskId: 'weakened',
            context: secretBytes,
          }),
        ).rejects.toMatchObject({ field: 'kind' });
      } finally {
        enc.dispose();
      }
      expect(
        (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM fedscore_task_blob')).rows[0]!.n,
      ).toBe(before);
    } finally {
      await c.end();
      ctx2.dispose();
      await ex.close();
    }
  }, 180_000);

  it("a worker's inputs hold no window of the secret key; a secret context is refused", async () => {
    // No worker on this queue: the tasks' bytes stay in the input table to be searched.
    const ex = await executor('secret');
    const c = new pg.Client({ connectionString: cluster!.url });
    await c.connect();
    const sk = ckksSecretKeyBytes(ctx);
    try {
      const stop = new AbortController();
      const waiting = [41, 42].map((seed) => {
        const { columns, d } = problem(12, seed);
        const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
        const run = packedProductOn(ex, enc, layout.productPlan(12), columns, B, emptyWork(), {
          signal: stop.signal,
        });
        enc.dispose();
        return run.catch((e: unknown) => e);
      });
      for (let i = 0; i < 200 && (await ex.health()).queued < 2; i++) await sleep(50);
      const inputs = await c.query<{ input: Buffer }>(
        "SELECT input FROM fedscore_task_input WHERE queue = 'secret'",
      );
      const context = await c.query<{ context: Buffer }>(
        "SELECT context FROM fedscore_queue_context WHERE queue = 'secret'",
      );
      // The tasks' shared batch columns, stored apart from their inputs.
      const shared = await c.query<{ bytes: Buffer }>('SELECT bytes FROM fedscore_task_blob');
      expect(inputs.rows.length).toBe(2);
      expect(shared.rows.length).toBeGreaterThanOrEqual(2);
      const haystack = [
        context.rows[0]!.context,
        ...inputs.rows.map((r) => r.input),
        ...shared.rows.map((r) => r.bytes),
      ].map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      expectNoSecret(haystack, sk, 'queue worker inputs');
      stop.abort();
      for (const e of await Promise.all(waiting)) expect((e as { code?: string }).code).toBe('aborted');

      // Weakened: a coordinator that publishes its secret context. The search finds the key in it, and
      // the defences refuse it: publishContext, and the worker's handler given a secret context.
      const secretBytes = ctx.serializeSecret({ compression: 'none' });
      expect(findSecret(secretBytes, sk)).toBeDefined();
      await expect(ex.publishContext(secretBytes)).rejects.toMatchObject({ field: 'kind' });
      expect(() => packedProductHandler(ctx)).toThrow(/public context only/);
    } finally {
      await c.end();
      await ex.close();
    }
  }, 120_000);

  it('shared blobs: an old unused one is pruned, a waiting task keeps its own, a pruned one is stored again', async () => {
    const ex = await executor('blobs');
    const c = new pg.Client({ connectionString: cluster!.url });
    await c.connect();
    const hashes = async (): Promise<Set<string>> =>
      new Set(
        (await c.query<{ hash: string }>('SELECT hash FROM fedscore_task_blob')).rows.map((r) => r.hash),
      );
    const { columns, d } = problem(20, 81);
    const plan = layout.productPlan(20);
    const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
    try {
      const before = await hashes();
      const worker = await startWorker('blobs');
      // A: a finished task; its batch columns' blobs are then named by no stored input.
      const first = bytesOf(await packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: 'a' }));
      const afterA = await hashes();
      const aBlobs = [...afterA].filter((h) => !before.has(h));
      expect(aBlobs.length).toBeGreaterThan(0);
      // B: a task waiting for a worker (none runs), its input row naming its own blobs.
      await killNow(worker);
      const waiting = both(ex, 20, 82, 'b');
      const inputs = async () =>
        (
          await c.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM fedscore_task_input WHERE queue = 'blobs'",
          )
        ).rows[0]!.n;
      for (let i = 0; i < 400 && (await inputs()) === 0; i++) await sleep(50);
      expect(await inputs()).toBe(1);
      const bBlobs = [...(await hashes())].filter((h) => !afterA.has(h));
      expect(bBlobs.length).toBeGreaterThan(0);
      // Every blob unused for two hours (as if the retention had passed), and one blob used just now.
      await c.query("UPDATE fedscore_task_blob SET last_used_at = now() - interval '2 hours'");
      await c.query("INSERT INTO fedscore_task_blob (hash, bytes) VALUES ($1, '\\x00')", ['f'.repeat(64)]);
      await expect(ex.pruneBlobs({ olderThanSeconds: 60 })).rejects.toMatchObject({
        code: 'out_of_range',
        field: 'olderThanSeconds',
      });
      const removed = await ex.pruneBlobs({ olderThanSeconds: 3600 });
      const left = await hashes();
      for (const h of aBlobs) expect(left.has(h), `A's blob ${h}`).toBe(false);
      for (const h of bBlobs) expect(left.has(h), `B's blob ${h}`).toBe(true);
      expect(left.has('f'.repeat(64))).toBe(true);
      expect(removed).toBeGreaterThanOrEqual(aBlobs.length);
      // B runs on its kept blobs: the local pool's bytes.
      await startWorker('blobs');
      const b = await waiting;
      expectSameBytes(b.queued, b.local);
      expect(maxAbsDiff(b.decrypted, b.expected)).toBeLessThan(TOL);
      // A sent again after the prune (another task id: its result is not stored): its blobs are stored
      // again and it gives the same bytes as before.
      const again = bytesOf(await packedProductOn(ex, enc, plan, columns, B, emptyWork(), { taskId: 'a2' }));
      expectSameBytes(again, first);
      const restored = await hashes();
      for (const h of aBlobs) expect(restored.has(h), `A's blob ${h} stored again`).toBe(true);
    } finally {
      enc.dispose();
      await c.end();
      await ex.close();
    }
  }, 240_000);
});

/** Equal lists of byte strings, compared whole (a hex digest would hide nothing: these are exact). */
function expectSameBytes(a: readonly Uint8Array[], b: readonly Uint8Array[]): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Buffer.compare(a[i]!, b[i]!), `block ${i}`).toBe(0);
}

async function killNow(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('queue executor options (no database needed)', () => {
  it('refuses a bad queue name and a bad task id prefix, naming the field, before connecting', async () => {
    await expect(
      QueueExecutor.create({ connectionString: 'postgres://127.0.0.1:1/none', queue: 'two words' }),
    ).rejects.toMatchObject({ code: 'invalid_argument', field: 'queue' });
    expect(() => taskIdOf('job 1', new Uint8Array(1))).toThrow(/prefix/);
    // The id ends with the task's digest: equal bytes, equal ids; other bytes, another id.
    const a = taskIdOf('job-1', new Uint8Array([1, 2]));
    expect(a).toBe(taskIdOf('job-1', new Uint8Array([1, 2])));
    expect(a).not.toBe(taskIdOf('job-1', new Uint8Array([1, 3])));
    expect(a).toMatch(/^job-1\/[0-9a-f]{64}$/);
    // Shared fields: cut out by digest, so equal columns make one blob whatever else differs, and the
    // task's bytes (hence its id) still change with them.
    const cols = [Float64Array.of(1, 2, 3)];
    const one = encodeTask({ op: 'x', d: Uint8Array.of(1), batch: cols }, ['batch']);
    const two = encodeTask({ op: 'x', d: Uint8Array.of(2), batch: cols }, ['batch']);
    const other = encodeTask({ op: 'x', d: Uint8Array.of(1), batch: [Float64Array.of(1, 2, 4)] }, ['batch']);
    expect(one.blobs.map((b) => b.hash)).toEqual(two.blobs.map((b) => b.hash));
    expect(taskIdOf('p', one.bytes)).not.toBe(taskIdOf('p', other.bytes));
    expect(decodeEnvelope(one.bytes)).toEqual({
      task: { op: 'x', d: Uint8Array.of(1) },
      shared: { batch: one.blobs[0]!.hash },
    });
    expect(() => decodeEnvelope(Uint8Array.of(1, 2, 3))).toThrow(expect.objectContaining({ field: 'input' }));
    expect(jobIdOf('q', a)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
