/**
 * `fedscore datasets generate | fetch | baseline`: flags map to the library options, JSON results carry
 * paths and row counts, output is deterministic for a seed, and errors exit non-zero with their code.
 * The fetch case runs against a loopback HTTP server serving ../shared/data (skipped with a printed
 * reason when absent).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, runCli } from './run-cli.ts';

const root = mkdtempSync(join(tmpdir(), 'fedscore-cli-datasets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fedscore datasets generate', () => {
  it('writes both files and the manifest, prints paths and row counts as JSON, same bytes per seed', async () => {
    const args = [
      'datasets',
      'generate',
      '--enterprises',
      '1000',
      '--overlap',
      '0.5',
      '--seed',
      '9',
      '--json',
    ];
    const a = await runCli([...args, '--out', join(root, 'a')]);
    expect(a.code).toBe(0);
    const ra = lastJson(a.stdout) as {
      government: { path: string; rows: number; sha256: string };
      bank: { path: string; rows: number; sha256: string };
      manifest: string;
      overlap: number;
    };
    expect(ra.government.rows).toBe(1000);
    expect(ra.bank.rows).toBe(500 + 15);
    expect(ra.overlap).toBe(500);
    expect(existsSync(ra.government.path) && existsSync(ra.bank.path) && existsSync(ra.manifest)).toBe(true);
    const b = await runCli([...args, '--out', join(root, 'b')]);
    const rb = lastJson(b.stdout) as typeof ra;
    expect(rb.government.sha256).toBe(ra.government.sha256);
    expect(rb.bank.sha256).toBe(ra.bank.sha256);
  });

  it('maps --bank-customers, extra features and --label-column', async () => {
    const r = await runCli([
      'datasets',
      'generate',
      '--enterprises',
      '500',
      '--bank-customers',
      '123',
      '--bank-only-fraction',
      '0',
      '--gov-extra-features',
      '7',
      '--bank-extra-features',
      '2',
      '--label-column',
      'default_12m',
      '--out',
      join(root, 'c'),
      '--json',
    ]);
    expect(r.code).toBe(0);
    const j = lastJson(r.stdout) as { bank: { path: string; rows: number; columns: number } };
    expect(j.bank.rows).toBe(123);
    const header = readFileSync(j.bank.path, 'utf8').split('\n')[0]!.split(',');
    expect(header.slice(0, 2)).toEqual(['uscc', 'default_12m']);
    expect(header.at(-1)).toBe('bank_extra_002');
    expect(j.bank.columns).toBe(header.length);
  });

  it('refuses --bank-customers with --overlap, naming the option', async () => {
    const r = await runCli([
      'datasets',
      'generate',
      '--bank-customers',
      '10',
      '--overlap',
      '0.5',
      '--out',
      join(root, 'd'),
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'invalid_argument', field: 'bankCustomers' } });
  });
});

describe('fedscore datasets baseline', () => {
  it('reports bank-only, government-only and pooled AUC with the lift', async () => {
    const r = await runCli(['datasets', 'baseline', '--enterprises', '4000', '--json']);
    expect(r.code).toBe(0);
    const j = lastJson(r.stdout) as { lift: number; pooled: { auc: number }; bankOnly: { auc: number } };
    expect(j.lift).toBeCloseTo(j.pooled.auc - j.bankOnly.auc, 12);
    expect(j.pooled.auc).toBeGreaterThan(0.6);
  });
});

const DATA = new URL('../../../../shared/data/', import.meta.url).pathname;
const GERMAN = join(DATA, 'german', 'german.data');
const haveData = existsSync(GERMAN);
if (!haveData) console.log(`skipping 'datasets fetch' over loopback: ${GERMAN} is absent`);

describe('fedscore datasets fetch', () => {
  it('an unknown name exits 1 with not_found', async () => {
    const r = await runCli(['datasets', 'fetch', 'nope', '--dir', join(root, 'x'), '--json']);
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'not_found' } });
  });

  describe.skipIf(!haveData)('over loopback HTTP', () => {
    let server: Server;
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('downloads german from --url and writes the FATE split', async () => {
      const body = readFileSync(GERMAN);
      server = createServer((req, res) => {
        if (req.url === '/german.data') {
          res.writeHead(200, { 'content-length': body.length });
          res.end(body);
        } else {
          res.writeHead(404);
          res.end();
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const dir = join(root, 'german');
      const r = await runCli([
        'datasets',
        'fetch',
        'german',
        '--dir',
        dir,
        '--url',
        `${base}/german.data`,
        '--json',
      ]);
      expect(r.code).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({
        name: 'german',
        guest: { rows: 1000, columns: 36 },
        host: { rows: 1000, columns: 28 },
      });
      expect(existsSync(join(dir, 'german_hetero_guest.csv'))).toBe(true);
      const missing = await runCli([
        'datasets',
        'fetch',
        'german',
        '--dir',
        dir,
        '--url',
        `${base}/x`,
        '--json',
      ]);
      expect(missing.code).toBe(1);
      expect(lastJson(missing.stdout)).toMatchObject({ error: { code: 'not_found' } });
    });
  });
});
