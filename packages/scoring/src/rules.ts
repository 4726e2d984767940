/**
 * Rating bands and pre-approved credit lines from declarative rules (a YAML or JSON file, validated with
 * zod; every error names the rule and the field).
 *
 *   format: fedscore.credit-rules
 *   version: 1
 *   figures: { revenue: account_turnover_12m, taxPaid: tax_paid_12m }   # rule figure -> column name
 *   baseRateBp: 435                # the product's base rate, basis points a year
 *   rounding: 10000                # lines are rounded down to a multiple of this
 *   leverage: { maxRatio: 0.7, base: revenue, debt: existing_loans_balance }
 *   missingFigure: zero            # a cap whose figure is missing gives 0 (or: skip, error)
 *   bands:                         # highest first; a score >= minScore gets the first band it reaches
 *     - { name: A, minScore: 700, revenueMultiple: 0.3, taxMultiple: 8, maxLine: 5000000, rateDiscountBp: 20 }
 *     - { name: B, minScore: 650, revenueMultiple: 0.2, taxMultiple: 5, maxLine: 2000000 }
 *     - { name: C, minScore: 600, revenueMultiple: 0.1, maxLine: 500000 }
 *     - { name: D, approve: false }   # the last band has no minScore: every lower score
 *
 * A band's line is the smallest of its caps: `revenueMultiple x revenue`, `taxMultiple x taxPaid`, the
 * leverage cap `maxRatio x figure(base) - figure(debt)`, and `maxLine`; never below 0; rounded down. A band
 * with `approve: false` gets no line. The Dalian "digital credit coupon" (20 bp off for well-rated firms)
 * is `rateDiscountBp`.
 */
import { FedscoreError } from '@fedscore/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const CREDIT_RULES_FORMAT = 'fedscore.credit-rules';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const nonNegative = finite.refine((v) => v >= 0, 'must be >= 0');
const columnName = z.string().min(1, 'must be a non-empty column name');

const bandSchema = z
  .object({
    name: z.string().min(1, 'must be a non-empty band name'),
    minScore: finite.optional(),
    approve: z.boolean().default(true),
    revenueMultiple: nonNegative.optional(),
    taxMultiple: nonNegative.optional(),
    maxLine: nonNegative.optional(),
    rateDiscountBp: nonNegative.default(0),
  })
  .strict();

const rulesSchema = z
  .object({
    format: z.literal(CREDIT_RULES_FORMAT),
    version: z.literal(1),
    currency: z.string().min(1).default('CNY'),
    figures: z
      .object({
        revenue: columnName.optional(),
        taxPaid: columnName.optional(),
      })
      .strict()
      .default({}),
    baseRateBp: nonNegative.default(0),
    rounding: finite.refine((v) => v > 0, 'must be > 0').default(1),
    missingFigure: z.enum(['zero', 'skip', 'error']).default('zero'),
    leverage: z
      .object({
        maxRatio: nonNegative,
        base: columnName,
        debt: columnName,
      })
      .strict()
      .optional(),
    bands: z.array(bandSchema).min(1, 'at least one band'),
  })
  .strict();

export type CreditRules = z.infer<typeof rulesSchema>;
export type RatingBand = CreditRules['bands'][number];
/** The rules as written (defaults not yet applied). */
export type CreditRulesInput = z.input<typeof rulesSchema>;

