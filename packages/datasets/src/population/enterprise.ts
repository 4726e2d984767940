/**
 * One enterprise of the synthetic population: its latent factors, every government and bank feature
 * (before missingness), the missingness pattern, and its default indicator. The equations are those of
 * docs/population.md; coefficients of the default model live in model.ts.
 */
import { FedscoreError } from '@fedscore/core';
import {
  BANK_FEATURES,
  defaultLogit,
  FACTOR_LOADING,
  type FeatureSpec,
  GOVERNMENT_FEATURES,
  INDUSTRIES,
  type LatentRow,
  REGIONS,
} from './model.ts';
import { cumulativeShares, type Sampler, sigmoid } from './sampling.ts';

function indexer(features: readonly FeatureSpec[]): (name: string) => number {
  return (name) => {
    const i = features.findIndex((f) => f.name === name);
    if (i < 0) throw new FedscoreError('internal', `no feature named ${name}`, { field: name });
    return i;
  };
}
const gi = indexer(GOVERNMENT_FEATURES);
const bi = indexer(BANK_FEATURES);

const G_TAX = gi('tax_paid_12m');
const G_PUNCT = gi('tax_punctuality');
const G_VAT_N = gi('vat_invoice_count_12m');
const G_VAT_AMT = gi('vat_invoice_amount_12m');
const G_HEAD = gi('si_headcount');
const G_HEAD_CHG = gi('si_headcount_change_12m');
const G_SI_ARR = gi('si_arrears_months');
const G_HOUSING = gi('housing_fund_paid_12m');
const G_UTIL = gi('utility_spend_12m');
const G_UTIL_ARR = gi('utility_arrears_months');
const G_PEN_N = gi('admin_penalty_count_3y');
const G_PEN_AMT = gi('admin_penalty_amount_3y');
const G_COURT = gi('court_judgments_defendant_3y');
const G_DISHONEST = gi('dishonest_debtor_flag');
const G_RESTRICT = gi('consumption_restriction_flag');
const G_CAPITAL = gi('registered_capital');
const G_AGE = gi('firm_age_years');
const G_INDUSTRY = gi('industry');
const G_REGION = gi('region');
const G_PATENTS = gi('patents_count');
const G_TRADEMARKS = gi('trademarks_count');
const G_REG_CHG = gi('registration_changes_3y');
const G_LEGAL_REP = gi('legal_rep_changed_12m');
const G_HIGH_TECH = gi('high_tech_certified');

const B_DEPOSIT = bi('avg_deposit_balance_12m');
const B_TURNOVER = bi('account_turnover_12m');
const B_TREND = bi('turnover_trend_6m');
const B_OVERDUE = bi('overdue_count_24m');
const B_DPD = bi('dpd_max_24m');
const B_LOANS_N = bi('existing_loans_count');
const B_LOANS_BAL = bi('existing_loans_balance');
const B_UTIL = bi('credit_utilization');
const B_MONTHS = bi('months_as_customer');
const B_COLLATERAL = bi('collateral_flag');
const B_GUARANTEE = bi('guarantee_flag');
const B_PAYROLL = bi('payroll_service_flag');
const B_INQUIRIES = bi('credit_inquiries_3m');
const B_BOUNCED = bi('bounced_payments_12m');

const INDUSTRY_CUM = cumulativeShares(INDUSTRIES.map((c) => c.share));
const REGION_CUM = cumulativeShares(REGIONS.map((r) => r.share));
const SQRT_1M = {
  G: Math.sqrt(1 - FACTOR_LOADING.G ** 2),
  L: Math.sqrt(1 - FACTOR_LOADING.L ** 2),
  T: Math.sqrt(1 - FACTOR_LOADING.T ** 2),
};

