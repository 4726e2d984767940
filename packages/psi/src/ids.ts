/**
 * Preparing a party's enterprise ids for PSI: normalize each USCC (packages/core: trim, full-width to
 * ASCII, upper case, inner whitespace dropped), validate it (GB 32100 check characters), drop duplicates,
 * and pack the distinct ids into one byte buffer (18 ASCII bytes each) for the blinding workers.
 *
 * Invalid ids are a `invalid_uscc` error naming the file, line and column, or -- with `invalid: 'skip'` --
 * skipped and counted. Duplicates (after normalization, so ' 91310000mA1k5e2x3b ' duplicates
 * '91310000MA1K5E2X3B') are always dropped and reported: sending one id twice would show the peer two
 * equal blinded points, i.e. reveal the duplicate structure of the set. Reports carry line numbers and
 * counts, never the ids themselves (an id list can be confidential and reports reach logs).
 */
import { FedscoreError, normalizeUscc, type UsccInvalidReason, validateUscc } from '@fedscore/core';

/** Ids as UTF-8 bytes back to back; id i is `bytes[offsets[i]..offsets[i+1])`. */
export interface PackedIds {
  readonly bytes: Uint8Array;
  /** count + 1 entries. */
  readonly offsets: Uint32Array;
}

export interface PrepareIdsOptions {
  /** What to do with an invalid USCC: throw (default) or skip and count it. */
  readonly invalid?: 'error' | 'skip';
  /** Check the GB 11714 organization-code character too (default true; see core's uscc.ts). */
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

export interface InvalidIdExample {
  readonly line: number;
  readonly reason: UsccInvalidReason;
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
  readonly count: number;
  readonly packed: PackedIds;
  /** `rows[i]` is the 0-based input row of distinct id i (its first occurrence). */
  readonly rows: Uint32Array;
  readonly report: IdSetReport;
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
  const lineOf = options.lineOf ?? ((row: number) => row + 1);
  const maxExamples = options.maxExamples ?? 10;
  const field = options.field ?? 'id';
  const validateOptions = { orgCheck: options.orgCheck ?? true };

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
    const code = typeof raw === 'string' ? normalizeUscc(raw) : '';
    const v = validateUscc(code, validateOptions);
    if (!v.ok) {
      if (mode === 'error') {
        throw new FedscoreError(
          'invalid_uscc',
          `invalid Unified Social Credit Code (${v.reason}${v.position !== undefined ? ` at position ${v.position}` : ''}); pass invalid: 'skip' (CLI: --skip-invalid) to skip and count such rows`,
          {
            field,
            line: lineOf(row),
            ...(options.file !== undefined && { file: options.file }),
            ...(options.column !== undefined && { column: options.column }),
            details: { reason: v.reason, row },
          },
        );
      }
      invalidCount++;
      if (invalidExamples.length < maxExamples) invalidExamples.push({ line: lineOf(row), reason: v.reason });
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
    byteLength += code.length; // validated USCCs are ASCII: one byte per character
  }

  const bytes = new Uint8Array(byteLength);
  const offsets = new Uint32Array(kept.length + 1);
  let at = 0;
  for (let i = 0; i < kept.length; i++) {
    const code = kept[i]!;
    for (let j = 0; j < code.length; j++) bytes[at + j] = code.charCodeAt(j);
    at += code.length;
    offsets[i + 1] = at;
  }
  return {
    count: kept.length,
    packed: { bytes, offsets },
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
