/**
 * The console's one router (console/server.ts: one Hono app for pages, form posts, the live stream,
 * assets, login and the JSON API) on malformed requests: each page or form route that gets a field sent
 * twice, a field over its length, a query value outside its choices or a missing query parameter answers
 * a 400 page naming the field (the zod schemas of console/page-schema.ts), with every security header of
 * the console on it, changes nothing, and the node keeps answering. A 404 (a page, an asset, an API path),
 * a 405, a 415 and a request the HTTP adapter cannot read (a bad Host) carry the CSP too.
 */
import { request as httpRequest } from 'node:http';
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import { CONTENT_SECURITY_POLICY } from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConsoleClient,
  type ConsoleFixture,
  PASSWORD,
  startConsoleFixture,
  USERS,
} from './console-fixture.ts';

let fx: ConsoleFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Every answer of the console carries these (console/security.ts). */
function expectSecurityHeaders(headers: Headers, what: string): void {
  expect(headers.get('content-security-policy'), what).toBe(CONTENT_SECURITY_POLICY);
  expect(headers.get('x-frame-options'), what).toBe('DENY');
  expect(headers.get('x-content-type-options'), what).toBe('nosniff');
  expect(headers.get('cache-control'), what).toBe('no-store');
  expect(headers.get('referrer-policy'), what).toBe('same-origin');
}

