/**
 * Converters from the files public mirrors serve to the FATE vertical layout: a guest file (the bank,
 * label owner) `id,y,<features>` and a host file `id,<features>`, values raw (unscaled), with the
 * guest/host column split of ../shared/data/README.md:
 *
 * - default_credit (Yeh & Lien 2009): guest = PAY_6, BILL_AMT1-6, PAY_AMT1-6 (13); host = LIMIT_BAL,
 *   SEX, EDUCATION, MARRIAGE, AGE, PAY_0, PAY_2-5 (10); id = the file's ID; y = default.payment.next.month.
 *   This is FATE's `default_credit_hetero_*` split before its z-scoring (feature j of FATE's x0..x12 is
 *   our j-th column).
 * - german (Hofmann, Statlog): guest = loan and account attributes (1-6, 8, 10, 14, 16), host = personal,
 *   employment and housing attributes (7, 9, 11-13, 15, 17-20); categorical attributes one-hot encoded
 *   as `<name>_<code>` with one column per code present in the data, codes in string order; id = 1-based
 *   row number; y = 1 for bad risk (code 2), 0 for good (code 1).
 */
import { FedscoreError } from '@fedscore/core';

export interface ConvertedTable {
  readonly header: readonly string[];
  /** CSV lines without the header, no trailing newline. */
  readonly lines: readonly string[];
}

export interface ConvertedDataset {
  readonly guest: ConvertedTable;
  readonly host: ConvertedTable;
}

// ---------------------------------------------------------------------------------------------------
// default_credit

const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

const DEFAULT_CREDIT_COLUMNS = [
  'ID',
  'LIMIT_BAL',
  'SEX',
  'EDUCATION',
  'MARRIAGE',
  'AGE',
  'PAY_0',
  'PAY_2',
  'PAY_3',
  'PAY_4',
  'PAY_5',
  'PAY_6',
  'BILL_AMT1',
  'BILL_AMT2',
  'BILL_AMT3',
  'BILL_AMT4',
  'BILL_AMT5',
  'BILL_AMT6',
  'PAY_AMT1',
  'PAY_AMT2',
  'PAY_AMT3',
  'PAY_AMT4',
  'PAY_AMT5',
  'PAY_AMT6',
  'default.payment.next.month',
] as const;

export const DEFAULT_CREDIT_GUEST = [
  'PAY_6',
  'BILL_AMT1',
  'BILL_AMT2',
  'BILL_AMT3',
  'BILL_AMT4',
  'BILL_AMT5',
  'BILL_AMT6',
  'PAY_AMT1',
  'PAY_AMT2',
  'PAY_AMT3',
  'PAY_AMT4',
  'PAY_AMT5',
  'PAY_AMT6',
] as const;

export const DEFAULT_CREDIT_HOST = [
  'LIMIT_BAL',
  'SEX',
  'EDUCATION',
  'MARRIAGE',
  'AGE',
  'PAY_0',
  'PAY_2',
  'PAY_3',
  'PAY_4',
  'PAY_5',
] as const;

/**
 * Convert the CSV form of "default of credit card clients" (header `ID,LIMIT_BAL,...,
 * default.payment.next.month`, quoted or not; numeric rows). Every field is checked: a malformed file
 * is a `csv_parse` / `csv_schema` error naming the file, line and column.
 */
export function convertDefaultCredit(text: string, file = 'UCI_Credit_Card.csv'): ConvertedDataset {
  const lines = splitLines(text);
  const header = (lines[0] ?? '').split(',').map(unquote);
  if (header.length !== DEFAULT_CREDIT_COLUMNS.length) {
    throw new FedscoreError(
      'csv_schema',
      `expected ${DEFAULT_CREDIT_COLUMNS.length} columns in the header, found ${header.length}`,
      { file, line: 1 },
    );
  }
  DEFAULT_CREDIT_COLUMNS.forEach((name, j) => {
    if (header[j] !== name) {
      throw new FedscoreError('csv_schema', `expected column '${name}', found '${header[j]}'`, {
        file,
        line: 1,
        column: j + 1,
        field: name,
      });
    }
  });
  const col = (name: string): number => DEFAULT_CREDIT_COLUMNS.indexOf(name as never);
  const guestIdx = DEFAULT_CREDIT_GUEST.map(col);
  const hostIdx = DEFAULT_CREDIT_HOST.map(col);
  const labelIdx = col('default.payment.next.month');
  const guest: string[] = [];
  const host: string[] = [];
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw === '') continue;
    const fields = raw.split(',').map(unquote);
    if (fields.length !== DEFAULT_CREDIT_COLUMNS.length) {
      throw new FedscoreError(
        'csv_parse',
        `expected ${DEFAULT_CREDIT_COLUMNS.length} fields, found ${fields.length}`,
        { file, line: i + 1 },
      );
    }
    // Values are written as plain decimals: the mirrored file prints some in exponent form ('5e+05').
    fields.forEach((v, j) => {
      const x = NUMBER.test(v) ? Number(v) : Number.NaN;
      if (Number.isFinite(x)) fields[j] = String(x);
      else {
        throw new FedscoreError('csv_parse', `expected a number, found '${v.slice(0, 20)}'`, {
          file,
          line: i + 1,
          column: j + 1,
          field: DEFAULT_CREDIT_COLUMNS[j],
        });
      }
    });
    const id = fields[0]!;
    if (seen.has(id)) throw new FedscoreError('duplicate_id', `id ${id} occurs twice`, { file, line: i + 1 });
    seen.add(id);
    const y = fields[labelIdx]!;
    if (y !== '0' && y !== '1') {
      throw new FedscoreError('csv_schema', `label must be 0 or 1, found '${y}'`, {
        file,
        line: i + 1,
        column: labelIdx + 1,
        field: 'default.payment.next.month',
      });
    }
    guest.push([id, y, ...guestIdx.map((j) => fields[j]!)].join(','));
    host.push([id, ...hostIdx.map((j) => fields[j]!)].join(','));
  }
  return {
    guest: { header: ['id', 'y', ...DEFAULT_CREDIT_GUEST], lines: guest },
    host: { header: ['id', ...DEFAULT_CREDIT_HOST], lines: host },
  };
}

