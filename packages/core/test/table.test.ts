import {
  alignByIds,
  applyImputation,
  categoricalColumn,
  column,
  createTable,
  FedscoreError,
  imputeColumns,
  numericColumn,
  numericMatrix,
  selectRows,
  type Table,
} from '@fedscore/core';
import { describe, expect, it } from 'vitest';

const NaN_ = Number.NaN;

function sample(): Table {
  return createTable({
    ids: ['a', 'b', 'c', 'd', 'e'],
    label: Float64Array.from([0, 1, 0, 1, 1]),
    columns: [
      numericColumn('income', Float64Array.from([10, NaN_, 30, 40, NaN_])),
      categoricalColumn('sector', Int32Array.from([0, 1, -1, 1, 2]), ['retail', 'tech', 'farm']),
      numericColumn('age', Float64Array.from([1, 2, 3, 4, 5])),
    ],
  });
}

function expectFedscore(fn: () => unknown, code: string, field?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FedscoreError);
    expect((e as FedscoreError).code).toBe(code);
    if (field !== undefined) expect((e as FedscoreError).field).toBe(field);
    return;
  }
  throw new Error('expected a FedscoreError');
}

describe('table construction and lookup', () => {
  it('counts missing values and finds columns by name', () => {
    const t = sample();
    expect(t.nRows).toBe(5);
    expect(column(t, 'income').missing).toBe(2);
    expect(column(t, 'sector').missing).toBe(1);
    expectFedscore(() => column(t, 'nope'), 'not_found', 'nope');
  });

  it('rejects inconsistent parts', () => {
    expectFedscore(
      () => createTable({ ids: ['a'], columns: [numericColumn('x', new Float64Array(2))] }),
      'invalid_argument',
      'x',
    );
    expectFedscore(() => categoricalColumn('s', Int32Array.from([3]), ['a']), 'out_of_range', 's');
    expectFedscore(
      () =>
        createTable({
          ids: ['a'],
          columns: [numericColumn('x', new Float64Array(1)), numericColumn('x', new Float64Array(1))],
        }),
      'invalid_argument',
      'x',
    );
  });
});

describe('numericMatrix', () => {
  it('lays columns out row-major, categoricals as codes with NaN for missing', () => {
    const m = numericMatrix(sample());
    expect(m.nRows).toBe(5);
    expect(m.nCols).toBe(3);
    expect(m.names).toEqual(['income', 'sector', 'age']);
    // row 2: income 30, sector missing, age 3
    expect(m.data[2 * 3 + 0]).toBe(30);
    expect(m.data[2 * 3 + 1]).toBeNaN();
    expect(m.data[2 * 3 + 2]).toBe(3);
    expect(m.data[4 * 3 + 1]).toBe(2);
  });

  it('one-hot encodes categoricals on request and honours the column order asked for', () => {
    const m = numericMatrix(sample(), ['age', 'sector'], { categorical: 'one-hot' });
    expect(m.names).toEqual(['age', 'sector=retail', 'sector=tech', 'sector=farm']);
    expect(Array.from(m.data.subarray(0, 4))).toEqual([1, 1, 0, 0]);
    expect(Array.from(m.data.subarray(2 * 4, 3 * 4))).toEqual([3, 0, 0, 0]); // missing: all zeros
    expect(Array.from(m.data.subarray(4 * 4, 5 * 4))).toEqual([5, 0, 0, 1]);
  });
});

describe('selectRows and alignByIds', () => {
  it('selects rows in the given order, with repeats, recounting missing values', () => {
    const s = selectRows(sample(), [4, 0, 4]);
    expect(s.ids).toEqual(['e', 'a', 'e']);
    expect(Array.from(s.label!)).toEqual([1, 0, 1]);
    expect(column(s, 'income').missing).toBe(2);
    expectFedscore(() => selectRows(sample(), [5]), 'out_of_range', 'indices[0]');
  });

  it('reorders to an id order and reports a missing id by position', () => {
    const t = sample();
    const a = alignByIds(t, ['d', 'b', 'a']);
    expect(a.ids).toEqual(['d', 'b', 'a']);
    expect(Array.from((column(a, 'age') as { values: Float64Array }).values)).toEqual([4, 2, 1]);
    expect(Array.from(a.label!)).toEqual([1, 1, 0]);
    try {
      alignByIds(t, ['a', 'zz']);
      expect.unreachable();
    } catch (e) {
      expect((e as FedscoreError).code).toBe('not_found');
      expect((e as FedscoreError).details?.['position']).toBe(1);
      expect((e as FedscoreError).message).not.toContain('zz');
    }
    // the input is not modified
    expect(t.ids).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('imputeColumns', () => {
  it('fits mean, median and mode as computed by hand, and fills only the missing cells', () => {
    const t = sample();
    const mean = imputeColumns(t, { income: 'mean' });
    // present incomes 10, 30, 40: mean 80/3
    expect(mean.imputation['income']).toEqual({ kind: 'numeric', policy: 'mean', value: 80 / 3 });
    expect(Array.from((column(mean.table, 'income') as { values: Float64Array }).values)).toEqual([
      10,
      80 / 3,
      30,
      40,
      80 / 3,
    ]);
    expect(mean.filled['income']).toBe(2);
    expect(column(mean.table, 'sector').missing).toBe(1); // default 'keep'
    const median = imputeColumns(t, { income: 'median', sector: 'mode' });
    expect(median.imputation['income']!.value).toBe(30);
    expect(median.imputation['sector']).toEqual({ kind: 'categorical', policy: 'mode', value: 'tech' });
    expect(Array.from((column(median.table, 'sector') as { codes: Int32Array }).codes)).toEqual([
      0, 1, 1, 1, 2,
    ]);
    // input untouched
    expect(column(t, 'income').missing).toBe(2);
  });

  it('applies zero, constants and the * default, and the fitted values to new data', () => {
    const t = sample();
    const r = imputeColumns(t, { '*': 'zero', sector: { constant: 'unknown' } });
    expect((column(r.table, 'income') as { values: Float64Array }).values[1]).toBe(0);
    const sector = column(r.table, 'sector') as { codes: Int32Array; categories: string[] };
    expect(sector.categories).toEqual(['retail', 'tech', 'farm', 'unknown']);
    expect(sector.codes[2]).toBe(3);
    // fitted on t, applied to other data
    const fit = imputeColumns(t, { income: 'mean' }).imputation;
    const fresh = createTable({ ids: ['z'], columns: [numericColumn('income', Float64Array.from([NaN_]))] });
    const applied = applyImputation(fresh, fit);
    expect((column(applied.table, 'income') as { values: Float64Array }).values[0]).toBe(80 / 3);
  });

  it('raises typed errors: error policy, unknown column, zero on a categorical, nothing to fit', () => {
    const t = sample();
    expectFedscore(() => imputeColumns(t, 'error'), 'missing_value', 'income');
    expectFedscore(() => imputeColumns(t, { nope: 'mean' }), 'invalid_config', 'impute.nope');
    expectFedscore(() => imputeColumns(t, { sector: 'zero' }), 'invalid_config', 'impute.sector');
    expectFedscore(() => imputeColumns(t, { income: { constant: 'x' } }), 'invalid_config', 'impute.income');
    const empty = createTable({ ids: ['a'], columns: [numericColumn('x', Float64Array.from([NaN_]))] });
    expectFedscore(() => imputeColumns(empty, 'median'), 'missing_value', 'x');
    // 'keep' and 'error' succeed when nothing is missing
    expect(imputeColumns(selectRows(t, [0, 3]), 'error').filled['income']).toBe(0);
  });
});
