/**
 * The synthetic population: determinism (same seed -> same tables and same file bytes, whatever the
 * block size), sizes, missing rates against the documented mechanisms, USCC validity and uniqueness,
 * the overlap between bank and government, the calibrated default rate, and the lift of joining: on a
 * 20k population, pooled LR must beat bank-only LR by a clear margin.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Column, isFedscoreError, isValidUscc, seededRng, type Table } from '@fedscore/core';
import {
  BANK_FEATURES,
  centralizedLrBaseline,
  GOVERNMENT_FEATURES,
  generatePopulation,
  type Population,
  type PopulationManifest,
  resolvePopulationOptions,
  startPopulation,
  writePopulation,
} from '@fedscore/datasets';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fedscore-pop-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function col(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no column ${name}`);
  return c;
}
function missingRate(table: Table, name: string): number {
  return col(table, name).missing / table.nRows;
}
function digestTable(t: Table): string {
  const h = createHash('sha256');
  h.update(t.ids.join(','));
  if (t.label) h.update(new Uint8Array(t.label.buffer));
  for (const c of t.columns) {
    h.update(c.name);
    h.update(new Uint8Array(c.kind === 'numeric' ? c.values.buffer : c.codes.buffer));
  }
  return h.digest('hex');
}

describe('options', () => {
  it('fills defaults and names the failing option', () => {
    const r = resolvePopulationOptions({ enterprises: 1000 });
    expect(r).toMatchObject({
      enterprises: 1000,
      bankCustomers: 500,
      bankOnlyCustomers: 15,
      labelColumn: 'y',
    });
    const fails = (o: object, field: string, code: string): void => {
      let err: unknown;
      try {
        resolvePopulationOptions(o);
      } catch (e) {
        err = e;
      }
      expect(isFedscoreError(err)).toBe(true);
      expect(err).toMatchObject({ field, code });
    };
    fails({ enterprises: 50 }, 'enterprises', 'out_of_range');
    fails({ enterprises: 1000.5 }, 'enterprises', 'invalid_argument');
    fails({ enterprises: 1000, bankCustomers: 10, overlap: 0.5 }, 'bankCustomers', 'invalid_argument');
    fails({ enterprises: 1000, bankCustomers: 1001 }, 'bankCustomers', 'out_of_range');
    fails({ overlap: 1.5 }, 'overlap', 'out_of_range');
    fails({ defaultRate: 0.9 }, 'defaultRate', 'out_of_range');
    fails({ govExtraFeatures: 5000 }, 'govExtraFeatures', 'out_of_range');
    fails({ labelColumn: 'uscc' }, 'labelColumn', 'invalid_argument');
    fails({ labelColumn: 'a,b' }, 'labelColumn', 'invalid_argument');
  });
});

describe('generatePopulation', () => {
  const small = generatePopulation({ enterprises: 3000, overlap: 0.4, bankOnlyFraction: 0.05, seed: 11 });

  it('has the documented shape: >= 20 government and >= 12 bank features, FATE layout', () => {
    expect(GOVERNMENT_FEATURES.length).toBeGreaterThanOrEqual(20);
    expect(BANK_FEATURES.length).toBeGreaterThanOrEqual(12);
    expect(small.government.nRows).toBe(3000);
    expect(small.government.columns.map((c) => c.name)).toEqual(GOVERNMENT_FEATURES.map((f) => f.name));
    expect(small.bank.columns.map((c) => c.name)).toEqual(BANK_FEATURES.map((f) => f.name));
    expect(small.bank.nRows).toBe(1200 + 60);
    expect(small.bank.label).toBeInstanceOf(Float64Array);
    expect(small.bank.labelName).toBe('y');
    expect(small.government.label).toBeUndefined();
    expect(col(small.government, 'industry').kind).toBe('categorical');
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const again = generatePopulation({ enterprises: 3000, overlap: 0.4, bankOnlyFraction: 0.05, seed: 11 });
    expect(digestTable(again.government)).toBe(digestTable(small.government));
    expect(digestTable(again.bank)).toBe(digestTable(small.bank));
    const other = generatePopulation({ enterprises: 3000, overlap: 0.4, bankOnlyFraction: 0.05, seed: 12 });
    expect(digestTable(other.government)).not.toBe(digestTable(small.government));
    // An injected rng replaces the seed: seededRng(seed) is exactly what the seed option means.
    const viaRng = generatePopulation(
      { enterprises: 3000, overlap: 0.4, bankOnlyFraction: 0.05 },
      seededRng(11),
    );
    expect(digestTable(viaRng.government)).toBe(digestTable(small.government));
    const viaOther = generatePopulation(
      { enterprises: 3000, overlap: 0.4, bankOnlyFraction: 0.05 },
      seededRng(12),
    );
    expect(digestTable(viaOther.government)).toBe(digestTable(other.government));
  });

  it('does not depend on the block size of the streaming engine', () => {
    const opts = resolvePopulationOptions({
      enterprises: 2000,
      govExtraFeatures: 5,
      bankExtraFeatures: 3,
      seed: 5,
    });
    // Per-column sums over all rows, added in row order: equal bit for bit when the rows are.
    const sums = (block: number): number[] => {
      const cursor = startPopulation(opts, seededRng(5));
      const acc = new Array<number>(
        cursor.plan.governmentFeatures.length + cursor.plan.bankFeatures.length + 1,
      ).fill(0);
      for (let b = cursor.next(block); b !== undefined; b = cursor.next(block)) {
        const nGov = b.government.values.length;
        b.government.values.forEach((v, j) => {
          for (let r = 0; r < b.government.rows; r++) if (!Number.isNaN(v[r]!)) acc[j]! += v[r]!;
        });
        b.bank.values.forEach((v, j) => {
          for (let r = 0; r < b.bank.rows; r++) if (!Number.isNaN(v[r]!)) acc[nGov + j]! += v[r]!;
        });
        for (let r = 0; r < b.bank.rows; r++) acc[acc.length - 1]! += b.bank.label[r]!;
      }
      return acc;
    };
    const reference = sums(8192);
    expect(sums(97)).toEqual(reference);
    expect(sums(1000)).toEqual(reference);
  });

  it('issues valid, unique USCCs; the bank holds exactly the requested overlap plus bank-only firms', () => {
    expect(small.government.ids.every((id) => isValidUscc(id))).toBe(true);
    expect(small.bank.ids.every((id) => isValidUscc(id))).toBe(true);
    expect(new Set(small.government.ids).size).toBe(3000);
    expect(new Set(small.bank.ids).size).toBe(small.bank.nRows);
    const gov = new Set(small.government.ids);
    const inGov = small.bank.ids.filter((id) => gov.has(id)).length;
    expect(inGov).toBe(1200);
    expect(small.truth.overlap).toBe(1200);
    expect(small.truth.bankOnly).toBe(60);
    small.bank.ids.forEach((id, i) => {
      const g = small.truth.governmentRowOfBank[i]!;
      if (g >= 0) expect(small.government.ids[g]).toBe(id);
      else expect(gov.has(id)).toBe(false);
    });
    const exact = generatePopulation({ enterprises: 1000, bankCustomers: 777, bankOnlyFraction: 0, seed: 3 });
    expect(exact.bank.nRows).toBe(777);
    expect(exact.truth.overlap).toBe(777);
  });

  it('adds extra features with the requested counts and names', () => {
    const p = generatePopulation({ enterprises: 500, govExtraFeatures: 300, bankExtraFeatures: 20, seed: 2 });
    expect(p.government.columns.length).toBe(GOVERNMENT_FEATURES.length + 300);
    expect(p.bank.columns.length).toBe(BANK_FEATURES.length + 20);
    expect(p.government.columns.at(-1)!.name).toBe('gov_extra_300');
    expect(p.bank.columns[BANK_FEATURES.length]!.name).toBe('bank_extra_001');
    expect(p.truth.governmentExtras.filter((e) => e.factor === 'none').every((e) => e.loading === 0)).toBe(
      true,
    );
  });
});

describe('population statistics (20k enterprises, all bank customers)', () => {
  const pop: Population = generatePopulation({
    enterprises: 20_000,
    overlap: 1,
    bankOnlyFraction: 0,
    seed: 2025,
  });
  const none = generatePopulation({ enterprises: 5000, missingRateMultiplier: 0, seed: 2025 });
  const doubled = generatePopulation({ enterprises: 20_000, missingRateMultiplier: 2, seed: 2025 });

  it('hits the default rate within 0.01 (binomial sd at 20k: 0.0018)', () => {
    expect(Math.abs(pop.truth.realizedDefaultRate - 0.07)).toBeLessThan(0.01);
    const high = generatePopulation({ enterprises: 5000, overlap: 1, defaultRate: 0.15, seed: 9 });
    expect(Math.abs(high.truth.realizedDefaultRate - 0.15)).toBeLessThan(0.025);
  });

  it('has the documented missing rates (MCAR within 3 binomial sd) and only structural gaps at multiplier 0', () => {
    // housing 8% MCAR (sd 0.0019 at 20k), registered capital 2% (sd 0.001).
    expect(Math.abs(missingRate(pop.government, 'housing_fund_paid_12m') - 0.08)).toBeLessThan(0.006);
    expect(Math.abs(missingRate(pop.government, 'registered_capital') - 0.02)).toBeLessThan(0.003);
    expect(Math.abs(missingRate(doubled.government, 'housing_fund_paid_12m') - 0.16)).toBeLessThan(0.008);
    expect(missingRate(pop.government, 'tax_paid_12m')).toBeGreaterThan(0.02);
    expect(missingRate(pop.government, 'tax_punctuality')).toBe(missingRate(pop.government, 'tax_paid_12m'));
    for (const name of ['tax_paid_12m', 'housing_fund_paid_12m', 'utility_spend_12m', 'registered_capital']) {
      expect(missingRate(none.government, name)).toBe(0);
    }
    // Structural gaps stay: firms under a year old, customers under a year, no credit line.
    expect(missingRate(none.government, 'si_headcount_change_12m')).toBeGreaterThan(0.01);
    expect(missingRate(none.bank, 'credit_utilization')).toBeGreaterThan(0.2);
    const loans = col(none.bank, 'existing_loans_count');
    const util = col(none.bank, 'credit_utilization');
    if (loans.kind !== 'numeric' || util.kind !== 'numeric') throw new Error('numeric expected');
    for (let i = 0; i < none.bank.nRows; i++)
      expect(Number.isNaN(util.values[i]!)).toBe(loans.values[i] === 0);
  });

  it('makes a missing tax record a risk signal (MNAR): default rate at least 1.5x among those rows', () => {
    const tax = col(pop.government, 'tax_paid_12m');
    if (tax.kind !== 'numeric') throw new Error('numeric expected');
    let missDefaults = 0;
    let miss = 0;
    let okDefaults = 0;
    let ok = 0;
    for (let i = 0; i < pop.bank.nRows; i++) {
      const y = pop.bank.label![i]!;
      if (Number.isNaN(tax.values[pop.truth.governmentRowOfBank[i]!]!)) {
        miss++;
        missDefaults += y;
      } else {
        ok++;
        okDefaults += y;
      }
    }
    expect(missDefaults / miss).toBeGreaterThan(1.5 * (okDefaults / ok));
  });

  it('pooled LR beats bank-only LR by >= 0.04 AUC on a seeded 80/20 split', () => {
    // Population seeds 1-5 and 2025 give margins 0.055-0.085 (docs/population.md); 0.04 leaves room
    // for the test-set noise (AUC sd ~0.015 on 4,000 rows with ~280 defaults) without hiding a
    // regression that removes the government side's signal.
    const r = centralizedLrBaseline(pop, { seed: 42 });
    expect(r.testRows).toBe(4000);
    expect(r.pooled.auc - r.bankOnly.auc).toBeGreaterThanOrEqual(0.04);
    expect(r.pooled.ks).toBeGreaterThan(r.bankOnly.ks);
    expect(r.bankOnly.auc).toBeGreaterThan(0.65);
    expect(r.bankOnly.auc).toBeLessThan(0.78);
    expect(r.pooled.auc).toBeGreaterThan(0.74);
    expect(r.oracleAuc).toBeGreaterThan(r.pooled.auc);
  });
});

describe('writePopulation', () => {
  it('writes the same bytes for the same seed, matching the in-memory tables, with a manifest', async () => {
    const options = {
      enterprises: 2000,
      overlap: 0.5,
      govExtraFeatures: 4,
      labelColumn: 'default_12m',
      seed: 77,
    };
    const a = await writePopulation(options, tempDir());
    const b = await writePopulation(options, tempDir());
    expect(a.government.sha256).toBe(b.government.sha256);
    expect(a.bank.sha256).toBe(b.bank.sha256);
    const govText = readFileSync(a.government.path, 'utf8');
    expect(createHash('sha256').update(govText).digest('hex')).toBe(a.government.sha256);
    const bankLines = readFileSync(a.bank.path, 'utf8').trimEnd().split('\n');
    expect(bankLines[0]!.split(',').slice(0, 3)).toEqual(['uscc', 'default_12m', 'avg_deposit_balance_12m']);
    expect(bankLines.length - 1).toBe(a.bank.rows);
    const govLines = govText.trimEnd().split('\n');
    expect(govLines.length - 1).toBe(2000);
    expect(govLines[0]!.split(',').length).toBe(a.government.columns);

    // The CSV holds the in-memory values, rounded as documented.
    const mem = generatePopulation(options);
    expect(govLines.slice(1).map((l) => l.split(',')[0])).toEqual(mem.government.ids);
    const header = govLines[0]!.split(',');
    const row = govLines[5]!.split(',');
    header.slice(1).forEach((name, j) => {
      const c = col(mem.government, name);
      const cell = row[j + 1]!;
      if (c.kind === 'categorical') expect(cell).toBe(c.categories[c.codes[4]!]);
      else if (Number.isNaN(c.values[4]!)) expect(cell).toBe('');
      else expect(Math.abs(Number(cell) - c.values[4]!)).toBeLessThanOrEqual(0.5 + 1e-9);
    });
    const bankRow = bankLines[3]!.split(',');
    expect(Number(bankRow[1])).toBe(mem.bank.label![2]);

    const manifest = JSON.parse(readFileSync(a.manifest, 'utf8')) as PopulationManifest;
    expect(manifest.seed).toBe(77);
    expect(manifest.files.bank.rows).toBe(a.bank.rows);
    expect(manifest.files.government.sha256).toBe(a.government.sha256);
    const names = manifest.features.map((f) => `${f.owner}:${f.name}`);
    expect(names).toContain('bank:default_12m');
    expect(names).toContain('government:gov_extra_004');
    expect(manifest.features.every((f) => f.description.length > 0)).toBe(true);
    expect(manifest.features.find((f) => f.name === 'industry')!.levels).toHaveLength(8);
  });

  it('reports progress and refuses an unwritable directory with an io error', async () => {
    const events: number[] = [];
    await writePopulation({ enterprises: 20_000, overlap: 0.1, seed: 1 }, tempDir(), {
      progress: (e) => events.push(e.done),
    });
    expect(events.at(-1)).toBe(20_000);
    // A path below a regular file cannot be a directory.
    const blocker = join(tempDir(), 'a-file');
    writeFileSync(blocker, 'x');
    const err = await writePopulation({ enterprises: 100 }, join(blocker, 'sub')).catch((e) => e);
    expect(isFedscoreError(err, 'io')).toBe(true);
    expect(err.file).toBe(join(blocker, 'sub'));
  });
});
