/**
 * The ground truth of the synthetic SME population: latent factors, how each published feature is
 * measured from them, and the default model. docs/population.md states the same in equations.
 *
 * Every enterprise i has
 *   - an industry c(i) and a region r(i) (categorical, with their own risk and size effects),
 *   - a firm age A (years, log-normal),
 *   - a common health factor H ~ N(0,1) and three correlated factors built from it:
 *       G (governance / compliance)   = 0.55 H + 0.835 e_G   -- seen mostly in government records
 *       L (liquidity)                 = 0.55 H + 0.835 e_L   -- seen mostly in bank records
 *       T (business momentum, trend)  = 0.40 H + 0.917 e_T   -- seen by both sides
 *     and a size factor S ~ N(sizeShift(c) + 0.25 ln(A / 4.5), 1).
 * Government and bank features are noisy, non-linear measurements of those factors (log-normal amounts,
 * Poisson counts, Bernoulli flags); the default indicator is Bernoulli(sigmoid(b0 + eta)) with eta from
 * `defaultLogit` below: linear in the latent factors plus an unobserved shock, thresholds, U-shapes and
 * an interaction, and b0 calibrated to the target default rate (engine.ts). Because
 * G is observed through the government table and L through the bank table, each side carries signal the
 * other lacks, so a joint model beats a bank-only model.
 */

/** How a column is typed in the CSV and the manifest. */
export type FeatureKind = 'amount' | 'ratio' | 'count' | 'binary' | 'categorical' | 'years' | 'score';

export type FeatureOwner = 'government' | 'bank';

export interface FeatureSpec {
  readonly name: string;
  readonly owner: FeatureOwner;
  readonly kind: FeatureKind;
  /** Unit of the value as written (e.g. 'CNY', '10k CNY', 'months'). */
  readonly unit: string;
  readonly description: string;
  /** When the value is missing, and why (empty when never missing). */
  readonly missing: string;
  /** Decimal places in the CSV. */
  readonly decimals: number;
  /** Levels of a categorical feature, written as these strings in the CSV. */
  readonly levels?: readonly string[];
}

export interface IndustrySpec {
  /** GB/T 4754-2017 section letter. */
  readonly code: string;
  readonly name: string;
  readonly share: number;
  /** Additive effect on the default logit. */
  readonly risk: number;
  /** Mean of the size factor S. */
  readonly sizeShift: number;
  /** Shift of log utility spend (energy intensity). */
  readonly energy: number;
  /** Shift of log patent intensity. */
  readonly tech: number;
  /** Shift of log administrative-penalty rate (regulatory exposure). */
  readonly penalty: number;
}

export const INDUSTRIES: readonly IndustrySpec[] = [
  {
    code: 'F',
    name: 'wholesale_retail',
    share: 0.3,
    risk: 0.1,
    sizeShift: 0,
    energy: -0.3,
    tech: -1,
    penalty: 0,
  },
  {
    code: 'C',
    name: 'manufacturing',
    share: 0.2,
    risk: 0,
    sizeShift: 0.35,
    energy: 0.8,
    tech: 0.8,
    penalty: 0.3,
  },
  {
    code: 'I',
    name: 'information_technology',
    share: 0.1,
    risk: -0.15,
    sizeShift: -0.1,
    energy: -0.4,
    tech: 1.2,
    penalty: -0.5,
  },
  {
    code: 'L',
    name: 'leasing_business_services',
    share: 0.1,
    risk: 0.05,
    sizeShift: -0.2,
    energy: -0.5,
    tech: -0.5,
    penalty: -0.2,
  },
  {
    code: 'E',
    name: 'construction',
    share: 0.08,
    risk: 0.35,
    sizeShift: 0.3,
    energy: 0.2,
    tech: -0.6,
    penalty: 0.5,
  },
  {
    code: 'H',
    name: 'accommodation_catering',
    share: 0.08,
    risk: 0.4,
    sizeShift: -0.4,
    energy: 0.6,
    tech: -2,
    penalty: 0.6,
  },
  {
    code: 'G',
    name: 'transport_logistics',
    share: 0.08,
    risk: 0.15,
    sizeShift: 0.1,
    energy: 0.5,
    tech: -1,
    penalty: 0.4,
  },
  {
    code: 'A',
    name: 'agriculture',
    share: 0.06,
    risk: 0.25,
    sizeShift: -0.3,
    energy: 0.3,
    tech: -0.8,
    penalty: 0.1,
  },
];

