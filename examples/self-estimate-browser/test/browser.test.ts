/**
 * The page in a real browser: the bundle is built (build.ts), served from 127.0.0.1 by a small static
 * server (module scripts and node-seal's WASM do not load from file://), and Debian's Chromium opens
 * `index.html?auto`, which submits the example figures on load. After a virtual-time budget the DOM must
 * hold the estimate, equal to the plaintext scorecard and rules computed here in Node (band and line
 * exact, score within 0.05: the page prints one decimal). Skips, saying why, where no Chromium is
 * installed (.ci/run installs it in CI).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { decideCredit, scoreApplicant } from '@fedscore/scoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELDS, RULES, SCORECARD } from '../src/product.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  console.log(
    'self-estimate browser test skipped: no Chromium at /usr/bin/chromium (apt-get install -y chromium)',
  );
}

const root = join(import.meta.dirname, '..');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};

function run(cmd: string, args: string[], timeout: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, maxBuffer: 64 * 1024 * 1024, cwd: root }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

describe.skipIf(CHROMIUM === undefined)('self-estimate page in headless Chromium', () => {
  let server: Server;
  let base: string;
  let profile: string;
  beforeAll(async () => {
    // dist/ is not committed: build it from the current sources
    await run(process.execPath, ['--disable-warning=ExperimentalWarning', 'build.ts'], 120_000);
    server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      const file = join(root, path === '/' ? 'index.html' : path);
      if (!file.startsWith(root) || !existsSync(file) || !(extname(file) in TYPES)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': TYPES[extname(file)]! }).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'fedscore-self-estimate-chromium-'));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the line estimate equal to the plaintext decision', async () => {
    const dom = await run(
      CHROMIUM!,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=60000',
        '--dump-dom',
        `${base}/index.html?auto`,
      ],
      180_000,
    );
    const inputs = Object.fromEntries(FIELDS.map((f) => [f.name, f.example]));
    const score = scoreApplicant(SCORECARD, inputs);
    const decision = decideCredit(RULES, score, inputs);
    const result = /<p id="result"([^>]*)>([^<]*)<\/p>/.exec(dom);
    expect(result, 'no #result element').not.toBeNull();
    const [, attrs, text] = result!;
    expect(text).not.toMatch(/Error/);
    expect(attrs).toContain(`data-band="${decision.band}"`);
    expect(attrs).toContain(`data-line="${decision.line}"`);
    expect(text).toContain(`Band ${decision.band}: pre-approved line ${decision.line.toLocaleString()}`);
    const shown = /\(score ([\d.]+)\)/.exec(text!);
    if (shown) expect(Math.abs(Number(shown[1]) - score)).toBeLessThanOrEqual(0.05 + 1e-9);
    console.log(`self-estimate page: ${text}`);
  });
});
