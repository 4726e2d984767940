/**
 * A held-out evaluation as aggregate curve points, for the ROC, KS, lift and calibration charts of a
 * model (the console's Models page, from the registry). Only groups of rows are kept, never a row: the
 * test rows are ranked by score, riskiest first, and cut into consecutive groups of at least `minRows`
 * rows each (ties are never split, a short tail joins the group before it), and each group keeps its row
 * count, its bads, its score range and its mean predicted PD. The floor is the one the WOE bins released
 * to a host obey (vfl `minReleasedBinRows`: max(50, 1% of rows)): a group's bad rate over >= 50 rows says
 * no more about one enterprise's label than a released WOE bin does.
 *
 * Every chart is a function of the groups: ROC and KS points are the cumulative bads and goods at each
 * group boundary (the curves' vertices when the thresholds are the groups' lower scores), lift is each
 * group's bad rate over the overall rate (Siddiqi, Credit Risk Scorecards, 2006, ch. 9), calibration is
 * observed bad rate against mean predicted PD per group (a reliability diagram, DeGroot & Fienberg 1983).
 */
import { FedscoreError } from '@fedscore/core';
import { minReleasedBinRows } from '@fedscore/vfl';

export interface EvaluationGroup {
  readonly rows: number;
  readonly bads: number;
  readonly minScore: number;
  readonly maxScore: number;
  /** Mean of sigmoid(score) over the group's rows (the hetero-LR score is the joint logit). */
  readonly meanPd: number;
}

export interface EvaluationCurves {
  /** Rows and bads of the whole held-out set. */
  readonly rows: number;
  readonly bads: number;
  /** The floor every group meets. */
  readonly minRows: number;
  /** Riskiest (highest score) first. */
  readonly groups: readonly EvaluationGroup[];
}

/** At most this many groups (points per curve) by default. */
export const EVALUATION_GROUPS = 20;

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** The groups of a scored held-out set (labels 0/1, label 1 = bad; higher score = more likely bad). */
export function evaluationCurves(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: { readonly maxGroups?: number; readonly minRows?: number } = {},
): EvaluationCurves {
  const n = labels.length;
  if (scores.length !== n) {
    throw new FedscoreError('invalid_argument', `${scores.length} scores for ${n} labels`, {
      field: 'scores',
    });
  }
  const floor = minReleasedBinRows(n);
  const minRows = Math.max(floor, options.minRows ?? 0);
  const maxGroups = options.maxGroups ?? EVALUATION_GROUPS;
  if (!Number.isSafeInteger(maxGroups) || maxGroups < 1) {
    throw new FedscoreError('out_of_range', 'expected a positive integer', { field: 'maxGroups' });
  }
  let bads = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if ((y !== 0 && y !== 1) || !Number.isFinite(scores[i]!)) {
      throw new FedscoreError('invalid_argument', 'expected 0/1 labels and finite scores', {
        field: 'labels',
      });
    }
    bads += y;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const size = Math.max(minRows, Math.ceil(n / maxGroups));
  const groups: { rows: number; bads: number; minScore: number; maxScore: number; pd: number }[] = [];
  let cur = { rows: 0, bads: 0, minScore: Infinity, maxScore: -Infinity, pd: 0 };
  for (let start = 0; start < n; ) {
    // One run of tied scores goes whole into the current group.
    const v = scores[order[start]!]!;
    let end = start;
    while (end < n && scores[order[end]!] === v) {
      const i = order[end]!;
      cur.rows++;
      cur.bads += labels[i]!;
      cur.pd += sigmoid(v);
      end++;
    }
    cur.minScore = Math.min(cur.minScore, v);
    cur.maxScore = Math.max(cur.maxScore, v);
    start = end;
    if (cur.rows >= size) {
      groups.push(cur);
      cur = { rows: 0, bads: 0, minScore: Infinity, maxScore: -Infinity, pd: 0 };
    }
  }
  if (cur.rows > 0) {
    const last = groups.at(-1);
    if (last !== undefined && cur.rows < minRows) {
      last.rows += cur.rows;
      last.bads += cur.bads;
      last.pd += cur.pd;
      last.minScore = Math.min(last.minScore, cur.minScore);
    } else {
      groups.push(cur);
    }
  }
  if (groups.some((g) => g.rows < minRows)) {
    throw new FedscoreError(
      'privacy_floor',
      `${n} held-out rows are fewer than the floor of ${minRows} rows`,
      {
        field: 'rows',
        details: { rows: n, minimum: minRows },
      },
    );
  }
  return {
    rows: n,
    bads,
    minRows,
    groups: groups.map((g) => ({
      rows: g.rows,
      bads: g.bads,
      minScore: g.minScore,
      maxScore: g.maxScore,
      meanPd: g.pd / g.rows,
    })),
  };
}

/** Check stored curves: consistent totals and every group at or above the floor for its row count. */
export function checkEvaluationCurves(value: unknown, field = 'evaluation'): EvaluationCurves {
  const bad = (why: string): never => {
    throw new FedscoreError('invalid_argument', `evaluation curves: ${why}`, { field });
  };
  const c = value as EvaluationCurves;
  if (c === null || typeof c !== 'object' || !Array.isArray(c.groups))
    bad('expected { rows, bads, minRows, groups }');
  if (!Number.isSafeInteger(c.rows) || !Number.isSafeInteger(c.bads) || !Number.isSafeInteger(c.minRows)) {
    bad('rows, bads and minRows are integers');
  }
  if (c.minRows < minReleasedBinRows(c.rows))
    bad(`minRows is below the floor of ${minReleasedBinRows(c.rows)}`);
  let rows = 0;
  let bads = 0;
  for (const g of c.groups) {
    if (!Number.isSafeInteger(g.rows) || !Number.isSafeInteger(g.bads) || g.bads < 0 || g.bads > g.rows) {
      bad('a group has bad counts');
    }
    if (g.rows < c.minRows) bad(`a group of ${g.rows} rows is below the floor of ${c.minRows}`);
    for (const x of [g.minScore, g.maxScore, g.meanPd])
      if (!Number.isFinite(x)) bad('a group has a non-finite value');
    rows += g.rows;
    bads += g.bads;
  }
  if (rows !== c.rows || bads !== c.bads) bad('the groups do not add up to the totals');
  return c;
}