export interface RegionSpec {
  readonly name: string;
  readonly share: number;
  readonly risk: number;
  /** Shift of the size factor (firms in richer regions trade more). */
  readonly sizeShift: number;
}

/** China's four economic regions as the National Bureau of Statistics groups provinces. */
export const REGIONS: readonly RegionSpec[] = [
  { name: 'east', share: 0.45, risk: -0.1, sizeShift: 0.15 },
  { name: 'central', share: 0.25, risk: 0, sizeShift: 0 },
  { name: 'west', share: 0.22, risk: 0.1, sizeShift: -0.1 },
  { name: 'northeast', share: 0.08, risk: 0.25, sizeShift: -0.15 },
];

/** Loadings of G, L, T on the common health factor H (unit variance each). */
export const FACTOR_LOADING = { G: 0.55, L: 0.55, T: 0.4 } as const;

/** Coefficients of the default logit (see `defaultLogit`). The intercept is calibrated per run. */
export const DEFAULT_MODEL = {
  /** Standard deviation of an unobserved shock (loss of a key customer, a fraud) added to the logit. */
  shock: 1.3,
  /** Linear effects of the latent factors. */
  governance: -0.9,
  liquidity: -0.55,
  momentum: -0.25,
  size: -0.15,
  /** Young-firm hazard: youngHazard * exp(-age / youngScale). */
  youngHazard: 0.9,
  youngScale: 1.5,
  /** Interaction: weak on both compliance and liquidity is worse than the sum. */
  weakBoth: 0.45,
  /** Events and thresholds on observed values. */
  dishonestDebtor: 0.7,
  utilityArrears3m: 0.45,
  dpdOver30: 0.55,
  /** U-shape in the 12-month headcount change: headcountU * (change / 0.25)^2. */
  headcountU: 0.3,
  /** U-shape in credit-line utilization: utilizationU * ((u - 0.45) / 0.45)^2, for firms with a line. */
  utilizationU: 0.35,
} as const;

const CNY = 'CNY';

