/**
 * SecureBoost's host histograms on the work queue (issue 18): one level's directly summed nodes over one
 * range of row batches per `sbHistogram` task on a pg-boss queue in a throwaway PostgreSQL cluster,
 * evaluated by `fedscore worker` processes holding the guest's PUBLIC context only; the host adds the
 * ranges' sums in range order and releases (floods) them itself (vfl secureboost/offload.ts).
 *
 * - Histograms: three ranges (ckks-8192, 4096 slots, 9,692 rows, three blocks and a baby/giant split
 *   forced small), two nodes, one of them with merged bins (the per-bin floor's groups): the queued sums
 *   equal the in-process `GradientRotations` sums within 1e-6 and the plaintext per-cell sums of g and h
 *   within 1e-5 (the histogram test's tolerance at this preset: circuit error measured up to 1e-6); one
 *   task per range, each stored once.
 * - A whole CKKS training run (the default release preset, 9,000 rows: two batches, so two tasks per
 *   level; 2 trees of depth 3) with the host's histograms on two workers equals the in-process run with
 *   the same generators (the same flooding noise): the same trees node for node (kind, feature, bin, host
 *   split ids, children), the same host splits, leaf weights and gains within 1e-9 relative (the
 *   queued sums differ from the in-process ones by CKKS rounding only, ~2^-34 against flooding sd ~1e-3).
 * - The same run with its only worker SIGKILLed while it holds a histogram task, a new one started: the
 *   job completes with the same model (the killed worker's task expires and is redelivered; its result
 *   is keyed by its task id).
 * - What a worker would receive -- every stored task input and shared blob (context, packed gradients,
 *   bin index, layout) -- holds no window of the guest's secret key (the search finds the key in the
 *   secret context's bytes: positive control), and the handler refuses a secret context.
 */
import { loadRngKey, seededRng, uniform } from '@fedscore/core';
import { expectNoSecret, findSecret } from '@fedscore/core/testing';
import { type CkksVector, createCkksContext, sumRotationSteps } from '@fedscore/he';
import { ckksSecretKeyBytes } from '@fedscore/he/testing';
import { postgresUnavailable } from '@fedscore/queue/testing';
import {
  GradientRotations,
  type HistogramLayout,
  type HistogramTask,
  type HistogramTaskOutput,
  histogramTaskHandler,
  mergedBins,
  OffloadedHistograms,
  type PartyFeatures,
  releaseBlock,
  type SecureBoostHistogramOffload,
  type TrainSecureBoostResult,
  trainSecureBoost,
} from '@fedscore/vfl';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { heTaskExecutor, killNow, type QueueRig, useQueue, waitForActive } from './queue-workers.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue SecureBoost tests: ${unavailable}`);

let q: QueueRig;

const executor = (queue: string, extra: { expireInSeconds?: number } = {}) =>
  heTaskExecutor<HistogramTask, HistogramTaskOutput>(q.url, queue, extra);

/** A cryptographic generator from a fixed key: the same flooding noise and draws in every run. */
async function generator(label: string) {
  const key = await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => 5 * i + 2));
  return key.derive(label);
}

