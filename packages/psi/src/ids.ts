/**
 * Preparing a party's ids for PSI. Two kinds of id, chosen by `idKind` (both parties must choose the
 * same; the kind is part of the hash domain, which the `hello` message carries and checks):
 *
 * - `'uscc'` (default): Unified Social Credit Codes. Normalized with core's rules (trim, full-width to
 *   ASCII, upper case, inner whitespace dropped) and validated (GB 32100 / GB 11714 check characters);
 *   an invalid code is an `invalid_uscc` error.
 * - `'opaque'`: any other identifier (row numbers, customer numbers, e-mail addresses, names in any
 *   script). Trimmed (JavaScript `trim`: Unicode white space, including U+3000 and U+FEFF), put in
 *   Unicode NFC (canonically equivalent spellings are one id), and, only with `caseFold: true`,
 *   case-folded (`toUpperCase().toLowerCase()`, Unicode's locale-independent default mappings, which
 *   agree with full case folding for nearly all text: 'Straße' = 'STRASSE'). Nothing else: '007' and
 *   '7' stay different. Accepted: any non-empty, well-formed string (no lone UTF-16 surrogates, which
 *   UTF-8 cannot carry) of at most `OPAQUE_ID_MAX_BYTES` UTF-8 bytes after normalization; anything
 *   else is an `invalid_id` error.
 *
 * Invalid ids are an error naming the file, line and column, or -- with `invalid: 'skip'` -- skipped
 * and counted. Duplicates (after normalization, so ' 91310000mA1k5e2x3b ' duplicates
 * '91310000MA1K5E2X3B') are always dropped and reported: sending one id twice would show the peer two
 * equal blinded points, i.e. reveal the duplicate structure of the set. Distinct ids are packed as UTF-8
 * into one byte buffer for the blinding workers. Reports carry line numbers and counts, never the ids
 * themselves (an id list can be confidential and reports reach logs).
 */
import { FedscoreError, normalizeUscc, type UsccInvalidReason, validateUscc } from '@fedscore/core';
import { PSI_HASH_DOMAIN_PREFIX } from './ristretto.ts';

/** What the ids are: Unified Social Credit Codes, or identifiers of any other form. */
export type PsiIdKind = 'uscc' | 'opaque';
export const PSI_ID_KINDS: readonly PsiIdKind[] = ['uscc', 'opaque'];
/** A kind, or 'auto': decided by each party from its own ids (`resolveIdKind`). */
export type PsiIdKindChoice = PsiIdKind | 'auto';
export const PSI_ID_KIND_CHOICES: readonly PsiIdKindChoice[] = ['uscc', 'opaque', 'auto'];

/**
 * Longest opaque id, in UTF-8 bytes after normalization. Generous for e-mail addresses (254), URLs and
 * composite keys, and well inside the hashing scratch area (4096 bytes with the domain tag).
 */
export const OPAQUE_ID_MAX_BYTES = 1024;

/**
 * The hash-to-group domain tag of a kind: `fedscore/psi/ristretto255-sha512/v2/id=uscc`, `.../id=opaque`
 * or `.../id=opaque+casefold`. Every id is hashed under its kind's tag, so equal strings prepared as
 * different kinds never give equal points, and a peer that prepared its ids otherwise is refused at the
 * `hello` (whose `hashDomain` is this tag).
 */
export function psiHashDomain(idKind: PsiIdKind, caseFold = false): string {
  return `${PSI_HASH_DOMAIN_PREFIX}/id=${idKind}${idKind === 'opaque' && caseFold ? '+casefold' : ''}`;
}

/** The kind and case folding a domain tag names, or undefined for a tag this build does not speak. */
export function parsePsiHashDomain(domain: string): { idKind: PsiIdKind; caseFold: boolean } | undefined {
  for (const idKind of PSI_ID_KINDS) {
    if (domain === psiHashDomain(idKind, false)) return { idKind, caseFold: false };
    if (idKind === 'opaque' && domain === psiHashDomain(idKind, true)) return { idKind, caseFold: true };
  }
  return undefined;
}

/** Ids as UTF-8 bytes back to back; id i is `bytes[offsets[i]..offsets[i+1])`. */
export interface PackedIds {
  readonly bytes: Uint8Array;
  /** count + 1 entries. */
  readonly offsets: Uint32Array;
}

