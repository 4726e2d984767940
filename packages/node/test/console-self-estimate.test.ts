/**
 * The enterprise's self-estimate page on a bank's node (config `console.selfEstimate`, console off):
 * served under /estimate/ without login with the page CSP and no inline script, the form as one wire
 * envelope, the assets gzip-compressed when asked; a full estimate over HTTP (the enterprise's side in
 * Node, the same messages the page sends) equals the plaintext decision; a malformed request is a typed
 * 400 and the node keeps serving; more than `perMinute` estimates from one address get 429 with
 * retry-after; the config refuses the page without an http address. (The page in Chromium on a
 * throttled 4G profile: examples/self-estimate-browser/test/node-page.test.ts.)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Channel, type Envelope, ProtocolSession } from '@fedscore/core';
import {
  createDevCa,
  ESTIMATE_CONTENT_SECURITY_POLICY,
  issuePartyCert,
  PartyNode,
  type TlsMaterial,
  validateNodeConfig,
} from '@fedscore/node';
import {
  buildScorecard,
  decideCredit,
  parseCreditRules,
  SCORING_VERSION,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SelfEstimateCompactClient,
  scoreApplicant,
  serializeScorecard,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'fedscore-estimate-page-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ca = createDevCa();

const CARD = buildScorecard(
  {
    intercept: -2,
    interceptHolder: 'bank',
    features: [
      {
        party: 'bank',
        name: 'revenue',
        bins: { kind: 'numeric', name: 'revenue', edges: [1e6, 5e6], missing: true },
        woe: [-0.8, 0.1, 0.9, -0.3],
        coefficient: -0.9,
      },
      {
        party: 'bank',
        name: 'overdue',
        bins: { kind: 'numeric', name: 'overdue', edges: [0, 2], missing: false },
        woe: [0.5, -0.4, -1.2],
        coefficient: -1.1,
      },
    ],
  },
  { baseScore: 600, baseOdds: 50, pdo: 20 },
);
const RULES_TEXT = `
format: fedscore.credit-rules
version: 1
figures: { revenue: revenue }
baseRateBp: 435
rounding: 10000
bands:
  - { name: A, minScore: 620, revenueMultiple: 0.3, maxLine: 5000000 }
  - { name: B, minScore: 590, revenueMultiple: 0.1, maxLine: 1000000 }
  - { name: C, approve: false }
`;
const RULES = parseCreditRules(RULES_TEXT);

/** The enterprise's end over HTTP: GET form, then one POST with its two messages. */
class HttpChannel implements Channel {
  readonly party = 'enterprise';
  readonly #out: Uint8Array[] = [];
  readonly base: string;
  #n = 0;
  constructor(base: string) {
    this.base = base;
  }
  async send(e: Envelope): Promise<void> {
    this.#out.push(envelopeCodec.encode(e));
  }
  async receive(): Promise<Envelope> {
    const r =
      this.#n++ === 0
        ? await fetch(`${this.base}form`)
        : await fetch(`${this.base}run`, { method: 'POST', body: frame(this.#out) });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return envelopeCodec.decode(new Uint8Array(await r.arrayBuffer()));
  }
  stats() {
    return { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
  }
  close(): void {}
}

function frame(items: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(items.reduce((a, b) => a + 4 + b.length, 0));
  let o = 0;
  for (const e of items) {
    new DataView(out.buffer, o, 4).setUint32(0, e.length);
    out.set(e, o + 4);
    o += 4 + e.length;
  }
  return out;
}

describe('self-estimate page on a bank node', () => {
  let node: PartyNode;
  let base: string;
  beforeAll(async () => {
    const assets = join(root, 'assets');
    mkdirSync(assets);
    writeFileSync(join(assets, 'estimate-page.js'), 'export const page = "the client bundle";\n'.repeat(50));
    writeFileSync(join(assets, 'seal_throws.wasm'), new Uint8Array(1000));
    writeFileSync(join(root, 'card.json'), serializeScorecard(CARD));
    writeFileSync(join(root, 'rules.yaml'), RULES_TEXT);
    const tls: TlsMaterial = { ca: ca.cert, ...issuePartyCert({ ca, party: 'bank' }) };
    const config = validateNodeConfig(
      {
        party: 'bank',
        listen: '127.0.0.1:0',
        http: '127.0.0.1:0',
        stateDir: join(root, 'bank'),
        tls: { ca: 'x', cert: 'x', key: 'x' },
        peers: { government: { address: '127.0.0.1:1' } },
        console: {
          selfEstimate: {
            scorecard: 'card.json',
            rules: 'rules.yaml',
            product: 'SME line',
            assets: 'assets',
            revealScore: true,
            perMinute: 3,
          },
        },
      },
      { baseDir: root },
    );
    node = await PartyNode.start({ config, tls });
    base = `http://127.0.0.1:${node.httpPort}/estimate/`;
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('serves the page without login under a strict CSP, and no console', async () => {
    const page = await fetch(base);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(ESTIMATE_CONTENT_SECURITY_POLICY);
    const text = await page.text();
    expect(text).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(text).not.toMatch(/style=/);
    expect(text).toContain('src="estimate-page.js"');
    const js = await fetch(`${base}estimate-page.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-encoding')).toBe('gzip');
    expect((await js.text()).startsWith('export const page')).toBe(true); // fetch decodes gzip
    expect((await fetch(`${base}nothing`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${node.httpPort}/console/login`)).status).toBe(404);
  });

  it('answers an estimate equal to the plaintext decision; refuses junk with a typed 400; limits the rate', async () => {
    const values = { revenue: 3e6, overdue: 0 };
    const spec = { protocol: SELF_ESTIMATE_COMPACT_PROTOCOL, version: SCORING_VERSION, session: 'page' };
    const out = await new SelfEstimateCompactClient().estimate(
      new ProtocolSession(new HttpChannel(base), spec),
      'bank',
      values,
    );
    const score = scoreApplicant(CARD, values);
    const plain = decideCredit(RULES, score, values);
    expect(out.band).toBe(plain.band);
    expect(out.line).toBe(plain.line);
    expect(Math.abs(out.score! - score)).toBeLessThan(0.05);
    const junk = await fetch(`${base}run`, { method: 'POST', body: new Uint8Array([0, 0, 0, 9, 1, 2]) });
    expect(junk.status).toBe(400);
    expect(await junk.json()).toMatchObject({ code: 'wire_decode', field: 'body' });
    const third = await fetch(`${base}run`, { method: 'POST', body: new Uint8Array(0) });
    expect(third.status).toBe(400); // the third of 3 a minute: refused as malformed, still counted
    const fourth = await fetch(`${base}run`, { method: 'POST', body: new Uint8Array(0) });
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await fetch(`${base}form`)).status).toBe(200); // the node keeps serving
  }, 60_000);

  it('the config refuses the page without an http address', () => {
    expect(() =>
      validateNodeConfig({
        party: 'bank',
        listen: '127.0.0.1:0',
        stateDir: join(root, 'x'),
        tls: { ca: 'x', cert: 'x', key: 'x' },
        peers: {},
        console: { selfEstimate: { scorecard: 'a', rules: 'b', product: 'p', assets: 'c' } },
      }),
    ).toThrow(/selfEstimate/);
  });
});
