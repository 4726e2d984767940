/**
 * A SecureBoost host stays responsive while it sums a histogram (secureboost/histogram.ts, the steps):
 * the same node's histogram is computed once in one synchronous call (`node`, how the host ran before)
 * and once through `runStepsYielding` (how host.ts runs it now), while a 10 ms interval timer records
 * the longest time the event loop did not get a turn (and perf_hooks' event-loop delay histogram, the
 * same quantity as a node process sees it before it can answer a gRPC call).
 *
 * The evidence does not depend on the machine's speed: the synchronous call blocks the loop for its
 * whole duration (that is the span a node process answers nothing), the stepped one for at most one
 * slice (`HISTOGRAM_SLICE_MS`) plus one CKKS operation. Asserted: the stepped run's longest block is
 * under a quarter of the synchronous call's duration and under 1 s (the liveness bound docs/deploy.md
 * states), and the two results are the same bytes (CKKS evaluation is deterministic; every block of the
 * node has rows, so no fresh encryption of zeros enters).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { seededRng, uniform } from '@fedscore/core';
import { createCkksContext } from '@fedscore/he';
import {
  GradientRotations,
  histogramRotationSteps,
  LevelMaskedSums,
  maskedLayout,
  type NodeSums,
  planHistogram,
  runStepsYielding,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

/** The longest gap between ticks of a 10 ms interval over `run`, and perf_hooks' max delay (ms). */
async function longestBlock<T>(run: () => Promise<T>): Promise<{ value: T; gapMs: number; delayMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  let last = performance.now();
  let gapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gapMs = Math.max(gapMs, now - last);
    last = now;
  }, 10);
  h.enable();
  try {
    const value = await run();
    gapMs = Math.max(gapMs, performance.now() - last);
    return { value, gapMs, delayMs: h.max / 1e6 };
  } finally {
    h.disable();
    clearInterval(timer);
  }
}

function bytesOf(sums: NodeSums): Uint8Array[] {
  return sums.z.map((v) => v.serialize({ compression: 'none' }));
}

describe('SecureBoost host histograms and the event loop', () => {
  it('a node histogram run in steps never blocks the loop for long, and gives the same bytes', async () => {
    // 20 features x 32 bins over one batch of 8,192 rows at the release preset (N = 16384, the one with
    // a level for the per-level path's node mask): 640 cells, 1,024 diagonals per node.
    const features = 20;
    const bins = 32;
    const cells = features * bins;
    const S = 8192;
    const rows = S;
    const layout = planHistogram(cells, rows, S, 3);
    const ctx = await createCkksContext({
      params: 'ckks-16384-release',
      rotations: histogramRotationSteps(layout),
    });
    try {
      expect(ctx.slotCount).toBe(S);
      const rng = seededRng(41);
      const counts = Array.from({ length: features }, () => bins);
      const offsets = counts.map((_, f) => f * bins);
      const index = counts.map((c) => Uint16Array.from({ length: rows }, () => Math.floor(uniform(rng) * c)));
      const binned = { bins: [], index, counts };
      const encG = ctx.encryptBatch(Float64Array.from({ length: rows }, () => 2 * uniform(rng) - 1));
      const encH = ctx.encryptBatch(Float64Array.from({ length: rows }, () => uniform(rng) / 4));
      const node = Int32Array.from({ length: rows }, (_, i) => i);
      try {
        // The per-node path (GradientRotations) and the per-level path (LevelMaskedSums): the two a host
        // too large for the run-cached diagonals takes (100,000 rows x 300 features: per-level).
        const rot = new GradientRotations(ctx, layout, encG, encH);
        const level = new LevelMaskedSums(ctx, maskedLayout(layout), encG, encH);
        try {
          const cases: [string, () => NodeSums, () => Promise<NodeSums>][] = [
            [
              'per-node',
              () => rot.node(node, binned, offsets),
              () => runStepsYielding(rot.nodeSteps(node, binned, offsets)),
            ],
            [
              'per-level',
              () => level.nodes([node], binned, offsets)[0]!,
              async () => (await runStepsYielding(level.nodesSteps([node], binned, offsets)))[0]!,
            ],
          ];
          for (const [, sync, stepped] of cases) {
            const t0 = performance.now();
            const before = sync();
            const syncMs = performance.now() - t0;
            const after = await longestBlock(stepped);
            try {
              expect(bytesOf(after.value)).toEqual(bytesOf(before));
              expect(after.gapMs).toBeLessThan(syncMs / 4);
              expect(after.gapMs).toBeLessThan(1000);
              expect(after.delayMs).toBeLessThan(1000);
            } finally {
              for (const v of [...before.z, ...after.value.z]) v.dispose();
            }
          }
        } finally {
          rot.dispose();
          level.dispose();
        }
      } finally {
        for (const v of [...encG, ...encH]) v.dispose();
      }
    } finally {
      ctx.dispose();
    }
  }, 600_000);
});
