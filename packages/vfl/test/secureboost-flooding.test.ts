/**
 * The flooding defence, checked on what the guest actually decrypts: the test records the guest's
 * secret key set (wrapping he's `createAdditiveHe`, as conventions.md describes), decrypts the root
 * histogram the host sends in the first tree, and compares it with the exact per-bin sums recomputed
 * from the planted labels (g = p0 - y, h = p0 (1 - p0)) and the host's own bins, merged by its per-bin
 * floor (`binGroups`). With flooding (the
 * default) the residual's standard deviation matches the host's stated sd (within a factor 2, over
 * 2 x 68 values); with flooding off (`unsafeNoFlooding`) the residual is the bare circuit error,
 * below the bound HISTOGRAM_ERROR_BOUND the sd is sized from -- so this test fails if the host stops
 * flooding.
 */
import type { AdditiveHeSecret } from '@fedscore/he';
import {
  applyBins,
  binGroups,
  HISTOGRAM_ERROR_BOUND,
  MIN_NODE_ROWS,
  SECUREBOOST_CKKS_PRESET,
  trainSecureBoost,
} from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it, vi } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const keys: AdditiveHeSecret[] = [];
vi.mock('@fedscore/he', async (importOriginal) => {
  const he = await importOriginal<typeof import('@fedscore/he')>();
  return {
    ...he,
    createAdditiveHe: async (...args: Parameters<typeof he.createAdditiveHe>) => {
      const key = await he.createAdditiveHe(...args);
      // The guest disposes its key set at the end of the run: keep a usable copy of the secret.
      keys.push(await he.loadAdditiveHeSecret(key.serializeSecret()));
      return key;
    },
  };
});

const N = 600;
const data = syntheticSplit(N, 1, [2], 23);

async function residual(flooding: boolean): Promise<{ sd: number; stated: number }> {
  keys.length = 0;
  const run = await trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: [{ features: data.hosts[0]!, ...(flooding ? {} : { unsafeNoFlooding: true }) }],
    scheme: 'ckks',
    hyperparams: { trees: 1, depth: 1, bins: 16 },
    capture: true,
  });
  const key = keys[0]!;
  try {
    const msg = run.captured.find((m) => m.step === 'histograms')!;
    const root = fedscore.secureboost.Histograms.decode(msg.payload).nodes[0]!;
    const dec = (bytes: Uint8Array) => {
      const c = key.deserializeCiphertext(bytes);
      try {
        return key.decrypt(c);
      } finally {
        c.dispose();
      }
    };
    const g = dec(root.gradients!);
    const h = dec(root.hessians!);
    const binned = applyBins(data.hosts[0]!, run.hosts[0]!.bins);
    const pos = data.labels.reduce((a, b) => a + b, 0);
    const p0 = pos / N;
    const cells = binned.counts.reduce((a, b) => a + b, 0);
    const eg = new Float64Array(cells);
    const eh = new Float64Array(cells);
    // The host's per-bin floor at the root (default floor MIN_NODE_ROWS): a group's sums in its last cell.
    const counts = new Float64Array(cells);
    let o = 0;
    binned.counts.forEach((bins, f) => {
      for (let i = 0; i < N; i++) counts[o + binned.index[f]![i]!]!++;
      o += bins;
    });
    const ends = binGroups(
      binned.counts,
      Int32Array.from({ length: cells }, (_, c) => c),
      counts,
      undefined,
      MIN_NODE_ROWS,
    );
    let off = 0;
    binned.counts.forEach((bins, f) => {
      for (let i = 0; i < N; i++) {
        eg[ends[off + binned.index[f]![i]!]!]! += p0 - data.labels[i]!;
        eh[ends[off + binned.index[f]![i]!]!]! += p0 * (1 - p0);
      }
      off += bins;
    });
    let ss = 0;
    for (let c = 0; c < cells; c++) ss += (g[c]! - eg[c]!) ** 2 + (h[c]! - eh[c]!) ** 2;
    return { sd: Math.sqrt(ss / (2 * cells)), stated: run.hostRuns[0]!.floodingStdDev };
  } finally {
    for (const k of keys) k.dispose();
  }
}

describe('SecureBoost flooding', () => {
  it('the decrypted root histogram carries noise of the stated sd; without flooding only the circuit error', async () => {
    const on = await residual(true);
    expect(on.stated).toBeGreaterThan(0);
    expect(on.sd).toBeGreaterThan(on.stated / 2);
    expect(on.sd).toBeLessThan(on.stated * 2);
    const off = await residual(false);
    expect(off.stated).toBe(0);
    expect(off.sd).toBeLessThan(HISTOGRAM_ERROR_BOUND[SECUREBOOST_CKKS_PRESET]!);
    expect(off.sd).toBeLessThan(on.stated / 1000);
  }, 180_000);
});
