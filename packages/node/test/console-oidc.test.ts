/**
 * OIDC login of the console (console/oidc.ts, docs/console.md) against a real OpenID provider:
 * `oidc-provider` 9 on loopback with its development login and consent forms, driven over plain HTTP
 * (a cookie jar per site, redirects followed by hand, the provider's forms filled and posted). Nothing
 * of the protocol is mocked. The tamper cases put an attacker between the node and the provider's token
 * endpoint (the node's `fetch`): it swaps the ID token for a changed one, re-signed with the provider's
 * own key where the case is about a claim (audience, expiry, nonce), so that only that claim is wrong.
 * A control re-signs the token unchanged and must be accepted, which shows the re-signing is faithful.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConsoleOidc,
  type ConsoleOidcConfig,
  mapOidcClaims,
  OIDC_COOKIE,
  type OidcFetch,
  readOidcClientSecret,
  SESSION_COOKIE,
  validateNodeConfig,
} from '@fedscore/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture } from './console-fixture.ts';
import { type OidcIdp, SECRET_ENV, startOidcIdp } from './oidc-fixture.ts';

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A JWS (RS256) over a header and payload, signed with node:crypto (RFC 7515 section 3.1). */
function signJws(header: object, payload: object, key: KeyObject): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${b64u(sign('sha256', Buffer.from(input), key))}`;
}

function decode(jws: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jws.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
  };
}

let idp: OidcIdp;
let signingKey: KeyObject;
let fx: ConsoleFixture;
let secretDir: string;
/** Applied by the attacker on the node's way to the token endpoint, when set. */
let tamper: ((idToken: string) => string) | undefined;

const tamperingFetch: OidcFetch = async (url, init) => {
  const r = await fetch(url, init as RequestInit);
  if (tamper === undefined || !new URL(url).pathname.endsWith('/token') || r.status !== 200) return r;
  const body = (await r.json()) as Record<string, unknown>;
  body['id_token'] = tamper(String(body['id_token']));
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
};

beforeAll(async () => {
  idp = await startOidcIdp();
  signingKey = idp.signingKey;
  fx = await startConsoleFixture({
    oidc: (base) =>
      new ConsoleOidc(idp.config(base), { env: { [SECRET_ENV]: idp.secret }, fetch: tamperingFetch }),
  });
  idp.serve(fx.base);
  secretDir = mkdtempSync(join(tmpdir(), 'fedscore-oidc-'));
}, 60_000);

afterAll(async () => {
  await fx?.close();
  await idp?.close();
  rmSync(secretDir, { recursive: true, force: true });
});

beforeEach(() => {
  tamper = undefined;
  fx.refused.length = 0;
});

/** A cookie jar for the provider's site; requests never follow redirects. */
class Jar {
  readonly cookies = new Map<string, string>();
  async get(url: string, init: { form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const r = await fetch(url, {
      method: init.form === undefined ? 'GET' : 'POST',
      headers,
      redirect: 'manual',
      ...(init.form !== undefined && { body: new URLSearchParams(init.form).toString() }),
    });
    for (const c of r.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      const i = pair.indexOf('=');
      if (pair.slice(i + 1) === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(c)) {
        this.cookies.delete(pair.slice(0, i));
      } else this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return r;
  }
}

/** The provider's form on a page: its action and hidden fields. */
function parseForm(page: string, at: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
  if (action === undefined) throw new Error(`no form at ${at}`);
  const fields: Record<string, string> = {};
  for (const m of page.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    fields[m[1]!] = m[2]!;
  }
  return { action: new URL(action.replaceAll('&amp;', '&'), at).href, fields };
}

/**
 * Drive a login as the provider's user `user`: the console's login page, its "Sign in with" link, the
 * provider's login and consent forms, and back to the console's callback (where `callback` may change
 * the URL the browser is sent to). Returns the console's answer to the callback and the browser.
 */
async function oidcLogin(
  user: string,
  options: { callback?: (url: URL) => URL; browser?: ConsoleClient } = {},
): Promise<{ status: number; body: string; browser: ConsoleClient; jar: Jar }> {
  const browser = options.browser ?? new ConsoleClient(fx.base);
  const login = await browser.request('/console/login');
  expect(login.body).toContain('Sign in with Test IdP');
  const start = await browser.request('/console/oidc/start');
  expect(start.status).toBe(303);
  expect(browser.cookies.has(OIDC_COOKIE)).toBe(true);
  let location = start.headers.get('location')!;
  expect(location.startsWith(idp.issuer)).toBe(true);
  const authorize = new URL(location);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorize.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(authorize.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const jar = new Jar();
  let form: Record<string, string> | undefined;
  for (let step = 0; step < 16 && !location.startsWith(fx.base); step++) {
    const r = form === undefined ? await jar.get(location) : await jar.get(location, { form });
    form = undefined;
    if (r.status === 302 || r.status === 303) {
      location = new URL(r.headers.get('location')!, location).href;
      continue;
    }
    const page = await r.text();
    expect(r.status, page).toBe(200);
    const f = parseForm(page, location);
    form = page.includes('name="login"')
      ? { ...f.fields, login: user, password: 'any password' }
      : { ...f.fields };
    location = f.action;
  }
  expect(location.startsWith(`${fx.base}/console/oidc/callback?`)).toBe(true);
  let back = new URL(location);
  expect(back.searchParams.get('code')).not.toBeNull();
  if (options.callback !== undefined) back = options.callback(back);
  const r = await browser.request(back.pathname + back.search);
  return { status: r.status, body: r.body, browser, jar };
}

describe('console OIDC login against a real provider (oidc-provider on loopback)', () => {
  it('signs a bank analyst in with the role and bank of its claims, scoped to its bank', async () => {
    const { status, body, browser } = await oidcLogin('alice');
    expect(status).toBe(200);
    expect(body).toContain('Signed in as oidc:alice');
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(true);
    expect(browser.cookies.has(OIDC_COOKIE)).toBe(false);
    expect(fx.accounts.get('oidc:alice')).toMatchObject({ role: 'bank-analyst', bank: 'bank-a' });
    const home = await browser.request('/console/');
    expect(home.status).toBe(200);
    expect(home.body).toContain('oidc:alice (bank-analyst, bank-a)');
    const jobs = await browser.request('/console/jobs');
    expect(jobs.body).toContain('job-a1');
    expect(jobs.body).not.toContain('job-b1');
    expect((await browser.request('/console/jobs/job-a1')).status).toBe(200);
    // Another bank's job, by direct URL: answered like a job that does not exist.
    const other = await browser.request('/console/jobs/job-b1');
    expect(other.status).toBe(404);
    expect((await browser.request('/console/jobs/job-none')).body).toBe(other.body);
    expect(fx.refused).toEqual([]);
  });

  it("logs out at the provider too (RP-Initiated Logout): the session's ID token as the hint", async () => {
    const { status, browser, jar } = await oidcLogin('alice');
    expect(status).toBe(200);
    const home = await browser.request('/console/');
    const out = await browser.request('/console/logout', { form: { csrf: ConsoleClient.csrfOf(home.body) } });
    expect(out.status).toBe(200);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    expect((await browser.request('/console/')).status).toBe(303);
    const href = /<a href="([^"]+)" id="provider-logout"/.exec(out.body)?.[1];
    expect(href).toBeDefined();
    const end = new URL(href!.replaceAll('&amp;', '&'));
    expect(out.headers.get('refresh')).toBe(`0;url=${end.href}`);
    // The provider's own end_session_endpoint, from its discovery document.
    const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
      end_session_endpoint: string;
    };
    expect(`${end.origin}${end.pathname}`).toBe(discovery.end_session_endpoint);
    expect(end.searchParams.get('client_id')).toBe(idp.config(fx.base).clientId);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${fx.base}/console/login`);
    const hint = decode(end.searchParams.get('id_token_hint')!).payload;
    expect(hint).toMatchObject({ sub: 'alice', aud: idp.config(fx.base).clientId, iss: idp.issuer });
    // The provider accepts it: its sign-out confirmation, in the browser that signed in there.
    const confirm = await jar.get(end.href);
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain('logout');
  });

  it('a local account logs out to the login page, with no provider involved', async () => {
    const c = new ConsoleClient(fx.base);
    expect(await c.login('olga')).toBe(303);
    const home = await c.request('/console/');
    const out = await c.request('/console/logout', { form: { csrf: ConsoleClient.csrfOf(home.body) } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/console/login');
  });

  it('signs a platform operator in, who sees every bank', async () => {
    const { status, browser } = await oidcLogin('oscar');
    expect(status).toBe(200);
    expect(fx.accounts.get('oidc:oscar')).toMatchObject({ role: 'platform-operator' });
    expect(fx.accounts.get('oidc:oscar')?.bank).toBeUndefined();
    const jobs = await browser.request('/console/jobs');
    expect(jobs.body).toContain('job-a1');
    expect(jobs.body).toContain('job-b1');
  });

  it('refuses a user whose claims map to no role (403, audited), and opens no session', async () => {
    const { status, body, browser } = await oidcLogin('nora');
    expect(status).toBe(403);
    expect(body).toContain('no role in this console');
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(fx.accounts.get('oidc:nora')).toBeUndefined();
    expect(fx.refused).toEqual([{ code: 'forbidden', field: 'console.oidc.roleClaim' }]);
    expect((await browser.request('/console/jobs')).status).toBe(303);
  });

  it('refuses a bank analyst whose token names no bank', async () => {
    const { status } = await oidcLogin('brian');
    expect(status).toBe(403);
    expect(fx.refused).toEqual([{ code: 'forbidden', field: 'console.oidc.bankClaim' }]);
  });

  it('accepts an ID token re-signed unchanged with the provider key (control for the cases below)', async () => {
    tamper = (t) => signJws(decode(t).header, decode(t).payload, signingKey);
    expect((await oidcLogin('alice')).status).toBe(200);
  });

  const refusedToken = async (change: (t: string) => string, user = 'oscar'): Promise<void> => {
    tamper = change;
    const { status, browser } = await oidcLogin(user);
    expect(status).toBe(401);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(fx.refused).toEqual([{ code: 'unauthenticated', field: 'oidc' }]);
  };
  const resigned =
    (edit: (p: Record<string, unknown>) => Record<string, unknown>, key: KeyObject = signingKey) =>
    (t: string): string =>
      signJws(decode(t).header, edit(decode(t).payload), key);

  it('refuses an ID token whose payload was changed after signing (groups raised)', async () => {
    // alice is a bank analyst; the attacker makes her a platform operator.
    await refusedToken((t) => {
      const [h, , s] = t.split('.');
      const p = decode(t).payload;
      expect(p['groups']).toEqual(['staff', 'fedscore-analysts']);
      return `${h}.${b64u(JSON.stringify({ ...p, groups: ['fedscore-operators'] }))}.${s}`;
    }, 'alice');
  });

  it("refuses an ID token signed by a key that is not in the provider's JWKS (same kid)", async () => {
    const foreign = createPrivateKey(
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    await refusedToken(resigned((p) => p, foreign));
  });

  it('refuses an ID token for another audience', async () => {
    await refusedToken(resigned((p) => ({ ...p, aud: 'another-client' })));
  });

  it('refuses an expired ID token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refusedToken(resigned((p) => ({ ...p, iat: now - 7200, exp: now - 3600 })));
  });

  it('refuses an ID token with another nonce (a replayed token)', async () => {
    await refusedToken(resigned((p) => ({ ...p, nonce: randomBytes(32).toString('base64url') })));
  });

  it('refuses an ID token from another issuer', async () => {
    await refusedToken(resigned((p) => ({ ...p, iss: 'https://idp.attacker.example' })));
  });

  it('refuses a callback with another state, and one without its pending login (login CSRF)', async () => {
    const wrongState = await oidcLogin('oscar', {
      callback: (u) => {
        u.searchParams.set('state', randomBytes(32).toString('base64url'));
        return u;
      },
    });
    expect(wrongState.status).toBe(401);
    expect(wrongState.browser.cookies.has(SESSION_COOKIE)).toBe(false);
    // The attacker's own authorization response, delivered to a victim's browser that started no login.
    let stolen: URL | undefined;
    await oidcLogin('oscar', {
      callback: (u) => {
        stolen = new URL(u);
        u.searchParams.delete('code');
        return u;
      },
    });
    const victim = new ConsoleClient(fx.base);
    const r = await victim.request(stolen!.pathname + stolen!.search);
    expect(r.status).toBe(401);
    expect(victim.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(fx.refused.every((x) => x.code === 'unauthenticated')).toBe(true);
    expect(fx.refused.length).toBe(3);
  });

  it('uses a pending login once: a replayed callback is refused', async () => {
    let first: URL | undefined;
    const { status, browser } = await oidcLogin('oscar', {
      callback: (u) => {
        first = new URL(u);
        return u;
      },
    });
    expect(status).toBe(200);
    const again = await browser.request(first!.pathname + first!.search);
    expect(again.status).toBe(401);
  });
});

describe('console OIDC configuration', () => {
  const base = {
    party: 'bank-a',
    listen: '0.0.0.0:7443',
    http: '127.0.0.1:8080',
    tls: { ca: 'ca.pem', cert: 'n.pem', key: 'n.key' },
    stateDir: 'state',
    peers: { government: { address: '127.0.0.1:1' } },
  };
  const oidc = {
    name: 'Keycloak',
    issuer: 'https://sso.bank-a.example/realms/staff',
    clientId: 'fedscore',
    clientSecretEnv: 'FEDSCORE_OIDC_SECRET',
    redirectUri: 'https://console.bank-a.example/console/oidc/callback',
    roleClaim: 'realm_access.roles',
    roles: { 'credit-analyst': 'bank-analyst' },
    defaultBank: 'bank-a',
  };
  const fieldOf = (console: unknown): string | undefined => {
    try {
      validateNodeConfig({ ...base, console });
      return undefined;
    } catch (e) {
      return (e as { field?: string }).field;
    }
  };

  it('accepts a Keycloak-style config, and local accounts switched off', () => {
    const c = validateNodeConfig({ ...base, console: { enabled: true, localAccounts: false, oidc } });
    expect(c.console.localAccounts).toBe(false);
    expect(c.console.oidc?.bankClaim).toBe('bank');
  });

  it('refuses an inline client secret, a missing or double secret source, and names the field', () => {
    expect(fieldOf({ oidc: { ...oidc, clientSecret: 'hunter2' } })).toBe('console.oidc');
    const { clientSecretEnv: _, ...noSecret } = oidc;
    expect(fieldOf({ oidc: noSecret })).toBe('console.oidc.clientSecretEnv');
    expect(fieldOf({ oidc: { ...oidc, clientSecretFile: 's.txt' } })).toBe('console.oidc.clientSecretEnv');
  });

  it('refuses a plain-http issuer off loopback, a wrong redirect path, an empty role map', () => {
    expect(fieldOf({ oidc: { ...oidc, issuer: 'http://sso.bank-a.example' } })).toBe('console.oidc.issuer');
    expect(fieldOf({ oidc: { ...oidc, redirectUri: 'https://console.bank-a.example/cb' } })).toBe(
      'console.oidc.redirectUri',
    );
    expect(fieldOf({ oidc: { ...oidc, roles: {} } })).toBe('console.oidc.roles');
    expect(fieldOf({ oidc: { ...oidc, roles: { x: 'admin' } } })).toBe('console.oidc.roles.x');
    expect(fieldOf({ localAccounts: false })).toBe('console.localAccounts');
  });

  it('reads the secret from its variable or file, with a typed error naming the field', () => {
    const cfg = {
      ...oidc,
      redirectUri: oidc.redirectUri,
      scopes: [],
      bankClaim: 'bank',
    } as ConsoleOidcConfig;
    expect(readOidcClientSecret(cfg, { FEDSCORE_OIDC_SECRET: 's3cret' })).toBe('s3cret');
    expect(() => readOidcClientSecret(cfg, {})).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'console.oidc.clientSecretEnv' }),
    );
    const file = join(secretDir, 'secret.txt');
    writeFileSync(file, 'from-a-file\n');
    const { clientSecretEnv: _, ...rest } = cfg;
    expect(readOidcClientSecret({ ...rest, clientSecretFile: file }, {})).toBe('from-a-file');
    expect(() => readOidcClientSecret({ ...rest, clientSecretFile: join(secretDir, 'none') }, {})).toThrow(
      expect.objectContaining({ code: 'io', field: 'console.oidc.clientSecretFile' }),
    );
  });

  it('maps Keycloak nested roles and Azure AD app roles, first listed value first', () => {
    const cfg = validateNodeConfig({ ...base, console: { oidc } }).console.oidc!;
    expect(
      mapOidcClaims(cfg, { sub: 'u-1', realm_access: { roles: ['offline_access', 'credit-analyst'] } }),
    ).toEqual({ ok: true, identity: { username: 'oidc:u-1', role: 'bank-analyst', bank: 'bank-a' } });
    const azure = {
      ...cfg,
      roleClaim: 'roles',
      bankClaim: 'extension_bank',
      roles: { 'Fedscore.Operator': 'platform-operator', 'Fedscore.Analyst': 'bank-analyst' },
    } as ConsoleOidcConfig;
    const r = mapOidcClaims(azure, {
      sub: 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ/x+y', // not a username-safe sub: hashed
      roles: ['Fedscore.Analyst', 'Fedscore.Operator'],
    });
    expect(r).toMatchObject({ ok: true, identity: { role: 'platform-operator' } });
    expect(r.ok && r.identity.username).toMatch(/^oidc:[0-9a-f]{32}$/);
    expect(mapOidcClaims(azure, { sub: 'x', roles: 'Fedscore.Analyst', extension_bank: 'Bank A' })).toEqual({
      ok: false,
      reason: 'no_bank',
    });
    expect(mapOidcClaims(azure, { sub: 'x', groups: ['Fedscore.Operator'] })).toEqual({
      ok: false,
      reason: 'no_role',
    });
  });
});

describe('console with local accounts off', () => {
  let only: ConsoleFixture;
  beforeAll(async () => {
    only = await startConsoleFixture({
      localAccounts: false,
      oidc: (b) => new ConsoleOidc(idp.config(b), { env: { [SECRET_ENV]: idp.secret } }),
    });
  });
  afterAll(async () => {
    await only?.close();
  });

  it('shows only the provider link, and refuses a password login even for an existing account', async () => {
    const browser = new ConsoleClient(only.base);
    const page = await browser.request('/console/login');
    expect(page.body).toContain('Sign in with Test IdP');
    expect(page.body).not.toContain('name="password"');
    const r = await browser.request('/console/login', {
      form: { csrf: browser.cookies.get('__Host-fedscore-login') ?? '', username: 'olga', password: 'x' },
    });
    expect(r.status).toBe(404);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
  });
});
