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
 */
import { cryptoRng, seededRng, uniform } from '@fedscore/core';
import { type CkksVector, createCkksContext } from '@fedscore/he';
import { HE_TASK_SHARED_FIELDS, QueueExecutor } from '@fedscore/queue';
import { type PgCluster, postgresUnavailable, startPgCluster } from '@fedscore/queue/testing';
import {
  BINNING_CKKS_PARAMS,
  type BinSumTask,
  type BinSumWorkerOutput,
  binSumRotations,
  decodeBinSums,
  evaluateBinSumsParallel,
  planBinSums,
} from '@fedscore/vfl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workers } from './queue-workers.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue binning tests: ${unavailable}`);

let cluster: PgCluster | undefined;
let workers: Workers;

describe.skipIf(unavailable !== undefined)('WOE bin sums on the work queue', () => {
  beforeAll(async () => {
    cluster = await startPgCluster();
    workers = new Workers(cluster.url);
  }, 120_000);

  afterAll(() => {
    workers?.killAll();
    cluster?.stop();
  });

  it('decodes to the same counts as the threads and the plaintext', async () => {
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
    const ex = await QueueExecutor.create<BinSumTask, BinSumWorkerOutput>({
      connectionString: cluster!.url,
      queue: 'binning',
      pollMs: 200,
      sharedFields: HE_TASK_SHARED_FIELDS,
    });
    try {
      const labels = Array.from({ length: plan.batches }, (_, k) => {
        const v = ctx.encryptSymmetric(y.subarray(k * S, Math.min(rows, (k + 1) * S)));
        try {
          return v.serialize();
        } finally {
          v.dispose();
        }
      });
      await Promise.all([workers.start('binning'), workers.start('binning')]);
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
});
