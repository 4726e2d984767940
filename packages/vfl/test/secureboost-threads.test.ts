/**
 * The SecureBoost host's histogram tasks (`sbHistogram`, secureboost/offload.ts) on `@fedscore/he`'s
 * worker THREAD pool (`taskKinds: HISTOGRAM_THREAD_KINDS`, `HeWorkerPool.executor`), what a host with
 * `workers: 2` runs when the cost rule picks the threads. ckks-8192, 4096 slots, 4,596 rows: two ranges of
 * one batch each (one per thread), two blocks, a baby/giant split forced small.
 *
 * - Two levels of the same tree on the threads equal the in-process `GradientRotations` sums within 1e-6
 *   and the plaintext per-cell sums within 1e-5 (the offload test's tolerances at this preset), the second
 *   level's tasks reusing the first level's rotations on each thread (equal bytes interned), and a node
 *   with merged bins (per-bin floor) included.
 * - A pool started without task kinds refuses an executor task (`unsupported`, field `taskKinds`); an
 *   unknown kind is refused by the thread (`invalid_argument`, field `op`); the pool keeps serving.
 * - A whole CKKS run (9,000 rows: two batches at the default preset, one per thread) with the host's
 *   `workers: 2` and the threads forced grows the in-process run's model with the same generators: the
 *   same host splits and tree shapes, gains and leaf weights within 1e-9 relative (the queue test's
 *   check), and it split on host features.
 * - The cost rule: never with fewer than 2 workers; at default_credit's shape (24,000 rows, 320 cells,
 *   depth 3, ckks-16384-release) the run-cached path in-process (measured 1.1-1.8x faster than 2 threads);
 *   with no diagonal cache allowed, 8 batches on 4 threads beat the in-process per-level encodes.
 */
import { loadRngKey, seededRng, uniform } from '@fedscore/core';
import { createCkksContext, createHeWorkerPool, sumRotationSteps } from '@fedscore/he';
import {
  GradientRotations,
  HISTOGRAM_THREAD_KINDS,
  type HistogramTask,
  type HistogramTaskOutput,
  mergedBins,
  OffloadedHistograms,
  type PartyFeatures,
  type TrainSecureBoostResult,
  threadedHistogramsWin,
  trainSecureBoost,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { expectNodeSums, smallHistogramShape } from './secureboost-task-fixtures.ts';

describe('SecureBoost histogram tasks on the HE worker threads', () => {
  it('equal the in-process and plaintext sums over two levels; bad kinds refused; the cost rule', async () => {
    const ctx = await createCkksContext({ params: 'ckks-8192', rotations: sumRotationSteps(4096) });
    const cleanup: { dispose(): void }[] = [];
    const pool = await createHeWorkerPool({
      size: 2,
      context: ctx.serialize(),
      taskKinds: HISTOGRAM_THREAD_KINDS,
    });
    const bare = await createHeWorkerPool({ size: 1, context: ctx.serialize() });
    try {
      const S = ctx.slotCount;
      const shape = smallHistogramShape(S, 23);
      const { rows, offsets, binned, g, h, layout, ends } = shape;
      const root = Int32Array.from(Array(rows).keys());
      const a = Int32Array.from([...Array(rows).keys()].filter((i) => i % 3 !== 0));
      const encG = ctx.encryptBatch(g);
      const encH = ctx.encryptBatch(h);
      cleanup.push(...encG, ...encH);

      const executor = pool.executor<HistogramTask, HistogramTaskOutput>();
      const off = new OffloadedHistograms(ctx, layout, binned, { executor });
      off.startTree(encG, encH);
      const level0 = await off.nodes([{ rows: root }]);
      const level1 = await off.nodes([{ rows: a, ends }]);
      off.endTree();
      const rot = new GradientRotations(ctx, layout, encG, encH);
      cleanup.push(rot);
      const local = [
        rot.node(root, binned, offsets),
        rot.node(a, mergedBins(binned, offsets, ends), offsets),
      ];
      const threaded = [level0[0]!, level1[0]!];
      for (const s of [...local, ...threaded]) cleanup.push(...s.z);

      expectNodeSums(ctx, shape, threaded[0]!.z, local[0]!.z, root);
      expectNodeSums(ctx, shape, threaded[1]!.z, local[1]!.z, a, ends);

      await expect(
        bare.executor<HistogramTask, HistogramTaskOutput>().run({} as HistogramTask),
      ).rejects.toMatchObject({ code: 'unsupported', field: 'taskKinds' });
      await expect(pool.executor<{ op: string }, unknown>().run({ op: 'binSums' })).rejects.toMatchObject({
        code: 'invalid_argument',
        field: 'op',
      });
      // Still serving after the refusal.
      expect(await pool.encrypt([Float64Array.of(1)])).toHaveLength(1);

      expect(threadedHistogramsWin(ctx, 320, 24_000, 3, 1)).toBe(false);
      expect(threadedHistogramsWin(ctx, 320, 24_000, 3, 0)).toBe(false);
      // default_credit's shape (at its 8192 slots: 3 batches): the run-cached path stays in-process
      // (measured 1.1-1.8x faster than 2 threads); with no diagonal cache, 8 batches on 4 threads win.
      const big = await createCkksContext({
        params: 'ckks-16384-release',
        rotations: [1],
        relinearization: false,
      });
      try {
        expect(threadedHistogramsWin(big, 320, 24_000, 3, 2)).toBe(false);
        expect(threadedHistogramsWin(big, 320, 8 * big.slotCount, 3, 4, 0)).toBe(true);
      } finally {
        big.dispose();
      }
    } finally {
      for (const d of cleanup) d.dispose();
      await Promise.all([pool.close(), bare.close()]);
      ctx.dispose();
    }
  }, 300_000);

  it('a CKKS run with the host on 2 threads grows the in-process model', async () => {
    const key = await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => 7 * i + 3));
    const rows = 9000;
    const rng = seededRng(41);
    const col = () => Float64Array.from({ length: rows }, () => uniform(rng) * 4 - 2);
    const guest: PartyFeatures = { names: ['g0', 'g1'], columns: [col(), col()] };
    const host: PartyFeatures = { names: ['h0', 'h1', 'h2'], columns: [col(), col(), col()] };
    const labels = Float64Array.from({ length: rows }, (_, i) => {
      const z = 0.8 * guest.columns[0]![i]! + 1.2 * host.columns[0]![i]! - 0.7 * host.columns[2]![i]! - 1;
      return uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    });
    const run = (threads: boolean): Promise<TrainSecureBoostResult> =>
      trainSecureBoost({
        guest: { features: guest, labels },
        hosts: [
          {
            features: host,
            rng: key.derive('host'),
            ...(threads && { workers: 2, threadedHistograms: true }),
          },
        ],
        scheme: 'ckks',
        hyperparams: { trees: 2, depth: 3, bins: 8, learningRate: 0.3, minNodeRows: 50 },
        rng: key.derive('guest'),
        modelId: 'secureboost-threads-test',
      });
    const want = await run(false);
    const got = await run(true);
    const close = (a: number, b: number) =>
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
    expect(want.hosts[0]!.splits.length).toBeGreaterThan(0);
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
  }, 600_000);
});
