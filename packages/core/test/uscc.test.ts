import {
  assertUscc,
  FedscoreError,
  generateUniqueUsccs,
  generateUscc,
  isValidUscc,
  normalizeUscc,
  parseUscc,
  seededRng,
  USCC_ALPHABET,
  validateUscc,
} from '@fedscore/core';
import { describe, expect, it } from 'vitest';

/**
 * Codes published in public company-registry listings (each found in several independent public
 * sources). A random 18-character string passes both check characters with probability 1/341, so these
 * are an external reference for both algorithms.
 */
const PUBLISHED = [
  '91440300708461136T', // Tencent (Shenzhen registration)
  '914403001922038216', // Huawei Technologies Co., Ltd.
  '91100000100003962T', // Industrial and Commercial Bank of China
  '91520000214434146R', // AVIC Heavy Machinery Co., Ltd.
  '91110108551385082Q', // Xiaomi (Beijing Haidian registration)
  '91350203MA344PKP8K', // post-2015 'MA' organization code, Xiamen
  '91430104MA4M36MH6R', // post-2015 'MA' organization code, Changsha
  '91410200769463127C',
  '91211121059812484C',
] as const;

/**
 * An independent, deliberately naive reading of GB 32100-2015 / GB 11714, written from the standard's
 * text rather than from src/uscc.ts: weights as 3^(i-1) mod 31 computed here, letters valued by their
 * position in the Latin alphabet for the organization code.
 */
function referenceValid(code: string): boolean {
  if (code.length !== 18) return false;
  let sum = 0;
  let w = 1;
  for (let i = 0; i < 17; i++) {
    const v = USCC_ALPHABET.indexOf(code[i]!);
    if (v < 0) return false;
    sum += v * w;
    w = (w * 3) % 31;
  }
  const c18 = (31 - (sum % 31)) % 31;
  if (USCC_ALPHABET[c18] !== code[17]) return false;
  const orgWeights = [3, 7, 9, 10, 5, 8, 4, 2];
  let s = 0;
  for (let i = 0; i < 8; i++) s += parseInt(code[8 + i]!, 36) * orgWeights[i]!;
  const c9 = 11 - (s % 11);
  const expected = c9 === 10 ? 'X' : c9 === 11 ? '0' : String(c9);
  return expected === code[16] && /^[0-9]{6}$/.test(code.slice(2, 8));
}

describe('USCC validation (GB 32100-2015, GB 11714)', () => {
  it('accepts codes published in public registries', () => {
    for (const code of PUBLISHED) {
      expect(validateUscc(code), code).toEqual({ ok: true });
      expect(isValidUscc(code)).toBe(true);
      expect(referenceValid(code), code).toBe(true);
    }
  });

  it('detects every single-character substitution, naming the check that fails', () => {
    let corruptions = 0;
    for (const code of PUBLISHED) {
      for (let pos = 0; pos < 18; pos++) {
        for (const ch of USCC_ALPHABET) {
          if (ch === code[pos]) continue;
          const bad = code.slice(0, pos) + ch + code.slice(pos + 1);
          const v = validateUscc(bad);
          expect(v.ok, `${bad} (position ${pos + 1})`).toBe(false);
          if (!v.ok) {
            if (pos === 17) expect(v.reason).toBe('check');
            else if (pos === 16) expect(v.reason).toBe('org_check');
            else if (pos >= 2 && pos < 8 && !/[0-9]/.test(ch)) expect(v.reason).toBe('region');
            else if (pos >= 8) expect(['org_check', 'check']).toContain(v.reason);
            else expect(v.reason).toBe('check');
          }
          corruptions++;
        }
      }
    }
    expect(corruptions).toBe(PUBLISHED.length * 18 * 30);
  });

  it('catches organization-code changes by 11 through the overall check alone', () => {
    // '1' (GB 11714 value 1) -> 'C' (value 12): invisible to MOD 11, visible to MOD 31.
    const code = '91440300708461136T'; // position 14 holds '1'
    const bad = code.slice(0, 13) + 'C' + code.slice(14);
    expect(code[13]).toBe('1');
    expect(validateUscc(bad)).toEqual({ ok: false, reason: 'check', position: 18 });
  });

  it('names length and charset failures', () => {
    expect(validateUscc('91440300708461136')).toEqual({ ok: false, reason: 'length' });
    expect(validateUscc('91440300708461136TT')).toEqual({ ok: false, reason: 'length' });
    expect(validateUscc('91440300708461136I')).toEqual({ ok: false, reason: 'charset', position: 18 });
    expect(validateUscc('9144030070846113OT')).toEqual({ ok: false, reason: 'charset', position: 17 });
    expect(validateUscc('91440300708461136t')).toEqual({ ok: false, reason: 'charset', position: 18 });
    expect(validateUscc('914403007084611３6T').ok).toBe(false);
  });

  it('can skip the organization-code check for codes issued without it', () => {
    // A code with a correct MOD 31 check but an organization code that fails GB 11714.
    const body = '91310000631295002';
    let sum = 0;
    let w = 1;
    for (const ch of body) {
      sum += USCC_ALPHABET.indexOf(ch) * w;
      w = (w * 3) % 31;
    }
    const code = body + USCC_ALPHABET[(31 - (sum % 31)) % 31];
    expect(validateUscc(code)).toEqual({ ok: false, reason: 'org_check', position: 17 });
    expect(validateUscc(code, { orgCheck: false })).toEqual({ ok: true });
  });
});

