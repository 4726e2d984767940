/**
 * The loan-product pool of the Products page (Shanghai's pool of 719 products that enterprises search,
 * filter and sort; ../../../../docs/console.md): each product has a name, its bank, a rate, a term, a
 * line range and eligibility rules over the rating band and the pre-approved line. Enterprises'
 * pre-approved lines (bank, enterprise, band, line: what a bank's batch scoring and credit rules decided)
 * are matched against every product: an enterprise is eligible when its band is one of the product's
 * bands and its line reaches both the product's minimum line rule and the bottom of its line range;
 * the amount it can take is its line capped at the top of the range.
 *
 * Stored in the node's store (`console_products`, `console_preapprovals`). Who may see and change what is
 * decided by `ConsoleAccess` (a bank edits its own products; matched enterprises are listed to the
 * product's bank and the operator, counted for everyone else).
 */
import { FedscoreError } from '@fedscore/core';
import type { NodeStore, StoreMigrations } from '../store/index.ts';

export const PRODUCT_MIGRATIONS: StoreMigrations = {
  module: 'console_products',
  steps: [
    `CREATE TABLE console_products (
       id TEXT PRIMARY KEY,
       name TEXT NOT NULL,
       bank TEXT NOT NULL,
       rate_bp INTEGER NOT NULL,
       term_months INTEGER NOT NULL,
       line_min REAL NOT NULL,
       line_max REAL NOT NULL,
       bands TEXT NOT NULL,
       min_line REAL NOT NULL,
       updated_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE console_preapprovals (
       bank TEXT NOT NULL,
       enterprise TEXT NOT NULL,
       band TEXT NOT NULL,
       line REAL NOT NULL,
       recorded_at INTEGER NOT NULL,
       PRIMARY KEY (bank, enterprise)
     ) STRICT;`,
  ],
};

export interface LoanProduct {
  readonly id: string;
  readonly name: string;
  readonly bank: string;
  /** Annual rate in basis points. */
  readonly rateBp: number;
  readonly termMonths: number;
  /** Line range offered (currency units). */
  readonly lineMin: number;
  readonly lineMax: number;
  /** Eligibility: the rating bands admitted. */
  readonly bands: readonly string[];
  /** Eligibility: the least pre-approved line admitted. */
  readonly minLine: number;
}

export interface Preapproval {
  readonly bank: string;
  readonly enterprise: string;
  readonly band: string;
  readonly line: number;
}

export interface ProductMatch {
  readonly enterprise: string;
  /** The bank whose pre-approval matched. */
  readonly bank: string;
  readonly band: string;
  /** The amount the product can lend: the pre-approved line capped at the top of the range. */
  readonly amount: number;
}

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;

function bad(field: string, message: string): FedscoreError {
  return new FedscoreError('invalid_argument', message, { field });
}

/** Check a product's fields; typed errors name the field. */
export function validateProduct(input: Record<string, unknown>): LoanProduct {
  const text = (f: string, re: RegExp): string => {
    const v = input[f];
    if (typeof v !== 'string' || !re.test(v)) throw bad(f, 'letters, digits, space, dot, dash or underscore');
    return v;
  };
  const num = (f: string, min: number, max: number, integer = false): number => {
    const raw = input[f];
    const v = typeof raw === 'string' ? (raw.trim() === '' ? Number.NaN : Number(raw)) : raw;
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v < min ||
      v > max ||
      (integer && !Number.isInteger(v))
    )
      throw bad(f, `a ${integer ? 'whole ' : ''}number in [${min}, ${max}]`);
    return v;
  };
  const rawBands = input['bands'];
  const bands = (Array.isArray(rawBands) ? rawBands : typeof rawBands === 'string' ? rawBands.split(',') : [])
    .map((b) => String(b).trim())
    .filter((b) => b !== '');
  if (bands.length === 0 || bands.length > 16 || bands.some((b) => !NAME.test(b)))
    throw bad('bands', 'one to 16 band names, comma-separated');
  const p: LoanProduct = {
    id: text('id', ID),
    name: text('name', NAME),
    bank: text('bank', ID),
    rateBp: num('rateBp', 0, 10_000, true),
    termMonths: num('termMonths', 1, 600, true),
    lineMin: num('lineMin', 0, 1e12),
    lineMax: num('lineMax', 0, 1e12),
    bands: [...new Set(bands)],
    minLine: num('minLine', 0, 1e12),
  };
  if (p.lineMax < p.lineMin) throw bad('lineMax', 'must be >= lineMin');
  return p;
}

interface ProductRow {
  id: string;
  name: string;
  bank: string;
  rate_bp: number;
  term_months: number;
  line_min: number;
  line_max: number;
  bands: string;
  min_line: number;
}

const toProduct = (r: ProductRow): LoanProduct => ({
  id: r.id,
  name: r.name,
  bank: r.bank,
  rateBp: r.rate_bp,
  termMonths: r.term_months,
  lineMin: r.line_min,
  lineMax: r.line_max,
  bands: JSON.parse(r.bands) as string[],
  minLine: r.min_line,
});

