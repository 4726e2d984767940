/**
 * The numbers of a model report (`fedscore report`): everything the HTML shows, computed here from a
 * scored set (labels + scores), optionally a baseline population for stability, an IV table and a
 * scorecard. Plain JSON-ready data: the page draws it, tests check it against independent references.
 *
 * Conventions: label 1 = bad. Core metrics rank "high score = more likely bad"; a scorecard (high =
 * good) is negated first (`higherIsBetter`) and every threshold shown is back in the file's own units.
 */
import {
  FedscoreError,
  ksCurve,
  type PsiBand,
  populationStabilityIndex,
  rocCurve,
  summarizeBinary,
} from '@fedscore/core';
import {
  evaluateScores,
  type PartyScorecardView,
  type Scorecard,
  scorecardTable,
  stabilityReport,
} from '@fedscore/scoring';

/** One feature of an IV table (the `features` of `fedscore binning --json`). */
export interface IvFeature {
  readonly party: string;
  readonly name: string;
  readonly iv: number;
  readonly strength?: string | undefined;
  readonly bins?: number | undefined;
  /** From the selection lineage, when the file has one. */
  readonly selected?: boolean | undefined;
  readonly dropReason?: string | undefined;
}

/**
 * One row of a tree model's feature importance (a party's `<party>.importance.json` of `fedscore train
 * secureboost --out` or a node's publish): a party's own feature, or on the guest a host's splits as a
 * whole (`host`: it never learns which host feature a split is on).
 */
export interface ImportanceRow {
  readonly party: string;
  /** The feature name, or the host's party id for a guest's per-host row. */
  readonly name: string;
  readonly kind: 'feature' | 'host';
  readonly splits: number;
  /** Summed split gain; absent where the party does not hold gains (a host without `shareSplitGains`). */
  readonly gain?: number | undefined;
}

export interface ReportInput {
  readonly title: string;
  /** Names shown in the report (file names and columns). */
  readonly sources: {
    readonly scores: string;
    readonly label: string;
    readonly score: string;
    readonly baseline?: string | undefined;
    readonly iv?: string | undefined;
    readonly scorecard?: string | undefined;
    readonly importance?: readonly string[] | undefined;
  };
  readonly generatedAt: string;
  readonly labels: ArrayLike<number>;
  readonly scores: ArrayLike<number>;
  /** The score is high for good applicants (scorecard points). */
  readonly higherIsBetter: boolean;
  /** Probabilities of default per row for the calibration chart, and where they came from. */
  readonly pd?: { readonly values: ArrayLike<number>; readonly source: string } | undefined;
  /** Why there is no calibration section, when `pd` is absent. */
  readonly noCalibrationReason?: string | undefined;
  /** The training (expected) population's scores and features, for stability. */
  readonly baseline?:
    | {
        readonly scores: ArrayLike<number>;
        /** Further columns to compare, present in both populations (NaN = missing). */
        readonly columns?: Readonly<
          Record<string, { expected: ArrayLike<number>; actual: ArrayLike<number> }>
        >;
      }
    | undefined;
  readonly iv?: readonly IvFeature[] | undefined;
  readonly importance?: readonly ImportanceRow[] | undefined;
  readonly scorecard?: { readonly card: Scorecard; readonly view: PartyScorecardView } | undefined;
  readonly histogramBins?: number | undefined;
  readonly liftBins?: number | undefined;
  readonly psiBins?: number | undefined;
  readonly calibrationBins?: number | undefined;
  /** Most points drawn per curve (ROC, KS); exact metrics are computed on all rows. Default 1000. */
  readonly maxCurvePoints?: number | undefined;
}