/** Government (host) features, in CSV column order after `uscc`. */
export const GOVERNMENT_FEATURES: readonly FeatureSpec[] = [
  {
    name: 'tax_paid_12m',
    owner: 'government',
    kind: 'amount',
    unit: CNY,
    description: 'Taxes paid in the last 12 months (VAT, corporate income tax, surcharges).',
    missing:
      'MNAR: no matched tax record; more likely for young and poorly compliant firms (sigmoid(-3.2 - 0.9 G + 1.5 [A<1]) x multiplier).',
    decimals: 0,
  },
  {
    name: 'tax_punctuality',
    owner: 'government',
    kind: 'ratio',
    unit: 'share',
    description: 'Share of the last 12 monthly tax filings made on time.',
    missing: 'Missing together with tax_paid_12m.',
    decimals: 4,
  },
  {
    name: 'vat_invoice_count_12m',
    owner: 'government',
    kind: 'count',
    unit: 'invoices',
    description: 'VAT invoices issued in the last 12 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'vat_invoice_amount_12m',
    owner: 'government',
    kind: 'amount',
    unit: CNY,
    description: 'Total amount of VAT invoices issued in the last 12 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'si_headcount',
    owner: 'government',
    kind: 'count',
    unit: 'persons',
    description: 'Employees enrolled in social insurance (latest month).',
    missing: '',
    decimals: 0,
  },
  {
    name: 'si_headcount_change_12m',
    owner: 'government',
    kind: 'ratio',
    unit: 'relative change',
    description: 'Relative change of the social-insurance headcount over 12 months.',
    missing: 'Structural: firms younger than one year (no headcount a year ago).',
    decimals: 4,
  },
  {
    name: 'si_arrears_months',
    owner: 'government',
    kind: 'count',
    unit: 'months',
    description: 'Months with social-insurance contributions in arrears, last 12 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'housing_fund_paid_12m',
    owner: 'government',
    kind: 'amount',
    unit: CNY,
    description: 'Housing-provident-fund contributions paid for staff, last 12 months (0 = not enrolled).',
    missing: 'MCAR: record not linked (8% x multiplier).',
    decimals: 0,
  },
  {
    name: 'utility_spend_12m',
    owner: 'government',
    kind: 'amount',
    unit: CNY,
    description: 'Water, electricity and gas bills paid, last 12 months.',
    missing:
      "MAR on size: utility accounts in a landlord's name (rented premises), sigmoid(-1.7 - 0.6 S) x multiplier.",
    decimals: 0,
  },
  {
    name: 'utility_arrears_months',
    owner: 'government',
    kind: 'count',
    unit: 'months',
    description: 'Months with a utility bill in arrears, last 12 months.',
    missing: 'Missing together with utility_spend_12m.',
    decimals: 0,
  },
  {
    name: 'admin_penalty_count_3y',
    owner: 'government',
    kind: 'count',
    unit: 'penalties',
    description: 'Administrative penalties (market regulation, tax, environment, safety), last 3 years.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'admin_penalty_amount_3y',
    owner: 'government',
    kind: 'amount',
    unit: CNY,
    description: 'Total fines of those penalties (heavy-tailed).',
    missing: '',
    decimals: 0,
  },
  {
    name: 'court_judgments_defendant_3y',
    owner: 'government',
    kind: 'count',
    unit: 'judgments',
    description: 'Civil court judgments with the firm as defendant, last 3 years.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'dishonest_debtor_flag',
    owner: 'government',
    kind: 'binary',
    unit: '0/1',
    description: 'On the list of dishonest judgment debtors (failed to perform a court judgment).',
    missing: '',
    decimals: 0,
  },
  {
    name: 'consumption_restriction_flag',
    owner: 'government',
    kind: 'binary',
    unit: '0/1',
    description: 'Legal representative under a court consumption-restriction order.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'registered_capital',
    owner: 'government',
    kind: 'amount',
    unit: '10k CNY',
    description: 'Registered (subscribed) capital; weakly related to real size.',
    missing: 'MCAR: 2% x multiplier.',
    decimals: 1,
  },
  {
    name: 'firm_age_years',
    owner: 'government',
    kind: 'years',
    unit: 'years',
    description: 'Years since business registration.',
    missing: '',
    decimals: 1,
  },
  {
    name: 'industry',
    owner: 'government',
    kind: 'categorical',
    unit: 'code',
    description: `Industry, one of \`levels\` (GB/T 4754-2017 sections ${INDUSTRIES.map((c) => c.code).join(', ')}).`,
    missing: '',
    decimals: 0,
    levels: INDUSTRIES.map((c) => c.name),
  },
  {
    name: 'region',
    owner: 'government',
    kind: 'categorical',
    unit: 'code',
    description: 'Economic region of registration (NBS grouping of provinces): one of `levels`.',
    missing: '',
    decimals: 0,
    levels: REGIONS.map((r) => r.name),
  },
  {
    name: 'patents_count',
    owner: 'government',
    kind: 'count',
    unit: 'patents',
    description: 'Patents held (invention, utility model, design).',
    missing: '',
    decimals: 0,
  },
  {
    name: 'trademarks_count',
    owner: 'government',
    kind: 'count',
    unit: 'trademarks',
    description: 'Registered trademarks.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'registration_changes_3y',
    owner: 'government',
    kind: 'count',
    unit: 'changes',
    description: 'Business-registration changes (address, shareholders, scope), last 3 years.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'legal_rep_changed_12m',
    owner: 'government',
    kind: 'binary',
    unit: '0/1',
    description: 'Legal representative changed in the last 12 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'high_tech_certified',
    owner: 'government',
    kind: 'binary',
    unit: '0/1',
    description: 'Certified high-tech or "specialised and sophisticated" SME.',
    missing: '',
    decimals: 0,
  },
];

