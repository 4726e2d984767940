/** Shared by the scorecard, stability and score CLI tests: an in-process runner and small fixtures. */
export { lastJson, runCli } from './run-cli.ts';

export const WOE_MODEL = {
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

export const RULES_YAML = `
format: fedscore.credit-rules
version: 1
figures: { revenue: turnover }
baseRateBp: 435
rounding: 10000
bands:
  - { name: A, minScore: 640, revenueMultiple: 0.3, maxLine: 5000000, rateDiscountBp: 20 }
  - { name: B, minScore: 610, revenueMultiple: 0.2, maxLine: 2000000 }
  - { name: C, minScore: 580, revenueMultiple: 0.1, maxLine: 500000 }
  - { name: D, approve: false }
`;
