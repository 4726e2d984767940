/**
 * Linear score models: what the encrypted scoring flows evaluate. A score is
 * `intercept + sum_j weights[j] * x_j` over prepared input columns x_j (standardized values for a
 * hetero-LR party model, WOE values for a scorecard). Both model kinds reduce to this form, so one
 * encrypted evaluation serves them all, and the plaintext reference (`linearScores`) is the same sum.
 */
import { FedscoreError } from '@fedscore/core';
import type { PartyModel } from '@fedscore/vfl';
import { binIndex, type Scorecard } from './scorecard.ts';

export interface LinearScoreModel {
  /** Input column names, in weight order. */
  readonly features: readonly string[];
  readonly weights: readonly number[];
  readonly intercept: number;
}

export function checkLinearModel(model: LinearScoreModel, field = 'model'): void {
  if (!Array.isArray(model.features) || model.features.length === 0) {
    throw new FedscoreError('invalid_argument', 'a model needs at least one feature', {
      field: `${field}.features`,
    });
  }
  if (!Array.isArray(model.weights) || model.weights.length !== model.features.length) {
    throw new FedscoreError('invalid_argument', 'one weight per feature', { field: `${field}.weights` });
  }
  model.weights.forEach((w, j) => {
    if (!Number.isFinite(w))
      throw new FedscoreError('invalid_argument', 'not a finite number', { field: `${field}.weights[${j}]` });
  });
  if (!Number.isFinite(model.intercept)) {
    throw new FedscoreError('invalid_argument', 'not a finite number', { field: `${field}.intercept` });
  }
  if (new Set(model.features).size !== model.features.length) {
    throw new FedscoreError('duplicate_id', 'feature names must be unique', { field: `${field}.features` });
  }
}

/**
 * A hetero-LR party model as a linear model on raw columns: the standardization folded into the weights,
 * w'_j = w_j / s_j and intercept' = intercept - sum_j w_j m_j / s_j. Missing values must be imputed by the
 * data owner before encryption (the training convention is the training mean, x = m_j).
 */
export function linearFromPartyModel(model: PartyModel): LinearScoreModel {
  let intercept = model.intercept;
  const weights = model.weights.map((w, j) => {
    const s = model.standardization.scale[j]!;
    intercept -= (w * model.standardization.mean[j]!) / s;
    return w / s;
  });
  return { features: [...model.featureNames], weights, intercept };
}

/**
 * A party's part of a scorecard as a linear model on WOE columns: points = baseShare + slope * WOE, so
 * weight = slope and intercept = the party's base shares (plus the base points if it holds them).
 * The data owner computes the WOE columns of its own features (`woeColumns`).
 */
export function linearFromScorecard(card: Scorecard, party: string): LinearScoreModel {
  const own = card.features.filter((f) => f.party === party);
  if (own.length === 0)
    throw new FedscoreError('not_found', `no scorecard features of '${party}'`, { field: 'party' });
  let intercept = card.basePointsHolder === party ? card.basePoints : 0;
  for (const f of own) intercept += f.baseShare;
  return { features: own.map((f) => f.name), weights: own.map((f) => f.slope), intercept };
}

/** The WOE value of every row of each of `party`'s scorecard features (NaN = missing). */
export function woeColumns(
  card: Scorecard,
  party: string,
  columns: Readonly<Record<string, ArrayLike<number | string | null>>>,
): Float64Array[] {
  return card.features
    .filter((f) => f.party === party)
    .map((f) => {
      const col = columns[f.name];
      if (col === undefined) throw new FedscoreError('not_found', `no column '${f.name}'`, { field: f.name });
      const out = new Float64Array(col.length);
      for (let i = 0; i < col.length; i++) out[i] = f.woe[binIndex(f.bins, col[i], f.name)]!;
      return out;
    });
}

/** Plaintext scores: the reference the encrypted flows are tested against. */
export function linearScores(model: LinearScoreModel, columns: readonly Float64Array[]): Float64Array {
  checkLinearModel(model);
  const rows = checkColumns(model, columns);
  const out = new Float64Array(rows).fill(model.intercept);
  columns.forEach((c, j) => {
    const w = model.weights[j]!;
    for (let i = 0; i < rows; i++) out[i]! += w * c[i]!;
  });
  return out;
}

/** Columns match the model and hold finite values; returns the row count. */
export function checkColumns(model: LinearScoreModel, columns: readonly Float64Array[]): number {
  if (columns.length !== model.features.length) {
    throw new FedscoreError(
      'invalid_argument',
      `expected ${model.features.length} columns, got ${columns.length}`,
      {
        field: 'columns',
      },
    );
  }
  const rows = columns[0]!.length;
  columns.forEach((c, j) => {
    const name = model.features[j]!;
    if (!(c instanceof Float64Array))
      throw new FedscoreError('invalid_argument', 'expected a Float64Array', { field: name });
    if (c.length !== rows)
      throw new FedscoreError('invalid_argument', `expected ${rows} rows, got ${c.length}`, { field: name });
    for (let i = 0; i < rows; i++) {
      if (!Number.isFinite(c[i]!)) {
        throw new FedscoreError('missing_value', 'missing or non-finite value (impute before scoring)', {
          field: name,
          details: { row: i },
        });
      }
    }
  });
  return rows;
}
