/**
 * Id preparation: USCC normalization (core's rules) makes spellings of one code equal; invalid codes are
 * an `invalid_uscc` error naming file, line and column, or skipped and counted; repeats are dropped and
 * reported with both lines; reports never contain ids. Checked against a hand-computed reference.
 */
import { generateUniqueUsccs, isFedscoreError, normalizeUscc, seededRng } from '@fedscore/core';
import { idAt, prepareIds } from '@fedscore/psi';
import { describe, expect, it } from 'vitest';

const codes = generateUniqueUsccs(seededRng('ids'), 6);

describe('prepareIds', () => {
  it('packs distinct normalized ids with their first input row', () => {
    const input = [codes[0]!, ` ${codes[1]!.toLowerCase()} `, codes[2]!, codes[1]!, codes[0]!.toLowerCase()];
    const p = prepareIds(input);
    expect(p.count).toBe(3);
    expect([0, 1, 2].map((i) => idAt(p.packed, i))).toEqual([codes[0], codes[1], codes[2]]);
    expect(Array.from(p.rows)).toEqual([0, 1, 2]);
    expect(p.report).toEqual({
      rows: 5,
      distinct: 3,
      invalid: { count: 0, examples: [] },
      duplicates: {
        count: 2,
        examples: [
          { line: 4, firstLine: 2 },
          { line: 5, firstLine: 1 },
        ],
      },
    });
    expect(p.packed.bytes.length).toBe(3 * 18);
  });

  it('an invalid id is an error naming file, line and column, without echoing the id', () => {
    const bad = `${codes[3]!.slice(0, 17)}${codes[3]!.endsWith('0') ? '1' : '0'}`;
    const err = (() => {
      try {
        prepareIds([codes[0]!, bad], { file: 'gov.csv', field: 'uscc', column: 2, lineOf: (r) => r + 2 });
      } catch (e) {
        return e;
      }
    })();
    expect(isFedscoreError(err, 'invalid_uscc')).toBe(true);
    const e = err as { file: string; line: number; column: number; field: string; message: string };
    expect([e.file, e.line, e.column, e.field]).toEqual(['gov.csv', 3, 2, 'uscc']);
    expect(e.message).not.toContain(bad);
  });

  it("with invalid: 'skip', invalid ids (wrong check, wrong length, empty, non-string) are counted", () => {
    const wrongCheck = `${codes[4]!.slice(0, 17)}${codes[4]!.endsWith('0') ? '1' : '0'}`;
    const input = [codes[0]!, wrongCheck, 'ABC', '', codes[5]!, 42 as unknown as string];
    const p = prepareIds(input, { invalid: 'skip', maxExamples: 2 });
    expect(p.count).toBe(2);
    expect(p.report.invalid.count).toBe(4);
    expect(p.report.invalid.examples).toEqual([
      { line: 2, reason: 'check' },
      { line: 3, reason: 'length' },
    ]);
    expect(JSON.stringify(p.report)).not.toContain(codes[0]!);
  });

  it('normalizes full-width and ideographic spaces like core', () => {
    const full = Array.from(codes[0]!, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('');
    const p = prepareIds([`\u3000${full}`, codes[0]!]);
    expect(p.count).toBe(1);
    expect(idAt(p.packed, 0)).toBe(normalizeUscc(full));
  });
});
