/**
 * Shared synthetic fixtures: a two-party WOE scorecard and credit rules (seeded, exact), and the seeded
 * vertical population of the tree-scoring tests.
 */
import { normal, type Rng, seededRng, uniform } from '@fedscore/core';
import {
  buildScorecard,
  type CreditRules,
  parseCreditRules,
  type Scorecard,
  type WoeLrModel,
} from '@fedscore/scoring';
import {
  type PartyFeatures,
  predictSecureBoost,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  trainSecureBoost,
} from '@fedscore/vfl';

export function twoPartyModel(): WoeLrModel {
  return {
    intercept: -4.1,
    interceptHolder: 'bank',
    features: [
      {
        party: 'bank',
        name: 'turnover',
        bins: { kind: 'numeric', name: 'turnover', edges: [1e6, 5e6, 2e7], missing: true },
        woe: [-0.8, -0.1, 0.4, 0.9, -0.3],
        coefficient: -0.9,
      },
      {
        party: 'bank',
        name: 'overdue',
        bins: { kind: 'numeric', name: 'overdue', edges: [0, 2], missing: false },
        woe: [0.5, -0.4, -1.2],
        coefficient: -1.1,
      },
      {
        party: 'gov',
        name: 'tax_paid',
        bins: { kind: 'numeric', name: 'tax_paid', edges: [5e4, 2e5], missing: true },
        woe: [-0.6, 0.2, 0.7, -0.2],
        coefficient: -0.8,
      },
      {
        party: 'gov',
        name: 'penalties',
        bins: { kind: 'numeric', name: 'penalties', edges: [0], missing: false },
        woe: [0.3, -0.9],
        coefficient: -1.0,
      },
    ],
  };
}

export function twoPartyScorecard(): Scorecard {
  return buildScorecard(twoPartyModel(), { baseScore: 600, baseOdds: 50, pdo: 20 });
}

export const RULES_YAML = `
format: fedscore.credit-rules
version: 1
figures: { revenue: turnover, taxPaid: tax_paid }
baseRateBp: 435
rounding: 10000
leverage: { maxRatio: 0.5, base: turnover, debt: loans }
bands:
  - { name: A, minScore: 640, revenueMultiple: 0.3, taxMultiple: 8, maxLine: 5000000, rateDiscountBp: 20 }
  - { name: B, minScore: 610, revenueMultiple: 0.2, taxMultiple: 5, maxLine: 2000000 }
  - { name: C, minScore: 580, revenueMultiple: 0.1, maxLine: 500000 }
  - { name: D, approve: false }
`;

export function rules(): CreditRules {
  return parseCreditRules(RULES_YAML, 'rules.yaml');
}

/** One enterprise's values: figures and features (a few missing). */
export function enterprise(rng: Rng): Record<string, number> {
  const turnover = uniform(rng) < 0.05 ? Number.NaN : Math.exp(normal(rng, 15, 1.2));
  return {
    turnover,
    overdue: Math.floor(uniform(rng) * 4),
    tax_paid: uniform(rng) < 0.05 ? Number.NaN : Math.exp(normal(rng, 11, 1)),
    penalties: uniform(rng) < 0.7 ? 0 : 1 + Math.floor(uniform(rng) * 3),
    loans: Math.exp(normal(rng, 13, 1.5)),
  };
}

export function enterprises(n: number, seed = 7): Record<string, number>[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, () => enterprise(rng));
}

/** The label model of `treePopulation`: one coefficient per guest / host column, and an intercept. */
export interface TreePopulationModel {
  readonly guest: readonly number[];
  readonly host: readonly number[];
  readonly intercept?: number;
}

/**
 * A seeded two-party population for the tree-scoring tests: the guest's columns g0.. and the host's
 * h0.. (one per coefficient) of standard normals, drawn in that order, then per row a label
 * Bernoulli(sigmoid(z)), z = sum of coefficient * value (guest, then host) + intercept.
 */
export function treePopulation(
  n: number,
  seed: number,
  model: TreePopulationModel,
): { guest: PartyFeatures; host: PartyFeatures; labels: Float64Array } {
  const rng = seededRng(seed);
  const col = () => Float64Array.from({ length: n }, () => normal(rng));
  const guest: PartyFeatures = { names: model.guest.map((_, j) => `g${j}`), columns: model.guest.map(col) };
  const host: PartyFeatures = { names: model.host.map((_, j) => `h${j}`), columns: model.host.map(col) };
  const labels = Float64Array.from({ length: n }, (_, i) => {
    let z = 0;
    model.guest.forEach((w, j) => {
      if (w !== 0) z += w * guest.columns[j]![i]!;
    });
    model.host.forEach((w, j) => {
      if (w !== 0) z += w * host.columns[j]![i]!;
    });
    if (model.intercept !== undefined) z += model.intercept;
    return rng.nextUint32() / 2 ** 32 < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
  return { guest, host, labels };
}

/** Rows `from` to `to` (exclusive) of `f`. */
export const sliceRows = (f: PartyFeatures, from: number, to: number): PartyFeatures => ({
  names: f.names,
  columns: f.columns.map((c) => c.slice(from, to)),
});

/**
 * The session tests' SecureBoost model (bank = guest, gov = host; 4 trees of depth 3, 16 bins, scheme
 * none) trained on rows 0..`train` of `pop`, and vfl's plain prediction (log-odds) of the next `score`
 * rows: the reference a scoring protocol is checked against.
 */
export async function trainedTreePair(
  pop: ReturnType<typeof treePopulation>,
  train: number,
  score: number,
): Promise<{ guest: SecureBoostGuestModel; host: SecureBoostHostModel; margins: Float64Array }> {
  const trained = await trainSecureBoost({
    guest: { id: 'bank', features: sliceRows(pop.guest, 0, train), labels: pop.labels.subarray(0, train) },
    hosts: [{ id: 'gov', features: sliceRows(pop.host, 0, train) }],
    scheme: 'none',
    hyperparams: { trees: 4, depth: 3, bins: 16, learningRate: 0.3 },
  });
  const guest = trained.guest;
  const host = trained.hosts[0]!;
  const { margins } = await predictSecureBoost({
    guest: { model: guest, features: sliceRows(pop.guest, train, train + score) },
    hosts: [{ model: host, features: sliceRows(pop.host, train, train + score) }],
  });
  return { guest, host, margins };
}