/** Scratch buffers for one enterprise, reused across rows. */
export class EnterpriseDraw {
  readonly gov = new Float64Array(GOVERNMENT_FEATURES.length);
  readonly bank = new Float64Array(BANK_FEATURES.length);
  readonly latent: LatentRow = {
    industry: 0,
    region: 0,
    age: 0,
    G: 0,
    L: 0,
    T: 0,
    S: 0,
    dishonest: 0,
    utilityArrears: 0,
    headcountChange: 0,
    hasLine: 0,
    utilization: 0,
    dpdMax: 0,
    shock: 0,
  };
  /** The common health factor H. */
  health = 0;
  /** Default logit without the intercept. */
  eta = 0;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * Draw one enterprise into `out`. Every draw happens in a fixed order whatever the outcome, so the
 * stream stays aligned row by row. `missingMultiplier` scales the non-structural missing probabilities;
 * missing values become NaN.
 */
export function drawEnterprise(s: Sampler, missingMultiplier: number, out: EnterpriseDraw): void {
  const z = out.latent;
  const g = out.gov;
  const b = out.bank;

  // Latent structure.
  const ind = s.pick(INDUSTRY_CUM);
  const reg = s.pick(REGION_CUM);
  const industry = INDUSTRIES[ind]!;
  const age = clamp(s.logNormal(1.5, 0.85), 0.1, 40);
  const H = s.normal();
  const G = FACTOR_LOADING.G * H + SQRT_1M.G * s.normal();
  const L = FACTOR_LOADING.L * H + SQRT_1M.L * s.normal();
  const T = FACTOR_LOADING.T * H + SQRT_1M.T * s.normal();
  const S = industry.sizeShift + REGIONS[reg]!.sizeShift + 0.25 * Math.log(age / 4.5) + s.normal();

  // Government records.
  g[G_TAX] = s.logNormal(9.6 + 1.1 * S + 0.35 * G + 0.25 * T, 0.6);
  g[G_PUNCT] = s.binomial(12, sigmoid(2.0 + 1.2 * G + 0.5 * s.normal())) / 12;
  g[G_VAT_N] = Math.floor(s.logNormal(3.4 + 0.9 * S + 0.2 * T, 0.5));
  g[G_VAT_AMT] = s.logNormal(13.2 + 1.15 * S + 0.3 * T, 0.45);
  g[G_HEAD] = Math.max(0, Math.round(s.logNormal(1.5 + 0.85 * S, 0.35) - 1));
  const headcountChange = clamp(0.09 * T + 0.04 * L + 0.1 * s.normal(), -0.9, 3);
  g[G_HEAD_CHG] = headcountChange;
  g[G_SI_ARR] = Math.min(12, s.poisson(Math.exp(-2.0 - 0.3 * L - 0.7 * G)));
  const housingEnrolled = s.bernoulli(sigmoid(-0.4 + 0.9 * S + 0.5 * G));
  const housingAmount = s.logNormal(9.8 + 0.9 * S, 0.5);
  g[G_HOUSING] = housingEnrolled === 1 ? housingAmount : 0;
  g[G_UTIL] = s.logNormal(9.4 + 0.85 * S + industry.energy, 0.5);
  const utilityArrears = Math.min(12, s.poisson(Math.exp(-1.9 - 0.4 * L - 0.5 * G)));
  g[G_UTIL_ARR] = utilityArrears;
  const penalties = s.poisson(Math.exp(-1.9 - 0.8 * G + 0.2 * S + industry.penalty));
  g[G_PEN_N] = penalties;
  let fines = 0;
  for (let k = 0; k < penalties; k++) fines += s.logNormal(8.0, 1.3);
  g[G_PEN_AMT] = fines;
  g[G_COURT] = s.poisson(Math.exp(-2.4 - 0.7 * G - 0.3 * L));
  const dishonest = s.bernoulli(sigmoid(-4.6 - 1.0 * G - 0.5 * L));
  g[G_DISHONEST] = dishonest;
  const restrictedIfDishonest = s.bernoulli(0.65);
  const restrictedOtherwise = s.bernoulli(sigmoid(-6 - 0.8 * G - 0.8 * L));
  g[G_RESTRICT] = dishonest === 1 ? restrictedIfDishonest : restrictedOtherwise;
  g[G_CAPITAL] = s.logNormal(4.2 + 0.7 * S, 1.0);
  g[G_AGE] = age;
  g[G_INDUSTRY] = ind;
  g[G_REGION] = reg;
  g[G_PATENTS] = s.poisson(Math.exp(-1.6 + 0.8 * S + industry.tech + 0.3 * G));
  g[G_TRADEMARKS] = s.poisson(Math.exp(-0.9 + 0.6 * S + 0.15 * G));
  g[G_REG_CHG] = s.poisson(Math.exp(-0.4 - 0.35 * G + 0.25 * Math.abs(T)));
  g[G_LEGAL_REP] = s.bernoulli(sigmoid(-2.6 - 0.5 * G - 0.2 * T));
  g[G_HIGH_TECH] = s.bernoulli(sigmoid(-3.0 + 0.8 * S + industry.tech + 0.4 * G));

  // Bank records.
  const months = Math.max(1, Math.round(Math.min(age * 12, s.logNormal(3.4, 0.8))));
  b[B_MONTHS] = months;
  b[B_DEPOSIT] = s.logNormal(10.9 + 0.9 * S + 0.45 * L, 0.8);
  b[B_TURNOVER] = s.logNormal(13.6 + 1.1 * S + 0.3 * T + 0.2 * L, 0.5);
  b[B_TREND] = clamp(0.12 * T + 0.06 * L + 0.15 * s.normal(), -0.95, 5);
  const loans = s.poisson(Math.exp(-0.3 + 0.4 * S + 0.1 * Math.max(0, -L)));
  const hasLine = loans > 0 ? 1 : 0;
  b[B_LOANS_N] = loans;
  const balance = s.logNormal(12.6 + 0.9 * S - 0.25 * L, 0.7);
  b[B_LOANS_BAL] = hasLine === 1 ? balance : 0;
  const utilization = Math.min(1.2, sigmoid(-0.3 - 0.6 * L + 1.0 * s.normal()) * 1.1);
  b[B_UTIL] = utilization;
  const overdue = s.poisson(Math.exp(-1.7 - 0.6 * L - 0.2 * G + 0.3 * hasLine));
  b[B_OVERDUE] = overdue;
  const dpdIfOverdue = Math.min(720, Math.round(s.logNormal(2.3 - 0.5 * L, 0.9)) + 1);
  const dpd = overdue > 0 ? dpdIfOverdue : 0;
  b[B_DPD] = dpd;
  b[B_COLLATERAL] = s.bernoulli(sigmoid(-1.1 + 0.6 * S));
  b[B_GUARANTEE] = s.bernoulli(sigmoid(-1.6 + 0.2 * S));
  b[B_PAYROLL] = s.bernoulli(sigmoid(-0.6 + 0.4 * S + 0.3 * L));
  b[B_INQUIRIES] = s.poisson(Math.exp(-0.6 - 0.5 * L - 0.2 * T));
  b[B_BOUNCED] = s.poisson(Math.exp(-2.4 - 0.6 * L));

  // The default model reads true values.
  z.industry = ind;
  z.region = reg;
  z.age = age;
  z.G = G;
  z.L = L;
  z.T = T;
  z.S = S;
  z.dishonest = dishonest;
  z.utilityArrears = utilityArrears;
  z.headcountChange = headcountChange;
  z.hasLine = hasLine;
  z.utilization = utilization;
  z.dpdMax = dpd;
  z.shock = s.normal();
  out.health = H;
  out.eta = defaultLogit(z);

  // Missingness: every uniform is drawn whether or not it is used.
  const m = missingMultiplier;
  const taxMissing = s.uniform() < m * sigmoid(-3.2 - 0.9 * G + (age < 1 ? 1.5 : 0));
  const housingMissing = s.uniform() < m * 0.08;
  const utilityMissing = s.uniform() < m * sigmoid(-1.7 - 0.6 * S);
  const capitalMissing = s.uniform() < m * 0.02;
  if (taxMissing) {
    g[G_TAX] = Number.NaN;
    g[G_PUNCT] = Number.NaN;
  }
  if (housingMissing) g[G_HOUSING] = Number.NaN;
  if (utilityMissing) {
    g[G_UTIL] = Number.NaN;
    g[G_UTIL_ARR] = Number.NaN;
  }
  if (capitalMissing) g[G_CAPITAL] = Number.NaN;
  if (age < 1) g[G_HEAD_CHG] = Number.NaN;
  if (months < 12) b[B_TREND] = Number.NaN;
  if (hasLine === 0) b[B_UTIL] = Number.NaN;
}