/** Bank (guest) features, in CSV column order after `uscc` and the label. */
export const BANK_FEATURES: readonly FeatureSpec[] = [
  {
    name: 'avg_deposit_balance_12m',
    owner: 'bank',
    kind: 'amount',
    unit: CNY,
    description: 'Average daily deposit balance over the last 12 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'account_turnover_12m',
    owner: 'bank',
    kind: 'amount',
    unit: CNY,
    description: 'Credit turnover through the settlement account, last 12 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'turnover_trend_6m',
    owner: 'bank',
    kind: 'ratio',
    unit: 'relative change',
    description: 'Turnover of the last 6 months relative to the 6 months before, minus 1.',
    missing: 'Structural: customers for less than 12 months.',
    decimals: 4,
  },
  {
    name: 'overdue_count_24m',
    owner: 'bank',
    kind: 'count',
    unit: 'events',
    description: 'Overdue repayment events on any facility, last 24 months.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'dpd_max_24m',
    owner: 'bank',
    kind: 'count',
    unit: 'days',
    description: 'Maximum days past due, last 24 months (0 when never overdue).',
    missing: '',
    decimals: 0,
  },
  {
    name: 'existing_loans_count',
    owner: 'bank',
    kind: 'count',
    unit: 'loans',
    description: 'Outstanding loans and credit lines with this bank.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'existing_loans_balance',
    owner: 'bank',
    kind: 'amount',
    unit: CNY,
    description: 'Outstanding balance of those loans.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'credit_utilization',
    owner: 'bank',
    kind: 'ratio',
    unit: 'share',
    description: 'Drawn share of the credit line (can exceed 1 briefly).',
    missing: 'Structural: no credit line (existing_loans_count = 0).',
    decimals: 4,
  },
  {
    name: 'months_as_customer',
    owner: 'bank',
    kind: 'count',
    unit: 'months',
    description: 'Months since the account was opened.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'collateral_flag',
    owner: 'bank',
    kind: 'binary',
    unit: '0/1',
    description: 'Has pledged collateral to the bank.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'guarantee_flag',
    owner: 'bank',
    kind: 'binary',
    unit: '0/1',
    description: 'Has a third-party or guarantee-company guarantee.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'payroll_service_flag',
    owner: 'bank',
    kind: 'binary',
    unit: '0/1',
    description: 'Pays wages through the bank.',
    missing: '',
    decimals: 0,
  },
  {
    name: 'credit_inquiries_3m',
    owner: 'bank',
    kind: 'count',
    unit: 'inquiries',
    description: 'Credit-report inquiries by lenders, last 3 months (credit hunger).',
    missing: '',
    decimals: 0,
  },
  {
    name: 'bounced_payments_12m',
    owner: 'bank',
    kind: 'count',
    unit: 'payments',
    description: 'Payments returned for insufficient funds, last 12 months.',
    missing: '',
    decimals: 0,
  },
];

export const ID_COLUMN = 'uscc';
export const DEFAULT_LABEL_COLUMN = 'y';
export const LABEL_DESCRIPTION =
  'Default within 12 months of the observation date (90+ days past due, restructuring or write-off): 1 = default.';

/** The latent factors and the values the default model reads for one enterprise. */
export interface LatentRow {
  industry: number;
  region: number;
  age: number;
  G: number;
  L: number;
  T: number;
  S: number;
  dishonest: number;
  utilityArrears: number;
  headcountChange: number;
  hasLine: number;
  utilization: number;
  dpdMax: number;
  /** Unobserved N(0,1) shock. */
  shock: number;
}

/** The default logit without its intercept. Uses the true values (before missingness masks them). */
export function defaultLogit(r: LatentRow): number {
  const m = DEFAULT_MODEL;
  let eta = INDUSTRIES[r.industry]!.risk + REGIONS[r.region]!.risk + m.shock * r.shock;
  eta += m.governance * r.G + m.liquidity * r.L + m.momentum * r.T + m.size * r.S;
  eta += m.youngHazard * Math.exp(-r.age / m.youngScale);
  eta += m.weakBoth * Math.max(0, -r.G) * Math.max(0, -r.L);
  eta += m.dishonestDebtor * r.dishonest;
  if (r.utilityArrears >= 3) eta += m.utilityArrears3m;
  if (r.dpdMax > 30) eta += m.dpdOver30;
  const hc = r.headcountChange / 0.25;
  eta += m.headcountU * hc * hc;
  if (r.hasLine === 1) {
    const u = (r.utilization - 0.45) / 0.45;
    eta += m.utilizationU * u * u;
  }
  return eta;
}
