/**
 * Unified Social Credit Code (USCC), GB 32100-2015: the 18-character identifier of every Chinese legal
 * entity, and the join key of every party in fedscore (PSI aligns enterprises on it).
 *
 * Layout (1-based positions):
 *   1      registration-authority code (9 = market regulation, 5 = civil affairs, 1 = staffing office, ...)
 *   2      entity type within that authority (91 = enterprise, 92 = individual business, 93 = farmers'
 *          cooperative, 51 = social organization, ...)
 *   3-8    administrative division of the registering authority, 6 digits (GB/T 2260)
 *   9-17   organization code (GB 11714): 8 body characters and its own check character at 17
 *   18     overall check character
 *
 * Alphabet: the 31 characters `0123456789ABCDEFGHJKLMNPQRTUWXY` (I, O, S, V, Z are never used); a
 * character's value is its index in that string.
 *
 * Overall check (GB 32100 §4 / GB/T 17710 "MOD 31"): with weights W_i = 3^(i-1) mod 31 for i = 1..17,
 *   C18 = 31 - (sum C_i * W_i mod 31), and 31 maps to 0.
 * Organization-code check (GB 11714): body characters take their GB 11714 values (digits 0-9, letters
 * A=10 ... Z=35, i.e. NOT their USCC index), weights 3,7,9,10,5,8,4,2,
 *   C9 = 11 - (sum mod 11), with 10 written 'X' and 11 written '0'.
 *
 * Every prime-modulus weighted sum with weights coprime to the modulus detects any single substitution
 * whose value change is not a multiple of the modulus. The MOD 31 check therefore catches every single
 * substitution in positions 1-17 (USCC values are 0..30); the MOD 11 check misses changes by 11 or 22
 * (e.g. '1' -> 'C') but those are caught by the overall check.
 *
 * Verified against codes published in public company registries (see test/uscc.test.ts). Some codes
 * really issued in a few provinces fail one of the checks; `validateUscc(code, { orgCheck: false })`
 * accepts codes whose organization-code part does not satisfy GB 11714.
 */
import type { ErrorLocation } from './errors.ts';
import { FedscoreError } from './errors.ts';
import type { Rng } from './rng.ts';
import { uniformInt } from './rng.ts';

/** The 31-character USCC alphabet; a character's value is its index. */
export const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
export const USCC_LENGTH = 18;

const OVERALL_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;
const ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2] as const;

/** charCode -> USCC value, -1 outside the alphabet. */
const USCC_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < USCC_ALPHABET.length; i++) USCC_VALUE[USCC_ALPHABET.charCodeAt(i)] = i;
const ALPHABET_CODES = Uint8Array.from(USCC_ALPHABET, (c) => c.charCodeAt(0));

export type UsccInvalidReason =
  /** not exactly 18 characters */
  | 'length'
  /** a character outside the 31-character alphabet (e.g. I, O, S, V, Z, lower case, punctuation) */
  | 'charset'
  /** positions 3-8 are not six digits */
  | 'region'
  /** the GB 11714 organization-code check character (position 17) is wrong */
  | 'org_check'
  /** the overall check character (position 18) is wrong */
  | 'check';

export type UsccValidation = { ok: true } | { ok: false; reason: UsccInvalidReason; position?: number };

export interface UsccValidateOptions {
  /** Check the GB 11714 organization-code character at position 17 (default true). */
  readonly orgCheck?: boolean;
}

/**
 * Trim, map full-width forms (U+FF01-U+FF5E, ideographic space U+3000) to ASCII, upper-case, and drop
 * whitespace inside the code (codes are often printed in groups). No validation.
 */
export function normalizeUscc(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    let c = raw.charCodeAt(i);
    if (c >= 0xff01 && c <= 0xff5e) c -= 0xfee0;
    else if (c === 0x3000) c = 0x20;
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xa0 || c === 0xfeff) continue;
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    out += String.fromCharCode(c);
  }
  return out;
}

/** GB 11714 value of an organization-code body character: digits 0-9, letters A=10 ... Z=35. */
function orgValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 55;
}

/** The GB 11714 check character for the 8 body characters at `code[offset..offset+8)`. */
function orgCheckChar(codes: ArrayLike<number>, offset: number): number {
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += orgValue(codes[offset + i]!) * ORG_WEIGHTS[i]!;
  const c = 11 - (sum % 11);
  return c === 10 ? 0x58 /* X */ : c === 11 ? 0x30 : 0x30 + c;
}

/** The overall check character for the first 17 characters. */
function overallCheckChar(codes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_VALUE[codes[i]!]! * OVERALL_WEIGHTS[i]!;
  const c = 31 - (sum % 31);
  return ALPHABET_CODES[c === 31 ? 0 : c]!;
}