export interface PrepareIdsOptions {
  /** 'uscc' (default) or 'opaque' (see the file comment). Both parties must use the same. */
  readonly idKind?: PsiIdKind;
  /** Opaque ids only: fold case (default false). Both parties must use the same. */
  readonly caseFold?: boolean;
  /** What to do with an invalid id: throw (default) or skip and count it. */
  readonly invalid?: 'error' | 'skip';
  /** USCC ids only: check the GB 11714 organization-code character too (default true; core's uscc.ts). */
  readonly orgCheck?: boolean;
  /** Source file, for error locations. */
  readonly file?: string;
  /** The id column's name, for error locations (default 'id'). */
  readonly field?: string;
  /** The id column's 1-based index, for error locations. */
  readonly column?: number;
  /** 1-based line of input row `row` (default: row + 1; a CSV with a header: row + 2). */
  readonly lineOf?: (row: number) => number;
  /** Line numbers kept per report list (default 10). */
  readonly maxExamples?: number;
}

/** Why an opaque id was refused. */
export type OpaqueIdInvalidReason =
  /** not a string */
  | 'not_string'
  /** empty after trimming */
  | 'empty'
  /** longer than OPAQUE_ID_MAX_BYTES in UTF-8 */
  | 'too_long'
  /** holds a lone UTF-16 surrogate (not well-formed Unicode) */
  | 'ill_formed';

export type IdInvalidReason = UsccInvalidReason | OpaqueIdInvalidReason;

export interface InvalidIdExample {
  readonly line: number;
  readonly reason: IdInvalidReason;
}

export interface DuplicateIdExample {
  readonly line: number;
  /** The line of the first occurrence, which is the one kept. */
  readonly firstLine: number;
}

/** What preparation did to the input (counts and line numbers only). */
export interface IdSetReport {
  /** Input rows. */
  readonly rows: number;
  /** Distinct valid ids: what enters the protocol. */
  readonly distinct: number;
  readonly invalid: { readonly count: number; readonly examples: readonly InvalidIdExample[] };
  readonly duplicates: { readonly count: number; readonly examples: readonly DuplicateIdExample[] };
}

/** A party's distinct normalized ids, packed, with the input row of each. */
export interface PreparedIds {
  readonly idKind: PsiIdKind;
  /** Opaque ids were case-folded (always false for USCCs). */
  readonly caseFold: boolean;
  /** The hash-to-group domain tag of these ids (`psiHashDomain(idKind, caseFold)`). */
  readonly hashDomain: string;
  readonly count: number;
  readonly packed: PackedIds;
  /** `rows[i]` is the 0-based input row of distinct id i (its first occurrence). */
  readonly rows: Uint32Array;
  readonly report: IdSetReport;
}

/** The normal form of an opaque id (see the file comment). No validation. */
export function normalizeOpaqueId(raw: string, caseFold = false): string {
  const s = raw.trim().normalize('NFC');
  return caseFold ? s.toUpperCase().toLowerCase().normalize('NFC') : s;
}

const LONE_SURROGATE = /\p{Surrogate}/u;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 length of a well-formed string, without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else n += 3;
  }
  return n;
}

/** Normalize and validate one opaque id: its normal form and UTF-8 length, or why it is refused. */
function checkOpaque(
  raw: unknown,
  caseFold: boolean,
): { ok: true; id: string; byteLength: number } | { ok: false; reason: OpaqueIdInvalidReason } {
  if (typeof raw !== 'string') return { ok: false, reason: 'not_string' };
  if (LONE_SURROGATE.test(raw)) return { ok: false, reason: 'ill_formed' };
  const id = normalizeOpaqueId(raw, caseFold);
  if (id.length === 0) return { ok: false, reason: 'empty' };
  const byteLength = utf8Length(id);
  if (byteLength > OPAQUE_ID_MAX_BYTES) return { ok: false, reason: 'too_long' };
  return { ok: true, id, byteLength };
}

/** How a party's kind was decided (counts and a row number only, never an id). */
export interface IdKindDecision {
  readonly idKind: PsiIdKind;
  readonly requested: PsiIdKindChoice;
  /** 'auto' only: ids that are valid USCCs after normalization, and non-blank ids looked at. */
  readonly validUscc?: number;
  readonly nonBlank?: number;
  /** 'auto' only: 0-based row of the first non-blank id that is not a valid USCC. */
  readonly firstNonUsccRow?: number;
}

