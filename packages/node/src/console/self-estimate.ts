/**
 * The enterprise's page ("scan a code, see your line"): the compact self-estimate
 * (scoring.self-estimate-compact, docs/protocols/self-estimate.md) served by the bank's node under
 * /estimate/, without login: the enterprise is not a console user, and everything it sends is encrypted
 * under a key made in its own browser.
 *
 * Routes (everything else under /estimate/ is 404):
 *   GET  /estimate/                  the page (no inline script or style)
 *   GET  /estimate/page.css, icon.svg its stylesheet and icon
 *   GET  /estimate/<bundle>.js|wasm  the client bundle and node-seal's WASM (`assetsDir`, built by
 *                                    examples/self-estimate-browser/build.ts), gzip when accepted
 *   GET  /estimate/form              message 1 (the form) as one wire envelope
 *   POST /estimate/run               messages 2-3 (keys, encrypted inputs) as length-prefixed envelopes
 *                                    (u32 big-endian length, then the bytes); answers message 4
 * The bank side runs `SelfEstimateCompactBank` over a one-request channel: the posted envelopes are its
 * inbox, its result is the response.
 *
 * Defences: per remote address at most `perMinute` estimates a minute (429 with retry-after; a metered
 * oracle, see the protocol's note on probing), at most `concurrency` estimates at once (503), a body
 * limit (2 MiB), the console's security headers with a CSP that only adds 'wasm-unsafe-eval' (node-seal
 * compiles WASM; no 'unsafe-eval', no inline anything, connect-src 'self'), no third-party request. A
 * malformed request is a typed 400 (its code and field, never a value); the node logs no figure, key or
 * result (it has none in the clear).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type Channel,
  type ChannelStats,
  type Envelope,
  FedscoreError,
  isFedscoreError,
  type Logger,
  noopLogger,
  ProtocolSession,
} from '@fedscore/core';
import { createCkksContext } from '@fedscore/he';
import {
  SCORING_VERSION,
  SELF_ESTIMATE_COMPACT_PARAMS,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SELF_ESTIMATE_FORM,
  SelfEstimateCompactBank,
  type SelfEstimateCompactModel,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { html } from './html.ts';

export const ESTIMATE_BASE = '/estimate/';
/** The session name of every page estimate (each request is its own run). */
export const ESTIMATE_SESSION = 'page';
export const ESTIMATE_BANK = 'bank';
export const ESTIMATE_CLIENT = 'enterprise';

export const ESTIMATE_CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': ESTIMATE_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const MAX_BODY = 2 * 1024 * 1024;

export interface SelfEstimatePageOptions {
  readonly model: SelfEstimateCompactModel;
  /** Directory with the built client: `bundle` and node-seal's seal_throws.wasm. */
  readonly assetsDir: string;
  /** File name of the client bundle in `assetsDir`. Default 'estimate-page.js'. */
  readonly bundle?: string;
  /** Estimates per remote address and minute. Default 6. */
  readonly perMinute?: number;
  /** Estimates evaluated at once (HE work is CPU-bound). Default 2. */
  readonly concurrency?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export type SelfEstimatePageHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The bank's end of one request: the posted envelopes are its inbox, what it sends is collected. */
class OneRequestChannel implements Channel {
  readonly party = ESTIMATE_BANK;
  readonly sent: Envelope[] = [];
  readonly #inbox: Envelope[];
  readonly #stats = { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };

  constructor(inbox: Envelope[]) {
    this.#inbox = inbox;
  }

  async send(envelope: Envelope): Promise<void> {
    this.sent.push(envelope);
  }

  async receive(from: string, session: string): Promise<Envelope> {
    const e = this.#inbox.shift();
    if (e === undefined)
      throw new FedscoreError('protocol_step', 'the request ended early', { field: 'body' });
    if (e.sender !== from || e.receiver !== ESTIMATE_BANK || e.session !== session) {
      throw new FedscoreError('protocol_step', 'an envelope for another party or session', { field: 'body' });
    }
    return e;
  }

  stats(): ChannelStats {
    return this.#stats;
  }

