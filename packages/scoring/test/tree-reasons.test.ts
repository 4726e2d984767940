/**
 * Reason codes from the guest's own splits of a tree model (`treeGuestContributions`,
 * packages/scoring/src/tree-reasons.ts), checked against independent references:
 * - a hand-built model of two trees with the values worked out on paper in this file (each host side
 *   weighted 1/2): the per-feature contributions, the reference and the known part, exactly (1e-12);
 * - a trained SecureBoost model (vfl `trainSecureBoost`, scheme `none`): `known` equals, per applicant,
 *   the average over every assignment of the host splits' outcomes (each host node flipped
 *   independently, 2^(host nodes) walks per tree) of the tree sum, within 1e-12; reference plus the
 *   per-feature contributions equals `known` within 1e-12; with no host split in the model the known
 *   part is the plain prediction exactly (vfl `predictSecureBoost`);
 * - bad input is a typed error naming the field.
 */
import { treeGuestContributions } from '@fedscore/scoring';
import {
  applyBins,
  type PartyFeatures,
  predictSecureBoost,
  type SecureBoostGuestModel,
  type SecureBoostNode,
  trainSecureBoost,
} from '@fedscore/vfl';
import { beforeAll, describe, expect, it } from 'vitest';
import { treePopulation } from './fixtures.ts';

const population = (n: number, seed: number) =>
  treePopulation(n, seed, { guest: [0.9, -0.7, 0], host: [1.1, 0], intercept: -0.4 });

const row = (f: PartyFeatures, i: number): Float64Array => Float64Array.from(f.columns, (c) => c[i]!);

/** The average tree sum over every assignment of host outcomes (independent of tree-reasons.ts). */
function averageOverHostOutcomes(model: SecureBoostGuestModel, guestBins: readonly number[]): number {
  let total = 0;
  for (const tree of model.trees) {
    const hostNodes = tree.flatMap((n, k) => (n.kind === 'host-split' ? [k] : []));
    const count = 2 ** hostNodes.length;
    let sum = 0;
    for (let a = 0; a < count; a++) {
      let k = 0;
      for (;;) {
        const n = tree[k]!;
        if (n.kind === 'leaf') {
          sum += n.weight;
          break;
        }
        const left =
          n.kind === 'guest-split' ? guestBins[n.feature]! <= n.bin : ((a >> hostNodes.indexOf(k)) & 1) === 1;
        k = left ? n.left : n.right;
      }
    }
    total += sum / count;
  }
  return total;
}