/** Validate parsed rules (an object from JSON or YAML). `file` is used in error locations. */
export function validateCreditRules(value: unknown, file?: string): CreditRules {
  const r = rulesSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    const path = field.replace(/^\./, '');
    const bandIndex =
      issue.path[0] === 'bands' && typeof issue.path[1] === 'number' ? issue.path[1] : undefined;
    const bands = (value as { bands?: { name?: unknown }[] } | null)?.bands;
    const bandName = bandIndex !== undefined ? bands?.[bandIndex]?.name : undefined;
    const rule =
      bandIndex !== undefined ? ` (band ${typeof bandName === 'string' ? `'${bandName}'` : bandIndex})` : '';
    throw new FedscoreError('invalid_config', `credit rules${rule}: ${issue.message}`, {
      field: path || 'rules',
      ...(file !== undefined && { file }),
    });
  }
  const rules = r.data;
  const bands = rules.bands;
  bands.forEach((b, i) => {
    const last = i === bands.length - 1;
    if (!last && b.minScore === undefined) {
      throw new FedscoreError(
        'invalid_config',
        `credit rules (band '${b.name}'): only the last band may omit minScore`,
        {
          field: `bands[${i}].minScore`,
          ...(file !== undefined && { file }),
        },
      );
    }
    if (i > 0 && b.minScore !== undefined && !(b.minScore < bands[i - 1]!.minScore!)) {
      throw new FedscoreError(
        'invalid_config',
        `credit rules (band '${b.name}'): bands must be listed highest first with strictly decreasing minScore`,
        { field: `bands[${i}].minScore`, ...(file !== undefined && { file }) },
      );
    }
    if (b.approve) {
      if (
        b.revenueMultiple === undefined &&
        b.taxMultiple === undefined &&
        b.maxLine === undefined &&
        !rules.leverage
      ) {
        throw new FedscoreError(
          'invalid_config',
          `credit rules (band '${b.name}'): an approving band needs a cap`,
          {
            field: `bands[${i}].maxLine`,
            ...(file !== undefined && { file }),
          },
        );
      }
      if (b.revenueMultiple !== undefined && rules.figures.revenue === undefined) {
        throw new FedscoreError(
          'invalid_config',
          `credit rules (band '${b.name}'): revenueMultiple needs figures.revenue`,
          { field: 'figures.revenue', ...(file !== undefined && { file }) },
        );
      }
      if (b.taxMultiple !== undefined && rules.figures.taxPaid === undefined) {
        throw new FedscoreError(
          'invalid_config',
          `credit rules (band '${b.name}'): taxMultiple needs figures.taxPaid`,
          {
            field: 'figures.taxPaid',
            ...(file !== undefined && { file }),
          },
        );
      }
    }
  });
  if (new Set(bands.map((b) => b.name)).size !== bands.length) {
    throw new FedscoreError('duplicate_id', 'credit rules: band names must be unique', {
      field: 'bands',
      ...(file !== undefined && { file }),
    });
  }
  return rules;
}

/** Parse rules from YAML or JSON text (JSON is YAML). */
export function parseCreditRules(text: string, file?: string): CreditRules {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (e) {
    throw new FedscoreError(
      'invalid_config',
      `credit rules are not valid YAML/JSON: ${(e as Error).message}`,
      {
        field: 'rules',
        ...(file !== undefined && { file }),
        cause: e,
      },
    );
  }
  return validateCreditRules(value, file);
}

/** The index of the band a score falls in. */
export function bandIndexOf(rules: CreditRules, score: number): number {
  if (!Number.isFinite(score))
    throw new FedscoreError('invalid_argument', 'score is not finite', { field: 'score' });
  for (let i = 0; i < rules.bands.length; i++) {
    const min = rules.bands[i]!.minScore;
    if (min === undefined || score >= min) return i;
  }
  // Every band has a minimum and the score is below all of them: no band fits.
  return -1;
}

/** Band thresholds, highest first (the band boundaries a comparison protocol evaluates). */
export function bandThresholds(rules: CreditRules): number[] {
  return rules.bands.flatMap((b) => (b.minScore === undefined ? [] : [b.minScore]));
}

/** The enterprise figures a rule set reads (column names). */
export function ruleFigures(rules: CreditRules): string[] {
  const out = new Set<string>();
  if (rules.figures.revenue !== undefined) out.add(rules.figures.revenue);
  if (rules.figures.taxPaid !== undefined) out.add(rules.figures.taxPaid);
  if (rules.leverage) {
    out.add(rules.leverage.base);
    out.add(rules.leverage.debt);
  }
  return [...out];
}

export type CapName = 'revenue' | 'taxPaid' | 'leverage' | 'maxLine';

export interface CreditDecision {
  /** Band name, or null when the score is below every band. */
  readonly band: string | null;
  readonly bandIndex: number;
  readonly approved: boolean;
  /** Pre-approved line (0 when declined). */
  readonly line: number;
  /** Which cap set the line (null when declined or no cap applied). */
  readonly bindingCap: CapName | null;
  readonly caps: Partial<Record<CapName, number>>;
  readonly rateBp: number;
  readonly rateDiscountBp: number;
}