/** A raw form post with the client's cookies (URLSearchParams keeps a repeated field). */
async function post(
  c: ConsoleClient,
  path: string,
  body: string,
  type = 'application/x-www-form-urlencoded',
): Promise<{ status: number; headers: Headers; body: string }> {
  const r = await fetch(c.base + path, {
    method: 'POST',
    headers: { cookie: [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'content-type': type },
    body,
    redirect: 'manual',
  });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

describe('console router', () => {
  it('answers a malformed page or form request with a 400 naming the field, security headers on, nothing changed', async () => {
    fx = await startConsoleFixture();
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const csrf = ConsoleClient.csrfOf((await op.request('/console/consent')).body);
    const consents = fx.consents.list().length;
    const auditBefore = [...fx.audit.entries()].length;
    const [enterprise, other] = generateUniqueUsccs(seededRng(1718), 2);
    const grant = new URLSearchParams({
      csrf,
      enterprise: enterprise!,
      grantee: 'bank-b',
      purpose: 'scoring',
      scope: 'tax',
      expiresAt: '2099-12-31',
    });
    const twice = new URLSearchParams(grant);
    twice.append('enterprise', other!);
    const long = new URLSearchParams({ csrf, id: 'p-long', name: 'x'.repeat(201), bank: 'bank-a' });
    const epochs = new URLSearchParams({ csrf, kind: 'hetero-lr', epochs: '5' });
    epochs.append('epochs', '6');
    const anon = new ConsoleClient(fx.base);
    const loginToken = ConsoleClient.csrfOf((await anon.request('/console/login')).body);
    const login = new URLSearchParams({ csrf: loginToken, username: 'olga', password: PASSWORD });
    login.append('username', 'aldo');

    const cases: [string, () => Promise<{ status: number; headers: Headers; body: string }>, string][] = [
      [
        'POST /console/consent, enterprise twice',
        () => post(op, '/console/consent', twice.toString()),
        'enterprise',
      ],
      ['POST /console/products, name too long', () => post(op, '/console/products', long.toString()), 'name'],
      ['POST /console/jobs, epochs twice', () => post(op, '/console/jobs', epochs.toString()), 'epochs'],
      [
        'POST /console/jobs/job-a1/explode',
        () => post(op, '/console/jobs/job-a1/explode', new URLSearchParams({ csrf }).toString()),
        'action',
      ],
      [
        'POST /console/login, username twice',
        () => post(anon, '/console/login', login.toString()),
        'username',
      ],
      ['GET /console/products?sort=bogus', () => op.request('/console/products?sort=bogus'), 'sort'],
      ['GET /console/products?amount=lots', () => op.request('/console/products?amount=lots'), 'amount'],
      [
        'GET /console/models/compare without b',
        () => op.request('/console/models/compare?a=bank-a-credit%401'),
        'b',
      ],
      ['GET /console/alerts?kind=<long>', () => op.request(`/console/alerts?kind=${'k'.repeat(61)}`), 'kind'],
    ];
    for (const [what, send, field] of cases) {
      const r = await send();
      expect(r.status, what).toBe(400);
      expect(r.body, what).toContain(`field ${field})`);
      expect(r.headers.get('content-type'), what).toBe('text/html; charset=utf-8');
      expectSecurityHeaders(r.headers, what);
    }
    // Nothing was recorded, no session was opened, and the node still answers.
    expect(fx.consents.list().length).toBe(consents);
    expect(fx.products.get('p-long')).toBeUndefined();
    expect([...fx.audit.entries()].length).toBe(auditBefore);
    expect(anon.cookies.has('__Host-fedscore-session')).toBe(false);
    expect((await op.request('/console/jobs')).status).toBe(200);
    // The CSRF check comes first: a malformed form without the token is a 403, not a 400.
    const noToken = new URLSearchParams(twice);
    noToken.delete('csrf');
    expect((await post(op, '/console/consent', noToken.toString())).status).toBe(403);
    // The valid grant still goes through.
    expect((await post(op, '/console/consent', grant.toString())).status).toBe(303);
    expect(fx.consents.list().length).toBe(consents + 1);
  });

  it('puts the CSP on 404s (page, asset, API), 405, 413, 415 and a request the adapter cannot read', async () => {
    fx = await startConsoleFixture();
    const anon = new ConsoleClient(fx.base);
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    for (const [c, path] of [
      [anon, '/console/no-such-page'],
      [op, '/console/no-such-page'],
      [op, '/console/jobs/job-zz'],
      [op, '/console/static/nothing.js'],
      [anon, '/console/api/nothing-here'],
    ] as const) {
      const r = await c.request(path);
      expect(r.status, path).toBe(404);
      expectSecurityHeaders(r.headers, path);
    }
    // The API's 404 is JSON, the pages' is HTML.
    const api404 = await op.request('/console/api/nothing-here');
    expect(api404.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(api404.body)).toMatchObject({ error: { code: 'not_found' } });
    const page404 = await op.request('/console/no-such-page');
    expect(page404.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // A known page with another method: 405 naming what it takes.
    const put = await op.request('/console/jobs', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    expectSecurityHeaders(put.headers, 'PUT /console/jobs');
    // A form sent as another media type: 415.
    const csrf = ConsoleClient.csrfOf((await op.request('/console/consent')).body);
    const plain = await post(op, '/console/consent', `csrf=${csrf}`, 'text/plain');
    expect(plain.status).toBe(415);
    expectSecurityHeaders(plain.headers, 'text/plain form');
    // A form over 64 KiB: 413.
    const large = await post(op, '/console/consent', `csrf=${csrf}&scope=${'x'.repeat(70 * 1024)}`);
    expect(large.status).toBe(413);
    expectSecurityHeaders(large.headers, 'a 70 KiB form');
    // A page asked for with a trailing slash: on to the page (relative, query kept).
    const slash = await op.request('/console/products/?sort=rate');
    expect([slash.status, slash.headers.get('location')]).toEqual([303, '/console/products?sort=rate']);
    expectSecurityHeaders(slash.headers, 'GET /console/products/');
    // HEAD of a page: the page's headers, no body.
    const head = await op.request('/console/jobs', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expectSecurityHeaders(head.headers, 'HEAD /console/jobs');
    // A Host header the adapter refuses to build a URL from: 400, still with the headers.
    const port = Number(new URL(fx.base).port);
    const bad = await new Promise<{ status: number; csp: string | undefined }>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/console/', headers: { host: 'a b' } },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, csp: String(res.headers['content-security-policy']) });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(bad).toEqual({ status: 400, csp: CONTENT_SECURITY_POLICY });
    expect((await op.request('/console/')).status).toBe(200);
  });
});
