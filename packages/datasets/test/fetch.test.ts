/**
 * Public data fetchers against a loopback HTTP server serving the files of ../shared/data (skipped with
 * a printed reason when that folder is absent). The converted splits are checked against the shared FATE
 * files: German cell for cell; default_credit after z-scoring our raw columns over all rows (FATE's
 * files are z-scored with the population standard deviation and rounded to 6 decimals, so the
 * tolerance is 1e-5).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFedscoreError } from '@fedscore/core';
import { fetchPublicDataset, PUBLIC_DATASETS, publicDatasetSource } from '@fedscore/datasets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DATA = fileURLToPath(new URL('../../../../shared/data', import.meta.url));
const RAW_CREDIT = join(DATA, 'default_credit', 'UCI_Credit_Card.raw.csv');
const GERMAN = join(DATA, 'german', 'german.data');
const present = existsSync(RAW_CREDIT) && existsSync(GERMAN);
if (!present) console.log(`fetch tests skipped: shared data not found at ${DATA}`);

function parseCsv(path: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

describe('source table', () => {
  it('lists both data sets with real public addresses and sha256 digests', () => {
    expect(PUBLIC_DATASETS.map((d) => d.name)).toEqual(['default_credit', 'german']);
    for (const d of PUBLIC_DATASETS) {
      expect(d.url).toMatch(/^https:\/\//);
      expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(publicDatasetSource('german').url).toBe(
      'https://archive.ics.uci.edu/ml/machine-learning-databases/statlog/german/german.data',
    );
  });

  it('rejects an unknown name with not_found', async () => {
    await expect(fetchPublicDataset('adult', tmpdir())).rejects.toSatisfy((e) =>
      isFedscoreError(e, 'not_found'),
    );
  });
});

describe.skipIf(!present)('fetch over loopback HTTP', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const out = (): string => mkdtempSync(join(dir, 'run-'));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedscore-fetch-'));
    const credit = readFileSync(RAW_CREDIT);
    const german = readFileSync(GERMAN);
    const tampered = Buffer.from(german);
    tampered[100] = tampered[100] === 0x31 ? 0x32 : 0x31;
    server = createServer((req, res) => {
      switch (req.url) {
        case '/UCI_Credit_Card.csv':
          res.writeHead(200, { 'content-type': 'text/csv', 'content-length': credit.length });
          res.end(credit);
          return;
        case '/german.data':
          res.writeHead(200, { 'content-length': german.length });
          res.end(german);
          return;
        case '/tampered/german.data':
          res.writeHead(200, { 'content-length': tampered.length });
          res.end(tampered);
          return;
        case '/truncated/UCI_Credit_Card.csv':
          // Announce the full length, send half, then cut the connection.
          res.writeHead(200, { 'content-length': credit.length });
          res.write(credit.subarray(0, credit.length >> 1), () => res.socket?.destroy());
          return;
        default:
          res.writeHead(404);
          res.end('not found');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('default_credit: 30,000 rows, FATE columns, values equal to the shared z-scored split (1e-5)', async () => {
    const d = out();
    const r = await fetchPublicDataset('default_credit', d, { url: `${base}/UCI_Credit_Card.csv` });
    expect(r.original.sha256).toBe(publicDatasetSource('default_credit').sha256);
    expect(readFileSync(r.original.path).equals(readFileSync(RAW_CREDIT))).toBe(true);
    expect(r.guest).toMatchObject({ rows: 30_000, columns: 15 });
    expect(r.host).toMatchObject({ rows: 30_000, columns: 11 });
    for (const party of ['guest', 'host'] as const) {
      const ours = parseCsv(party === 'guest' ? r.guest.path : r.host.path);
      const fate = parseCsv(join(DATA, 'default_credit', `default_credit_hetero_${party}.csv`));
      expect(ours.header.length).toBe(fate.header.length);
      expect(ours.rows.length).toBe(fate.rows.length);
      const lead = party === 'guest' ? 2 : 1;
      expect(ours.header.slice(0, lead)).toEqual(fate.header.slice(0, lead));
      const byId = new Map(ours.rows.map((row) => [row[0]!, row]));
      const n = ours.rows.length;
      let worst = 0;
      let labelMismatches = 0;
      for (let j = lead; j < ours.header.length; j++) {
        let mean = 0;
        for (const row of ours.rows) mean += Number(row[j]);
        mean /= n;
        let varSum = 0;
        for (const row of ours.rows) varSum += (Number(row[j]) - mean) ** 2;
        const sd = Math.sqrt(varSum / n);
        for (const f of fate.rows) {
          const o = byId.get(f[0]!)!;
          if (j === lead && party === 'guest' && o[1] !== f[1]) labelMismatches++;
          worst = Math.max(worst, Math.abs((Number(o[j]) - mean) / sd - Number(f[j])));
        }
      }
      expect(worst).toBeLessThan(1e-5);
      expect(labelMismatches).toBe(0);
    }
  });

  it('german: both files equal the shared split cell for cell', async () => {
    const d = out();
    const r = await fetchPublicDataset('german', d, { url: `${base}/german.data` });
    expect(r.guest).toMatchObject({ rows: 1000, columns: 36 });
    expect(r.host).toMatchObject({ rows: 1000, columns: 28 });
    for (const party of ['guest', 'host'] as const) {
      const ours = parseCsv(party === 'guest' ? r.guest.path : r.host.path);
      const shared = parseCsv(join(DATA, 'german', `german_hetero_${party}.csv`));
      expect(ours.header).toEqual(shared.header);
      expect(ours.rows.length).toBe(shared.rows.length);
      const byId = new Map(ours.rows.map((row) => [row[0]!, row]));
      const differing = shared.rows.filter((row) => byId.get(row[0]!)!.join(',') !== row.join(','));
      expect(differing).toEqual([]);
    }
  });

  it('a changed byte is checksum_mismatch naming both digests, and nothing is written', async () => {
    const d = out();
    const err = await fetchPublicDataset('german', d, { url: `${base}/tampered/german.data` }).catch(
      (e) => e,
    );
    expect(isFedscoreError(err, 'checksum_mismatch')).toBe(true);
    expect(err.message).toContain(publicDatasetSource('german').sha256);
    expect(err.details.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(err.message).toContain(err.details.actual);
    expect(readdirSync(d)).toEqual([]);
  });

  it('HTTP 404 is not_found naming the address', async () => {
    const err = await fetchPublicDataset('german', out(), { url: `${base}/nope/german.data` }).catch(
      (e) => e,
    );
    expect(isFedscoreError(err, 'not_found')).toBe(true);
    expect(err.message).toContain('/nope/german.data');
  });

  it('a truncated response is an io error, and nothing is written', async () => {
    const d = out();
    const err = await fetchPublicDataset('default_credit', d, {
      url: `${base}/truncated/UCI_Credit_Card.csv`,
    }).catch((e) => e);
    expect(isFedscoreError(err, 'io')).toBe(true);
    expect(err.message).toMatch(/truncated/);
    expect(readdirSync(d)).toEqual([]);
  });

  it('a refused connection is an io error', async () => {
    const err = await fetchPublicDataset('german', out(), { url: 'http://127.0.0.1:1/german.data' }).catch(
      (e) => e,
    );
    expect(isFedscoreError(err, 'io')).toBe(true);
  });
});
