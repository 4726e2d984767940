/**
 * `fetchPublicDataset`: download a public credit data set, verify its SHA-256 before anything is
 * written, keep the original file, and write the FATE vertical split `<name>_hetero_guest.csv` (label
 * owner: `id,y,...`) and `<name>_hetero_host.csv` (`id,...`) with raw values.
 *
 * Failures are typed: an unknown name is `not_found`; HTTP 404 is `not_found`; other HTTP errors, lost
 * connections and truncated bodies (fewer bytes than Content-Length) are `io`; a digest other than the
 * expected one is `checksum_mismatch` naming both digests.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError, type Logger, noopLogger, noProgress, type ProgressCallback } from '@fedscore/core';
import type { ConvertedTable } from './convert.ts';
import { PUBLIC_DATASETS, type PublicDatasetSource, publicDatasetNames } from './sources.ts';

export interface FetchOptions {
  /** Download from here instead of the source table's address (a mirror); the checksum still applies. */
  readonly url?: string;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  /** Abort after this many milliseconds (default 120,000). */
  readonly timeoutMs?: number;
  /** Refuse bodies larger than this (default 64 MiB). */
  readonly maxBytes?: number;
}

export interface FetchedFile {
  readonly path: string;
  readonly rows: number;
  /** Columns including id (and y). */
  readonly columns: number;
}

export interface FetchedDataset {
  readonly name: string;
  readonly url: string;
  readonly original: { readonly path: string; readonly bytes: number; readonly sha256: string };
  readonly guest: FetchedFile;
  readonly host: FetchedFile;
  readonly licence: string;
  readonly citation: string;
}

export function publicDatasetSource(name: string): PublicDatasetSource {
  const source = PUBLIC_DATASETS.find((d) => d.name === name);
  if (source === undefined) {
    throw new FedscoreError(
      'not_found',
      `unknown data set '${name}'; known: ${publicDatasetNames().join(', ')}`,
      { field: 'name' },
    );
  }
  return source;
}

export async function fetchPublicDataset(
  name: string,
  dir: string,
  options: FetchOptions = {},
): Promise<FetchedDataset> {
  const source = publicDatasetSource(name);
  const logger = options.logger ?? noopLogger;
  const progress = options.progress ?? noProgress;
  const url = options.url ?? source.url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FedscoreError('invalid_argument', `not a URL: '${url.slice(0, 80)}'`, { field: 'url' });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new FedscoreError(
      'invalid_argument',
      `only http and https URLs are supported, got ${parsed.protocol}`,
      {
        field: 'url',
      },
    );
  }
  logger.info('downloading', { dataset: name, host: parsed.host });
  const body = await download(
    parsed,
    options.timeoutMs ?? 120_000,
    options.maxBytes ?? 64 * 2 ** 20,
    progress,
  );
  const digest = createHash('sha256').update(body).digest('hex');
  if (digest !== source.sha256) {
    throw new FedscoreError(
      'checksum_mismatch',
      `${source.fileName} from ${parsed.host}: expected sha256 ${source.sha256}, got ${digest} (${body.length} bytes)`,
      { field: 'sha256', details: { expected: source.sha256, actual: digest, bytes: body.length } },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch (e) {
    throw new FedscoreError('csv_parse', 'the file is not valid UTF-8', { file: source.fileName, cause: e });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const converted = source.convert(text, source.fileName);

  const outDir = resolve(dir);
  const originalPath = join(outDir, source.fileName);
  const guestPath = join(outDir, `${name}_hetero_guest.csv`);
  const hostPath = join(outDir, `${name}_hetero_host.csv`);
  try {
    mkdirSync(outDir, { recursive: true });
    writeAtomically(originalPath, body);
    writeAtomically(guestPath, csvText(converted.guest));
    writeAtomically(hostPath, csvText(converted.host));
  } catch (e) {
    throw new FedscoreError('io', `cannot write into ${outDir}: ${(e as Error).message}`, {
      file: outDir,
      cause: e,
    });
  }
  progress({ stage: 'convert', done: converted.guest.lines.length, total: source.rows, unit: 'rows' });
  logger.info('dataset written', { dataset: name, rows: converted.guest.lines.length });
  return {
    name,
    url: parsed.href,
    original: { path: originalPath, bytes: body.length, sha256: digest },
    guest: { path: guestPath, rows: converted.guest.lines.length, columns: converted.guest.header.length },
    host: { path: hostPath, rows: converted.host.lines.length, columns: converted.host.header.length },
    licence: source.licence,
    citation: source.citation,
  };
}

async function download(
  url: URL,
  timeoutMs: number,
  maxBytes: number,
  progress: ProgressCallback,
): Promise<Uint8Array> {
  const where = { field: 'url', details: { url: url.href } };
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (e) {
    throw new FedscoreError('io', `download from ${url.host} failed: ${describeCause(e)}`, {
      ...where,
      cause: e,
    });
  }
  if (response.status === 404) {
    throw new FedscoreError('not_found', `${url.href} answered 404 Not Found`, where);
  }
  if (!response.ok || response.body === null) {
    throw new FedscoreError(
      'io',
      `${url.href} answered HTTP ${response.status} ${response.statusText}`,
      where,
    );
  }
  const header = response.headers.get('content-length');
  const expected = header === null ? undefined : Number(header);
  if (expected !== undefined && Number.isFinite(expected) && expected > maxBytes) {
    throw new FedscoreError('io', `refusing a ${expected}-byte body (limit ${maxBytes})`, where);
  }
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      if (received > maxBytes) {
        await reader.cancel();
        throw new FedscoreError('io', `body exceeds the ${maxBytes}-byte limit`, where);
      }
      chunks.push(value);
      progress({
        stage: 'download',
        done: received,
        ...(expected !== undefined && Number.isFinite(expected) && { total: expected }),
        unit: 'bytes',
      });
    }
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    throw new FedscoreError(
      'io',
      `download from ${url.host} interrupted after ${received} bytes${expected !== undefined ? ` of ${expected}` : ''} (truncated response): ${describeCause(e)}`,
      { ...where, cause: e },
    );
  }
  if (expected !== undefined && Number.isFinite(expected) && received !== expected) {
    throw new FedscoreError('io', `truncated response: received ${received} of ${expected} bytes`, where);
  }
  const body = new Uint8Array(received);
  let off = 0;
  for (const c of chunks) {
    body.set(c, off);
    off += c.length;
  }
  return body;
}

function describeCause(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
}

function csvText(table: ConvertedTable): string {
  return `${table.header.join(',')}\n${table.lines.join('\n')}\n`;
}

/** Write to a temporary name and rename, so a failed run never leaves a half-written file. */
function writeAtomically(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.partial`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