/** Band-dependent caps from figures: what a line is the minimum of. */
export function bandCaps(
  rules: CreditRules,
  bandIndex: number,
  figures: Readonly<Record<string, number | null | undefined>>,
): Partial<Record<CapName, number>> {
  const band = rules.bands[bandIndex];
  if (band === undefined)
    throw new FedscoreError('out_of_range', `no band ${bandIndex}`, { field: 'bandIndex' });
  const caps: Partial<Record<CapName, number>> = {};
  const fig = (name: string): number | undefined => {
    const v = figures[name];
    if (v === null || v === undefined || Number.isNaN(v)) {
      if (rules.missingFigure === 'error') {
        throw new FedscoreError('missing_value', `figure '${name}' is missing`, { field: name });
      }
      return rules.missingFigure === 'zero' ? 0 : undefined;
    }
    if (!Number.isFinite(v))
      throw new FedscoreError('invalid_argument', 'not a finite number', { field: name });
    return v;
  };
  if (band.revenueMultiple !== undefined) {
    const v = fig(rules.figures.revenue!);
    if (v !== undefined) caps.revenue = band.revenueMultiple * v;
  }
  if (band.taxMultiple !== undefined) {
    const v = fig(rules.figures.taxPaid!);
    if (v !== undefined) caps.taxPaid = band.taxMultiple * v;
  }
  if (rules.leverage) {
    const base = fig(rules.leverage.base);
    const debt = fig(rules.leverage.debt);
    if (base !== undefined && debt !== undefined) caps.leverage = rules.leverage.maxRatio * base - debt;
  }
  if (band.maxLine !== undefined) caps.maxLine = band.maxLine;
  return caps;
}

/**
 * The line from caps: their minimum, floored at 0 and rounded down to `rounding`. `tolerance` (currency
 * units, default 0) is added before rounding down, for caps decrypted with CKKS's tiny errors.
 */
export function lineFromCaps(
  rounding: number,
  caps: Partial<Record<CapName, number>>,
  tolerance = 0,
): { line: number; binding: CapName | null } {
  let binding: CapName | null = null;
  let min = Number.POSITIVE_INFINITY;
  for (const [k, v] of Object.entries(caps) as [CapName, number][]) {
    if (v < min) {
      min = v;
      binding = k;
    }
  }
  if (binding === null) return { line: 0, binding: null };
  const line = Math.max(0, Math.floor((min + tolerance) / rounding) * rounding);
  return { line, binding };
}

/** Band, line and rate for one enterprise from its score and figures. */
export function decideCredit(
  rules: CreditRules,
  score: number,
  figures: Readonly<Record<string, number | null | undefined>>,
): CreditDecision {
  const bi = bandIndexOf(rules, score);
  return decisionForBand(rules, bi, figures);
}

/** The decision once the band is known (the band-only scoring modes learn just this index). */
export function decisionForBand(
  rules: CreditRules,
  bandIndex: number,
  figures: Readonly<Record<string, number | null | undefined>>,
): CreditDecision {
  const band = bandIndex >= 0 ? rules.bands[bandIndex] : undefined;
  if (band === undefined || !band.approve) {
    return {
      band: band?.name ?? null,
      bandIndex,
      approved: false,
      line: 0,
      bindingCap: null,
      caps: {},
      rateBp: rules.baseRateBp,
      rateDiscountBp: 0,
    };
  }
  const caps = bandCaps(rules, bandIndex, figures);
  const { line, binding } = lineFromCaps(rules.rounding, caps);
  return {
    band: band.name,
    bandIndex,
    approved: line > 0,
    line,
    bindingCap: binding,
    caps,
    rateBp: Math.max(0, rules.baseRateBp - band.rateDiscountBp),
    rateDiscountBp: band.rateDiscountBp,
  };
}

export interface EnterpriseCreditLine extends CreditDecision {
  readonly id: string;
  readonly score: number;
}

/**
 * Lines for many enterprises: "given a joint model's scores and the rules, compute lines for these
 * enterprises". `scores[i]` belongs to `ids[i]`; `figures[column][i]` are the rule figures.
 */
export function creditLines(
  rules: CreditRules,
  ids: readonly string[],
  scores: ArrayLike<number>,
  figures: Readonly<Record<string, ArrayLike<number>>>,
): EnterpriseCreditLine[] {
  if (scores.length !== ids.length) {
    throw new FedscoreError('invalid_argument', `expected ${ids.length} scores, got ${scores.length}`, {
      field: 'scores',
    });
  }
  const needed = ruleFigures(rules);
  for (const f of needed) {
    const col = figures[f];
    if (col === undefined) throw new FedscoreError('not_found', `no figure column '${f}'`, { field: f });
    if (col.length !== ids.length) {
      throw new FedscoreError('invalid_argument', `expected ${ids.length} rows, got ${col.length}`, {
        field: f,
      });
    }
  }
  return ids.map((id, i) => {
    const row: Record<string, number> = {};
    for (const f of needed) row[f] = figures[f]![i]!;
    return { id, score: scores[i]!, ...decideCredit(rules, scores[i]!, row) };
  });
}