/**
 * Validate an already-normalized code (call `normalizeUscc` first for user input). Checks, in order:
 * length, alphabet, six-digit region, organization-code check (unless `orgCheck: false`), overall check.
 */
export function validateUscc(code: string, options: UsccValidateOptions = {}): UsccValidation {
  if (code.length !== USCC_LENGTH) return { ok: false, reason: 'length' };
  const codes = new Array<number>(USCC_LENGTH);
  for (let i = 0; i < USCC_LENGTH; i++) {
    const c = code.charCodeAt(i);
    if (c >= 128 || USCC_VALUE[c] === -1) return { ok: false, reason: 'charset', position: i + 1 };
    codes[i] = c;
  }
  for (let i = 2; i < 8; i++) {
    const c = codes[i]!;
    if (c < 0x30 || c > 0x39) return { ok: false, reason: 'region', position: i + 1 };
  }
  if (options.orgCheck !== false && orgCheckChar(codes, 8) !== codes[16]) {
    return { ok: false, reason: 'org_check', position: 17 };
  }
  if (overallCheckChar(codes) !== codes[17]) return { ok: false, reason: 'check', position: 18 };
  return { ok: true };
}

export function isValidUscc(code: string, options?: UsccValidateOptions): boolean {
  return validateUscc(code, options).ok;
}

const REASON_TEXT: Record<UsccInvalidReason, string> = {
  length: `must have ${USCC_LENGTH} characters`,
  charset: `has a character outside ${USCC_ALPHABET}`,
  region: 'positions 3-8 (administrative division) must be digits',
  org_check: 'wrong organization-code check character (position 17, GB 11714)',
  check: 'wrong check character (position 18, GB 32100)',
};

/**
 * Normalize and validate; return the normalized code or throw FedscoreError('invalid_uscc') at `where`
 * (the code itself is not echoed: an id list can be confidential).
 */
export function assertUscc(raw: string, where: ErrorLocation = {}, options?: UsccValidateOptions): string {
  const code = normalizeUscc(raw);
  const v = validateUscc(code, options);
  if (!v.ok) {
    throw new FedscoreError('invalid_uscc', `invalid Unified Social Credit Code: ${REASON_TEXT[v.reason]}`, {
      field: where.field ?? 'uscc',
      ...(where.file !== undefined && { file: where.file }),
      ...(where.line !== undefined && { line: where.line }),
      ...(where.column !== undefined && { column: where.column }),
      details: {
        reason: v.reason,
        length: code.length,
        ...(v.position !== undefined && { position: v.position }),
      },
    });
  }
  return code;
}

/** The parts of a code (no validation beyond length). */
export interface UsccParts {
  readonly authority: string;
  readonly entityType: string;
  readonly region: string;
  readonly organizationCode: string;
  readonly check: string;
}

export function parseUscc(code: string): UsccParts {
  if (code.length !== USCC_LENGTH) {
    throw new FedscoreError('invalid_uscc', REASON_TEXT.length, {
      field: 'uscc',
      details: { reason: 'length' },
    });
  }
  return {
    authority: code.slice(0, 1),
    entityType: code.slice(1, 2),
    region: code.slice(2, 8),
    organizationCode: code.slice(8, 17),
    check: code.slice(17),
  };
}

// ---------------------------------------------------------------------------------------------------
// Generation

/**
 * Authority+type prefixes with relative frequencies roughly like a small-business loan population
 * (mostly enterprises, some individual businesses and cooperatives, a few other registrants).
 */
const PREFIXES: readonly (readonly [string, number])[] = [
  ['91', 80], // enterprise (market regulation)
  ['92', 12], // individual business
  ['93', 4], // farmers' specialized cooperative
  ['12', 1], // public institution (staffing office)
  ['51', 1], // social organization (civil affairs)
  ['52', 1], // private non-enterprise unit (civil affairs)
  ['Y1', 1], // other registration authorities
];

/**
 * GB/T 2260 administrative-division codes of registration authorities: municipalities, the cities of the
 * credit platforms named in DOMAIN.md (Shanghai, Dalian, Qingdao) and other large commercial centres,
 * with some of their districts.
 */
// biome-ignore format: a table reads better on few lines
export const USCC_REGIONS: readonly string[] = [
  '110000', '110105', '110108', '120000', '120116', '310000', '310104', '310115', '310117', '320500',
  '320583', '330100', '330106', '330108', '340100', '350200', '370200', '370212', '370211', '420100',
  '440100', '440106', '440300', '440305', '440306', '500000', '500112', '510100', '510107', '210200',
  '210211', '210213', '610100', '430100',
];

const PREFIX_TOTAL = PREFIXES.reduce((s, [, w]) => s + w, 0);
const PREFIX_CODES = PREFIXES.map(([p]) => [p.charCodeAt(0), p.charCodeAt(1)] as const);
const PREFIX_CUMULATIVE = (() => {
  const out: number[] = [];
  let acc = 0;
  for (const [, w] of PREFIXES) {
    acc += w;
    out.push(acc);
  }
  return out;
})();
const REGION_CODES = USCC_REGIONS.map((r) => Array.from(r, (c) => c.charCodeAt(0)));