export interface ReportData {
  readonly title: string;
  readonly generatedAt: string;
  readonly sources: ReportInput['sources'];
  readonly higherIsBetter: boolean;
  readonly summary: {
    readonly n: number;
    readonly positives: number;
    readonly auc: number;
    readonly ks: number;
    /** In the file's units; null when no threshold beats chance. */
    readonly ksThreshold: number | null;
    readonly gini: number;
    readonly brier: number | null;
    readonly minScore: number;
    readonly maxScore: number;
  };
  readonly roc: { readonly fpr: number[]; readonly tpr: number[] };
  /** Ascending score; cumulative shares counted from the risky end (see `higherIsBetter`). */
  readonly ks: {
    readonly score: number[];
    readonly cumBad: number[];
    readonly cumGood: number[];
    readonly gap: number[];
  };
  readonly distribution: {
    /** `bins + 1` uniform edges over [min, max] of the scores. */
    readonly edges: number[];
    readonly goodCount: number[];
    readonly badCount: number[];
    /** Share of each class in each bin. */
    readonly goodShare: number[];
    readonly badShare: number[];
  };
  readonly calibration:
    | {
        readonly source: string;
        readonly predicted: number[];
        readonly observed: number[];
        readonly counts: number[];
      }
    | { readonly unavailable: string };
  readonly lift: {
    readonly bin: number;
    readonly minScore: number;
    readonly maxScore: number;
    readonly count: number;
    readonly bads: number;
    readonly badRate: number;
    readonly cumulativeShare: number;
    readonly capture: number;
    readonly lift: number;
    readonly cumulativeLift: number;
  }[];
  readonly stability: {
    readonly psi: number;
    readonly band: PsiBand;
    readonly expectedRows: number;
    readonly actualRows: number;
    readonly bins: {
      readonly lower: number | null;
      readonly upper: number | null;
      readonly expectedCount: number;
      readonly actualCount: number;
      readonly expectedShare: number;
      readonly actualShare: number;
      readonly contribution: number;
    }[];
    /** The score and any further columns, worst first. */
    readonly rows: {
      readonly name: string;
      readonly kind: string;
      readonly psi: number;
      readonly band: PsiBand;
    }[];
  } | null;
  readonly iv: readonly IvFeature[] | null;
  /** Per party, by split count then gain, most used first. */
  readonly importance: readonly ImportanceRow[] | null;
  readonly scorecard: {
    readonly viewer: string;
    readonly baseScore: number;
    readonly baseOdds: number;
    readonly pdo: number;
    readonly factor: number;
    readonly offset: number;
    readonly rows: {
      readonly party: string;
      readonly feature: string;
      readonly bin: string;
      readonly woe: number | null;
      readonly points: number | null;
    }[];
  } | null;
}

function positiveInt(v: number | undefined, dflt: number, field: string): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new FedscoreError('out_of_range', `expected an integer in [1, 1000], got ${n}`, { field });
  }
  return n;
}

/** Keep at most `max` points of a curve, always the first and the last (for drawing only). */
export function thinCurve(length: number, max: number): number[] {
  if (length <= max) return Array.from({ length }, (_, i) => i);
  const out: number[] = [];
  const step = (length - 1) / (max - 1);
  for (let k = 0; k < max; k++) out.push(Math.round(k * step));
  return [...new Set(out)];
}

/** Counts of `values` in `bins` uniform bins over [lo, hi]; the last bin is closed. */
export function uniformHistogram(values: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const b = width > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width))) : 0;
    counts[b]! += 1;
  }
  return counts;
}

