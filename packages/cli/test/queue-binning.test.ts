/**
 * The WOE binning's encrypted bin sums (the host's side) on the work queue (issue 18): the partial
 * per-cell label sums of batch ranges as `binSums` tasks on a pg-boss queue in a throwaway PostgreSQL
 * cluster, evaluated by two `fedscore worker` processes holding the guest's PUBLIC context only; the host
 * adds the partials and floods the total itself.
 *
 * - The bad count of every cell the guest decodes from the queued sums equals, exactly, the count from
 *   the same sums on the host's threads (`queue: none`) and the plaintext count (sum of the labels per
 *   cell); the decrypted slots of both runs are within 0.2 of each other (flooding sd 1/32 each, fresh
 *   per run: 0.2 is > 4.5 sd of the difference).
 * - The queue ran one task per range of `batchesPerTask` batches, each stored once.
 * - The only worker SIGKILLed while it holds tasks, a new one started: the counts are still exact
 *   (the killed worker's tasks expire and are redelivered; their results are keyed by task id).
 */
import { cryptoRng, seededRng, uniform } from '@fedscore/core';
import { type CkksVector, createCkksContext } from '@fedscore/he';
import { postgresUnavailable } from '@fedscore/queue/testing';
import {
  BINNING_CKKS_PARAMS,
  type BinSumTask,
  type BinSumWorkerOutput,
  binSumRotations,
  decodeBinSums,
  evaluateBinSumsParallel,
  planBinSums,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { heTaskExecutor, killNow, type QueueRig, useQueue, waitForActive } from './queue-workers.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue binning tests: ${unavailable}`);

let q: QueueRig;

/** A host's bin index, the guest's labels (encrypted by batch) and the plaintext bad count per cell. */
async function problem() {
  const rng = seededRng(12);
  const rows = 5 * 4096 + 321;
  const bins = [6, 4, 7];
  const binIndex = bins.map((b) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * b)));
  const y = Float64Array.from({ length: rows }, () => (uniform(rng) < 0.2 ? 1 : 0));
  const cells = bins.flatMap((b, feature) => Array.from({ length: b }, (_, bin) => ({ feature, bin })));
  const counts = cells.map(({ feature, bin }) => binIndex[feature]!.filter((v) => v === bin).length);
  const bad = cells.map(({ feature, bin }) =>
    binIndex[feature]!.reduce((s, v, i) => s + (v === bin ? y[i]! : 0), 0),
  );
  const S = BINNING_CKKS_PARAMS.polyModulusDegree / 2;
  const plan = planBinSums(counts, rows, S);
  const ctx = await createCkksContext({
    params: BINNING_CKKS_PARAMS,
    rotations: binSumRotations(plan),
    relinearization: false,
  });
  const labels = Array.from({ length: plan.batches }, (_, k) =>
    ctx.encryptSymmetricSerialized(y.subarray(k * S, Math.min(rows, (k + 1) * S))),
  );
  /** Decrypt and decode returned sums (the guest's side). */
  const decode = (sums: CkksVector[]) => {
    const blocks = sums.map((v) => {
      try {
        return ctx.decrypt(v);
      } finally {
        v.dispose();
      }
    });
    return { blocks, counts: decodeBinSums(plan, counts, blocks) };
  };
  return { binIndex, cells, bad, plan, ctx, labels, decode };
}

const executor = (queue: string, extra: { expireInSeconds?: number } = {}) =>
  heTaskExecutor<BinSumTask, BinSumWorkerOutput>(q.url, queue, extra);

describe.skipIf(unavailable !== undefined)('WOE bin sums on the work queue', () => {
  q = useQueue();

  it('decodes to the same counts as the threads and the plaintext', async () => {
    const { binIndex, cells, bad, plan, ctx, labels, decode } = await problem();
    const ex = await executor('binning');
    try {
      await Promise.all([q.workers.start('binning'), q.workers.start('binning')]);
      const threads = decode(
        (await evaluateBinSumsParallel(ctx, labels, plan, cells, binIndex, { rng: cryptoRng(), workers: 2 }))
          .sums,
      );
      const queued = decode(
        (
          await evaluateBinSumsParallel(ctx, labels, plan, cells, binIndex, {
            rng: cryptoRng(),
            offload: { executor: ex, batchesPerTask: 2, taskIdPrefix: 'bins-1' },
          })
        ).sums,
      );
      expect([...queued.counts]).toEqual(bad);
      expect([...threads.counts]).toEqual(bad);
      queued.blocks.forEach((b, k) => {
        let m = 0;
        for (let i = 0; i < plan.blockSize; i++) m = Math.max(m, Math.abs(b[i]! - threads.blocks[k]![i]!));
        expect(m).toBeLessThan(0.2);
      });
      const h = await ex.health();
      expect(h.taskMs.count).toBe(Math.ceil(plan.batches / 2));
      expect(h.failed).toBe(0);
    } finally {
      await ex.close();
      ctx.dispose();
    }
  }, 240_000);

  it('a worker SIGKILLed while it holds bin-sum tasks loses nothing; the counts are exact', async () => {
    const { binIndex, cells, bad, plan, ctx, labels, decode } = await problem();
    // Expiry well above a task's time on this loaded machine, short enough for the redelivery.
    const ex = await executor('binning-kill', { expireInSeconds: 15 });
    try {
      const victim = await q.workers.start('binning-kill');
      const run = evaluateBinSumsParallel(ctx, labels, plan, cells, binIndex, {
        rng: cryptoRng(),
        offload: { executor: ex, batchesPerTask: 1, taskIdPrefix: 'bins-kill' },
      });
      run.catch(() => undefined);
      expect(await waitForActive(q.url, 'binning-kill', 'bins-kill')).toBeGreaterThan(0);
      await killNow(victim);
      await q.workers.start('binning-kill');
      const queued = decode((await run).sums);
      expect([...queued.counts]).toEqual(bad);
      const h = await ex.health();
      expect(h.retries).toBeGreaterThan(0);
      expect(h.failed).toBe(0);
    } finally {
      await ex.close();
      ctx.dispose();
    }
  }, 240_000);
});
