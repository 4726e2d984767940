/**
 * Scorecards from WOE logistic regression (Siddiqi 2006, "Credit Risk Scorecards", ch. 10; Anderson 2007,
 * "The Credit Scoring Toolkit", ch. 11).
 *
 * The model is logit P(bad) = b0 + sum_j b_j * WOE_j(x_j), fitted on WOE-transformed features (label 1 =
 * bad, WOE = ln(share of goods / share of bads), the sign convention of packages/vfl/src/binning/woe.ts).
 * The score is a linear function of the log-odds of being good:
 *
 *   factor = PDO / ln 2,   offset = baseScore - factor * ln(baseOdds),
 *   score  = offset + factor * ln(odds good:bad) = offset - factor * (b0 + sum_j b_j * WOE_j),
 *
 * so a score of `baseScore` means odds of `baseOdds` goods per bad and every `PDO` points double them.
 * Points per bin: `points[j][i] = -factor * b_j * WOE_j[i]`; the intercept's part, `basePoints = offset -
 * factor * b0`, is held by the intercept holder (the bank). With `distributeBase` the base points are
 * spread evenly over the features instead (Siddiqi's presentation), which changes no total.
 *
 * Each party keeps the points of its own features: `partyScorecard` is the view a party may publish
 * (its own table in full, the others' features only by name unless they chose to disclose), and a party's
 * partial score (`partialScore`) is all that ever leaves it in the scoring protocols.
 */
import { assertFiniteNumber, assertNonEmptyString, FedscoreError } from '@fedscore/core';
// The bins a scorecard scores are the bins WOE binning fitted: one declaration, in vfl. Type-only: scoring's
// runtime does not load vfl (the self-estimate page bundles scoring for browsers).
import type { FeatureBins } from '@fedscore/vfl';

/** One feature of a WOE logistic regression: what its owner holds. */
export interface WoeLrFeature {
  readonly party: string;
  readonly name: string;
  readonly bins: FeatureBins;
  /** WOE per bin (missing bin last, when present). */
  readonly woe: readonly number[];
  /** The LR coefficient of this feature's WOE column (logit of P(bad)). */
  readonly coefficient: number;
}

export interface WoeLrModel {
  /** The intercept of logit P(bad), held by `interceptHolder`. */
  readonly intercept: number;
  readonly interceptHolder: string;
  readonly features: readonly WoeLrFeature[];
}

/** Scaling of a scorecard. */
export interface ScorecardScaling {
  /** Score at which the odds (goods per bad) equal `baseOdds`. Default 600. */
  readonly baseScore?: number;
  /** Odds good:bad at `baseScore`. Default 50. */
  readonly baseOdds?: number;
  /** Points to double the odds. Default 20. */
  readonly pdo?: number;
  /** Spread the base points evenly over the features (Siddiqi's table layout). Default false. */
  readonly distributeBase?: boolean;
}

export interface ResolvedScaling {
  readonly baseScore: number;
  readonly baseOdds: number;
  readonly pdo: number;
  readonly distributeBase: boolean;
  /** PDO / ln 2. */
  readonly factor: number;
  /** baseScore - factor * ln(baseOdds). */
  readonly offset: number;
}

export interface ScorecardFeature {
  readonly party: string;
  readonly name: string;
  readonly bins: FeatureBins;
  /** Points per bin, in bin order (missing last). Includes the base share when `distributeBase`. */
  readonly points: readonly number[];
  /** Points per unit of WOE: -factor * coefficient (so points = baseShare + slope * WOE). */
  readonly slope: number;
  /** This feature's share of the base points (0 unless `distributeBase`). */
  readonly baseShare: number;
  readonly woe: readonly number[];
}

export interface Scorecard {
  readonly format: typeof SCORECARD_FORMAT;
  readonly version: 1;
  readonly scaling: ResolvedScaling;
  /** Points added for every applicant (0 when spread over the features). */
  readonly basePoints: number;
  readonly basePointsHolder: string;
  readonly features: readonly ScorecardFeature[];
}

/** A feature as another party sees it in a party's view: name only, or the full table if disclosed. */
export type ScorecardFeatureView =
  | (ScorecardFeature & { readonly disclosed: true })
  | { readonly party: string; readonly name: string; readonly disclosed: false };