describe('normalizeUscc and assertUscc', () => {
  it('trims, upper-cases and converts full-width forms', () => {
    expect(normalizeUscc('  91440300708461136t\n')).toBe('91440300708461136T');
    expect(normalizeUscc('\u3000９１４４０３００７０８４６１１３６Ｔ\u3000')).toBe('91440300708461136T');
    expect(normalizeUscc('９１４４０３００７０８４６１１３６ｔ')).toBe('91440300708461136T');
    expect(normalizeUscc('9144 0300 7084 6113 6T')).toBe('91440300708461136T');
    expect(normalizeUscc('\uFEFF91440300708461136T')).toBe('91440300708461136T');
    expect(normalizeUscc('')).toBe('');
  });

  it('returns the normalized code or throws invalid_uscc with the location', () => {
    expect(assertUscc(' 91440300708461136t ')).toBe('91440300708461136T');
    try {
      assertUscc('91440300708461136X', { file: 'ids.csv', line: 7, column: 1, field: 'id' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FedscoreError);
      const err = e as FedscoreError;
      expect(err.code).toBe('invalid_uscc');
      expect(err.file).toBe('ids.csv');
      expect(err.line).toBe(7);
      expect(err.field).toBe('id');
      expect(err.details?.['reason']).toBe('check');
      expect(err.message).not.toContain('91440300708461136');
    }
  });

  it('splits a code into its parts', () => {
    expect(parseUscc('91440300708461136T')).toEqual({
      authority: '9',
      entityType: '1',
      region: '440300',
      organizationCode: '708461136',
      check: 'T',
    });
  });
});

describe('generateUscc', () => {
  it('generates valid codes with plausible prefixes, deterministically from the seed', () => {
    const rng = seededRng(42);
    const codes = Array.from({ length: 20_000 }, () => generateUscc(rng));
    let enterprises = 0;
    let ma = 0;
    for (const c of codes) {
      expect(validateUscc(c)).toEqual({ ok: true });
      expect(referenceValid(c)).toBe(true);
      expect(c).toMatch(/^(91|92|93|12|51|52|Y1)[0-9]{6}(MA[0-9A-Y]{6}|[0-9]{8})[0-9X][0-9A-Y]$/);
      if (c.startsWith('91')) enterprises++;
      if (c.slice(8, 10) === 'MA') ma++;
    }
    // 80% enterprises and 70% 'MA' bodies by construction; 5 sigma is below 0.02 at n = 20,000.
    expect(Math.abs(enterprises / codes.length - 0.8)).toBeLessThan(0.02);
    expect(Math.abs(ma / codes.length - 0.7)).toBeLessThan(0.02);
    const again = seededRng(42);
    expect(generateUscc(again)).toBe(codes[0]);
  });

  it('honours the region option and rejects a bad one', () => {
    const rng = seededRng(7);
    for (let i = 0; i < 100; i++) expect(generateUscc(rng, { region: '210200' }).slice(2, 8)).toBe('210200');
    expect(() => generateUscc(rng, { region: '21020' })).toThrow(FedscoreError);
  });

  it('generateUniqueUsccs returns n distinct valid codes', () => {
    // A fixed region makes collisions frequent enough to exercise the redraw (~1 pair per 50k).
    const codes = generateUniqueUsccs(seededRng(3), 50_000, { region: '370200' });
    expect(codes).toHaveLength(50_000);
    expect(new Set(codes).size).toBe(50_000);
    for (const c of codes) expect(isValidUscc(c)).toBe(true);
    expect(generateUniqueUsccs(seededRng(3), 10)).toEqual(generateUniqueUsccs(seededRng(3), 10));
    expect(() => generateUniqueUsccs(seededRng(3), -1)).toThrow(FedscoreError);
  });
});
