/**
 * Byte columns read in PostgreSQL's binary COPY format: `COPY (query) TO STDOUT (FORMAT binary)` sends
 * each field as its binary representation -- a bytea's own bytes -- where a plain query through `pg`
 * (pg-protocol decodes every DataRow field as a UTF-8 string, its `binary` result mode included) can
 * only get bytea as text: hex (2x) or `encode(.., 'base64')` (4/3x), built by the server, decoded to a
 * JavaScript string and decoded again here. Measured on loopback for a 4.56 MB value: base64 text 21-34
 * ms, binary COPY 4.1-4.6 ms (benchmarks/results/queue-portfolio.md has the per-task effect).
 *
 * The format (PostgreSQL documentation, "COPY", section "Binary Format"): an 11-byte signature, a
 * 32-bit flags field, a 32-bit header-extension length and that many bytes; then per row a 16-bit field
 * count and per field a 32-bit length (-1: NULL) and the bytes; a 16-bit -1 ends the data.
 *
 * COPY takes no bind parameters: the caller inlines its values with `literal` (pg's `escapeLiteral`),
 * and every value inlined here is checked by its caller's pattern too (queue names, task ids, SHA-256
 * hex digests). The query is a `pg` submittable (its `submit` / `handle*` interface, as pg's own `Query`
 * and the pg-copy-streams package use), run on a client taken from the pool for that query alone.
 */
import { FedscoreError } from '@fedscore/core';
import pg from 'pg';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** A value inlined into a COPY query, quoted as a string literal. */
export function literal(value: string): string {
  return pg.escapeLiteral(value);
}

/** One row: each field's bytes (its binary representation) or null. */
export type CopyRow = (Buffer | null)[];

/** The rows `query` (a SELECT, or a data-modifying statement with RETURNING) returns, fields as bytes. */
export async function copyRows(pool: pg.Pool, query: string): Promise<CopyRow[]> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const out = new CopyOut(`COPY (${query}) TO STDOUT (FORMAT binary)`);
    void client.query(out as unknown as pg.QueryConfig);
    const chunks = await out.done;
    return parseCopyBinary(chunks);
  } catch (e) {
    // A server error leaves the connection usable (it answers ReadyForQuery); anything else may not.
    if (!(e instanceof pg.DatabaseError)) broken = e as Error;
    throw e;
  } finally {
    client.release(broken);
  }
}

/** The `pg` submittable of a COPY ... TO STDOUT: collects the CopyData chunks. */
class CopyOut {
  readonly text: string;
  readonly done: Promise<Buffer[]>;
  #resolve!: (chunks: Buffer[]) => void;
  #reject!: (e: Error) => void;
  #chunks: Buffer[] = [];
  #settled = false;

  constructor(text: string) {
    this.text = text;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    // pg-protocol's chunk is a view of its receive buffer, which it reuses: keep a copy.
    this.#chunks.push(Buffer.from(msg.chunk));
  }

  handleCommandComplete(): void {}

  handleRowDescription(): void {}

  handleDataRow(): void {}

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: { sendCopyFail(msg: string): void }): void {
    connection.sendCopyFail('not a COPY FROM');
  }

  handleError(e: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(e);
  }

  handleReadyForQuery(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(this.#chunks);
  }
}

/** Reads across the chunks, slicing within one chunk and copying only a field that spans two. */
class ChunkReader {
  readonly #chunks: readonly Buffer[];
  #i = 0;
  #at = 0;

  constructor(chunks: readonly Buffer[]) {
    this.#chunks = chunks;
  }

  take(n: number): Buffer {
    const c = this.#chunks[this.#i];
    if (c !== undefined && this.#at + n <= c.length) {
      const b = c.subarray(this.#at, this.#at + n);
      this.#at += n;
      if (this.#at === c.length) this.#next();
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const cur = this.#chunks[this.#i];
      if (cur === undefined) throw copyFormatError('the COPY data ends inside a field');
      const m = Math.min(n - filled, cur.length - this.#at);
      cur.copy(out, filled, this.#at, this.#at + m);
      filled += m;
      this.#at += m;
      if (this.#at === cur.length) this.#next();
    }
    return out;
  }

  #next(): void {
    this.#i++;
    this.#at = 0;
  }
}

function copyFormatError(message: string): FedscoreError {
  return new FedscoreError('wire_decode', `queue database: ${message}`, { field: 'copy' });
}

/** Parse COPY's binary format (no OIDs). */
export function parseCopyBinary(chunks: readonly Buffer[]): CopyRow[] {
  const r = new ChunkReader(chunks);
  if (!r.take(SIGNATURE.length).equals(SIGNATURE)) throw copyFormatError('not binary COPY data');
  const flags = r.take(4).readUInt32BE(0);
  if ((flags & (1 << 16)) !== 0) throw copyFormatError('binary COPY data with OIDs');
  r.take(r.take(4).readUInt32BE(0));
  const rows: CopyRow[] = [];
  for (;;) {
    const fields = r.take(2).readInt16BE(0);
    if (fields === -1) return rows;
    if (fields < 0) throw copyFormatError('a negative field count');
    const row: CopyRow = [];
    for (let f = 0; f < fields; f++) {
      const len = r.take(4).readInt32BE(0);
      row.push(len === -1 ? null : r.take(len));
    }
    rows.push(row);
  }
}

/** A field read as text (a `text` column's binary representation is its UTF-8 bytes). */
export function textOf(field: Buffer | null | undefined): string | null {
  return field === null || field === undefined ? null : field.toString('utf8');
}

/** A `boolean` field (one byte, 1 = true). */
export function boolOf(field: Buffer | null | undefined): boolean {
  return field !== null && field !== undefined && field.length === 1 && field[0] === 1;
}