export interface PartyScorecardView {
  readonly viewer: string;
  readonly scaling: ResolvedScaling;
  /** Known to the viewer only if it holds them. */
  readonly basePoints: number | undefined;
  readonly features: readonly ScorecardFeatureView[];
}

export const SCORECARD_FORMAT = 'fedscore.scorecard';

export function resolveScaling(s: ScorecardScaling = {}): ResolvedScaling {
  const baseScore = assertFiniteNumber(s.baseScore ?? 600, 'baseScore');
  const baseOdds = assertFiniteNumber(s.baseOdds ?? 50, 'baseOdds');
  const pdo = assertFiniteNumber(s.pdo ?? 20, 'pdo');
  if (!(baseOdds > 0)) throw new FedscoreError('out_of_range', 'baseOdds must be > 0', { field: 'baseOdds' });
  if (!(pdo > 0)) throw new FedscoreError('out_of_range', 'pdo must be > 0', { field: 'pdo' });
  const factor = pdo / Math.LN2;
  return {
    baseScore,
    baseOdds,
    pdo,
    distributeBase: s.distributeBase === true,
    factor,
    offset: baseScore - factor * Math.log(baseOdds),
  };
}

/** All bins, the missing bin included (vfl's `binCount`, kept here so that scoring's runtime needs no vfl). */
function binCount(bins: FeatureBins): number {
  return (bins.kind === 'numeric' ? bins.edges.length + 1 : bins.groups.length) + (bins.missing ? 1 : 0);
}

function checkBins(bins: FeatureBins, field: string): void {
  if (bins.kind === 'numeric') {
    for (let i = 0; i < bins.edges.length; i++) {
      const e = bins.edges[i]!;
      if (!Number.isFinite(e) || (i > 0 && !(e > bins.edges[i - 1]!))) {
        throw new FedscoreError('invalid_config', 'edges must be finite and strictly ascending', {
          field: `${field}.edges[${i}]`,
        });
      }
    }
  } else if (bins.kind === 'categorical') {
    if (bins.groups.length === 0) {
      throw new FedscoreError('invalid_config', 'at least one category group', { field: `${field}.groups` });
    }
    if (bins.otherGroup < -1 || bins.otherGroup >= bins.groups.length) {
      throw new FedscoreError('invalid_config', 'otherGroup must be -1 or a group index', {
        field: `${field}.otherGroup`,
      });
    }
  } else {
    throw new FedscoreError('invalid_config', "kind must be 'numeric' or 'categorical'", {
      field: `${field}.kind`,
    });
  }
}

/** Build the scorecard of a WOE logistic regression. */
export function buildScorecard(model: WoeLrModel, scaling: ScorecardScaling = {}): Scorecard {
  const s = resolveScaling(scaling);
  assertFiniteNumber(model.intercept, 'intercept');
  const holder = assertNonEmptyString(model.interceptHolder, 'interceptHolder');
  if (!Array.isArray(model.features) || model.features.length === 0) {
    throw new FedscoreError('invalid_config', 'a scorecard needs at least one feature', {
      field: 'features',
    });
  }
  const seen = new Set<string>();
  const base = s.offset - s.factor * model.intercept;
  const share = s.distributeBase ? base / model.features.length : 0;
  const features = model.features.map((f, j): ScorecardFeature => {
    const field = `features[${j}]`;
    assertNonEmptyString(f.party, `${field}.party`);
    assertNonEmptyString(f.name, `${field}.name`);
    const key = `${f.party}\u0000${f.name}`;
    if (seen.has(key)) {
      throw new FedscoreError('duplicate_id', `feature '${f.name}' of '${f.party}' appears twice`, {
        field: `${field}.name`,
      });
    }
    seen.add(key);
    checkBins(f.bins, `${field}.bins`);
    assertFiniteNumber(f.coefficient, `${field}.coefficient`);
    const n = binCount(f.bins);
    const woe: readonly number[] = f.woe;
    if (!Array.isArray(woe) || woe.length !== n) {
      throw new FedscoreError('invalid_config', `expected ${n} WOE values (one per bin)`, {
        field: `${field}.woe`,
      });
    }
    woe.forEach((w, i) => {
      assertFiniteNumber(w, `${field}.woe[${i}]`);
    });
    const slope = -s.factor * f.coefficient;
    return {
      party: f.party,
      name: f.name,
      bins: f.bins,
      woe: [...woe],
      slope,
      baseShare: share,
      points: woe.map((w) => share + slope * w),
    };
  });
  return {
    format: SCORECARD_FORMAT,
    version: 1,
    scaling: s,
    basePoints: s.distributeBase ? 0 : base,
    basePointsHolder: holder,
    features,
  };
}

