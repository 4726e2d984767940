/**
 * Models that give a probability of default per applicant (e.g. an HFL TensorFlow.js LayersModel, which
 * is not linear and so cannot take the encrypted linear flows): the interface a model implements to
 * score through this package, and the path from its probabilities to points, bands and credit lines.
 *
 * Points: score = offset + factor · ln((1 − p) / p) on the scorecard scale (`resolveScaling`: 600 points
 * at odds 50:1 good:bad, 20 points to double the odds, unless given), p clamped to [1e-12, 1 − 1e-12].
 * Bands and lines: the credit rules (`creditLines`).
 */
import { FedscoreError, numericMatrix, type Table } from '@fedscore/core';
import { type CreditRules, creditLines, type EnterpriseCreditLine } from './rules.ts';
import { resolveScaling, type ScorecardScaling } from './scorecard.ts';

/** A model that maps prepared feature rows to probabilities of default. */
export interface ProbabilityModel {
  /** e.g. 'tfjs-layers-model'. */
  readonly format: string;
  /** Input columns, in order (numeric as is, categorical one-hot). */
  readonly features: readonly string[];
  /** P(default) of each of `rows` rows of `x` (row-major, `features.length` columns). */
  predict(x: Float64Array, rows: number): Promise<Float64Array>;
}

const EPS = 1e-12;

/** Points on the scorecard scale of probabilities of default. */
export function pdToScore(pd: ArrayLike<number>, scaling: ScorecardScaling = {}): Float64Array {
  const s = resolveScaling(scaling);
  return Float64Array.from(pd, (p, i) => {
    if (!Number.isFinite(p)) {
      throw new FedscoreError('invalid_argument', 'not a finite probability', { field: `pd[${i}]` });
    }
    const q = Math.min(1 - EPS, Math.max(EPS, p));
    return s.offset + s.factor * Math.log((1 - q) / q);
  });
}

export interface ProbabilityScores {
  readonly pd: Float64Array;
  readonly scores: Float64Array;
  /** The credit decisions, with rules. */
  readonly lines?: EnterpriseCreditLine[];
}

/**
 * Score `table`'s rows with `model`: probabilities, points and (with `rules`) band and credit line per
 * enterprise; the rules' figures are read from the table's numeric columns of those names.
 */
export async function scoreWithProbabilityModel(
  model: ProbabilityModel,
  table: Table,
  options: { readonly rules?: CreditRules; readonly scaling?: ScorecardScaling } = {},
): Promise<ProbabilityScores> {
  let m: ReturnType<typeof numericMatrix>;
  try {
    m = numericMatrix(table, model.features, { categorical: 'one-hot' });
  } catch (e) {
    throw new FedscoreError('csv_schema', "the table does not have the model's input columns", {
      field: 'features',
      cause: e,
    });
  }
  const pd = await model.predict(m.data, m.nRows);
  if (pd.length !== m.nRows) {
    throw new FedscoreError('internal', `the model gave ${pd.length} probabilities for ${m.nRows} rows`, {
      field: 'predict',
    });
  }
  const scores = pdToScore(pd, options.scaling);
  if (options.rules === undefined) return { pd, scores };
  const figures: Record<string, Float64Array> = {};
  for (const c of table.columns) if (c.kind === 'numeric') figures[c.name] = c.values;
  return { pd, scores, lines: creditLines(options.rules, table.ids, scores, figures) };
}
