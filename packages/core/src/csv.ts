/**
 * Streaming CSV reader into a columnar `Table`. Pure: no file system here (core also runs in browsers);
 * `@fedscore/core/node` wraps it with `readCsvFile`.
 *
 * Format (RFC 4180 and what real exports do):
 * - fields separated by `delimiter` (default ','), records by LF, CRLF or a lone CR; a UTF-8 BOM is
 *   skipped; completely empty lines are skipped;
 * - a field starting with '"' is quoted: it may contain delimiters, line breaks and '""' for a quote, and
 *   is taken verbatim; an unquoted field has its surrounding spaces and tabs trimmed (a '"' inside it is
 *   taken literally);
 * - line numbers are 1-based physical lines, the header is line 1; a record spanning lines (a quoted line
 *   break) is reported at the line it starts on; columns are 1-based field indices plus the header name.
 *
 * Memory: the reader holds one input chunk plus the incomplete record carried over from the previous one,
 * never the whole text. Columns grow geometrically (capacity doubles, trimmed at the end). Ids are kept
 * as strings with, for duplicate detection, one Map entry per row.
 *
 * Role 'infer' (the default): a column is numeric if every present value is a number, categorical if
 * most of its present values (more than half) are not numbers, and otherwise an error: one bad cell
 * ('Inf', '1e309', a stray word, a NUL, a quoted line break) in an otherwise numeric column is a
 * `csv_schema` error naming the file, the line and the column of the first such cell, never a silent
 * switch to categories (a model would one-hot encode the column and overfit on it). Which columns were
 * inferred categorical is in `CsvParseResult.inferredCategorical`, for the caller to tell the user;
 * declaring the role ('categorical' or 'numeric' in `roles`) settles it. An inferred column is parsed as
 * numbers and, until it has shown `INFER_DICTIONARY_LIMIT` distinct numbers, also dictionary-encoded
 * (4 bytes a row plus the first spelling of each distinct number) so that it can be returned as
 * categories without re-reading the input; numbers that are equal but spelled differently ('1', '1.0')
 * share the category of the first spelling. Past the limit with no non-numeric value yet, the column is
 * numeric only, and a later non-numeric value is a `csv_schema` error naming its cell.
 *
 * Text must be UTF-8: a byte sequence that is not (anywhere: ids, categories, ignored columns, the
 * header) is a `csv_parse` error naming the line and column, never replaced by U+FFFD (distinct raw ids
 * would collapse into one, or match another party's id in PSI).
 *
 * Labels: the label column must hold 0/1 (any numeric spelling equal to 0 or 1, e.g. '1.0'), or
 * true/false, yes/no in any letter case. Anything else is a `csv_schema` error; a missing label is a
 * `missing_value` error; both name file, line and column.
 *
 * Numbers are parsed from the bytes without creating strings: decimal literals with optional sign,
 * fraction and exponent; up to 15 significant digits and |exponent| <= 22 use exact double arithmetic
 * (Clinger's fast path, "How to read floating point numbers accurately", PLDI 1990), which rounds
 * correctly; longer literals go through `Number()`. Results equal `Number(text)` bit for bit, except
 * that literals overflowing to Infinity are rejected. Hex, 'Infinity', thousands separators and quoted
 * numbers with surrounding spaces are not numbers.
 */
import { z } from 'zod';
import type { ErrorLocation } from './errors.ts';
import { FedscoreError } from './errors.ts';
import type { ProgressCallback } from './logger.ts';
import type {
  CategoricalColumn,
  Column,
  ColumnRole,
  Imputation,
  ImputeSpec,
  NumericColumn,
  Table,
} from './table.ts';
import { imputeColumns } from './table.ts';
import { assertUscc } from './uscc.ts';

export const DEFAULT_MISSING_TOKENS: readonly string[] = ['', 'NA', 'NaN', 'null', 'NULL', 'nan', 'N/A'];

/** Distinct values an inferred column may show while still numeric before its dictionary is dropped. */
export const INFER_DICTIONARY_LIMIT = 4096;

const imputePolicySchema = z.union([
  z.enum(['keep', 'mean', 'median', 'mode', 'zero', 'error']),
  z.strictObject({ constant: z.union([z.number().finite(), z.string()]) }),
]);

const csvReadOptionsSchema = z.strictObject({
  /** Header name of the id column. Default: the column named 'id' when there is one, else row numbers. */
  idColumn: z.string().min(1).optional(),
  /** Header name of the label column (0/1). Default: no label. */
  labelColumn: z.string().min(1).optional(),
  /** Role per header name; overrides `defaultRole`. */
  roles: z.record(z.string(), z.enum(['id', 'label', 'numeric', 'categorical', 'ignored'])).optional(),
  /** Role of every other column. Default 'infer'. */
  defaultRole: z.enum(['numeric', 'categorical', 'ignored', 'infer']).optional(),
  /** Field texts that mean "missing" (compared after trimming unquoted fields). */
  missingTokens: z.array(z.string()).optional(),
  /** Imputation after reading: one policy, or per column with an optional '*' default. Default 'keep'. */
  impute: z.union([imputePolicySchema, z.record(z.string(), imputePolicySchema)]).optional(),
  /** What a repeated id does: 'error' (default), 'keep-first' (later rows dropped), 'report' (kept). */
  duplicateIds: z.enum(['error', 'keep-first', 'report']).optional(),
  /** 'uscc': normalize every id and check it as a Unified Social Credit Code. Default 'none'. */
  idFormat: z.enum(['none', 'uscc']).optional(),
  /** Single-character field separator. Default ','. */
  delimiter: z
    .string()
    .length(1)
    .refine((d) => d !== '"' && d !== '\n' && d !== '\r', 'the delimiter cannot be a quote or line break')
    .optional(),
  /** File name for error messages. */
  file: z.string().optional(),
  onProgress: z.custom<ProgressCallback>((v) => typeof v === 'function', 'expected a function').optional(),
  /** Stop after this many data rows. */
  maxRows: z.number().int().min(0).optional(),
});

