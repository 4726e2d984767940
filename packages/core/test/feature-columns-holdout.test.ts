/**
 * The one one-hot of the code base (`featureColumns`, column-major) against `numericMatrix`'s row-major
 * one-hot, and the one stratified hold-out (`stratifiedHoldout`) against its definition: per class,
 * round(fraction x class size) positions, ascending, the same for the same generator state.
 */
import {
  categoricalColumn,
  createTable,
  featureColumns,
  numericColumn,
  numericMatrix,
  seededRng,
  stratifiedHoldout,
} from '@fedscore/core';
import { describe, expect, it } from 'vitest';

const table = createTable({
  ids: ['a', 'b', 'c', 'd', 'e'],
  columns: [
    numericColumn('x', Float64Array.of(1.5, Number.NaN, -2, 4, 0)),
    categoricalColumn('sector', Int32Array.of(0, 2, -1, 1, 0), ['farm', 'shop', 'mill']),
    numericColumn('z', Float64Array.of(9, 8, 7, 6, 5)),
  ],
});

describe('featureColumns', () => {
  it('equals numericMatrix one-hot, column by column, on any rows and in table order', () => {
    const m = numericMatrix(table, undefined, { categorical: 'one-hot' });
    const rows = [4, 0, 3, 3, 1];
    const f = featureColumns(table, rows);
    expect(f.names).toEqual(m.names);
    f.columns.forEach((col, j) => {
      expect(Array.from(col)).toEqual(rows.map((r) => m.data[r * m.nCols + j]));
    });
    // a missing category is all zeros; a missing number stays NaN
    const c = featureColumns(table, [2, 1]);
    expect(c.columns.slice(1, 4).map((col) => col[0])).toEqual([0, 0, 0]);
    expect(c.columns[0]![1]).toBeNaN();
  });

  it('keeps only the named columns, in table order', () => {
    const f = featureColumns(table, [0, 1], ['z', 'sector']);
    expect(f.names).toEqual(['sector=farm', 'sector=shop', 'sector=mill', 'z']);
    expect(featureColumns(table, [0], []).columns).toEqual([]);
  });
});

describe('stratifiedHoldout', () => {
  it('holds out round(fraction x class size) of each class, ascending, reproducibly', () => {
    const rng = seededRng(3);
    const labels = Array.from({ length: 997 }, () => (rng.nextUint32() % 5 === 0 ? 1 : 0));
    for (const fraction of [0.1, 0.25, 0.5]) {
      const held = stratifiedHoldout(labels, fraction, seededRng('split'));
      for (const cls of [0, 1]) {
        const size = labels.filter((y) => y === cls).length;
        expect(Array.from(held).filter((p) => labels[p] === cls).length).toBe(Math.round(fraction * size));
      }
      expect(Array.from(held)).toEqual([...held].sort((a, b) => a - b));
      expect(stratifiedHoldout(labels, fraction, seededRng('split'))).toEqual(held);
      expect(stratifiedHoldout(labels, fraction, seededRng('other'))).not.toEqual(held);
    }
    expect(stratifiedHoldout(labels, 0, seededRng('split'))).toHaveLength(0);
    expect(() => stratifiedHoldout(labels, 1, seededRng('split'))).toThrow(/\[0, 1\)/);
  });
});