/** Share of generated codes whose organization code is a post-2015 "MA" + 6 characters body. */
const MA_SHARE_PER_MILLE = 700;
const POW31_6 = 31 ** 6; // 887,503,681 < 2^32

export interface GenerateUsccOptions {
  /** A 6-digit administrative-division code; default: drawn from `USCC_REGIONS`. */
  readonly region?: string;
}

/**
 * A random valid code with a plausible authority/type prefix, region, and organization code: 70% of
 * bodies are the post-2015 form 'MA' + 6 alphabet characters (31^6 = 8.9e8), 30% the legacy 8-digit
 * form (1e8); check characters are computed, so every code validates.
 *
 * Collision space: two independent draws coincide with probability
 *   sum p(prefix)^2 x sum p(region)^2 x (0.7^2 / 31^6 + 0.3^2 / 1e8) = 0.656 x (1/34) x 1.45e-9 = 2.8e-11
 * with the default tables, so among n codes about n^2/2 x 2.8e-11 pairs collide: ~14 at n = 1M; with a
 * fixed `region` ~0.95e-9 per pair, ~480 at 1M. Use `generateUniqueUsccs` whenever ids must be unique.
 */
export function generateUscc(rng: Rng, options: GenerateUsccOptions = {}): string {
  const regionCodes = options.region === undefined ? undefined : regionCharCodes(options.region);
  return generateWith(rng, regionCodes, new Uint8Array(USCC_LENGTH));
}

function regionCharCodes(region: string): number[] {
  if (!/^[0-9]{6}$/.test(region)) {
    throw new FedscoreError('invalid_argument', 'region must be a 6-digit administrative-division code', {
      field: 'region',
    });
  }
  return Array.from(region, (c) => c.charCodeAt(0));
}

function generateWith(rng: Rng, regionCodes: number[] | undefined, buf: Uint8Array): string {
  // prefix
  const p = uniformInt(rng, PREFIX_TOTAL);
  let k = 0;
  while (p >= PREFIX_CUMULATIVE[k]!) k++;
  const prefix = PREFIX_CODES[k]!;
  buf[0] = prefix[0];
  buf[1] = prefix[1];
  // region
  const region = regionCodes ?? REGION_CODES[uniformInt(rng, REGION_CODES.length)]!;
  for (let i = 0; i < 6; i++) buf[2 + i] = region[i]!;
  // organization-code body
  if (uniformInt(rng, 1000) < MA_SHARE_PER_MILLE) {
    buf[8] = 0x4d; // M
    buf[9] = 0x41; // A
    let x = uniformInt(rng, POW31_6);
    for (let i = 15; i >= 10; i--) {
      buf[i] = ALPHABET_CODES[x % 31]!;
      x = Math.floor(x / 31);
    }
  } else {
    let x = uniformInt(rng, 100_000_000);
    for (let i = 15; i >= 8; i--) {
      buf[i] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    }
  }
  buf[16] = orgCheckChar(buf, 8);
  buf[17] = overallCheckChar(buf);
  // Explicit arguments: several times faster than spreading the array.
  const b = buf;
  // biome-ignore format: keep the 18 arguments compact
  return String.fromCharCode(
    b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!, b[8]!,
    b[9]!, b[10]!, b[11]!, b[12]!, b[13]!, b[14]!, b[15]!, b[16]!, b[17]!,
  );
}

/**
 * `n` distinct valid codes (duplicates are redrawn, so the result is exactly `n` long and its order
 * depends only on `rng`). Memory: one Set of n strings.
 */
export function generateUniqueUsccs(rng: Rng, n: number, options: GenerateUsccOptions = {}): string[] {
  if (!Number.isInteger(n) || n < 0) {
    throw new FedscoreError('invalid_argument', `n must be a non-negative integer, got ${n}`, { field: 'n' });
  }
  const regionCodes = options.region === undefined ? undefined : regionCharCodes(options.region);
  // ~9.9e8 codes per (prefix, region); refuse requests that would make redrawing degenerate.
  const capacity = regionCodes === undefined ? 1e9 * PREFIXES.length * REGION_CODES.length : 1e9;
  if (n > capacity / 10) {
    throw new FedscoreError('out_of_range', `n = ${n} is too large for the generator's code space`, {
      field: 'n',
    });
  }
  const seen = new Set<string>();
  const out: string[] = [];
  const buf = new Uint8Array(USCC_LENGTH);
  while (out.length < n) {
    const code = generateWith(rng, regionCodes, buf);
    if (!seen.has(code)) {
      seen.add(code);
      out.push(code);
    }
  }
  return out;
}