// ---------------------------------------------------------------------------------------------------
// german

interface GermanAttribute {
  readonly name: string;
  readonly categorical: boolean;
  readonly party: 'guest' | 'host';
}

/** The 20 attributes of german.data in file order (german.doc), with our names and owners. */
export const GERMAN_ATTRIBUTES: readonly GermanAttribute[] = [
  { name: 'checking_status', categorical: true, party: 'guest' },
  { name: 'duration_months', categorical: false, party: 'guest' },
  { name: 'credit_history', categorical: true, party: 'guest' },
  { name: 'purpose', categorical: true, party: 'guest' },
  { name: 'credit_amount', categorical: false, party: 'guest' },
  { name: 'savings', categorical: true, party: 'guest' },
  { name: 'employment_since', categorical: true, party: 'host' },
  { name: 'installment_rate', categorical: false, party: 'guest' },
  { name: 'personal_status_sex', categorical: true, party: 'host' },
  { name: 'other_debtors', categorical: true, party: 'guest' },
  { name: 'residence_since', categorical: false, party: 'host' },
  { name: 'property', categorical: true, party: 'host' },
  { name: 'age', categorical: false, party: 'host' },
  { name: 'other_installment_plans', categorical: true, party: 'guest' },
  { name: 'housing', categorical: true, party: 'host' },
  { name: 'existing_credits_this_bank', categorical: false, party: 'guest' },
  { name: 'job', categorical: true, party: 'host' },
  { name: 'num_dependents', categorical: false, party: 'host' },
  { name: 'telephone', categorical: true, party: 'host' },
  { name: 'foreign_worker', categorical: true, party: 'host' },
];

/** Convert Statlog `german.data` (20 space-separated attributes and the class 1 good / 2 bad). */
export function convertGerman(text: string, file = 'german.data'): ConvertedDataset {
  const rows: string[][] = [];
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const fields = line.split(/\s+/);
    if (fields.length !== GERMAN_ATTRIBUTES.length + 1) {
      throw new FedscoreError(
        'csv_parse',
        `expected ${GERMAN_ATTRIBUTES.length + 1} fields, found ${fields.length}`,
        {
          file,
          line: i + 1,
        },
      );
    }
    GERMAN_ATTRIBUTES.forEach((a, j) => {
      const v = fields[j]!;
      const ok = a.categorical ? /^A\d+$/.test(v) : /^\d+$/.test(v);
      if (!ok) {
        throw new FedscoreError(
          'csv_parse',
          `expected ${a.categorical ? 'a code like A11' : 'an integer'}, found '${v.slice(0, 20)}'`,
          { file, line: i + 1, column: j + 1, field: a.name },
        );
      }
    });
    const cls = fields[GERMAN_ATTRIBUTES.length]!;
    if (cls !== '1' && cls !== '2') {
      throw new FedscoreError('csv_schema', `class must be 1 (good) or 2 (bad), found '${cls}'`, {
        file,
        line: i + 1,
        column: GERMAN_ATTRIBUTES.length + 1,
        field: 'class',
      });
    }
    rows.push(fields);
  }
  // Categories: the codes present, in string order (A40, A41, A410, A42, ...), as the shared split has.
  const categories = GERMAN_ATTRIBUTES.map((a, j) =>
    a.categorical ? [...new Set(rows.map((r) => r[j]!))].sort() : [],
  );
  const build = (party: 'guest' | 'host'): ConvertedTable => {
    const header = party === 'guest' ? ['id', 'y'] : ['id'];
    const attrs: number[] = [];
    GERMAN_ATTRIBUTES.forEach((a, j) => {
      if (a.party !== party) return;
      attrs.push(j);
      if (a.categorical) for (const c of categories[j]!) header.push(`${a.name}_${c}`);
      else header.push(a.name);
    });
    const out = rows.map((r, i) => {
      const values: string[] = [String(i + 1)];
      if (party === 'guest') values.push(r[GERMAN_ATTRIBUTES.length] === '2' ? '1' : '0');
      for (const j of attrs) {
        const a = GERMAN_ATTRIBUTES[j]!;
        if (a.categorical) for (const c of categories[j]!) values.push(r[j] === c ? '1' : '0');
        else values.push(r[j]!);
      }
      return values.join(',');
    });
    return { header, lines: out };
  };
  return { guest: build('guest'), host: build('host') };
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function unquote(field: string): string {
  const f = field.trim();
  return f.length >= 2 && f.startsWith('"') && f.endsWith('"') ? f.slice(1, -1) : f;
}