export type CsvReadOptions = z.input<typeof csvReadOptionsSchema>;

/** Validate read options: a bad option is an `invalid_config` error naming it. */
export function parseCsvReadOptions(options: unknown): CsvReadOptions {
  const r = csvReadOptionsSchema.safeParse(options ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  let field = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') field = issue.keys.join(',');
  throw new FedscoreError('invalid_config', `CSV read option: ${issue.message}`, {
    field: field === '' ? 'options' : field,
  });
}

export interface DuplicateId {
  readonly id: string;
  /** Every line the id occurs on, the first one first. */
  readonly lines: number[];
}

export interface CsvParseResult {
  readonly table: Table;
  /** Header names in file order. */
  readonly header: string[];
  /** The role each header column was read with ('infer' resolved). */
  readonly roles: Record<string, ColumnRole>;
  /** Data records read (including dropped duplicates). */
  readonly rowsRead: number;
  /** Bytes of input consumed. */
  readonly bytes: number;
  /** The file line (1-based, header = 1) each kept row starts on, in table row order. */
  readonly lines: Int32Array;
  /** Columns whose role was inferred as categorical (most values not numbers), for a notice. */
  readonly inferredCategorical: InferredCategorical[];
  /** Repeated ids ('keep-first' and 'report'; empty otherwise). */
  readonly duplicateIds: DuplicateId[];
  /** The fitted imputation (apply it to scoring data with `applyImputation`). */
  readonly imputation: Imputation;
  /** Values filled per column. */
  readonly filled: Readonly<Record<string, number>>;
}

/** A column the reader inferred as categorical: how many of its present values are not numbers. */
export interface InferredCategorical {
  readonly column: string;
  readonly nonNumeric: number;
  readonly present: number;
}

export type CsvSource = AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array> | string;

/** Hints from a wrapper that knows more about the source than the stream does. */
export interface CsvSourceHints {
  /** Total bytes, for progress events. */
  readonly totalBytes?: number;
}

/** Parse CSV text into a Table (see the module comment for the format and the errors). */
export async function parseCsv(source: CsvSource, options: CsvReadOptions): Promise<Table> {
  return (await parseCsvDetailed(source, options)).table;
}

/** Like `parseCsv`, with what was read: roles, duplicates, fitted imputation, byte and row counts. */
export async function parseCsvDetailed(
  source: CsvSource,
  options: CsvReadOptions,
  hints: CsvSourceHints = {},
): Promise<CsvParseResult> {
  const opts = parseCsvReadOptions(options);
  const reader = new CsvRecordReader(opts);
  const encoder = new TextEncoder();
  let bytes = 0;
  let sinceProgress = 0;
  const progress = opts.onProgress;
  for await (const chunk of chunksOf(source)) {
    const b = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
    bytes += b.length;
    sinceProgress += b.length;
    reader.push(b);
    if (progress !== undefined && sinceProgress >= 1 << 20) {
      sinceProgress = 0;
      progress({
        stage: 'read-csv',
        done: bytes,
        unit: 'bytes',
        ...(hints.totalBytes !== undefined && { total: hints.totalBytes }),
      });
    }
    if (reader.stopped) break;
  }
  reader.finish();
  if (progress !== undefined) {
    progress({ stage: 'read-csv', done: bytes, unit: 'bytes', total: hints.totalBytes ?? bytes });
  }
  return reader.result(bytes);
}

const STRING_PIECE = 1 << 20;

async function* chunksOf(source: CsvSource): AsyncIterable<string | Uint8Array> {
  if (typeof source === 'string') {
    // Cut a whole string into pieces so that it is encoded a piece at a time; never split a surrogate pair.
    for (let i = 0; i < source.length; ) {
      let end = Math.min(source.length, i + STRING_PIECE);
      const last = source.charCodeAt(end - 1);
      if (end < source.length && last >= 0xd800 && last <= 0xdbff) end++;
      yield source.slice(i, end);
      i = end;
    }
    return;
  }
  yield* source as AsyncIterable<string | Uint8Array>;
}

// ---------------------------------------------------------------------------------------------------

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** What the reader does with one input column. */
/**
 * What the reader does with one input column. One class for every kind, so that the per-cell code sees
 * a single object shape (a union of object literals made the property accesses megamorphic).
 */
class Plan {
  readonly kind: 'id' | 'label' | 'ignored' | 'numeric' | 'categorical' | 'infer';
  /** numeric and infer (NaN where an inferred column's value is missing or not a number). */
  values: Float64Array = new Float64Array(0);
  /** categorical, and infer while its dictionary is kept (null past the limit). */
  codes: Int32Array | null = new Int32Array(0);
  /** infer, until the limit: number -> code; the category text is the first spelling of that number. */
  numDict: Map<number, number> | null = null;
  /** categorical, and infer once a value was not a number: text -> code (codes shared with numDict's). */
  strDict: Map<string, number> | null = null;
  categories: string[] = [];
  missing = 0;
  /** infer: present values that are not numbers, and where the first of them is (line, reason). */
  nonNumeric = 0;
  firstBadLine = 0;
  firstBadReason = '';

  constructor(kind: Plan['kind']) {
    this.kind = kind;
    if (kind === 'categorical') this.strDict = new Map();
    if (kind === 'infer') this.numDict = new Map();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The incremental parser: bytes in, columns out. */
class CsvRecordReader {
  stopped = false;

  private readonly opts: CsvReadOptions;
  private readonly file: string | undefined;
  private readonly delim: number;
  private readonly maxRows: number;
  private readonly dupMode: 'error' | 'keep-first' | 'report';
  private readonly tokensByLength: Uint8Array[][] = [];

  private carry: Uint8Array | null = null;
  private bomChecked = false;
  /** Line number where the next record starts. */
  private line = 1;
  private header: string[] | null = null;
  private plans: Plan[] = [];
  private errorOnMissing: boolean[] = [];
  private idCol = -1;
  private labelCol = -1;

  private fStart = new Int32Array(64);
  private fEnd = new Int32Array(64);
  /** 0 unquoted, 1 quoted, 2 quoted with '""' escapes. */
  private fQuote = new Uint8Array(64);
  private nf = 0;
  private newlinesInRecord = 0;
  /** The current record holds a byte >= 0x80 (so its UTF-8 must be checked). */
  private recordHasHigh = false;

  private capacity = 0;
  private nRows = 0;
  private rowsRead = 0;
  private ids: string[] = [];
  private label: Float64Array = new Float64Array(0);
  private seen: Set<string> | null = null;
  /** Line of each kept row (for naming the first line of a repeated id). */
  private rowLines: Int32Array = new Int32Array(0);
  /** id -> line of its first occurrence; built at the first repeat only. */
  private firstLines: Map<string, number> | null = null;
  private duplicates = new Map<string, number[]>();
  private scratch = new Uint8Array(256);
  /** The current field, set by `fieldBytes`. */
  private fb: Uint8Array = this.scratch;
  private fs = 0;
  private fe = 0;

  constructor(opts: CsvReadOptions) {
    this.opts = opts;
    this.file = opts.file;
    this.delim = (opts.delimiter ?? ',').charCodeAt(0);
    this.maxRows = opts.maxRows ?? Number.POSITIVE_INFINITY;
    this.dupMode = opts.duplicateIds ?? 'error';
    const enc = new TextEncoder();
    for (const t of opts.missingTokens ?? DEFAULT_MISSING_TOKENS) {
      const b = enc.encode(t);
      const sameLength = this.tokensByLength[b.length];
      if (sameLength === undefined) this.tokensByLength[b.length] = [b];
      else sameLength.push(b);
    }
  }

  push(chunk: Uint8Array): void {
    if (this.stopped) return;
    let buf = chunk;
    if (this.carry !== null && this.carry.length > 0) {
      buf = new Uint8Array(this.carry.length + chunk.length);
      buf.set(this.carry, 0);
      buf.set(chunk, this.carry.length);
    }
    this.carry = null;
    let start = 0;
    if (!this.bomChecked) {
      if (buf.length < 3) {
        this.carry = buf.slice();
        return;
      }
      this.bomChecked = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
    }
    const consumed = this.parse(buf, start, false);
    // Copy the tail so the chunk itself can be collected.
    if (consumed < buf.length && !this.stopped) this.carry = buf.slice(consumed);
  }

  finish(): void {
    if (!this.stopped) {
      let buf = this.carry ?? new Uint8Array(0);
      if (!this.bomChecked && buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
        buf = buf.subarray(3);
      }
      this.bomChecked = true;
      this.parse(buf, 0, true);
    }
    this.carry = null;
    if (this.header === null) {
      throw new FedscoreError('csv_parse', 'empty input: no header line', this.loc(1));
    }
  }

  // --- scanning ------------------------------------------------------------------------------------

  /** Parse complete records from `buf[pos..]`; return where the first incomplete one starts. */
  private parse(buf: Uint8Array, pos: number, final: boolean): number {
    const n = buf.length;
    while (pos < n && !this.stopped) {
      const c = buf[pos]!;
      if (c === LF) {
        pos++;
        this.line++;
        continue;
      }
      if (c === CR) {
        if (pos + 1 < n) pos += buf[pos + 1] === LF ? 2 : 1;
        else if (final) pos++;
        else return pos;
        this.line++;
        continue;
      }
      const next = this.scanRecord(buf, pos, final);
      if (next < 0) return pos;
      this.handleRecord(buf);
      this.line += 1 + this.newlinesInRecord;
      pos = next;
    }
    return pos;
  }

  /** Find the fields of the record at `pos`; return the position after it, or -1 if it is incomplete. */
  private scanRecord(buf: Uint8Array, pos: number, final: boolean): number {
    const n = buf.length;
    const delim = this.delim;
    let nf = 0;
    let newlines = 0;
    let high = 0;
    for (;;) {
      if (nf === this.fStart.length) this.growFields();
      if (pos < n && buf[pos] === QUOTE) {
        const s = pos + 1;
        let p = s;
        let escaped = 0;
        let closed = false;
        while (p < n) {
          const b = buf[p]!;
          if (b === QUOTE) {
            if (p + 1 < n) {
              if (buf[p + 1] === QUOTE) {
                escaped = 1;
                p += 2;
                continue;
              }
              closed = true;
              break;
            }
            if (!final) return -1;
            closed = true;
            break;
          }
          if (b === LF) newlines++;
          high |= b;
          p++;
        }
        if (!closed) {
          if (!final) return -1;
          throw new FedscoreError(
            'csv_parse',
            "unterminated quoted field (a '\"' opens a field that never closes)",
            this.loc(this.line, nf),
          );
        }
        this.fStart[nf] = s;
        this.fEnd[nf] = p;
        this.fQuote[nf] = 1 + escaped;
        nf++;
        pos = p + 1;
        if (pos >= n) {
          if (!final) return -1;
          break;
        }
        const b = buf[pos]!;
        if (b === delim) {
          pos++;
          continue;
        }
        if (b === LF) {
          pos++;
          break;
        }
        if (b === CR) {
          if (pos + 1 < n) {
            pos += buf[pos + 1] === LF ? 2 : 1;
            break;
          }
          if (!final) return -1;
          pos++;
          break;
        }
        throw new FedscoreError(
          'csv_parse',
          'unexpected character after a closing quote (expected a delimiter or line end)',
          this.loc(this.line + newlines, nf - 1),
        );
      }
      const s = pos;
      let p = pos;
      while (p < n) {
        const b = buf[p]!;
        if (b === delim || b === LF || b === CR) break;
        high |= b;
        p++;
      }
      this.fStart[nf] = s;
      this.fEnd[nf] = p;
      this.fQuote[nf] = 0;
      nf++;
      if (p >= n) {
        if (!final) return -1;
        pos = p;
        break;
      }
      const b = buf[p]!;
      if (b === delim) {
        pos = p + 1;
        continue;
      }
      if (b === LF) {
        pos = p + 1;
        break;
      }
      // CR
      if (p + 1 < n) {
        pos = p + (buf[p + 1] === LF ? 2 : 1);
        break;
      }
      if (!final) return -1;
      pos = p + 1;
      break;
    }
    this.nf = nf;
    this.newlinesInRecord = newlines;
    this.recordHasHigh = (high & 0x80) !== 0;
    return pos;
  }

  private growFields(): void {
    const cap = this.fStart.length * 2;
    const s = new Int32Array(cap);
    s.set(this.fStart);
    const e = new Int32Array(cap);
    e.set(this.fEnd);
    const q = new Uint8Array(cap);
    q.set(this.fQuote);
    this.fStart = s;
    this.fEnd = e;
    this.fQuote = q;
  }

  // --- records -------------------------------------------------------------------------------------

  private handleRecord(buf: Uint8Array): void {
    if (this.recordHasHigh) this.checkUtf8(buf);
    if (this.header === null) {
      this.setHeader(buf);
      if (this.maxRows === 0) this.stopped = true;
      return;
    }
    const nCols = this.plans.length;
    if (this.nf !== nCols) {
      throw new FedscoreError(
        'csv_parse',
        `expected ${nCols} fields as in the header, found ${this.nf}`,
        this.loc(this.line, Math.min(this.nf, nCols), { expected: nCols, found: this.nf }),
      );
    }
    this.rowsRead++;
    let id: string;
    if (this.idCol >= 0) {
      id = this.fieldString(buf, this.idCol);
      if (this.opts.idFormat === 'uscc') {
        id = assertUscc(id, this.loc(this.line, this.idCol));
      } else if (id.length === 0) {
        throw new FedscoreError('csv_schema', 'empty id', this.loc(this.line, this.idCol));
      }
      // One hash operation per row on the common path: a Set whose size does not grow has seen the id.
      const seen = this.seen!;
      const size = seen.size;
      seen.add(id);
      if (seen.size === size) {
        const first = this.firstLineOf(id);
        if (this.dupMode === 'error') {
          throw new FedscoreError('duplicate_id', `id repeats the one on line ${first}`, {
            ...this.loc(this.line, this.idCol),
            details: { firstLine: first, line: this.line },
          });
        }
        const lines = this.duplicates.get(id);
        if (lines === undefined) this.duplicates.set(id, [first, this.line]);
        else lines.push(this.line);
        if (this.dupMode === 'keep-first') return;
      } else if (this.firstLines !== null) {
        this.firstLines.set(id, this.line);
      }
    } else {
      id = String(this.nRows);
    }
    const row = this.nRows;
    if (row === this.capacity) this.grow();
    this.ids.push(id);
    this.rowLines[row] = this.line;
    for (let j = 0; j < nCols; j++) {
      const plan = this.plans[j]!;
      switch (plan.kind) {
        case 'numeric': {
          const v = this.numericField(buf, j);
          if (Number.isNaN(v)) {
            plan.missing++;
            if (this.errorOnMissing[j]) this.missingError(j);
          }
          plan.values[row] = v;
          break;
        }
        case 'categorical': {
          const s = this.categoryField(buf, j);
          if (s === null) {
            plan.missing++;
            if (this.errorOnMissing[j]) this.missingError(j);
            plan.codes![row] = -1;
          } else {
            plan.codes![row] = textCode(plan.strDict!, plan.categories, s);
          }
          break;
        }
        case 'infer':
          this.inferField(buf, j, plan, row);
          break;
        case 'label':
          this.label[row] = this.labelField(buf, j);
          break;
        default:
          break;
      }
    }
    this.nRows++;
    if (this.nRows >= this.maxRows) this.stopped = true;
  }

  /** Every field of the current record is well-formed UTF-8; else a `csv_parse` error naming the cell. */
  private checkUtf8(buf: Uint8Array): void {
    for (let j = 0; j < this.nf; j++) {
      const s = this.fStart[j]!;
      const e = this.fEnd[j]!;
      if (isAscii(buf, s, e)) continue;
      try {
        utf8.decode(buf.subarray(s, e));
      } catch {
        const where =
          this.header === null || j >= this.header.length
            ? this.locNoName(this.line, j)
            : this.loc(this.line, j);
        throw new FedscoreError('csv_parse', 'invalid UTF-8 (the file must be UTF-8 text)', where);
      }
    }
  }

  private firstLineOf(id: string): number {
    if (this.firstLines === null) {
      const m = new Map<string, number>();
      for (let r = this.nRows - 1; r >= 0; r--) m.set(this.ids[r]!, this.rowLines[r]!);
      this.firstLines = m;
    }
    return this.firstLines.get(id)!;
  }

  private missingError(j: number): never {
    throw new FedscoreError(
      'missing_value',
      "missing value in a column whose imputation policy is 'error'",
      this.loc(this.line, j),
    );
  }

  private setHeader(buf: Uint8Array): void {
    const names: string[] = [];
    for (let j = 0; j < this.nf; j++) {
      const name = this.fieldString(buf, j);
      if (name.length === 0) {
        throw new FedscoreError('csv_schema', 'empty column name in the header', {
          ...this.locNoName(1, j),
        });
      }
      if (names.includes(name)) {
        throw new FedscoreError('csv_schema', `column name '${name}' repeats in the header`, {
          ...this.locNoName(1, j),
          field: name,
        });
      }
      names.push(name);
    }
    this.header = names;
    const o = this.opts;
    const roles = o.roles ?? {};
    for (const name of Object.keys(roles)) {
      if (!names.includes(name)) {
        throw new FedscoreError('csv_schema', `roles names column '${name}', which is not in the header`, {
          ...this.locNoName(1),
          field: `roles.${name}`,
        });
      }
    }
    for (const key of ['idColumn', 'labelColumn'] as const) {
      const name = o[key];
      if (name !== undefined && !names.includes(name)) {
        throw new FedscoreError('csv_schema', `${key} '${name}' is not in the header`, {
          ...this.locNoName(1),
          field: key,
        });
      }
    }
    const resolved: ColumnRole[] = names.map((name) => {
      const r = roles[name];
      if (name === o.idColumn) {
        if (r !== undefined && r !== 'id') throw conflict(name, 'idColumn');
        return 'id';
      }
      if (name === o.labelColumn) {
        if (r !== undefined && r !== 'label') throw conflict(name, 'labelColumn');
        return 'label';
      }
      return r ?? 'numeric'; // placeholder for the default role, resolved below
    });
    const defaultRole = o.defaultRole ?? 'infer';
    const ids = resolved.flatMap((r, j) => (r === 'id' ? [j] : []));
    const labels = resolved.flatMap((r, j) => (r === 'label' ? [j] : []));
    if (ids.length > 1) throw tooMany('id', names, ids);
    if (labels.length > 1) throw tooMany('label', names, labels);
    let idCol = ids[0] ?? -1;
    if (idCol < 0 && o.idColumn === undefined && roles['id'] === undefined && names.includes('id')) {
      idCol = names.indexOf('id'); // FATE layout: the id column is called 'id'
    }
    this.idCol = idCol;
    this.labelCol = labels[0] ?? -1;
    const imputeSpec = o.impute ?? 'keep';
    this.plans = names.map((name, j): Plan => {
      if (j === this.idCol) return new Plan('id');
      if (j === this.labelCol) return new Plan('label');
      const role = roles[name] ?? defaultRole;
      const policy =
        typeof imputeSpec === 'string' || 'constant' in imputeSpec
          ? imputeSpec
          : ((imputeSpec as Record<string, unknown>)[name] ?? (imputeSpec as Record<string, unknown>)['*']);
      this.errorOnMissing[j] = policy === 'error';
      return new Plan(role === 'id' || role === 'label' ? 'ignored' : role);
    });
    for (let j = 0; j < names.length; j++) this.errorOnMissing[j] ??= false;
    if (this.idCol >= 0) this.seen = new Set();
    function conflict(name: string, key: string): FedscoreError {
      return new FedscoreError(
        'invalid_config',
        `roles gives column '${name}' a role other than ${key} says`,
        {
          field: `roles.${name}`,
        },
      );
    }
    function tooMany(role: string, header: string[], cols: number[]): FedscoreError {
      return new FedscoreError(
        'invalid_config',
        `more than one column has role '${role}': ${cols.map((j) => header[j]).join(', ')}`,
        { field: 'roles' },
      );
    }
  }

  private grow(): void {
    const cap = Math.max(1024, this.capacity * 2);
    if (this.labelCol >= 0) this.label = growF64(this.label, cap);
    this.rowLines = growI32(this.rowLines, cap);
    for (const p of this.plans) {
      if (p.kind === 'numeric') p.values = growF64(p.values, cap);
      else if (p.kind === 'categorical') p.codes = growI32(p.codes!, cap);
      else if (p.kind === 'infer') {
        p.values = growF64(p.values, cap);
        if (p.codes !== null) p.codes = growI32(p.codes, cap);
      }
    }
    this.capacity = cap;
  }

  // --- fields --------------------------------------------------------------------------------------

  /**
   * Locate field `j` as `fb[fs..fe)`: unquoted fields trimmed, quoted ones with '""' undone (into a
   * scratch buffer). Fields instead of a returned tuple: this runs once per cell.
   */
  private fieldBytes(buf: Uint8Array, j: number): void {
    let s = this.fStart[j]!;
    let e = this.fEnd[j]!;
    const q = this.fQuote[j]!;
    this.fb = buf;
    if (q === 0) {
      const tabIsDelim = this.delim === TAB;
      while (s < e && (buf[s] === SPACE || (buf[s] === TAB && !tabIsDelim))) s++;
      while (e > s && (buf[e - 1] === SPACE || (buf[e - 1] === TAB && !tabIsDelim))) e--;
      this.fs = s;
      this.fe = e;
      return;
    }
    if (q === 1) {
      this.fs = s;
      this.fe = e;
      return;
    }
    if (this.scratch.length < e - s) this.scratch = new Uint8Array(2 * (e - s));
    const out = this.scratch;
    let k = 0;
    for (let i = s; i < e; i++) {
      out[k++] = buf[i]!;
      if (buf[i] === QUOTE) i++; // the second quote of a '""' pair
    }
    this.fb = out;
    this.fs = 0;
    this.fe = k;
  }

  private isMissingToken(b: Uint8Array, s: number, e: number): boolean {
    const candidates = this.tokensByLength[e - s];
    if (candidates === undefined) return false;
    outer: for (const t of candidates) {
      for (let i = 0; i < t.length; i++) if (b[s + i] !== t[i]) continue outer;
      return true;
    }
    return false;
  }

  private fieldString(buf: Uint8Array, j: number): string {
    this.fieldBytes(buf, j);
    const b = this.fb;
    const s = this.fs;
    const e = this.fe;
    return decodeBytes(b, s, e);
  }

  /** NaN for a missing token; a typed error for anything else that is not a number. */
  private numericField(buf: Uint8Array, j: number): number {
    this.fieldBytes(buf, j);
    const b = this.fb;
    const s = this.fs;
    const e = this.fe;
    if (this.isMissingToken(b, s, e)) return Number.NaN;
    const v = parseDecimal(b, s, e);
    if (Number.isNaN(v)) {
      throw new FedscoreError('csv_schema', `value in a numeric column is ${notNumberReason(b, s, e)}`, {
        ...this.loc(this.line, j),
        details: { length: e - s },
      });
    }
    return v;
  }

  /** The category text, or null when missing. */
  private categoryField(buf: Uint8Array, j: number): string | null {
    this.fieldBytes(buf, j);
    const b = this.fb;
    const s = this.fs;
    const e = this.fe;
    if (this.isMissingToken(b, s, e)) return null;
    return decodeBytes(b, s, e);
  }

  private inferField(buf: Uint8Array, j: number, plan: Plan, row: number): void {
    this.fieldBytes(buf, j);
    const b = this.fb;
    const s = this.fs;
    const e = this.fe;
    if (this.isMissingToken(b, s, e)) {
      plan.missing++;
      if (this.errorOnMissing[j]) this.missingError(j);
      plan.values[row] = Number.NaN;
      if (plan.codes !== null) plan.codes[row] = -1;
      return;
    }
    const v = parseDecimal(b, s, e);
    if (!Number.isNaN(v)) {
      plan.values[row] = v;
      const dict = plan.numDict;
      if (dict !== null) {
        let code = dict.get(v);
        if (code === undefined) {
          if (dict.size >= INFER_DICTIONARY_LIMIT) {
            // Too many distinct numbers to be categories: numeric, unless a value already was not a number.
            if (plan.nonNumeric > 0) this.notNumberError(plan, j);
            plan.numDict = null;
            plan.codes = null;
            plan.categories = [];
            return;
          }
          code = plan.categories.length;
          dict.set(v, code);
          plan.categories.push(decodeBytes(b, s, e));
        }
        plan.codes![row] = code;
      }
      return;
    }
    if (plan.numDict === null) {
      throw new FedscoreError(
        'csv_schema',
        `value is ${notNumberReason(b, s, e)} in a column read as numeric after ${INFER_DICTIONARY_LIMIT} ` +
          "distinct numbers; fix the value or declare the column's role ('categorical') in roles",
        this.loc(this.line, j),
      );
    }
    // Not a number: categorical only if most values turn out not to be numbers (decided in `result`).
    if (plan.nonNumeric === 0) {
      plan.firstBadLine = this.line;
      plan.firstBadReason = notNumberReason(b, s, e);
      plan.strDict = new Map();
    }
    plan.nonNumeric++;
    plan.values[row] = Number.NaN;
    plan.codes![row] = textCode(plan.strDict!, plan.categories, decodeBytes(b, s, e));
  }

  /** The error for the first non-numeric cell of an inferred column that is mostly numbers. */
  private notNumberError(plan: Plan, j: number): never {
    throw new FedscoreError(
      'csv_schema',
      `value in a numeric column is ${plan.firstBadReason} (${plan.nonNumeric === 1 ? "the column's only such value" : `the first of ${plan.nonNumeric} such values`}, ` +
        'the others are numbers); fix it, mark it missing, or declare the column categorical',
      { ...this.loc(plan.firstBadLine, j), details: { nonNumeric: plan.nonNumeric } },
    );
  }

  private labelField(buf: Uint8Array, j: number): number {
    this.fieldBytes(buf, j);
    const b = this.fb;
    const s = this.fs;
    const e = this.fe;
    if (this.isMissingToken(b, s, e)) {
      throw new FedscoreError('missing_value', 'missing label', this.loc(this.line, j));
    }
    const v = parseDecimal(b, s, e);
    if (v === 0 || v === 1) return v;
    if (e - s <= 5) {
      const t = decodeBytes(b, s, e).toLowerCase();
      if (t === 'true' || t === 'yes') return 1;
      if (t === 'false' || t === 'no') return 0;
    }
    throw new FedscoreError('csv_schema', 'label must be 0/1, true/false or yes/no', this.loc(this.line, j));
  }

  // --- locations -----------------------------------------------------------------------------------

  private loc(
    line: number,
    j?: number,
    details?: Record<string, string | number | boolean>,
  ): ErrorLocation & { details?: Record<string, string | number | boolean> } {
    const name = j === undefined ? undefined : this.header?.[j];
    return {
      ...(this.file !== undefined && { file: this.file }),
      line,
      ...(j !== undefined && { column: j + 1 }),
      ...(name !== undefined && { field: name }),
      ...(details !== undefined && { details }),
    };
  }

  private locNoName(line: number, j?: number): ErrorLocation {
    return {
      ...(this.file !== undefined && { file: this.file }),
      line,
      ...(j !== undefined && { column: j + 1 }),
    };
  }

  // --- result --------------------------------------------------------------------------------------

  result(bytes: number): CsvParseResult {
    const header = this.header!;
    const n = this.nRows;
    const columns: Column[] = [];
    const roles: Record<string, ColumnRole> = {};
    const inferredCategorical: InferredCategorical[] = [];
    for (let j = 0; j < header.length; j++) {
      const name = header[j]!;
      const p = this.plans[j]!;
      switch (p.kind) {
        case 'id':
        case 'label':
        case 'ignored':
          roles[name] = p.kind;
          break;
        case 'numeric':
          roles[name] = 'numeric';
          columns.push(numeric(name, fit(p.values, n), p.missing));
          break;
        case 'categorical':
          roles[name] = 'categorical';
          columns.push(categorical(name, fitI(p.codes!, n), p.categories, p.missing));
          break;
        case 'infer': {
          if (p.nonNumeric === 0) {
            roles[name] = 'numeric';
            columns.push(numeric(name, fit(p.values, n), p.missing));
            break;
          }
          const present = n - p.missing;
          if (2 * p.nonNumeric <= present) this.notNumberError(p, j);
          roles[name] = 'categorical';
          inferredCategorical.push({ column: name, nonNumeric: p.nonNumeric, present });
          columns.push(categorical(name, fitI(p.codes!, n), p.categories, p.missing));
          break;
        }
      }
    }
    const idName = this.idCol >= 0 ? header[this.idCol] : undefined;
    const labelName = this.labelCol >= 0 ? header[this.labelCol] : undefined;
    const table: Table = {
      nRows: n,
      ids: this.ids,
      ...(this.labelCol >= 0 && { label: fit(this.label, n) }),
      columns,
      ...(idName !== undefined && { idName }),
      ...(labelName !== undefined && { labelName }),
    };
    const imputed = imputeColumns(table, (this.opts.impute ?? 'keep') as ImputeSpec);
    const duplicateIds = [...this.duplicates].map(([id, lines]) => ({ id, lines }));
    return {
      table: imputed.table,
      header,
      roles,
      rowsRead: this.rowsRead,
      bytes,
      lines: this.rowLines.slice(0, n),
      inferredCategorical,
      duplicateIds,
      imputation: imputed.imputation,
      filled: imputed.filled,
    };
  }
}

function textCode(dict: Map<string, number>, categories: string[], text: string): number {
  let code = dict.get(text);
  if (code === undefined) {
    code = categories.length;
    dict.set(text, code);
    categories.push(text);
  }
  return code;
}

function numeric(name: string, values: Float64Array, missing: number): NumericColumn {
  return { kind: 'numeric', name, values, missing };
}

function categorical(
  name: string,
  codes: Int32Array,
  categories: string[],
  missing: number,
): CategoricalColumn {
  return { kind: 'categorical', name, codes, categories, missing };
}

function growF64(a: Float64Array, cap: number): Float64Array {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

function growI32(a: Int32Array, cap: number): Int32Array {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}

/** Exactly `n` long, copying only when the array has spare capacity. */
function fit(a: Float64Array, n: number): Float64Array {
  return a.length === n ? a : a.slice(0, n);
}

function fitI(a: Int32Array, n: number): Int32Array {
  return a.length === n ? a : a.slice(0, n);
}

function isAscii(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i]! >= 0x80) return false;
  return true;
}

/**
 * Why `b[s..e)` is not a number, in words that never quote the value (it may be confidential): the
 * error names the cell, the user opens the file.
 */
function notNumberReason(b: Uint8Array, s: number, e: number): string {
  let letters = '';
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === 0) return 'not a number (it holds a NUL byte)';
    if (c === LF || c === CR) return 'not a number (a quoted value with a line break)';
    if (e - s <= 12) letters += String.fromCharCode(c | (c >= 0x41 && c <= 0x5a ? 0x20 : 0));
  }
  if (/^[+-]?(inf|infinity)$/.test(letters)) return 'not a finite number (infinity is not a value)';
  const text = e - s <= 400 ? String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]) : '';
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) {
    return 'not a finite number (it overflows a double, beyond ±1.8e308)';
  }
  return 'not a number';
}