/**
 * The kind a party uses for 'auto': 'uscc' when more than half of its non-blank ids are valid USCCs
 * after normalization (a list with none counts as USCCs), else 'opaque'. A majority rather than "every
 * id": a USCC file with a few typos stays 'uscc', so its bad rows are `invalid_uscc` errors naming their
 * lines (or skipped) instead of silently switching the whole file to exact-string matching; a file of
 * row numbers, account numbers or e-mail addresses has no valid USCC at all (18 characters and two check
 * characters; an 18-digit personal id number validates by chance ~0.3% of the time).
 *
 * Each party decides from its own ids only -- nothing about the peer's ids is consulted, so 'auto'
 * leaks nothing beyond the kind the hello announces anyway -- and the `hello` then refuses a peer that
 * decided otherwise (`psi_mismatch`, field 'idKind').
 */
export function resolveIdKind(
  ids: readonly string[],
  requested: PsiIdKindChoice = 'auto',
  options: { readonly orgCheck?: boolean } = {},
): IdKindDecision {
  if (requested === 'uscc' || requested === 'opaque') return { idKind: requested, requested };
  if (requested !== 'auto') {
    throw new FedscoreError(
      'invalid_argument',
      `idKind must be one of ${PSI_ID_KIND_CHOICES.join(', ')}, got '${String(requested)}'`,
      { field: 'idKind' },
    );
  }
  const validate = { orgCheck: options.orgCheck ?? true };
  let validUscc = 0;
  let nonBlank = 0;
  let firstNonUsccRow: number | undefined;
  for (let row = 0; row < ids.length; row++) {
    const raw = ids[row];
    if (typeof raw === 'string' && raw.trim().length === 0) continue;
    nonBlank++;
    if (typeof raw === 'string' && validateUscc(normalizeUscc(raw), validate).ok) validUscc++;
    else firstNonUsccRow ??= row;
  }
  return {
    idKind: 2 * validUscc > nonBlank || nonBlank === 0 ? 'uscc' : 'opaque',
    requested,
    validUscc,
    nonBlank,
    ...(firstNonUsccRow !== undefined && { firstNonUsccRow }),
  };
}

function checkKindOptions(options: PrepareIdsOptions): { idKind: PsiIdKind; caseFold: boolean } {
  const idKind = options.idKind ?? 'uscc';
  if (!PSI_ID_KINDS.includes(idKind)) {
    throw new FedscoreError(
      'invalid_argument',
      `idKind must be one of ${PSI_ID_KINDS.join(', ')}, got '${String(idKind)}' (resolve 'auto' with resolveIdKind first)`,
      { field: 'idKind' },
    );
  }
  const caseFold = options.caseFold ?? false;
  if (typeof caseFold !== 'boolean') {
    throw new FedscoreError('invalid_argument', 'caseFold must be a boolean', { field: 'caseFold' });
  }
  if (caseFold && idKind !== 'opaque') {
    throw new FedscoreError(
      'invalid_argument',
      'caseFold applies to opaque ids only (USCCs are always upper-cased)',
      { field: 'caseFold' },
    );
  }
  if (options.orgCheck !== undefined && idKind !== 'uscc') {
    throw new FedscoreError('invalid_argument', 'orgCheck applies to USCC ids only', { field: 'orgCheck' });
  }
  return { idKind, caseFold };
}

