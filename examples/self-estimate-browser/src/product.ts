/**
 * The demo bank's product: a WOE scorecard over figures an enterprise knows about itself, and its
 * credit-line rules. In a deployment the bank serves the form from the code the enterprise scans and
 * keeps the scorecard on its server; here both roles run in the page (see README.md).
 */
import { buildScorecard, parseCreditRules, type WoeLrModel } from '@fedscore/scoring';

const MODEL: WoeLrModel = {
  intercept: -4.1,
  interceptHolder: 'bank',
  features: [
    {
      party: 'bank',
      name: 'annual_revenue',
      bins: { kind: 'numeric', name: 'annual_revenue', edges: [1e6, 5e6, 2e7], missing: true },
      woe: [-0.8, -0.1, 0.4, 0.9, -0.3],
      coefficient: -0.9,
    },
    {
      party: 'bank',
      name: 'overdue_count_24m',
      bins: { kind: 'numeric', name: 'overdue_count_24m', edges: [0, 2], missing: false },
      woe: [0.5, -0.4, -1.2],
      coefficient: -1.1,
    },
    {
      party: 'bank',
      name: 'tax_paid_12m',
      bins: { kind: 'numeric', name: 'tax_paid_12m', edges: [5e4, 2e5], missing: true },
      woe: [-0.6, 0.2, 0.7, -0.2],
      coefficient: -0.8,
    },
    {
      party: 'bank',
      name: 'admin_penalty_count_3y',
      bins: { kind: 'numeric', name: 'admin_penalty_count_3y', edges: [0], missing: false },
      woe: [0.3, -0.9],
      coefficient: -1.0,
    },
  ],
};

export const RULES = parseCreditRules(`
format: fedscore.credit-rules
version: 1
figures: { revenue: annual_revenue, taxPaid: tax_paid_12m }
baseRateBp: 435
rounding: 10000
leverage: { maxRatio: 0.5, base: annual_revenue, debt: existing_debt }
bands:
  - { name: A, minScore: 640, revenueMultiple: 0.3, taxMultiple: 8, maxLine: 5000000, rateDiscountBp: 20 }
  - { name: B, minScore: 610, revenueMultiple: 0.2, taxMultiple: 5, maxLine: 2000000 }
  - { name: C, minScore: 580, revenueMultiple: 0.1, maxLine: 500000 }
  - { name: D, approve: false }
`);

export const SCORECARD = buildScorecard(MODEL, { baseScore: 600, baseOdds: 50, pdo: 20 });

/** The inputs the page asks for: the scorecard's features and the rules' figures. */
export const FIELDS: readonly { name: string; label: string; example: number }[] = [
  { name: 'annual_revenue', label: 'Annual revenue (CNY)', example: 9_000_000 },
  { name: 'tax_paid_12m', label: 'Tax paid, last 12 months (CNY)', example: 300_000 },
  { name: 'existing_debt', label: 'Existing debt (CNY)', example: 1_000_000 },
  { name: 'overdue_count_24m', label: 'Overdue repayments, last 24 months', example: 0 },
  { name: 'admin_penalty_count_3y', label: 'Administrative penalties, last 3 years', example: 0 },
];
