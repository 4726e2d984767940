/**
 * Evaluation and stability of scores: AUC, KS, Gini, lift and calibration on any scored set (core
 * metrics), and the population stability index between the training population and a new scoring
 * population, per feature and per score (`fedscore stability`).
 *
 * Scorecard scores are high for good applicants; core metrics expect a score high for label 1 (bad), so
 * `higherIsBetter` negates before ranking. Calibration needs probabilities of default: pass `pd` (e.g.
 * `scoreToOdds(card, s).pd` per row) when the scores are points.
 */
import {
  type CalibrationBins,
  calibrationBins,
  FedscoreError,
  type LiftRow,
  liftTable,
  type PsiOptions,
  type PsiResult,
  populationStabilityIndex,
  summarizeBinary,
} from '@fedscore/core';

export interface ScoreEvaluation {
  readonly n: number;
  readonly positives: number;
  readonly auc: number;
  readonly ks: number;
  readonly gini: number;
  readonly lift: readonly LiftRow[];
  /** Only when probabilities of default were given. */
  readonly calibration?: CalibrationBins;
}

export interface EvaluateOptions {
  /** The score is high for label 0 (scorecard points). Default false. */
  readonly higherIsBetter?: boolean;
  /** Bins of the lift table. Default 10. */
  readonly liftBins?: number;
  /** Probabilities of label 1 per row, for the calibration table. */
  readonly pd?: ArrayLike<number>;
  /** Calibration bins. Default 10. */
  readonly calibrationBins?: number;
}

/** AUC, KS, Gini, lift and (with `pd`) calibration of one scored set. */
export function evaluateScores(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: EvaluateOptions = {},
): ScoreEvaluation {
  const s = options.higherIsBetter ? Float64Array.from(scores, (v) => -v) : scores;
  const summary = summarizeBinary(labels, s);
  const out: ScoreEvaluation = {
    n: summary.n,
    positives: summary.positives,
    auc: summary.auc,
    ks: summary.ks,
    gini: summary.gini,
    lift: liftTable(labels, s, options.liftBins ?? 10),
  };
  if (options.pd !== undefined) {
    return {
      ...out,
      calibration: calibrationBins(labels, options.pd, {
        bins: options.calibrationBins ?? 10,
        strategy: 'quantile',
      }),
    };
  }
  return out;
}

export interface StabilityRow {
  /** Feature name, or the score column's name. */
  readonly name: string;
  readonly kind: 'score' | 'feature';
  readonly psi: number;
  readonly band: PsiResult['band'];
  /** Rows compared (missing values of a feature are left out of both sides and counted here). */
  readonly expectedRows: number;
  readonly actualRows: number;
  readonly expectedMissing: number;
  readonly actualMissing: number;
  readonly bins: PsiResult['bins'];
}

export interface StabilityReport {
  readonly rows: readonly StabilityRow[];
  /** Names whose PSI is above 0.25 (shifted), worst first. */
  readonly shifted: readonly string[];
}

function present(values: ArrayLike<number>): { values: Float64Array; missing: number } {
  const out: number[] = [];
  let missing = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) missing++;
    else out.push(v);
  }
  return { values: Float64Array.from(out), missing };
}

/**
 * PSI of every named column between `expected` (training population) and `actual` (new population).
 * `scoreColumns` are reported with kind 'score'. A column that is entirely missing on either side is an
 * error naming it.
 */
export function stabilityReport(
  expected: Readonly<Record<string, ArrayLike<number>>>,
  actual: Readonly<Record<string, ArrayLike<number>>>,
  columns: readonly string[],
  options: PsiOptions & { readonly scoreColumns?: readonly string[] } = {},
): StabilityReport {
  const scores = new Set(options.scoreColumns ?? []);
  const rows = columns.map((name): StabilityRow => {
    const e = expected[name];
    const a = actual[name];
    if (e === undefined)
      throw new FedscoreError('not_found', `no column '${name}' in the expected population`, { field: name });
    if (a === undefined)
      throw new FedscoreError('not_found', `no column '${name}' in the actual population`, { field: name });
    const pe = present(e);
    const pa = present(a);
    if (pe.values.length === 0 || pa.values.length === 0) {
      throw new FedscoreError('missing_value', `column '${name}' has no values on one side`, { field: name });
    }
    const r = populationStabilityIndex(pe.values, pa.values, options);
    return {
      name,
      kind: scores.has(name) ? 'score' : 'feature',
      psi: r.psi,
      band: r.band,
      expectedRows: pe.values.length,
      actualRows: pa.values.length,
      expectedMissing: pe.missing,
      actualMissing: pa.missing,
      bins: r.bins,
    };
  });
  return {
    rows,
    shifted: rows
      .filter((r) => r.band === 'shifted')
      .sort((x, y) => y.psi - x.psi)
      .map((r) => r.name),
  };
}