const asciiScratch: number[] = [];

/** Decode UTF-8 bytes; short ASCII fields skip the TextDecoder call. Returns a flat, independent string. */
function decodeBytes(b: Uint8Array, s: number, e: number): string {
  if (e - s <= 64) {
    let ascii = true;
    for (let i = s; i < e; i++) {
      if (b[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      // A reused packed array: faster than applying to a typed-array view.
      const codes = asciiScratch;
      codes.length = e - s;
      for (let i = s; i < e; i++) codes[i - s] = b[i]!;
      return String.fromCharCode.apply(null, codes);
    }
  }
  return utf8.decode(b.subarray(s, e));
}

/**
 * Parse a decimal literal in `b[s..e)`: [+-] digits [. digits] [(e|E) [+-] digits], at least one digit
 * before the exponent. NaN when the bytes are not such a literal. Bit-identical to `Number(text)`.
 */
export function parseDecimal(b: Uint8Array, s: number, e: number): number {
  let i = s;
  if (i >= e) return Number.NaN;
  let neg = false;
  let c = b[i]!;
  if (c === 0x2d) {
    neg = true;
    i++;
  } else if (c === 0x2b) i++;
  let mant = 0;
  let nd = 0; // significant digits in mant
  let exp10 = 0;
  let digits = 0;
  let exact = true;
  while (i < e) {
    c = b[i]! - 0x30;
    if (c < 0 || c > 9) break;
    digits++;
    if (nd < 15) {
      mant = mant * 10 + c;
      if (mant !== 0) nd++;
    } else {
      exact = false;
    }
    i++;
  }
  if (i < e && b[i] === 0x2e) {
    i++;
    while (i < e) {
      c = b[i]! - 0x30;
      if (c < 0 || c > 9) break;
      digits++;
      if (nd < 15) {
        mant = mant * 10 + c;
        if (mant !== 0) nd++;
        exp10--;
      } else {
        exact = false;
      }
      i++;
    }
  }
  if (digits === 0) return Number.NaN;
  if (i < e && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    let eneg = false;
    if (i < e && (b[i] === 0x2d || b[i] === 0x2b)) {
      eneg = b[i] === 0x2d;
      i++;
    }
    let ev = 0;
    let edigits = 0;
    while (i < e) {
      c = b[i]! - 0x30;
      if (c < 0 || c > 9) break;
      if (ev < 100000) ev = ev * 10 + c;
      edigits++;
      i++;
    }
    if (edigits === 0) return Number.NaN;
    exp10 += eneg ? -ev : ev;
  }
  if (i !== e) return Number.NaN;
  if (exact) {
    let v: number;
    if (exp10 === 0) v = mant;
    else if (exp10 > 0 && exp10 <= 22) v = mant * POW10[exp10]!;
    else if (exp10 < 0 && exp10 >= -22) v = mant / POW10[-exp10]!;
    else return slowParse(b, s, e);
    return neg ? -v : v;
  }
  return slowParse(b, s, e);
}

function slowParse(b: Uint8Array, s: number, e: number): number {
  const v = Number(String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]));
  return Number.isFinite(v) ? v : Number.NaN; // '1e400' overflows: not a usable number
}

