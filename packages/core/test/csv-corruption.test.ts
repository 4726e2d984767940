/**
 * One corrupted cell in a numeric column (issue 12, "silent wrong results"): whatever the corruption
 * ('Inf', 'Infinity', '1e309', a byte that is not UTF-8, a NUL, a quoted value with a line break, a stray
 * word), wherever it sits and however the file is laid out (blank lines, CRLF, quoted line breaks in
 * other columns before it), reading the file is a typed error naming the file, the physical line
 * (header = line 1) and the column -- never a table with the column silently turned categorical. The
 * error message never quotes the cell. Properties checked with fast-check against an independent
 * reference: the line is counted here from the generated layout, not by the reader.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CsvReadOptions, FedscoreError, parseCsv, parseCsvDetailed } from '@fedscore/core';
import { readIdList } from '@fedscore/core/node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const enc = new TextEncoder();

/** Corruptions of one cell: bytes written instead of the number, and the error code they must give. */
const CORRUPTIONS: readonly { name: string; bytes: Uint8Array; code: 'csv_schema' | 'csv_parse' }[] = [
  { name: 'Inf', bytes: enc.encode('Inf'), code: 'csv_schema' },
  { name: 'Infinity', bytes: enc.encode('Infinity'), code: 'csv_schema' },
  { name: '-inf', bytes: enc.encode('-inf'), code: 'csv_schema' },
  { name: '1e309', bytes: enc.encode('1e309'), code: 'csv_schema' },
  { name: '-2e400', bytes: enc.encode('-2e400'), code: 'csv_schema' },
  { name: 'latin-1 byte', bytes: Uint8Array.from([0x31, 0xe9, 0x32]), code: 'csv_parse' },
  { name: 'lone continuation byte', bytes: Uint8Array.from([0x80]), code: 'csv_parse' },
  { name: 'NUL', bytes: Uint8Array.from([0x31, 0x00]), code: 'csv_schema' },
  { name: 'quoted line break', bytes: enc.encode('"1\n2"'), code: 'csv_schema' },
  { name: 'stray word', bytes: enc.encode('zq9word'), code: 'csv_schema' },
  { name: 'thousands separator', bytes: enc.encode('"1,234"'), code: 'csv_schema' },
  { name: 'hex', bytes: enc.encode('0x1F'), code: 'csv_schema' },
];

interface Layout {
  readonly rows: number;
  readonly cols: number;
  readonly values: number[][];
  readonly badRow: number;
  readonly badCol: number;
  readonly kind: number;
  readonly crlf: boolean;
  /** Blank lines before each data row. */
  readonly blanks: number[];
  /** Rows whose text column holds a quoted value spanning two lines. */
  readonly multiline: boolean[];
}

const layout: fc.Arbitrary<Layout> = fc
  .record({ rows: fc.integer({ min: 2, max: 30 }), cols: fc.integer({ min: 1, max: 4 }) })
  .chain(({ rows, cols }) =>
    fc.record({
      rows: fc.constant(rows),
      cols: fc.constant(cols),
      values: fc.array(
        fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }), {
          minLength: cols,
          maxLength: cols,
        }),
        { minLength: rows, maxLength: rows },
      ),
      badRow: fc.integer({ min: 0, max: rows - 1 }),
      badCol: fc.integer({ min: 0, max: cols - 1 }),
      kind: fc.integer({ min: 0, max: CORRUPTIONS.length - 1 }),
      crlf: fc.boolean(),
      blanks: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: rows, maxLength: rows }),
      multiline: fc.array(fc.boolean(), { minLength: rows, maxLength: rows }),
    }),
  );

/** The file's bytes and the physical line of the corrupted cell, counted independently of the reader. */
function render(l: Layout, blank = false): { bytes: Uint8Array; line: number; column: number; name: string } {
  const eol = l.crlf ? '\r\n' : '\n';
  const header = ['id', 'note', ...Array.from({ length: l.cols }, (_, j) => `x${j}`)];
  const parts: Uint8Array[] = [enc.encode(header.join(',') + eol)];
  let line = 2;
  let badLine = -1;
  for (let r = 0; r < l.rows; r++) {
    for (let b = 0; b < l.blanks[r]!; b++) {
      parts.push(enc.encode(eol));
      line++;
    }
    const note = l.multiline[r] ? `"two${eol}lines"` : 'n';
    parts.push(enc.encode(`id${r},${note}`));
    for (let j = 0; j < l.cols; j++) {
      parts.push(enc.encode(','));
      if (r === l.badRow && j === l.badCol) {
        if (!blank) parts.push(CORRUPTIONS[l.kind]!.bytes);
        badLine = line;
      } else parts.push(enc.encode(String(l.values[r]![j])));
    }
    parts.push(enc.encode(eol));
    line += 1 + (l.multiline[r] ? 1 : 0);
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, line: badLine, column: 3 + l.badCol, name: `x${l.badCol}` };
}

