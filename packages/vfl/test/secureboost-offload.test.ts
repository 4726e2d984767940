/**
 * The SecureBoost host's histogram tasks (secureboost/offload.ts) without a queue: `OffloadedHistograms`
 * over an executor that runs `histogramTaskHandler` in this process (each task passed through V8
 * structured-clone bytes, as the queue stores it). ckks-8192, 4096 slots, 4,596 rows: two ranges of one
 * batch each, two blocks and a baby/giant split forced small.
 *
 * - The offloaded sums of two nodes (one with merged bins) equal the in-process `GradientRotations` sums
 *   within 1e-6 and the plaintext per-cell sums within 1e-5 (the histogram test's tolerance at this
 *   preset); a node with rows in one range only is sent in that range's task only.
 * - The handler refuses a secret context and malformed tasks with typed errors naming the field (a
 *   wrong op, rows outside the range or not ascending, a group end outside its feature, a layout that does
 *   not fit the context), and evaluates nothing for them.
 * The queue itself (worker processes, a SIGKILLed worker, whole training runs) is
 * packages/cli/test/queue-secureboost.test.ts.
 */
import { deserialize, serialize } from 'node:v8';
import { createCkksContext, loadCkksPublicContext, sumRotationSteps } from '@fedscore/he';
import {
  GradientRotations,
  type HistogramTask,
  type HistogramTaskOutput,
  histogramTaskHandler,
  mergedBins,
  OffloadedHistograms,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { expectNodeSums, smallHistogramShape } from './secureboost-task-fixtures.ts';

describe('SecureBoost histogram tasks', () => {
  it('equal the in-process and plaintext sums; malformed tasks and a secret context are refused', async () => {
    const ctx = await createCkksContext({ params: 'ckks-8192', rotations: sumRotationSteps(4096) });
    const cleanup: { dispose(): void }[] = [];
    try {
      const S = ctx.slotCount;
      const shape = smallHistogramShape(S, 17);
      const { rows, offsets, cells, binned, g, h, layout, ends } = shape;
      const a = Int32Array.from([...Array(rows).keys()].filter((i) => i % 4 !== 0));
      // Rows of the first batch only: its task is the first range's alone.
      const b = Int32Array.from([...Array(S).keys()].filter((i) => i % 4 === 0));
      const encG = ctx.encryptBatch(g);
      const encH = ctx.encryptBatch(h);
      cleanup.push(...encG, ...encH);

      expect(() => histogramTaskHandler(ctx)).toThrow(/public context only/);
      // The worker's side: the public context only, loaded from the bytes a task carries.
      const pub = await loadCkksPublicContext(ctx.serialize({ compression: 'none' }));
      cleanup.push(pub);
      const worker = histogramTaskHandler(pub);
      const sent: HistogramTask[] = [];
      const executor = {
        run: async (task: HistogramTask) => {
          const copy = deserialize(serialize(task)) as HistogramTask;
          sent.push(copy);
          const { context: _c, ...rest } = copy;
          return worker(rest as HistogramTask) as HistogramTaskOutput;
        },
        close: async () => undefined,
      };
      const off = new OffloadedHistograms(ctx, layout, binned, { executor, taskIdPrefix: 'unit' });
      off.startTree(encG, encH);
      const queued = await off.nodes([{ rows: a }, { rows: b, ends }]);
      off.endTree();
      const rot = new GradientRotations(ctx, layout, encG, encH);
      cleanup.push(rot);
      const local = [rot.node(a, binned, offsets), rot.node(b, mergedBins(binned, offsets, ends), offsets)];
      for (const s of [...local, ...queued]) cleanup.push(...s.z);
      expect(sent.map((t) => [t.from, t.to, t.nodes.length])).toEqual([
        [0, 1, 2],
        [1, 2, 1],
      ]);

      expectNodeSums(ctx, shape, queued[0]!.z, local[0]!.z, a);
      expectNodeSums(ctx, shape, queued[1]!.z, local[1]!.z, b, ends);

      // Malformed tasks: typed errors naming the field.
      const { context: _c, ...good } = sent[1]!;
      const bad = (patch: Partial<HistogramTask>) => () => worker({ ...good, ...patch } as HistogramTask);
      expect(bad({ op: 'binSums' as never })).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'op' }),
      );
      expect(bad({ nodes: [{ rows: Int32Array.from([5, 3]) }] })).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'nodes' }),
      );
      expect(bad({ nodes: [{ rows: Int32Array.from([0, 600]) }] })).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'nodes' }),
      );
      expect(
        bad({ nodes: [{ rows: Int32Array.from([0]), ends: Int32Array.from({ length: cells }, () => 0) }] }),
      ).toThrow(expect.objectContaining({ code: 'invalid_argument', field: 'ends' }));
      expect(bad({ layout: { ...layout, slotCount: 2 * S } })).toThrow(
        expect.objectContaining({ code: 'invalid_argument', field: 'layout' }),
      );
      expect(bad({ from: 0, to: 2 })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    } finally {
      for (const d of cleanup) d.dispose();
      ctx.dispose();
    }
  }, 300_000);
});