/** Guest and host features of `rows` rows and labels from a logistic model over both. */
function population(rows: number) {
  const rng = seededRng(31);
  const col = () => Float64Array.from({ length: rows }, () => uniform(rng) * 4 - 2);
  const guest: PartyFeatures = { names: ['g0', 'g1'], columns: [col(), col()] };
  const host: PartyFeatures = { names: ['h0', 'h1', 'h2', 'h3'], columns: [col(), col(), col(), col()] };
  const labels = Float64Array.from({ length: rows }, (_, i) => {
    const z =
      0.8 * guest.columns[0]![i]! -
      0.5 * guest.columns[1]![i]! +
      1.1 * host.columns[0]![i]! * (host.columns[1]![i]! > 0 ? 1 : -0.5) -
      0.7 * host.columns[2]![i]! -
      1.5;
    return uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
  return { guest, host, labels };
}

const RUN_ROWS = 9000;
const HYPERPARAMS = { trees: 2, depth: 3, bins: 8, learningRate: 0.3, minNodeRows: 50 };

/** One CKKS training run, the host's histograms on `offload` when given. */
async function train(offload?: SecureBoostHistogramOffload): Promise<TrainSecureBoostResult> {
  const { guest, host, labels } = population(RUN_ROWS);
  return trainSecureBoost({
    guest: { features: guest, labels },
    hosts: [
      {
        features: host,
        rng: await generator('host'),
        ...(offload !== undefined && { histogramOffload: offload }),
      },
    ],
    scheme: 'ckks',
    hyperparams: HYPERPARAMS,
    rng: await generator('guest'),
    modelId: 'queue-secureboost-test',
  });
}

let inProcess: Promise<TrainSecureBoostResult> | undefined;
/** The in-process run (computed once per file). */
const reference = () => {
  inProcess ??= train();
  return inProcess;
};

/** The same model: trees node for node, host splits; weights and gains within 1e-9 relative. */
function expectSameModel(got: TrainSecureBoostResult, want: TrainSecureBoostResult): void {
  const close = (a: number, b: number) =>
    expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
  expect(got.hosts[0]!.splits).toEqual(want.hosts[0]!.splits);
  expect(got.guest.trees.length).toBe(want.guest.trees.length);
  got.guest.trees.forEach((tree, t) => {
    const ref = want.guest.trees[t]!;
    expect(tree.length).toBe(ref.length);
    tree.forEach((node, i) => {
      const r = ref[i]!;
      expect(node.kind).toBe(r.kind);
      if (node.kind === 'leaf' && r.kind === 'leaf') close(node.weight, r.weight);
      else if (node.kind !== 'leaf' && r.kind !== 'leaf') {
        const { gain, ...shape } = node;
        const { gain: refGain, ...refShape } = r;
        expect(shape).toEqual(refShape);
        close(gain, refGain);
      }
    });
  });
  // A run that split on host features (else the host's histograms decided nothing).
  expect(want.hosts[0]!.splits.length).toBeGreaterThan(0);
}

describe.skipIf(unavailable !== undefined)('SecureBoost host histograms on the work queue', () => {
  q = useQueue();

  it('equal the in-process and the plaintext per-cell sums (three ranges, merged bins)', async () => {
    const ctx = await createCkksContext({ params: 'ckks-8192', rotations: sumRotationSteps(4096) });
    const ex = await executor('sb-hist');
    const cleanup: { dispose(): void }[] = [];
    try {
      const S = ctx.slotCount;
      const rows = 2 * S + 1500;
      const rng = seededRng(7);
      const counts = [5, 13, 7, 9];
      const offsets = [0, 5, 18, 25];
      const cells = 34;
      const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
      const binned = { bins: [], index, counts };
      const g = Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1);
      const h = Float64Array.from({ length: rows }, () => uniform(rng) / 4);
      const a = Int32Array.from([...Array(rows).keys()].filter((i) => i % 3 !== 1));
      const b = Int32Array.from([...Array(rows).keys()].filter((i) => i % 3 === 1));
      // Node b's feature-1 bins 0..3 merged into one group ending at bin 3 (cell 8).
      const ends = Int32Array.from({ length: cells }, (_, c) => (c >= 5 && c <= 8 ? 8 : c));
      const layout: HistogramLayout = {
        slotCount: S,
        rows,
        batches: 3,
        cells,
        blockSize: 16,
        blocks: 3,
        baby: 4,
        giant: 4,
      };
      const encG = ctx.encryptBatch(g);
      const encH = ctx.encryptBatch(h);
      cleanup.push(...encG, ...encH);
      await Promise.all([q.workers.start('sb-hist'), q.workers.start('sb-hist')]);
      const rot = new GradientRotations(ctx, layout, encG, encH);
      cleanup.push(rot);
      const local = [rot.node(a, binned, offsets), rot.node(b, mergedBins(binned, offsets, ends), offsets)];
      const off = new OffloadedHistograms(ctx, layout, binned, {
        executor: ex,
        batchesPerTask: 1,
        taskIdPrefix: 'sb-hist-1',
      });
      off.startTree(encG, encH);
      const queued = await off.nodes([{ rows: a }, { rows: b, ends }]);
      off.endTree();
      for (const s of [...local, ...queued]) cleanup.push(...s.z);
      const open = (blocks: readonly CkksVector[]) => {
        const og: number[] = [];
        const oh: number[] = [];
        for (const blk of blocks) {
          const v = releaseBlock(ctx, blk, new Float64Array(blk.length), new Float64Array(blk.length));
          og.push(...ctx.decrypt(v.g));
          oh.push(...ctx.decrypt(v.h));
          v.g.dispose();
          v.h.dispose();
        }
        return { g: og, h: oh };
      };
      for (const [n, members, nodeEnds] of [
        [0, a, undefined],
        [1, b, ends],
      ] as const) {
        const eg = new Float64Array(cells);
        const eh = new Float64Array(cells);
        for (const i of members) {
          counts.forEach((_, f) => {
            const c = offsets[f]! + index[f]![i]!;
            const cell = nodeEnds === undefined ? c : nodeEnds[c]!;
            eg[cell]! += g[i]!;
            eh[cell]! += h[i]!;
          });
        }
        const mine = open(local[n]!.z);
        const theirs = open(queued[n]!.z);
        expect(theirs.g.length).toBe(cells);
        for (let c = 0; c < cells; c++) {
          expect(Math.abs(theirs.g[c]! - mine.g[c]!)).toBeLessThan(1e-6);
          expect(Math.abs(theirs.h[c]! - mine.h[c]!)).toBeLessThan(1e-6);
          expect(Math.abs(theirs.g[c]! - eg[c]!)).toBeLessThan(1e-5);
          expect(Math.abs(theirs.h[c]! - eh[c]!)).toBeLessThan(1e-5);
        }
      }
      const health = await ex.health();
      expect(health.taskMs.count).toBe(3);
      expect(health.failed).toBe(0);
    } finally {
      for (const d of cleanup) d.dispose();
      await ex.close();
      ctx.dispose();
    }
  }, 300_000);

  it("a worker's inputs hold no window of the secret key; a secret context is refused", async () => {
    const ctx = await createCkksContext({ params: 'ckks-8192', rotations: sumRotationSteps(4096) });
    // No worker on this queue: the tasks' bytes stay in the input table to be searched.
    const ex = await executor('sb-secret');
    const c = new pg.Client({ connectionString: q.url });
    await c.connect();
    const cleanup: { dispose(): void }[] = [];
    try {
      const S = ctx.slotCount;
      const rows = S + 900;
      const rng = seededRng(9);
      const counts = [6, 10];
      const index = counts.map((n) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * n)));
      const layout: HistogramLayout = {
        slotCount: S,
        rows,
        batches: 2,
        cells: 16,
        blockSize: 16,
        blocks: 1,
        baby: 4,
        giant: 4,
      };
      const encG = ctx.encryptBatch(Float64Array.from({ length: rows }, () => uniform(rng) - 0.5));
      const encH = ctx.encryptBatch(Float64Array.from({ length: rows }, () => uniform(rng) / 4));
      cleanup.push(...encG, ...encH);
      const off = new OffloadedHistograms(ctx, layout, { bins: [], index, counts }, { executor: ex });
      off.startTree(encG, encH);
      const waiting = off.nodes([{ rows: Int32Array.from({ length: rows }, (_, i) => i) }]);
      const failed = waiting.catch((e: unknown) => e);
      for (let i = 0; i < 200 && (await ex.health()).queued < 2; i++)
        await new Promise((r) => setTimeout(r, 50));
      const inputs = await c.query<{ input: Buffer }>(
        "SELECT input FROM fedscore_task_input WHERE queue = 'sb-secret'",
      );
      const shared = await c.query<{ bytes: Buffer }>('SELECT bytes FROM fedscore_task_blob');
      expect(inputs.rows.length).toBe(2);
      const haystack = [...inputs.rows.map((r) => r.input), ...shared.rows.map((r) => r.bytes)].map(
        (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
      );
      const sk = ckksSecretKeyBytes(ctx);
      expectNoSecret(haystack, sk, 'histogram task inputs and blobs');
      // Positive control: the same search finds the key in the secret context's bytes.
      expect(findSecret(ctx.serializeSecret({ compression: 'none' }), sk)).toBeDefined();
      expect(() => histogramTaskHandler(ctx)).toThrow(/public context only/);
      await ex.close();
      expect(((await failed) as { code?: string }).code).toBe('channel_closed');
    } finally {
      for (const d of cleanup) d.dispose();
      await c.end();
      await ex.close();
      ctx.dispose();
    }
  }, 120_000);

  it('a CKKS training run with its histograms on two workers equals the in-process run', async () => {
    const ex = await executor('sb-run');
    try {
      await Promise.all([q.workers.start('sb-run'), q.workers.start('sb-run')]);
      const queued = await train({ executor: ex, taskIdPrefix: 'sb-run-1' });
      expectSameModel(queued, await reference());
      const health = await ex.health();
      expect(health.failed).toBe(0);
      // Two ranges per level: at least the root's two tasks per tree.
      expect(health.taskMs.count).toBeGreaterThanOrEqual(2 * HYPERPARAMS.trees);
    } finally {
      await ex.close();
    }
  }, 900_000);

  it('a worker SIGKILLed while it holds a histogram task loses nothing; the same model', async () => {
    // Expiry well above a task's time on this loaded machine, short enough for the redelivery.
    const ex = await executor('sb-kill', { expireInSeconds: 20 });
    try {
      const victim = await q.workers.start('sb-kill');
      const run = train({ executor: ex, taskIdPrefix: 'sb-kill' });
      run.catch(() => undefined);
      expect(await waitForActive(q.url, 'sb-kill', 'sb-kill', 300_000)).toBeGreaterThan(0);
      await killNow(victim);
      await q.workers.start('sb-kill');
      expectSameModel(await run, await reference());
      const health = await ex.health();
      expect(health.retries).toBeGreaterThan(0);
      expect(health.failed).toBe(0);
    } finally {
      await ex.close();
    }
  }, 900_000);
});
