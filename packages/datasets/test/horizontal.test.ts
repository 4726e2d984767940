/**
 * The non-IID horizontal split (`splitHorizontal`): every bank and the test set share the same
 * model-ready columns; the test set is disjoint from every bank; with skew the banks' customers come
 * mostly from their home segments, so their default rates and feature distributions differ (label and
 * covariate shift), while skew 0 deals segments evenly (IID); the split is deterministic; bad options
 * are refused naming the option.
 */
import { isFedscoreError, type Table } from '@fedscore/core';
import { generatePopulation, splitHorizontal } from '@fedscore/datasets';
import { describe, expect, it } from 'vitest';

const pop = generatePopulation({
  enterprises: 20_000,
  overlap: 1,
  bankOnlyFraction: 0,
  defaultRate: 0.1,
  seed: 7,
});

function columnMean(t: Table, name: string): number {
  const c = t.columns.find((x) => x.name === name);
  if (c === undefined || c.kind !== 'numeric') throw new Error(`no numeric column ${name}`);
  return c.values.reduce((s, v) => s + v, 0) / c.values.length;
}

describe('splitHorizontal', () => {
  const split = splitHorizontal(pop, { banks: 3, by: 'region', skew: 0.9 });

  it('deals every row once: banks and the common test set are disjoint and cover the population', () => {
    const seen = new Set<string>();
    for (const t of [...split.banks.map((b) => b.table), split.test]) {
      for (const id of t.ids) {
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
    }
    expect(seen.size).toBe(pop.bank.nRows);
    expect(split.test.nRows).toBe(Math.round(0.2 * pop.bank.nRows));
  });

  it('gives every bank and the test set the same numeric, z-scored, complete columns', () => {
    for (const t of [...split.banks.map((b) => b.table), split.test]) {
      expect(t.columns.map((c) => c.name)).toEqual(split.columns);
      for (const c of t.columns) {
        expect(c.kind).toBe('numeric');
        if (c.kind === 'numeric') expect(c.values.every(Number.isFinite)).toBe(true);
      }
    }
    expect(split.columns).toContain('region_east');
    expect(split.columns).toContain('industry_manufacturing');
  });

  it('with skew 0.9 each bank is mostly its home regions: region mix and default rate differ by bank', () => {
    const east = split.banks.map((b) => columnMean(b.table, 'region_east'));
    // bank-1's home is east (the largest region): its east share is far above the others'
    expect(split.banks[0]!.homeSegments).toEqual(['east']);
    expect(east[0]!).toBeGreaterThan(east[1]! + 1);
    expect(east[0]!).toBeGreaterThan(east[2]! + 1);
    // west + northeast carry more risk (model.ts REGIONS) than east: label shift (9.8% vs 10.7% here)
    expect(split.banks[2]!.defaultRate - split.banks[0]!.defaultRate).toBeGreaterThan(0.005);
  });

  it('with skew 0 the banks are IID draws: region mix within sampling noise', () => {
    const iid = splitHorizontal(pop, { banks: 3, by: 'region', skew: 0 });
    const east = iid.banks.map((b) => columnMean(b.table, 'region_east'));
    // z-scored share; the standard error of a mean of ~5,300 rows is ~0.014
    for (const e of east) expect(Math.abs(e - east[0]!)).toBeLessThan(0.08);
  });

  it('by industry: home segments cover all eight industries; bankRows caps each bank', () => {
    const s = splitHorizontal(pop, { banks: 3, by: 'industry', bankRows: 1000, columns: 'all' });
    expect(s.banks.flatMap((b) => b.homeSegments).length).toBe(8);
    for (const b of s.banks) expect(b.table.nRows).toBe(1000);
    expect(s.columns.length).toBeGreaterThan(split.columns.length);
  });

  it('is deterministic for a seed', () => {
    const again = splitHorizontal(pop, { banks: 3, by: 'region', skew: 0.9 });
    expect(again.banks.map((b) => b.table.ids)).toEqual(split.banks.map((b) => b.table.ids));
    const other = splitHorizontal(pop, { banks: 3, by: 'region', skew: 0.9, seed: 2 });
    expect(other.test.ids).not.toEqual(split.test.ids);
  });

  it('refuses bad options naming the option', () => {
    for (const [opts, field] of [
      [{ banks: 1 }, 'banks'],
      [{ skew: 1.5 }, 'skew'],
      [{ testFraction: 0 }, 'testFraction'],
      [{ by: 'postcode' }, 'by'],
      [{ bankRows: 2.5 }, 'bankRows'],
    ] as const) {
      try {
        splitHorizontal(pop, opts as never);
        expect.unreachable();
      } catch (e) {
        expect(isFedscoreError(e) && e.field).toBe(field);
      }
    }
  });
});
