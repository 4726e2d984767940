/**
 * `fedscore baseline`: the centralized ("pooled") logistic-regression reference that federated runs are
 * compared with. It reads BOTH parties' raw files on one machine: a yardstick, not a federated run.
 *
 * Steps: read the guest (id, label, features) and host (id, features) CSVs; inner-join on id (guest file
 * order); split into train/test by the given id lists or by a seeded stratified split; impute (optional,
 * fitted on train); one-hot encode categorical columns; standardize on train (StandardScaler); fit
 * logistic regression with l2 = 1 / C (sklearn's LogisticRegression(C) objective) on guest-only features
 * and on pooled guest + host features; report train and test AUC and KS of both.
 */
import {
  alignByIds,
  applyImputation,
  auc,
  FedscoreError,
  fitLogisticRegression,
  type ImputePolicy,
  imputeColumns,
  ks,
  numericMatrix,
  predictProba,
  seededRng,
  standardize,
  type Table,
} from '@fedscore/core';
import { type SplitIds, stratifiedSplit } from '@fedscore/pipeline';
import { type Command, type CommandContext, num, optStr, str } from '../command.ts';
import { readPartyCsv } from '../pipeline/load.ts';
import { LABEL_OPTION, TEST_IDS_OPTION, TRAIN_IDS_OPTION } from '../pipeline/options.ts';
import { checkListPair, checkTestFraction, splitFromLists } from '../pipeline/split.ts';

interface FeatureBlock {
  readonly train: Float64Array;
  readonly test: Float64Array;
  readonly names: string[];
}

export const command: Command = {
  path: ['baseline'],
  summary: 'centralized LR reference on pooled raw data (NOT a federated run): train/test AUC and KS',
  description: `
This command pools the guest's and the host's RAW data on one machine. It is the centralized
reference that federated runs are compared with, not a federated or privacy-preserving run:
never use it across organisations.

It inner-joins the two files on --id, splits the rows into train and test (--train-ids and
--test-ids, one id a line; otherwise a stratified 80/20 split seeded by --seed), one-hot encodes
categorical columns, standardizes every feature on the train rows, and fits logistic regression
(L2, C = --c as in scikit-learn's LogisticRegression) twice: on the guest's features alone and
on the pooled guest + host features. It prints the train and test AUC and KS of both.

Missing values are an error unless --impute names a policy, which is fitted on the train rows.

Example:
  fedscore baseline --guest guest.csv --host host.csv --id id --label y \\
    --train-ids train_ids.txt --test-ids test_ids.txt --json`,
  options: {
    guest: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: "guest (label owner) CSV: id, label, the bank's features",
    },
    host: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: "host CSV: id and the other party's features",
    },
    id: { type: 'string', required: true, placeholder: 'COL', description: 'id column, in both files' },
    label: LABEL_OPTION,
    'train-ids': TRAIN_IDS_OPTION,
    'test-ids': TEST_IDS_OPTION,
    seed: { type: 'integer', default: 42, description: 'seed of the stratified split without id lists' },
    'test-fraction': {
      type: 'number',
      default: 0.2,
      description: 'share of each class put in test without id lists',
    },
    c: { type: 'number', default: 1, description: "inverse L2 strength, as scikit-learn's C" },
    impute: {
      type: 'string',
      default: 'error',
      choices: ['error', 'mean', 'median', 'zero'],
      description: 'missing values: an error, or filled by a value fitted on the train rows',
    },
  },
  async run(options, _positionals, ctx) {
    const guestFile = str(options, 'guest');
    const hostFile = str(options, 'host');
    const idName = str(options, 'id');
    const labelName = str(options, 'label');
    const trainIdsFile = optStr(options, 'train-ids');
    const testIdsFile = optStr(options, 'test-ids');
    const c = num(options, 'c');
    if (!(c > 0)) throw new FedscoreError('out_of_range', `--c must be > 0, got ${c}`, { field: '--c' });
    const testFraction = checkTestFraction(num(options, 'test-fraction'));
    checkListPair(trainIdsFile, testIdsFile);
    const policy = str(options, 'impute') as 'error' | ImputePolicy;
    ctx.logger.warn(
      'baseline pools raw guest and host data on this machine: a reference, not a federated run',
    );

    const guest = await readParty(ctx, guestFile, idName, labelName, policy);
    const host = await readParty(ctx, hostFile, idName, undefined, policy);
    const hostIds = new Set(host.ids);
    const joined = guest.ids.filter((id) => hostIds.has(id));
    if (joined.length === 0) {
      throw new FedscoreError('invalid_argument', `no id occurs in both files (column '${idName}')`, {
        field: '--id',
      });
    }
    const labelOf = new Map<string, number>();
    for (let r = 0; r < guest.nRows; r++) labelOf.set(guest.ids[r]!, guest.label![r]!);

    const split =
      trainIdsFile !== undefined && testIdsFile !== undefined
        ? await splitFromLists(ctx.cwd, joined, trainIdsFile, testIdsFile)
        : stratifiedSplit(
            joined,
            labelOf,
            testFraction,
            seededRng(num(options, 'seed')),
            num(options, 'seed'),
          );
    const yTrain = Float64Array.from(split.train, (id) => labelOf.get(id)!);
    const yTest = Float64Array.from(split.test, (id) => labelOf.get(id)!);

    const guestBlock = features(guest, split, policy);
    const hostBlock = features(host, split, policy);
    const l2 = 1 / c;
    const total = 2;
    ctx.progress({ stage: 'fit', done: 0, total, unit: 'models' });
    const guestOnly = fitAndScore(guestBlock, split, yTrain, yTest, l2, 'guest_only');
    ctx.progress({ stage: 'fit', done: 1, total, unit: 'models' });
    const pooled = fitAndScore(
      concatColumns(guestBlock, hostBlock, split),
      split,
      yTrain,
      yTest,
      l2,
      'pooled',
    );
    ctx.progress({ stage: 'fit', done: 2, total, unit: 'models' });

    ctx.print('Centralized reference on pooled raw data (not a federated run)');
    ctx.print(
      `rows: guest ${guest.nRows}, host ${host.nRows}, joined ${joined.length}; train ${split.train.length}, test ${split.test.length} (${split.how})`,
    );
    ctx.print('');
    ctx.print('  features     n_feat   train AUC  train KS   test AUC   test KS');
    for (const [name, r] of [
      ['guest_only', guestOnly],
      ['pooled', pooled],
    ] as const) {
      ctx.print(
        `  ${name.padEnd(11)} ${String(r.n_features).padStart(7)}   ${r.train.auc.toFixed(4)}     ${r.train.ks.toFixed(4)}    ${r.test.auc.toFixed(4)}     ${r.test.ks.toFixed(4)}`,
      );
    }
    return {
      reference: 'centralized: raw guest and host data pooled on one machine; not a federated run',
      guest_only: guestOnly,
      pooled,
      n_train: split.train.length,
      n_test: split.test.length,
      n_joined: joined.length,
      n_guest: guest.nRows,
      n_host: host.nRows,
      split: split.how,
      c,
    };
  },
};