  close(): void {}
}

function splitEnvelopes(body: Uint8Array): Envelope[] {
  const out: Envelope[] = [];
  let o = 0;
  while (o < body.length) {
    if (o + 4 > body.length || out.length >= 8)
      throw new FedscoreError('wire_decode', 'bad framing', { field: 'body' });
    const n = new DataView(body.buffer, body.byteOffset + o, 4).getUint32(0);
    o += 4;
    if (o + n > body.length) throw new FedscoreError('wire_decode', 'bad framing', { field: 'body' });
    out.push(envelopeCodec.decode(body.subarray(o, o + n)));
    o += n;
  }
  return out;
}

function pageHtml(bundle: string): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>See your pre-approved line</title>
<link rel="stylesheet" href="page.css">
<link rel="icon" href="icon.svg" type="image/svg+xml">
</head>
<body>
<main>
<h1>See your pre-approved line</h1>
<p class="note">Your figures are encrypted in this page with a key made here. The bank computes on the
ciphertexts; only this page can read the answer. Leave a field empty if you do not know it.</p>
<form id="figures" aria-describedby="status"><p id="status" aria-live="polite">Loading the form...</p></form>
<p id="result" aria-live="polite"></p>
</main>
<script type="module" src="${bundle}"></script>
</body>
</html>`.toString();
}

const PAGE_CSS = `body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#111;background:#fff}
main{max-width:30rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem}
.note{color:#333;font-size:.95rem}
label{display:block;margin:.7rem 0;font-weight:600}
input{display:block;width:100%;box-sizing:border-box;padding:.55rem;font:inherit;border:1px solid #555;border-radius:4px}
input:focus,button:focus{outline:3px solid #0b57d0;outline-offset:2px}
button{margin-top:1rem;width:100%;padding:.8rem;font:inherit;font-weight:600;color:#fff;background:#0b57d0;border:0;border-radius:4px}
button:disabled{background:#555}
#result{margin-top:1.2rem;font-weight:600;font-size:1.1rem}
`;

const PAGE_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b57d0"/>' +
  '<path d="M4 11h8M4 8h6M4 5h4" stroke="#fff" stroke-width="1.6"/></svg>';

/** The page's handler: answers paths under /estimate/, returns false for others. */
export function createSelfEstimatePageHandler(options: SelfEstimatePageOptions): SelfEstimatePageHandler {
  const logger = (options.logger ?? noopLogger).child({ component: 'self-estimate-page' });
  const now = options.now ?? Date.now;
  const perMinute = options.perMinute ?? 6;
  const concurrency = options.concurrency ?? 2;
  const bundle = options.bundle ?? 'estimate-page.js';
  const page = Buffer.from(pageHtml(bundle));
  const assets = new Map<string, { type: string; raw: Buffer; gzip: Buffer }>();
  const asset = (name: string, type: string, raw: Buffer) =>
    assets.set(name, { type, raw, gzip: gzipSync(raw, { level: 9 }) });
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(options.assetsDir, name));
    } catch (e) {
      throw new FedscoreError(
        'io',
        `cannot read the page's ${name}; build it (examples/self-estimate-browser)`,
        {
          file: join(options.assetsDir, name),
          field: 'console.selfEstimate.assets',
          cause: e,
        },
      );
    }
  };
  asset(bundle, 'text/javascript; charset=utf-8', read(bundle));
  asset('seal_throws.wasm', 'application/wasm', read('seal_throws.wasm'));
  asset('page.css', 'text/css; charset=utf-8', Buffer.from(PAGE_CSS));
  asset('icon.svg', 'image/svg+xml', Buffer.from(PAGE_ICON));
  const form = envelopeCodec.encode({
    protocol: SELF_ESTIMATE_COMPACT_PROTOCOL,
    version: SCORING_VERSION,
    session: ESTIMATE_SESSION,
    step: SELF_ESTIMATE_FORM.name,
    sender: ESTIMATE_BANK,
    receiver: ESTIMATE_CLIENT,
    seq: 0,
    payload: SELF_ESTIMATE_FORM.encode(options.model.form),
  });
  // Load node-seal's WASM on this thread now, not in the first enterprise's request (~0.5-1 s).
  void createCkksContext({ params: SELF_ESTIMATE_COMPACT_PARAMS, relinearization: false }).then(
    (c) => c.dispose(),
    () => undefined,
  );
  const windows = new Map<string, { start: number; count: number }>();
  let running = 0;

  const send = (res: ServerResponse, status: number, type: string, body: Uint8Array | string, extra = {}) =>
    res
      .writeHead(status, { ...HEADERS, 'cache-control': 'no-store', 'content-type': type, ...extra })
      .end(body);
  const fail = (res: ServerResponse, status: number, code: string, field?: string, extra = {}) =>
    send(
      res,
      status,
      'application/json',
      JSON.stringify({ code, ...(field !== undefined && { field }) }),
      extra,
    );

  const allow = (req: IncomingMessage): number => {
    const key = req.socket.remoteAddress ?? '?';
    const t = now();
    const w = windows.get(key);
    if (w === undefined || t - w.start >= 60_000) {
      if (windows.size > 10_000) windows.clear();
      windows.set(key, { start: t, count: 1 });
      return 0;
    }
    if (w.count >= perMinute) return Math.ceil((w.start + 60_000 - t) / 1000);
    w.count++;
    return 0;
  };

  const run = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) {
        fail(res, 413, 'too_large', 'body');
        req.destroy();
        return;
      }
      chunks.push(c);
    }
    const inbox = splitEnvelopes(new Uint8Array(Buffer.concat(chunks)));
    if (inbox.length !== 2 || inbox.some((e) => e.protocol !== SELF_ESTIMATE_COMPACT_PROTOCOL)) {
      throw new FedscoreError('protocol_step', 'expected the two compact self-estimate messages', {
        field: 'body',
      });
    }
    const channel = new OneRequestChannel(inbox);
    const session = new ProtocolSession(channel, {
      protocol: SELF_ESTIMATE_COMPACT_PROTOCOL,
      version: SCORING_VERSION,
      session: ESTIMATE_SESSION,
    });
    await new SelfEstimateCompactBank({ model: options.model, logger }).serve(session, ESTIMATE_CLIENT);
    const result = channel.sent[channel.sent.length - 1]!;
    send(res, 200, 'application/octet-stream', envelopeCodec.encode(result));
  };

  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/estimate') {
      res.writeHead(308, { ...HEADERS, location: ESTIMATE_BASE }).end();
      return true;
    }
    if (!path.startsWith(ESTIMATE_BASE)) return false;
    const name = path.slice(ESTIMATE_BASE.length);
    if (name === 'run') {
      if (req.method !== 'POST') {
        fail(res, 405, 'method', undefined, { allow: 'POST' });
        return true;
      }
      const wait = allow(req);
      if (wait > 0) {
        req.resume();
        fail(res, 429, 'rate_limited', undefined, { 'retry-after': String(wait) });
        return true;
      }
      if (running >= concurrency) {
        req.resume();
        fail(res, 503, 'busy', undefined, { 'retry-after': '2' });
        return true;
      }
      running++;
      run(req, res)
        .catch((e: unknown) => {
          const code = isFedscoreError(e) ? e.code : 'internal';
          const field = isFedscoreError(e) ? e.field : undefined;
          logger.warn('self-estimate refused', { code, ...(field !== undefined && { field }) });
          if (!res.headersSent) fail(res, isFedscoreError(e) ? 400 : 500, code, field);
        })
        .finally(() => {
          running--;
        });
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      fail(res, 405, 'method', undefined, { allow: 'GET, HEAD' });
      return true;
    }
    if (name === '') {
      send(res, 200, 'text/html; charset=utf-8', page);
      return true;
    }
    if (name === 'form') {
      send(res, 200, 'application/octet-stream', form);
      return true;
    }
    const a = assets.get(name);
    if (a === undefined) {
      fail(res, 404, 'not_found');
      return true;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res
      .writeHead(200, {
        ...HEADERS,
        'content-type': a.type,
        'cache-control': 'public, max-age=3600',
        vary: 'accept-encoding',
        ...(gzip && { 'content-encoding': 'gzip' }),
      })
      .end(gzip ? a.gzip : a.raw);
    return true;
  };
}