// ---------------------------------------------------------------------------------------------------
// Writing

export interface CsvWriteOptions {
  /** Default ','. */
  readonly delimiter?: string;
  /** Text written for a missing value. Default '' (read back as missing by the default tokens). */
  readonly missing?: string;
}

export type CsvCell = string | number | null | undefined;

/** A table as CSV text, in chunks of about 64 KiB: id, label, then the columns (numbers round-trip). */
export function* formatCsv(table: Table, options: CsvWriteOptions = {}): Generator<string> {
  const header = [table.idName ?? 'id'];
  if (table.label !== undefined) header.push(table.labelName ?? 'y');
  for (const c of table.columns) header.push(c.name);
  const { label, columns, ids } = table;
  function* rows(): Generator<CsvCell[]> {
    const row: CsvCell[] = new Array(header.length);
    for (let r = 0; r < table.nRows; r++) {
      let k = 0;
      row[k++] = ids[r];
      if (label !== undefined) row[k++] = label[r];
      for (const c of columns) {
        if (c.kind === 'numeric') row[k++] = c.values[r];
        else {
          const code = c.codes[r]!;
          row[k++] = code < 0 ? null : c.categories[code];
        }
      }
      yield row;
    }
  }
  yield* formatCsvRows(header, rows(), options);
}

/** Rows as CSV text in chunks of about 64 KiB; null, undefined and NaN are written as `missing`. */
export function* formatCsvRows(
  header: readonly string[],
  rows: Iterable<readonly CsvCell[]>,
  options: CsvWriteOptions = {},
): Generator<string> {
  const delim = options.delimiter ?? ',';
  const missing = options.missing ?? '';
  const cell = (v: CsvCell): string => {
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return missing;
    if (typeof v === 'number') return String(v);
    return needsQuotes(v, delim) ? `"${v.replaceAll('"', '""')}"` : v;
  };
  let out = header.map(cell).join(delim) + '\n';
  for (const row of rows) {
    if (row.length !== header.length) {
      throw new FedscoreError('invalid_argument', `row has ${row.length} cells, header ${header.length}`, {
        field: 'rows',
      });
    }
    out += row.map(cell).join(delim) + '\n';
    if (out.length >= 65536) {
      yield out;
      out = '';
    }
  }
  if (out.length > 0) yield out;
}

function needsQuotes(v: string, delim: string): boolean {
  if (v.length === 0) return false;
  if (v.includes(delim) || v.includes('"') || v.includes('\n') || v.includes('\r')) return true;
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  return first === SPACE || first === TAB || last === SPACE || last === TAB;
}