/** Normalize, validate, de-duplicate and pack. */
export function prepareIds(ids: readonly string[], options: PrepareIdsOptions = {}): PreparedIds {
  if (!Array.isArray(ids)) {
    throw new FedscoreError('invalid_argument', 'ids must be an array of strings', { field: 'ids' });
  }
  const mode = options.invalid ?? 'error';
  if (mode !== 'error' && mode !== 'skip') {
    throw new FedscoreError('invalid_argument', `invalid must be 'error' or 'skip', got '${String(mode)}'`, {
      field: 'invalid',
    });
  }
  const { idKind, caseFold } = checkKindOptions(options);
  const lineOf = options.lineOf ?? ((row: number) => row + 1);
  const maxExamples = options.maxExamples ?? 10;
  const field = options.field ?? 'id';
  const validateOptions = { orgCheck: options.orgCheck ?? true };
  const where = (row: number) => ({
    field,
    line: lineOf(row),
    ...(options.file !== undefined && { file: options.file }),
    ...(options.column !== undefined && { column: options.column }),
  });

  const firstRow = new Map<string, number>();
  const rows: number[] = [];
  const kept: string[] = [];
  let byteLength = 0;
  let invalidCount = 0;
  let duplicateCount = 0;
  const invalidExamples: InvalidIdExample[] = [];
  const duplicateExamples: DuplicateIdExample[] = [];

  for (let row = 0; row < ids.length; row++) {
    const raw = ids[row];
    let code: string;
    let length = 0;
    let reason: IdInvalidReason | undefined;
    let position: number | undefined;
    if (idKind === 'uscc') {
      code = typeof raw === 'string' ? normalizeUscc(raw) : '';
      const v = validateUscc(code, validateOptions);
      if (!v.ok) {
        reason = v.reason;
        position = v.position;
      }
      length = code.length; // validated USCCs are ASCII: one byte per character
    } else {
      const o = checkOpaque(raw, caseFold);
      if (o.ok) {
        code = o.id;
        length = o.byteLength;
      } else {
        code = '';
        reason = o.reason;
      }
    }
    if (reason !== undefined) {
      if (mode === 'error') {
        const hint = "pass invalid: 'skip' (CLI: --skip-invalid) to skip and count such rows";
        throw idKind === 'uscc'
          ? new FedscoreError(
              'invalid_uscc',
              `invalid Unified Social Credit Code (${reason}${position !== undefined ? ` at position ${position}` : ''}); ${hint}, or idKind 'opaque' (CLI: --id-kind opaque) if the ids are not USCCs`,
              { ...where(row), details: { reason, row } },
            )
          : new FedscoreError(
              'invalid_id',
              `invalid id (${reason}${reason === 'too_long' ? `: over ${OPAQUE_ID_MAX_BYTES} UTF-8 bytes` : ''}); ${hint}`,
              { ...where(row), details: { reason, row } },
            );
      }
      invalidCount++;
      if (invalidExamples.length < maxExamples) invalidExamples.push({ line: lineOf(row), reason });
      continue;
    }
    const first = firstRow.get(code);
    if (first !== undefined) {
      duplicateCount++;
      if (duplicateExamples.length < maxExamples) {
        duplicateExamples.push({ line: lineOf(row), firstLine: lineOf(first) });
      }
      continue;
    }
    firstRow.set(code, row);
    rows.push(row);
    kept.push(code);
    byteLength += length;
  }

  const packedBytes = new Uint8Array(byteLength);
  const offsets = new Uint32Array(kept.length + 1);
  let at = 0;
  for (let i = 0; i < kept.length; i++) {
    const code = kept[i]!;
    if (idKind === 'uscc') {
      for (let j = 0; j < code.length; j++) packedBytes[at + j] = code.charCodeAt(j);
      at += code.length;
    } else {
      at += utf8.encodeInto(code, packedBytes.subarray(at)).written;
    }
    offsets[i + 1] = at;
  }
  if (at !== byteLength) throw new FedscoreError('internal', 'packed id bytes differ from their count');
  return {
    idKind,
    caseFold,
    hashDomain: psiHashDomain(idKind, caseFold),
    count: kept.length,
    packed: { bytes: packedBytes, offsets },
    rows: Uint32Array.from(rows),
    report: {
      rows: ids.length,
      distinct: kept.length,
      invalid: { count: invalidCount, examples: invalidExamples },
      duplicates: { count: duplicateCount, examples: duplicateExamples },
    },
  };
}

/** The normalized id at index `i` of a packed set. */
export function idAt(packed: PackedIds, i: number): string {
  const start = packed.offsets[i]!;
  const end = packed.offsets[i + 1]!;
  let ascii = true;
  for (let k = start; k < end; k++) {
    if (packed.bytes[k]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return utf8Decoder.decode(packed.bytes.subarray(start, end));
  let s = '';
  for (let k = start; k < end; k++) s += String.fromCharCode(packed.bytes[k]!);
  return s;
}

/** The ids at `indices`, packed in that order. */
export function selectPacked(packed: PackedIds, indices: ArrayLike<number>): PackedIds {
  let total = 0;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    total += packed.offsets[i + 1]! - packed.offsets[i]!;
  }
  const bytes = new Uint8Array(total);
  const offsets = new Uint32Array(indices.length + 1);
  let at = 0;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    const start = packed.offsets[i]!;
    const end = packed.offsets[i + 1]!;
    bytes.set(packed.bytes.subarray(start, end), at);
    at += end - start;
    offsets[k + 1] = at;
  }
  return { bytes, offsets };
}
