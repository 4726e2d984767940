/**
 * The report in a real browser: Debian's Chromium renders the HTML headless (no network: the file is
 * opened from disk and its CSP forbids fetches) and must draw every chart. Two checks that do not trust
 * each other: the DOM after a virtual-time budget (each figure holds a uPlot canvas, the page's own
 * per-series pixel count is positive, no error text), and a screenshot decoded here (PNG inflate and
 * unfilter, RFC 2083) that must hold pixels in the series colours. Skips, saying why, where no Chromium
 * is installed (.ci/run installs it in CI). FEDSCORE_UPDATE_SCREENSHOT=1 copies the screenshot to
 * docs/images/report.png.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeReportFixture } from './report-fixtures.ts';
import { runCli } from './score-fixtures.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) {
  console.log('report browser test skipped: no Chromium at /usr/bin/chromium (apt-get install -y chromium)');
}

function chromium(args: string[], profile: string): Promise<string> {
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--hide-scrollbars',
    '--force-device-scale-factor=1',
    `--user-data-dir=${profile}`,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      CHROMIUM!,
      [...flags, ...args],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`chromium failed: ${err.message}\n${stderr.slice(-2000)}`));
        else resolve(stdout);
      },
    );
  });
}

/** RGBA pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes). */
function decodePng(bytes: Buffer): { width: number; height: number; rgba: Uint8Array } {
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < bytes.length) {
    const len = bytes.readUInt32BE(pos);
    const type = bytes.toString('latin1', pos + 4, pos + 8);
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const color = data[9];
      expect(depth).toBe(8);
      expect(data[12]).toBe(0); // not interlaced
      channels = color === 6 ? 4 : color === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let v = line[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) out[(y * width + x) * 4 + k] = cur[x * channels + k]!;
      out[(y * width + x) * 4 + 3] = channels === 4 ? cur[x * channels + 3]! : 255;
    }
    prev = cur;
  }
  return { width, height, rgba: out };
}

function pixelsNear(img: { rgba: Uint8Array }, hex: string, tolerance = 40): number {
  const c = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let p = 0; p < img.rgba.length; p += 4) {
    const d =
      Math.abs(img.rgba[p]! - c[0]!) +
      Math.abs(img.rgba[p + 1]! - c[1]!) +
      Math.abs(img.rgba[p + 2]! - c[2]!);
    if (d < tolerance) n++;
  }
  return n;
}

describe.skipIf(CHROMIUM === undefined)('fedscore report in headless Chromium', () => {
  let dir: string;
  let html: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedscore-report-browser-'));
    const fx = await makeReportFixture(dir);
    html = join(dir, 'report.html');
    const r = await runCli([
      'report',
      '--scores',
      fx.scored,
      '--baseline',
      fx.baseline,
      '--label',
      'y',
      '--score',
      'points',
      '--higher-is-better',
      '--psi-column',
      'turnover',
      '--iv',
      fx.iv,
      '--scorecard',
      fx.scorecard,
      '--title',
      'SME credit-line model: validation report',
      '--out',
      html,
      '--quiet',
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('draws every chart (DOM after a virtual-time budget)', async () => {
    const dom = await chromium(
      ['--virtual-time-budget=10000', '--window-size=1280,2000', '--dump-dom', pathToFileURL(html).href],
      mkdtempSync(join(dir, 'profile-')),
    );
    expect(dom).toContain('data-charts-done="yes"');
    const errors = /<div id="report-errors"[^>]*>([\s\S]*?)<\/div>/.exec(dom);
    expect(errors?.[1] ?? 'missing #report-errors').toBe('');
    const charts = ['roc', 'ks', 'distribution', 'calibration', 'lift', 'stability'];
    for (const id of charts) {
      const fig = new RegExp(`<figure[^>]*data-chart="${id}"[^>]*>([\\s\\S]*?)</figure>`).exec(dom);
      expect(fig, id).not.toBeNull();
      const tag = fig![0].slice(0, fig![0].indexOf('>') + 1);
      expect(tag, id).toContain('data-drawn="yes"');
      const ink = /data-series-ink="([\d,]+)"/.exec(tag)![1]!.split(',').map(Number);
      expect(ink.length, id).toBeGreaterThanOrEqual(2);
      for (const v of ink) expect(v, `${id} series ink ${ink.join(',')}`).toBeGreaterThan(20);
      expect(fig![1], id).toMatch(/<div class="uplot[^"]*"/);
      expect(fig![1], id).toContain('<canvas');
    }
  });

  it('looks drawn in a screenshot (decoded here: series colours present)', async () => {
    const png = join(dir, 'report.png');
    await chromium(
      [
        '--virtual-time-budget=10000',
        '--window-size=1280,1640',
        `--screenshot=${png}`,
        pathToFileURL(html).href,
      ],
      mkdtempSync(join(dir, 'profile-')),
    );
    const img = decodePng(readFileSync(png));
    expect([img.width, img.height]).toEqual([1280, 1640]);
    // bads red, goods/model blue, baseline purple, actual orange, gap green: each chart's strokes
    for (const [name, hex] of [
      ['bad', '#d1495b'],
      ['good', '#2a7ab0'],
      ['expected', '#7d5ba6'],
      ['actual', '#e08a1e'],
      ['gap', '#3c9d5d'],
    ] as const) {
      expect(pixelsNear(img, hex), name).toBeGreaterThan(300);
    }
    if (process.env['FEDSCORE_UPDATE_SCREENSHOT'] === '1') {
      copyFileSync(png, join(import.meta.dirname, '..', '..', '..', 'docs', 'images', 'report.png'));
    }
  });
});