export type ProductSort = 'name' | 'rate' | 'term' | 'lineMax' | 'matches';
/** Every `ProductSort`, in the Products page's order (its query is validated against them). */
export const PRODUCT_SORTS = [
  'name',
  'rate',
  'term',
  'lineMax',
  'matches',
] as const satisfies readonly ProductSort[];

export interface ProductQuery {
  /** Case-insensitive substring of the name or id. */
  readonly search?: string;
  readonly bank?: string;
  /** Products admitting this band. */
  readonly band?: string;
  /** Products whose range reaches this amount. */
  readonly amount?: number;
  readonly sort?: ProductSort;
  readonly descending?: boolean;
}

/** The pool over the node's store. */
export class ProductPool {
  readonly store: NodeStore;
  readonly #now: () => number;

  constructor(store: NodeStore, options: { now?: () => number } = {}) {
    this.store = store;
    store.migrate(PRODUCT_MIGRATIONS);
    this.#now = options.now ?? Date.now;
  }

  /** Create or replace a product (the caller checks who may). */
  save(input: Record<string, unknown>): LoanProduct {
    const p = validateProduct(input);
    this.store.run(
      `INSERT INTO console_products (id, name, bank, rate_bp, term_months, line_min, line_max, bands, min_line, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, bank = excluded.bank, rate_bp = excluded.rate_bp,
         term_months = excluded.term_months, line_min = excluded.line_min, line_max = excluded.line_max,
         bands = excluded.bands, min_line = excluded.min_line, updated_at = excluded.updated_at`,
      p.id,
      p.name,
      p.bank,
      p.rateBp,
      p.termMonths,
      p.lineMin,
      p.lineMax,
      JSON.stringify(p.bands),
      p.minLine,
      this.#now(),
    );
    return p;
  }

  get(id: string): LoanProduct | undefined {
    const r = this.store.get<ProductRow>('SELECT * FROM console_products WHERE id = ?', id);
    return r === undefined ? undefined : toProduct(r);
  }

  remove(id: string): boolean {
    return this.store.run('DELETE FROM console_products WHERE id = ?', id).changes > 0;
  }

  /** Record (or replace) an enterprise's pre-approved line with a bank. */
  recordPreapproval(p: Preapproval): void {
    if (!ID.test(p.bank)) throw bad('bank', 'not a party id');
    if (typeof p.enterprise !== 'string' || p.enterprise.length < 1 || p.enterprise.length > 64)
      throw bad('enterprise', '1 to 64 characters');
    if (!NAME.test(p.band)) throw bad('band', 'not a band name');
    if (!(p.line >= 0) || !Number.isFinite(p.line)) throw bad('line', 'a number >= 0');
    this.store.run(
      `INSERT INTO console_preapprovals (bank, enterprise, band, line, recorded_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (bank, enterprise) DO UPDATE SET band = excluded.band, line = excluded.line,
         recorded_at = excluded.recorded_at`,
      p.bank,
      p.enterprise,
      p.band,
      p.line,
      this.#now(),
    );
  }

  /** The enterprises whose pre-approved line the product's rules admit. */
  matches(p: LoanProduct): ProductMatch[] {
    const floor = Math.max(p.minLine, p.lineMin);
    return this.store
      .all<Preapproval>(
        'SELECT bank, enterprise, band, line FROM console_preapprovals WHERE line >= ? ORDER BY line DESC, enterprise',
        floor,
      )
      .filter((r) => p.bands.includes(r.band))
      .map((r) => ({
        enterprise: r.enterprise,
        bank: r.bank,
        band: r.band,
        amount: Math.min(r.line, p.lineMax),
      }));
  }

  /** Search, filter and sort the pool; each product with its number of matched enterprises. */
  search(q: ProductQuery = {}): { product: LoanProduct; matched: number }[] {
    const s = q.search?.trim().toLowerCase() ?? '';
    const out = this.store
      .all<ProductRow>('SELECT * FROM console_products')
      .map(toProduct)
      .filter(
        (p) =>
          (s === '' || p.name.toLowerCase().includes(s) || p.id.includes(s)) &&
          (q.bank === undefined || q.bank === '' || p.bank === q.bank) &&
          (q.band === undefined || q.band === '' || p.bands.includes(q.band)) &&
          (q.amount === undefined || (q.amount >= p.lineMin && q.amount <= p.lineMax)),
      )
      .map((product) => ({ product, matched: this.matches(product).length }));
    const key: Record<ProductSort, (x: (typeof out)[number]) => number | string> = {
      name: (x) => x.product.name.toLowerCase(),
      rate: (x) => x.product.rateBp,
      term: (x) => x.product.termMonths,
      lineMax: (x) => x.product.lineMax,
      matches: (x) => x.matched,
    };
    const k = key[q.sort ?? 'name'];
    const dir = q.descending === true ? -1 : 1;
    return out.sort((a, b) => {
      const x = k(a);
      const y = k(b);
      return (x < y ? -1 : x > y ? 1 : a.product.id < b.product.id ? -1 : 1) * dir;
    });
  }
}