async function refusal(bytes: Uint8Array, options: CsvReadOptions): Promise<FedscoreError> {
  try {
    const r = await parseCsvDetailed([bytes], options);
    throw new Error(`read without error; roles ${JSON.stringify(r.roles)}`);
  } catch (e) {
    if (!(e instanceof FedscoreError)) throw e;
    return e;
  }
}

describe('a single corrupted cell in a numeric column', () => {
  it('is refused naming file, physical line and column, whether the column is inferred or declared', async () => {
    await fc.assert(
      fc.asyncProperty(layout, fc.boolean(), async (l, declared) => {
        const { bytes, line, column, name } = render(l);
        const c = CORRUPTIONS[l.kind]!;
        const e = await refusal(bytes, {
          file: 'bank.csv',
          roles: { note: 'categorical' },
          ...(declared && { defaultRole: 'numeric' }),
        });
        expect(e.code, e.message).toBe(c.code);
        expect(e.file).toBe('bank.csv');
        expect(e.line, `${c.name}: ${e.message}`).toBe(line);
        expect(e.column).toBe(column);
        expect(e.field).toBe(name);
        expect(e.message).not.toContain('zq9');
      }),
      { numRuns: 400 },
    );
  });

  it('the same file with that cell left empty reads as numbers equal to the generated ones', async () => {
    await fc.assert(
      fc.asyncProperty(layout, async (l) => {
        const t = await parseCsv([render(l, true).bytes], { roles: { note: 'categorical' } });
        for (let j = 0; j < l.cols; j++) {
          const col = t.columns.find((c) => c.name === `x${j}`)!;
          if (col.kind !== 'numeric') throw new Error(`x${j} is not numeric`);
          const want = l.values.map((row, r) =>
            r === l.badRow && j === l.badCol ? Number.NaN : row[j]! + 0,
          ); // String(-0) is "0"
          expect(Array.from(col.values)).toEqual(want);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('invalid UTF-8 in an id is refused naming the line (distinct raw ids never collapse into one)', async () => {
    // 'A\xff' and 'A\xfe' would both decode to 'A\uFFFD' without the check.
    const bytes = Uint8Array.from([
      ...enc.encode('id,x\nA'),
      0xff,
      ...enc.encode(',1\nA'),
      0xfe,
      ...enc.encode(',2\n'),
    ]);
    const e = await refusal(bytes, { file: 'ids.csv' });
    expect([e.code, e.file, e.line, e.column, e.field]).toEqual(['csv_parse', 'ids.csv', 2, 1, 'id']);
  });

  it('a column where most values are words is categorical, and says so', async () => {
    const r = await parseCsvDetailed('id,sector\n1,retail\n2,retail\n3,7\n', {});
    expect(r.roles['sector']).toBe('categorical');
    expect(r.inferredCategorical).toEqual([{ column: 'sector', nonNumeric: 2, present: 3 }]);
  });

  it('an id list (--train-ids) with invalid UTF-8 is refused naming the line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-idlist-'));
    try {
      const path = join(dir, 'ids.txt');
      writeFileSync(
        path,
        Buffer.concat([Buffer.from('a1\n\nb2\nc'), Buffer.from([0xff]), Buffer.from('3\nd4\n')]),
      );
      const e = await readIdList(path).catch((x: unknown) => x as FedscoreError);
      expect(e).toBeInstanceOf(FedscoreError);
      expect([(e as FedscoreError).code, (e as FedscoreError).line]).toEqual(['invalid_id', 4]);
      writeFileSync(path, Buffer.concat([Buffer.from('a1\nb2'), Buffer.from([0xe4, 0xb8])]));
      const t = await readIdList(path).catch((x: unknown) => x as FedscoreError);
      expect([(t as FedscoreError).code, (t as FedscoreError).line]).toEqual(['invalid_id', 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
