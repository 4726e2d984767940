/**
 * Attack: the guest reads a host's private feature values off the histogram of a tiny node.
 * Source: the instance-space and aggregate leakage of SecureBoost discussed by Cheng et al. 2019
 * (section 5, "the active party learns the instance space") and by Chen et al. 2021 ("SecureBoost+",
 * arXiv:2110.10927), and the small-aggregate rule of statistical disclosure control (Hundepool et al.,
 * "Statistical Disclosure Control", 2012: the threshold rule for tabular cells).
 * What it would recover: for an enterprise in a node of a handful of rows, the host's bin -- its
 * feature value to within one quantile interval -- of every host feature, from the per-bin gradient
 * and hessian sums the guest decrypts (it knows each row's g and h and the node's rows).
 * The attack: for every histogram of a node of at most 4 rows, try every assignment of the node's rows
 * to each feature's bins and keep the ones that reproduce the decrypted sums; a unique fit gives the bins.
 * Weakened configuration: the row floor off (host and plan floor 1, minimum child rows 1) and the
 * per-bin floor off (`unsafeNoBinFloor`, secureboost-small-bin.attack.test.ts). Default: the
 * floor of MIN_NODE_ROWS rows -- no histogram describes fewer than 2 x 50 rows, and the attack has no
 * node to work on.
 */

import { applyBins, trainSecureBoost } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from '../synthetic.ts';

const N = 300;
const data = syntheticSplit(N, 1, [2], 9);

/** The values of a `none` blob: the float64 payload, before the blob's 4-byte checksum. */
function values(blob: Uint8Array, cells: number): Float64Array {
  return new Float64Array(blob.slice(blob.length - 4 - cells * 8, blob.length - 4).buffer);
}

async function attack(floor: number): Promise<{ recovered: number; correct: number; smallest: number }> {
  const hp = { trees: 3, depth: 6, bins: 8, minNodeRows: floor, minLeafRows: 1, minChildWeight: 0, l2: 0.1 };
  const run = await trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    // Weakened: the per-bin floor off with the row floor (it would merge the tiny nodes' bins too).
    hosts: [{ features: data.hosts[0]!, minNodeRows: floor, ...(floor < 50 && { unsafeNoBinFloor: true }) }],
    scheme: 'none',
    hyperparams: hp,
    capture: true,
  });
  // The guest's own view: its labels, hence g and h per tree (recomputed from its model's scores), the
  // node memberships it sent (level-tasks), and the histograms it decrypted.
  const host = run.hosts[0]!;
  const truth = applyBins(data.hosts[0]!, host.bins).index;
  const counts = applyBins(data.hosts[0]!, host.bins).counts;
  const cells = counts.reduce((a, b) => a + b, 0);
  const toHost = run.captured.filter((m) => m.to === 'host-1');
  const toGuest = run.captured.filter((m) => m.from === 'host-1' && m.step === 'histograms');
  const levels = toHost
    .filter((m) => m.step === 'level-tasks')
    .map((m) => fedscore.secureboost.LevelTasks.decode(m.payload));
  const grads = toHost
    .filter((m) => m.step === 'gradients')
    .map((m) => values(fedscore.secureboost.EncryptedGradients.decode(m.payload).gradients, N));
  let recovered = 0;
  let correct = 0;
  let smallest = Number.POSITIVE_INFINITY;
  let tree = -1;
  let li = 0;
  for (const lv of levels) {
    if (lv.tasks.length === 0) continue;
    if (lv.tasks.some((t) => t.node === 0)) tree++;
    const hist = fedscore.secureboost.Histograms.decode(toGuest[li++]!.payload);
    const g = grads[tree]!;
    for (const nh of hist.nodes) {
      const rows = [...lv.nodeOfRow.keys()].filter((i) => lv.nodeOfRow[i] === nh.node);
      smallest = Math.min(smallest, rows.length);
      if (rows.length > 4) continue;
      const gh = values(nh.gradients ?? new Uint8Array(0), cells);
      let off = 0;
      for (let f = 0; f < counts.length; f++) {
        // Every assignment of the node's rows to this feature's bins that reproduces the sums.
        const fits: number[][] = [];
        const k = rows.length;
        for (let code = 0; code < counts[f]! ** k; code++) {
          const assign = rows.map((_, r) => Math.floor(code / counts[f]! ** r) % counts[f]!);
          const sums = new Float64Array(counts[f]!);
          assign.forEach((b, r) => {
            sums[b]! += g[rows[r]!]!;
          });
          if (sums.every((s, b) => Math.abs(s - gh[off + b]!) < 1e-9)) fits.push(assign);
        }
        const unique = fits.length > 0 && fits.every((a) => a.every((b, r) => b === fits[0]![r]));
        if (unique) {
          fits[0]!.forEach((b, r) => {
            recovered++;
            if (truth[f]![rows[r]!] === b) correct++;
          });
        }
        off += counts[f]!;
      }
    }
  }
  return { recovered, correct, smallest };
}

describe('attack: host feature bins from a small-node histogram', () => {
  it('recovers the host bins of enterprises exactly when the row floor is off', async () => {
    const r = await attack(1);
    expect(r.smallest).toBeLessThanOrEqual(4);
    expect(r.recovered).toBeGreaterThan(0);
    expect(r.correct).toBe(r.recovered);
  });

  it('has no node to work on under the default floor (every histogram covers >= 100 rows)', async () => {
    const r = await attack(50);
    expect(r.smallest).toBeGreaterThanOrEqual(100);
    expect(r.recovered).toBe(0);
  });
});
