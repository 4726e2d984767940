/**
 * What centralized logistic regression scores on a population: bank features only, government features
 * only, and both pooled, on the same rows (the bank customers found in the government table, i.e. the
 * PSI intersection), with one seeded stratified train/test split. This is the lift a federated model
 * can at best recover; docs/population.md quotes it.
 *
 * Preprocessing, fitted on the training rows only: numeric columns with missing values get the training
 * median and a 0/1 "was missing" column (missingness is informative here, MNAR); categorical columns are
 * one-hot encoded; then core's `standardize` and `fitLogisticRegression` (l2 = 1, sklearn's C = 1), and
 * core's `auc` and `ks` on the test rows. Raw amounts are used as they are (no log transform): the
 * baseline is a plain scorecard-style LR, not a tuned model.
 */
import {
  auc,
  type Column,
  FedscoreError,
  fitLogisticRegression,
  ks,
  predictProba,
  seededRng,
  shuffleInPlace,
  standardize,
} from '@fedscore/core';
import type { Population } from './generate.ts';

export interface BaselineOptions {
  /** Seed of the train/test split (default 42). */
  readonly seed?: number;
  /** Share of rows in the test set (default 0.2). */
  readonly testShare?: number;
  /** L2 penalty of the LR (default 1 = sklearn C = 1). */
  readonly l2?: number;
}

export interface BaselineScore {
  readonly auc: number;
  readonly ks: number;
  /** Model columns after one-hot encoding and missing indicators. */
  readonly columns: number;
}

export interface BaselineResult {
  readonly trainRows: number;
  readonly testRows: number;
  readonly testDefaults: number;
  readonly bankOnly: BaselineScore;
  readonly governmentOnly: BaselineScore;
  readonly pooled: BaselineScore;
  /** AUC of the true default probability on the test rows (the ceiling no model reaches). */
  readonly oracleAuc: number;
}

export function centralizedLrBaseline(population: Population, options: BaselineOptions = {}): BaselineResult {
  const seed = options.seed ?? 42;
  const testShare = options.testShare ?? 0.2;
  if (!(testShare > 0 && testShare < 1)) {
    throw new FedscoreError('out_of_range', `testShare must be in (0, 1), got ${testShare}`, {
      field: 'testShare',
    });
  }
  const { bank, government, truth } = population;
  const label = bank.label!;
  // Rows: bank customers present in the government table.
  const bankRows: number[] = [];
  const govRows: number[] = [];
  for (let i = 0; i < bank.nRows; i++) {
    const g = truth.governmentRowOfBank[i]!;
    if (g >= 0) {
      bankRows.push(i);
      govRows.push(g);
    }
  }
  // Stratified split: shuffle each class with the seeded stream, the first testShare of each to test.
  const rng = seededRng(seed);
  const isTest = new Uint8Array(bankRows.length);
  for (const cls of [0, 1]) {
    const members = bankRows.map((b, k) => (label[b] === cls ? k : -1)).filter((k) => k >= 0);
    shuffleInPlace(rng, members);
    const nTest = Math.round(members.length * testShare);
    for (let t = 0; t < nTest; t++) isTest[members[t]!] = 1;
  }
  const train: number[] = [];
  const test: number[] = [];
  for (let k = 0; k < bankRows.length; k++) (isTest[k] ? test : train).push(k);
  const yTrain = train.map((k) => label[bankRows[k]!]!);
  const yTest = test.map((k) => label[bankRows[k]!]!);

  const bankCols = bank.columns.map((c) => ({ column: c, rows: bankRows }));
  const govCols = government.columns.map((c) => ({ column: c, rows: govRows }));
  const score = (cols: readonly SourcedColumn[]): BaselineScore => {
    const design = designMatrix(cols, train, test);
    const scaled = standardize(design.train, train.length, design.nCols, {
      X: design.test,
      nRows: test.length,
    });
    const model = fitLogisticRegression(scaled.train, train.length, design.nCols, yTrain, {
      l2: options.l2 ?? 1,
    });
    const p = predictProba(model, scaled.test!, test.length);
    return { auc: auc(yTest, p), ks: ks(yTest, p).ks, columns: design.nCols };
  };
  const oracle = test.map((k) => truth.defaultProbability[bankRows[k]!]!);
  return {
    trainRows: train.length,
    testRows: test.length,
    testDefaults: yTest.reduce((a, b) => a + b, 0),
    bankOnly: score(bankCols),
    governmentOnly: score(govCols),
    pooled: score([...bankCols, ...govCols]),
    oracleAuc: auc(yTest, oracle),
  };
}

interface SourcedColumn {
  readonly column: Column;
  /** Table row of each modelling row. */
  readonly rows: readonly number[];
}

/** Row-major train and test matrices (see the module comment for the encoding). */
function designMatrix(
  cols: readonly SourcedColumn[],
  train: readonly number[],
  test: readonly number[],
): { train: Float64Array; test: Float64Array; nCols: number } {
  type Feature = (k: number) => number;
  const features: Feature[] = [];
  for (const { column, rows } of cols) {
    if (column.kind === 'categorical') {
      for (let level = 0; level < column.categories.length; level++) {
        features.push((k) => (column.codes[rows[k]!] === level ? 1 : 0));
      }
      continue;
    }
    const v = column.values;
    const trainValues = train.map((k) => v[rows[k]!]!).filter((x) => !Number.isNaN(x));
    const anyMissing = column.missing > 0;
    const fill = anyMissing ? median(trainValues) : 0;
    features.push((k) => {
      const x = v[rows[k]!]!;
      return Number.isNaN(x) ? fill : x;
    });
    if (anyMissing) features.push((k) => (Number.isNaN(v[rows[k]!]!) ? 1 : 0));
  }
  const build = (idx: readonly number[]): Float64Array => {
    const out = new Float64Array(idx.length * features.length);
    for (let r = 0; r < idx.length; r++) {
      const k = idx[r]!;
      for (let j = 0; j < features.length; j++) out[r * features.length + j] = features[j]!(k);
    }
    return out;
  };
  return { train: build(train), test: build(test), nCols: features.length };
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