/** The bin index of one value (NaN, null or undefined = missing). Throws when the bins have no place for it. */
export function binIndex(
  bins: FeatureBins,
  value: number | string | null | undefined,
  field: string,
): number {
  const isMissing =
    value === null ||
    value === undefined ||
    (typeof value === 'number' && Number.isNaN(value)) ||
    value === '';
  if (isMissing) {
    if (!bins.missing) {
      throw new FedscoreError('missing_value', 'missing value and the feature has no missing bin', { field });
    }
    return binCount(bins) - 1;
  }
  if (bins.kind === 'numeric') {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new FedscoreError('invalid_argument', 'expected a finite number', { field });
    }
    // (lower, upper]: the number of edges strictly below the value.
    let lo = 0;
    let hi = bins.edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bins.edges[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  const cat = String(value);
  const g = bins.groups.findIndex((group) => group.includes(cat));
  if (g >= 0) return g;
  if (bins.otherGroup >= 0) return bins.otherGroup;
  if (bins.missing) return binCount(bins) - 1;
  throw new FedscoreError('invalid_argument', `category '${cat}' has no bin`, { field });
}

/** One applicant's values by feature name. */
export type FeatureValues = Readonly<Record<string, number | string | null | undefined>>;

/** Points of each feature of `party` (all features when `party` is undefined) for one applicant. */
export function featurePoints(
  card: Scorecard,
  values: FeatureValues,
  party?: string,
): { name: string; party: string; bin: number; points: number }[] {
  return card.features
    .filter((f) => party === undefined || f.party === party)
    .map((f) => {
      const bin = binIndex(f.bins, values[f.name], f.name);
      return { name: f.name, party: f.party, bin, points: f.points[bin]! };
    });
}

/** A party's partial score: the points of its own features, plus the base points if it holds them. */
export function partialScore(card: Scorecard, party: string, values: FeatureValues): number {
  let s = card.basePointsHolder === party ? card.basePoints : 0;
  for (const p of featurePoints(card, values, party)) s += p.points;
  return s;
}

/** The full score of one applicant (all features' values known: a plaintext reference). */
export function scoreApplicant(card: Scorecard, values: FeatureValues): number {
  let s = card.basePoints;
  for (const p of featurePoints(card, values)) s += p.points;
  return s;
}

/** Column-wise partial scores: `columns[name]` holds the values of every applicant (NaN = missing). */
export function partialScores(
  card: Scorecard,
  party: string | undefined,
  columns: Readonly<Record<string, ArrayLike<number | string | null>>>,
  rows: number,
): Float64Array {
  const out = new Float64Array(rows).fill(
    party === undefined || card.basePointsHolder === party ? card.basePoints : 0,
  );
  for (const f of card.features) {
    if (party !== undefined && f.party !== party) continue;
    const col = columns[f.name];
    if (col === undefined) throw new FedscoreError('not_found', `no column '${f.name}'`, { field: f.name });
    if (col.length !== rows) {
      throw new FedscoreError('invalid_argument', `expected ${rows} rows, got ${col.length}`, {
        field: f.name,
      });
    }
    for (let i = 0; i < rows; i++) out[i]! += f.points[binIndex(f.bins, col[i], f.name)]!;
  }
  return out;
}

/** The odds good:bad a score stands for, and the probability of default. */
export function scoreToOdds(card: Scorecard, score: number): { odds: number; pd: number } {
  const odds = Math.exp((score - card.scaling.offset) / card.scaling.factor);
  return { odds, pd: 1 / (1 + odds) };
}

/**
 * What `viewer` may see: its own features in full, others' features in full only if their owner is in
 * `disclosedBy`, otherwise by name only; the base points only if it holds them.
 */
export function partyScorecard(
  card: Scorecard,
  viewer: string,
  disclosedBy: readonly string[] = [],
): PartyScorecardView {
  const open = new Set([viewer, ...disclosedBy]);
  return {
    viewer,
    scaling: card.scaling,
    basePoints:
      card.basePointsHolder === viewer || open.has(card.basePointsHolder) ? card.basePoints : undefined,
    features: card.features.map((f) =>
      open.has(f.party)
        ? { ...f, disclosed: true as const }
        : { party: f.party, name: f.name, disclosed: false as const },
    ),
  };
}

/** Rows of a points table for display: one per bin with a human-readable bin label. */
export function scorecardTable(
  view: PartyScorecardView,
): { party: string; feature: string; bin: string; woe: number | null; points: number | null }[] {
  const rows: { party: string; feature: string; bin: string; woe: number | null; points: number | null }[] =
    [];
  if (view.basePoints !== undefined) {
    rows.push({ party: '', feature: '(base)', bin: '', woe: null, points: view.basePoints });
  }
  for (const f of view.features) {
    if (!f.disclosed) {
      rows.push({ party: f.party, feature: f.name, bin: '(not disclosed)', woe: null, points: null });
      continue;
    }
    binLabelsOf(f.bins).forEach((label, i) => {
      rows.push({ party: f.party, feature: f.name, bin: label, woe: f.woe[i]!, points: f.points[i]! });
    });
  }
  return rows;
}

export function binLabelsOf(bins: FeatureBins): string[] {
  const out: string[] = [];
  if (bins.kind === 'numeric') {
    for (let i = 0; i <= bins.edges.length; i++) {
      const lo = i === 0 ? '-inf' : String(bins.edges[i - 1]);
      const hi = i === bins.edges.length ? 'inf)' : `${bins.edges[i]}]`;
      out.push(`(${lo}, ${hi}`);
    }
  } else {
    bins.groups.forEach((g, i) => {
      out.push(`{${g.join(', ')}}${i === bins.otherGroup ? ' + other' : ''}`);
    });
  }
  if (bins.missing) out.push('missing');
  return out;
}

/** Scorecard JSON text (versioned). */
export function serializeScorecard(card: Scorecard): string {
  return `${JSON.stringify(card, null, 2)}\n`;
}

/** Parse scorecard JSON (as written by `serializeScorecard`), rebuilding it so every field is checked. */
export function parseScorecard(text: string, file?: string): Scorecard {
  const where = file !== undefined ? { file } : {};
  let o: Partial<Scorecard>;
  try {
    o = JSON.parse(text) as Partial<Scorecard>;
  } catch (e) {
    throw new FedscoreError('invalid_config', `not JSON: ${(e as Error).message}`, {
      field: 'scorecard',
      ...where,
    });
  }
  if (o === null || typeof o !== 'object' || o.format !== SCORECARD_FORMAT) {
    throw new FedscoreError('invalid_config', `expected format '${SCORECARD_FORMAT}'`, {
      field: 'format',
      ...where,
    });
  }
  if (o.version !== 1) {
    throw new FedscoreError('protocol_version', `unsupported scorecard version ${String(o.version)}`, {
      field: 'version',
      ...where,
    });
  }
  const s = o.scaling;
  if (s === undefined || !Array.isArray(o.features) || typeof o.basePoints !== 'number') {
    throw new FedscoreError('invalid_config', 'expected scaling, basePoints and features', {
      field: 'scorecard',
      ...where,
    });
  }
  const scaling = resolveScaling(s);
  const shares = o.features.reduce((a, f) => a + (f.baseShare ?? 0), 0);
  const intercept = (scaling.offset - (o.basePoints + shares)) / scaling.factor;
  return buildScorecard(
    {
      intercept,
      interceptHolder: o.basePointsHolder ?? '',
      features: o.features.map((f) => ({
        party: f.party,
        name: f.name,
        bins: f.bins,
        woe: f.woe,
        coefficient: -f.slope / scaling.factor,
      })),
    },
    scaling,
  );
}