async function readParty(
  ctx: CommandContext,
  file: string,
  idName: string,
  labelName: string | undefined,
  policy: 'error' | ImputePolicy,
): Promise<Table> {
  // with --impute error, a missing value is reported with its file, line and column while reading; a
  // value whose column moments overflow is refused naming file, line and column (standardization would
  // otherwise refuse it naming only the matrix column's index)
  return readPartyCsv(ctx, file, idName, labelName, policy === 'error' ? 'error' : 'keep', {
    finiteMoments: true,
  });
}

function features(table: Table, split: SplitIds, policy: 'error' | ImputePolicy): FeatureBlock {
  let train = alignByIds(table, split.train);
  let test = alignByIds(table, split.test);
  if (policy !== 'error') {
    const fitted = imputeColumns(train, policy);
    train = fitted.table;
    test = applyImputation(test, fitted.imputation).table;
  }
  const a = numericMatrix(train, undefined, { categorical: 'one-hot' });
  const b = numericMatrix(test, undefined, { categorical: 'one-hot' });
  return { train: a.data, test: b.data, names: a.names };
}

function concatColumns(g: FeatureBlock, h: FeatureBlock, split: SplitIds): FeatureBlock {
  const join = (x: Float64Array, y: Float64Array, n: number): Float64Array => {
    const dg = g.names.length;
    const dh = h.names.length;
    const out = new Float64Array(n * (dg + dh));
    for (let r = 0; r < n; r++) {
      out.set(x.subarray(r * dg, (r + 1) * dg), r * (dg + dh));
      out.set(y.subarray(r * dh, (r + 1) * dh), r * (dg + dh) + dg);
    }
    return out;
  };
  return {
    train: join(g.train, h.train, split.train.length),
    test: join(g.test, h.test, split.test.length),
    names: [...g.names.map((n) => `guest.${n}`), ...h.names.map((n) => `host.${n}`)],
  };
}

function fitAndScore(
  block: FeatureBlock,
  split: SplitIds,
  yTrain: Float64Array,
  yTest: Float64Array,
  l2: number,
  name: string,
) {
  const d = block.names.length;
  const nTrain = split.train.length;
  const nTest = split.test.length;
  const scaled = standardize(block.train, nTrain, d, { X: block.test, nRows: nTest });
  const model = fitLogisticRegression(scaled.train, nTrain, d, yTrain, { l2 });
  if (!model.converged) {
    throw new FedscoreError(
      'internal',
      `the ${name} fit did not converge in ${model.iterations} iterations`,
      {
        field: name,
      },
    );
  }
  const pTrain = predictProba(model, scaled.train, nTrain);
  const pTest = predictProba(model, scaled.test!, nTest);
  return {
    n_features: d,
    iterations: model.iterations,
    train: { auc: auc(yTrain, pTrain), ks: ks(yTrain, pTrain).ks },
    test: { auc: auc(yTest, pTest), ks: ks(yTest, pTest).ks },
  };
}
