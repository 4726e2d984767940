/**
 * Node.js file-system adapters for core (the subpath `@fedscore/core/node`): stream a CSV file into a
 * Table, read an id list, write a table back. The parsing itself is the pure reader in csv.ts; this file
 * only opens, streams and names files in errors. A file that cannot be opened is a FedscoreError('io')
 * naming it.
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { CsvCell, CsvParseResult, CsvReadOptions, CsvWriteOptions } from './csv.ts';
import { formatCsv, formatCsvRows, parseCsvDetailed } from './csv.ts';
import { FedscoreError } from './errors.ts';
import type { Table } from './table.ts';
import { assertUscc } from './uscc.ts';

/** Read size: large enough to amortize per-chunk work, small enough to keep memory flat. */
const CHUNK_BYTES = 1 << 20;

async function sizeOf(path: string, field: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new FedscoreError('io', 'not a regular file', { file: path, field });
    return s.size;
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new FedscoreError('io', code === 'ENOENT' ? 'file not found' : `cannot open file (${code})`, {
      file: path,
      field,
      cause: e,
    });
  }
}

/** Stream a CSV file into a Table (see csv.ts for the format, options and errors). */
export async function readCsvFile(path: string, options: CsvReadOptions): Promise<Table> {
  return (await readCsvFileDetailed(path, options)).table;
}

/** Like `readCsvFile`, with the parse report (roles, duplicates, fitted imputation, counts). */
export async function readCsvFileDetailed(path: string, options: CsvReadOptions): Promise<CsvParseResult> {
  const totalBytes = await sizeOf(path, 'path');
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  try {
    return await parseCsvDetailed(stream, { ...options, file: options?.file ?? path }, { totalBytes });
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    throw new FedscoreError('io', `reading failed: ${(e as Error).message}`, { file: path, cause: e });
  } finally {
    stream.destroy();
  }
}

export interface IdListOptions {
  /** Normalize and check every id as a Unified Social Credit Code (errors name file and line). */
  readonly uscc?: boolean;
}

/**
 * One id a line (LF or CRLF, optional BOM), surrounding whitespace trimmed, blank lines ignored. Order
 * is kept and repeats are kept (the caller decides what a repeat means).
 */
export async function readIdList(path: string, options: IdListOptions = {}): Promise<string[]> {
  await sizeOf(path, 'path');
  const ids: string[] = [];
  // Fatal: a byte sequence that is not UTF-8 is refused naming its line, never replaced by U+FFFD (two
  // distinct raw ids would become one).
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let rest = '';
  let line = 0;
  let first = true;
  const invalid = (pending: string, chunk: Uint8Array): FedscoreError => {
    const text = pending + new TextDecoder('utf-8').decode(chunk);
    const at = text.indexOf('\uFFFD');
    let lines = 0;
    for (let i = 0; i < (at < 0 ? text.length : at); i++) if (text.charCodeAt(i) === 10) lines++;
    return new FedscoreError('invalid_id', 'invalid UTF-8 (the file must be UTF-8 text)', {
      file: path,
      line: line + 1 + lines,
      field: 'id',
    });
  };
  const take = (text: string): void => {
    line++;
    const id = text.trim();
    if (id.length === 0) return;
    ids.push(options.uscc ? assertUscc(id, { file: path, line, field: 'id' }) : id);
  };
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      let decoded: string;
      try {
        decoded = decoder.decode(chunk, { stream: true });
      } catch {
        throw invalid(rest, chunk);
      }
      let text = rest + decoded;
      if (first) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const p of parts) take(p);
    }
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    throw new FedscoreError('io', `reading failed: ${(e as Error).message}`, { file: path, cause: e });
  } finally {
    stream.destroy();
  }
  try {
    rest += decoder.decode();
  } catch {
    throw invalid(rest, new Uint8Array([0xff]));
  }
  if (first && rest.charCodeAt(0) === 0xfeff) rest = rest.slice(1);
  if (rest.length > 0) take(rest);
  return ids;
}

/** Rows with their header, for `writeCsvFile`. */
export interface CsvRows {
  readonly header: readonly string[];
  readonly rows: Iterable<readonly CsvCell[]>;
}

/** Write a table (id, label, columns) or header + rows as CSV, streaming with back-pressure. */
export async function writeCsvFile(
  path: string,
  data: Table | CsvRows,
  options: CsvWriteOptions = {},
): Promise<void> {
  const chunks = 'header' in data ? formatCsvRows(data.header, data.rows, options) : formatCsv(data, options);
  const out = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => {
    out.once('error', (e) =>
      reject(new FedscoreError('io', `writing failed: ${e.message}`, { file: path, cause: e })),
    );
  });
  failed.catch(() => {});
  try {
    for (const chunk of chunks) {
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
    }
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
  } finally {
    out.destroy();
  }
}