/** All report numbers. Throws a typed error naming the input when labels or scores are unusable. */
export function buildReportData(input: ReportInput): ReportData {
  const n = input.scores.length;
  if (input.labels.length !== n) {
    throw new FedscoreError('invalid_argument', `expected ${n} labels, got ${input.labels.length}`, {
      field: 'labels',
    });
  }
  if (n === 0) throw new FedscoreError('invalid_argument', 'no scored rows', { field: 'scores' });
  const histogramBins = positiveInt(input.histogramBins, 20, 'histogramBins');
  const liftBins = positiveInt(input.liftBins, 10, 'liftBins');
  const psiBins = positiveInt(input.psiBins, 10, 'psiBins');
  const calibrationBins = positiveInt(input.calibrationBins, 10, 'calibrationBins');
  const maxPoints = input.maxCurvePoints ?? 1000;
  if (!Number.isInteger(maxPoints) || maxPoints < 2) {
    throw new FedscoreError('out_of_range', `expected an integer >= 2, got ${maxPoints}`, {
      field: 'maxCurvePoints',
    });
  }
  const sign = input.higherIsBetter ? -1 : 1;
  // Ranked so that high = more likely bad (what the core metrics expect).
  const risk = Float64Array.from(input.scores, (v) => sign * v);

  const summary = summarizeBinary(input.labels, risk);
  const evaluation = evaluateScores(input.labels, risk, {
    liftBins,
    ...(input.pd !== undefined && { pd: input.pd.values }),
    calibrationBins,
  });

  const roc = rocCurve(input.labels, risk);
  const rocKeep = thinCurve(roc.fpr.length, maxPoints);

  // KS: thresholds on the risk scale are decreasing, starting at +Infinity (nothing selected).
  const k = ksCurve(input.labels, risk);
  const finite: number[] = [];
  for (let i = 0; i < k.thresholds.length; i++) if (Number.isFinite(k.thresholds[i]!)) finite.push(i);
  const ksKeep = thinCurve(finite.length, maxPoints).map((j) => finite[j]!);
  // Ascending in the file's units: for a risk score that is the reverse of the threshold order.
  const ksOrder = input.higherIsBetter ? ksKeep : [...ksKeep].reverse();

  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = input.scores[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const goods: number[] = [];
  const bads: number[] = [];
  for (let i = 0; i < n; i++) (input.labels[i] === 1 ? bads : goods).push(input.scores[i]!);
  const goodCount = uniformHistogram(goods, lo, hi, histogramBins);
  const badCount = uniformHistogram(bads, lo, hi, histogramBins);
  const edges = Array.from({ length: histogramBins + 1 }, (_, b) =>
    b === histogramBins ? hi : lo + ((hi - lo) * b) / histogramBins,
  );

  const cal = evaluation.calibration;
  const calibration: ReportData['calibration'] =
    cal !== undefined && input.pd !== undefined
      ? {
          source: input.pd.source,
          predicted: Array.from(cal.probPred),
          observed: Array.from(cal.probTrue),
          counts: Array.from(cal.counts),
        }
      : { unavailable: input.noCalibrationReason ?? 'no probabilities of default were given' };

  let stability: ReportData['stability'] = null;
  if (input.baseline !== undefined) {
    const psi = populationStabilityIndex(input.baseline.scores, input.scores, { bins: psiBins });
    const extra = input.baseline.columns ?? {};
    const names = Object.keys(extra);
    const others =
      names.length === 0
        ? []
        : stabilityReport(
            Object.fromEntries(names.map((c) => [c, extra[c]!.expected])),
            Object.fromEntries(names.map((c) => [c, extra[c]!.actual])),
            names,
            { bins: psiBins },
          ).rows;
    stability = {
      psi: psi.psi,
      band: psi.band,
      expectedRows: input.baseline.scores.length,
      actualRows: n,
      bins: psi.bins.map((b) => ({
        lower: Number.isFinite(b.lower) ? b.lower : null,
        upper: Number.isFinite(b.upper) ? b.upper : null,
        expectedCount: b.expectedCount,
        actualCount: b.actualCount,
        expectedShare: b.expectedShare,
        actualShare: b.actualShare,
        contribution: b.contribution,
      })),
      rows: [
        { name: input.sources.score, kind: 'score', psi: psi.psi, band: psi.band },
        ...others.map((r) => ({ name: r.name, kind: r.kind, psi: r.psi, band: r.band })),
      ].sort((a, b) => b.psi - a.psi),
    };
  }

  let scorecard: ReportData['scorecard'] = null;
  if (input.scorecard !== undefined) {
    const s = input.scorecard.card.scaling;
    scorecard = {
      viewer: input.scorecard.view.viewer,
      baseScore: s.baseScore,
      baseOdds: s.baseOdds,
      pdo: s.pdo,
      factor: s.factor,
      offset: s.offset,
      rows: scorecardTable(input.scorecard.view),
    };
  }

  return {
    title: input.title,
    generatedAt: input.generatedAt,
    sources: input.sources,
    higherIsBetter: input.higherIsBetter,
    summary: {
      n: summary.n,
      positives: summary.positives,
      auc: summary.auc,
      ks: summary.ks,
      ksThreshold: Number.isFinite(summary.ksThreshold) ? sign * summary.ksThreshold : null,
      gini: summary.gini,
      // The Brier score only means something for probabilities of bad, not for points.
      brier: input.higherIsBetter ? null : summary.brier,
      minScore: lo,
      maxScore: hi,
    },
    roc: { fpr: rocKeep.map((i) => roc.fpr[i]!), tpr: rocKeep.map((i) => roc.tpr[i]!) },
    ks: {
      score: ksOrder.map((i) => sign * k.thresholds[i]!),
      cumBad: ksOrder.map((i) => k.cumPositive[i]!),
      cumGood: ksOrder.map((i) => k.cumNegative[i]!),
      gap: ksOrder.map((i) => k.gap[i]!),
    },
    distribution: {
      edges,
      goodCount,
      badCount,
      goodShare: goodCount.map((c) => (goods.length > 0 ? c / goods.length : 0)),
      badShare: badCount.map((c) => (bads.length > 0 ? c / bads.length : 0)),
    },
    calibration,
    lift: evaluation.lift.map((r) => ({
      bin: r.bin,
      minScore: sign === 1 ? r.minScore : -r.maxScore,
      maxScore: sign === 1 ? r.maxScore : -r.minScore,
      count: r.count,
      bads: r.positives,
      badRate: r.rate,
      cumulativeShare: r.cumulativeShare,
      capture: r.capture,
      lift: r.lift,
      cumulativeLift: r.cumulativeLift,
    })),
    stability,
    iv: input.iv === undefined ? null : [...input.iv].sort((a, b) => b.iv - a.iv),
    importance:
      input.importance === undefined
        ? null
        : [...input.importance].sort(
            (a, b) => a.party.localeCompare(b.party) || b.splits - a.splits || (b.gain ?? 0) - (a.gain ?? 0),
          ),
    scorecard,
  };
}