describe('tree reason codes from the guest own splits', () => {
  const pop = population(900, 5);
  let model: SecureBoostGuestModel;
  let bins: Uint16Array[];

  beforeAll(async () => {
    const trained = await trainSecureBoost({
      guest: { features: pop.guest, labels: pop.labels },
      hosts: [{ features: pop.host }],
      scheme: 'none',
      hyperparams: { trees: 4, depth: 3, bins: 16, learningRate: 0.3 },
    });
    model = trained.guest;
    bins = applyBins(pop.guest, model.bins).index as Uint16Array[];
  }, 120_000);

  it('a hand-built model: the values worked out on paper', () => {
    // Feature g0's split at bin 7, g1's at bin 7; two applicants, one on each side of g0.
    const left = bins[0]!.findIndex((b, i) => b <= 7 && bins[1]![i]! > 7);
    const right = bins[0]!.findIndex((b, i) => b > 7 && bins[1]![i]! > 7);
    expect(left).toBeGreaterThanOrEqual(0);
    expect(right).toBeGreaterThanOrEqual(0);
    const leaf = (weight: number): SecureBoostNode => ({ kind: 'leaf', weight });
    const guestSplit = (feature: number, l: number, r: number): SecureBoostNode => ({
      kind: 'guest-split',
      feature,
      bin: 7,
      gain: 1,
      left: l,
      right: r,
    });
    const hostSplit = (l: number, r: number): SecureBoostNode => ({
      kind: 'host-split',
      host: 0,
      splitId: 0,
      gain: 1,
      left: l,
      right: r,
    });
    // Tree 1: g0 -> (host -> 1 | 3) | (g1 -> -2 | 0.5). m: 2, -0.75, root 0.625.
    // Tree 2: host -> (g0 -> 4 | 0) | -4. m: 2, root -1.
    const hand: SecureBoostGuestModel = {
      ...model,
      trees: [
        [guestSplit(0, 1, 2), hostSplit(3, 4), guestSplit(1, 5, 6), leaf(1), leaf(3), leaf(-2), leaf(0.5)],
        [hostSplit(1, 2), guestSplit(0, 3, 4), leaf(-4), leaf(4), leaf(0)],
      ],
    };
    // Left of g0: tree 1 knows 2 (g0: 2 - 0.625); tree 2 knows (4 - 4) / 2 = 0 (g0: (4 - 2) / 2).
    const a = treeGuestContributions(hand, row(pop.guest, left));
    expect(a.reference).toBeCloseTo(0.625 - 1, 12);
    expect(a.known).toBeCloseTo(2 + 0, 12);
    expect(a.features[0]).toBeCloseTo(1.375 + 1, 12);
    expect(a.features[1]).toBeCloseTo(0, 12);
    expect(a.features[2]).toBe(0);
    // Right of g0, right of g1: tree 1 knows 0.5 (g0: -0.75 - 0.625, g1: 0.5 + 0.75); tree 2 knows
    // (0 - 4) / 2 = -2 (g0: (0 - 2) / 2).
    const b = treeGuestContributions(hand, row(pop.guest, right));
    expect(b.known).toBeCloseTo(0.5 - 2, 12);
    expect(b.features[0]).toBeCloseTo(-1.375 - 1, 12);
    expect(b.features[1]).toBeCloseTo(1.25, 12);
  });

  it('a trained model: known = the average over host outcomes = reference + the features', () => {
    let hostSplits = 0;
    for (const t of model.trees) for (const n of t) if (n.kind === 'host-split') hostSplits++;
    expect(hostSplits).toBeGreaterThan(0);
    for (let i = 0; i < 40; i++) {
      const c = treeGuestContributions(model, row(pop.guest, i));
      const want = averageOverHostOutcomes(
        model,
        bins.map((col) => col[i]!),
      );
      expect(Math.abs(c.known - want)).toBeLessThan(1e-12);
      const sum = c.features.reduce((s, x) => s + x, c.reference);
      expect(Math.abs(sum - c.known)).toBeLessThan(1e-12);
    }
  });

  it('with only guest splits the known part is the prediction itself', async () => {
    // A host whose only feature is constant: it never offers a split, so every split is the guest's.
    const guestOnly = await trainSecureBoost({
      guest: { features: pop.guest, labels: pop.labels },
      hosts: [{ features: { names: ['noise'], columns: [new Float64Array(pop.labels.length)] } }],
      scheme: 'none',
      hyperparams: { trees: 3, depth: 2, bins: 16, learningRate: 0.3 },
    });
    const g = guestOnly.guest;
    expect(g.trees.flat().some((n) => n.kind === 'host-split')).toBe(false);
    const plain = await predictSecureBoost({
      guest: { model: g, features: pop.guest },
      hosts: [
        { model: guestOnly.hosts[0]!, features: { names: ['noise'], columns: [new Float64Array(900)] } },
      ],
    });
    for (let i = 0; i < 20; i++) {
      const c = treeGuestContributions(g, row(pop.guest, i));
      expect(Math.abs(g.baseScore + c.known - plain.margins[i]!)).toBeLessThan(1e-12);
    }
  }, 120_000);

  it('a wrong number of values is a typed error naming the field', () => {
    expect(() => treeGuestContributions(model, [1, 2])).toThrow(
      expect.objectContaining({ code: 'invalid_argument', field: 'values' }),
    );
  });
});
