/**
 * The console's server side (docs/console.md): accounts and scrypt hashes, login with lockout and a
 * per-address rate limit, sessions, roles and bank scoping (by page and by direct URL), CSRF refusal,
 * security headers, the audit chain verdict after tampering, and the config's `console` key.
 */
import { scryptSync, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import {
  AuditLog,
  CONTENT_SECURITY_POLICY,
  ConsoleAccounts,
  coarseProgress,
  consoleEnabled,
  hashPassword,
  jobStages,
  NodeStore,
  parseProgressDetail,
  progressDetail,
  progressThrottle,
  SESSION_COOKIE,
  validateJobSpec,
  validateNodeConfig,
  verifyPassword,
} from '@fedscore/node';
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

describe('password hashes', () => {
  it('are scrypt (RFC 7914) with the stored parameters, checked against node:crypto directly', async () => {
    const stored = await hashPassword('a long enough password', { logN: 10, r: 8, p: 1 });
    const [alg, logN, r, p, salt, hash] = stored.split('$');
    expect([alg, logN, r, p]).toEqual(['scrypt', '10', '8', '1']);
    const expected = scryptSync('a long enough password', Buffer.from(salt!, 'base64'), 32, {
      N: 1024,
      r: 8,
      p: 1,
    });
    expect(timingSafeEqual(expected, Buffer.from(hash!, 'base64'))).toBe(true);
    expect(await verifyPassword('a long enough password', stored)).toBe(true);
    expect(await verifyPassword('a long enough passworD', stored)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$10$8$1$AAAA$AAAA')).toBe(false);
  });

  it('default to the OWASP minimum for scrypt (N = 2^17, r = 8, p = 1) with a fresh salt each', async () => {
    const a = await hashPassword('a long enough password');
    const b = await hashPassword('a long enough password');
    expect(a.startsWith('scrypt$17$8$1$')).toBe(true);
    expect(a).not.toBe(b);
  }, 30_000);

  it('refuses short passwords, bad usernames and an analyst without a bank, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-console-acc-'));
    const store = NodeStore.open(dir);
    const accounts = new ConsoleAccounts(store, { cost: { logN: 10, r: 8, p: 1 } });
    await expect(
      accounts.create({ username: 'x', role: 'auditor', password: 'short' }),
    ).rejects.toMatchObject({
      field: 'password',
    });
    await expect(
      accounts.create({ username: 'Bad Name', role: 'auditor', password: PASSWORD }),
    ).rejects.toMatchObject({
      field: 'username',
    });
    await expect(
      accounts.create({ username: 'a', role: 'bank-analyst', password: PASSWORD }),
    ).rejects.toMatchObject({
      field: 'bank',
    });
    await accounts.create({ username: 'a', role: 'auditor', password: PASSWORD });
    await expect(
      accounts.create({ username: 'a', role: 'auditor', password: PASSWORD }),
    ).rejects.toMatchObject({
      field: 'username',
    });
    // The store holds the hash, never the password.
    const row = store.get<{ password_hash: string }>('SELECT password_hash FROM console_accounts');
    expect(row!.password_hash).not.toContain(PASSWORD);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('console over HTTP', () => {
  it('redirects a logged-out user to the login page and sets strict security headers', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    for (const path of ['/console/', '/console/jobs', '/console/jobs/job-a1', '/console/audit']) {
      const r = await c.request(path);
      expect(r.status, path).toBe(303);
      expect(r.headers.get('location')).toBe('/console/login');
      expect(r.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    }
    const login = await c.request('/console/login');
    expect(login.status).toBe(200);
    const csp = login.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(login.headers.get('x-frame-options')).toBe('DENY');
    expect(login.headers.get('x-content-type-options')).toBe('nosniff');
    expect(login.headers.get('cache-control')).toBe('no-store');
    // No inline script or style and no absolute URL on the page: everything comes from the node.
    expect(login.body).not.toMatch(/<script>|<style|style="|https?:\/\//);
    // A POST without a session is refused, not redirected.
    expect((await c.request('/console/logout', { form: { csrf: 'x' } })).status).toBe(401);
    // /healthz still answers beside the console.
    expect((await c.request('/healthz')).status).toBe(200);
  });

  it('logs in with a session cookie that is HttpOnly, Secure, SameSite=Strict and host-only', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    const form = await c.request('/console/login');
    const r = await c.request('/console/login', {
      form: { csrf: ConsoleClient.csrfOf(form.body), username: USERS.operator.username, password: PASSWORD },
    });
    expect(r.status).toBe(303);
    const set = r.headers.getSetCookie().find((s) => s.startsWith(`${SESSION_COOKIE}=`))!;
    expect(set).toMatch(/; HttpOnly/);
    expect(set).toMatch(/; Secure/);
    expect(set).toMatch(/; SameSite=Strict/);
    expect(set).toMatch(/; Path=\//);
    expect(set).not.toMatch(/Domain=/i);
    // The store keeps the SHA-256 of the session id, not the id.
    const id = c.cookies.get(SESSION_COOKIE)!;
    const rows = fx.store.all<{ id_sha256: string }>('SELECT id_sha256 FROM console_sessions');
    expect(rows.map((x) => x.id_sha256)).not.toContain(id);
    expect((await c.request('/console/jobs')).status).toBe(200);
    // Logout ends the session on the server: the old cookie no longer opens a page.
    const page = await c.request('/console/jobs');
    await c.request('/console/logout', { form: { csrf: ConsoleClient.csrfOf(page.body) } });
    const replay = new ConsoleClient(fx.base);
    replay.cookies.set(SESSION_COOKIE, id);
    expect((await replay.request('/console/jobs')).status).toBe(303);
  });

  it('refuses a login without its form token (login CSRF)', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    const r = await c.request('/console/login', {
      form: { username: USERS.operator.username, password: PASSWORD },
    });
    expect(r.status).toBe(403);
    expect(c.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(fx.refused.some((x) => x.code === 'csrf')).toBe(true);
  });

  it('locks an account after 5 wrong passwords, even against the right one, and audits the refusals', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    for (let i = 0; i < 4; i++) expect(await c.login(USERS.operator.username, 'wrong password!!')).toBe(401);
    expect(await c.login(USERS.operator.username, 'wrong password!!')).toBe(401);
    const locked = await c.request('/console/login');
    const r = await c.request('/console/login', {
      form: {
        csrf: ConsoleClient.csrfOf(locked.body),
        username: USERS.operator.username,
        password: PASSWORD,
      },
    });
    expect(r.status).toBe(401);
    expect(r.body).toContain('locked');
    expect(c.cookies.has(SESSION_COOKIE)).toBe(false);
    expect(fx.refused.filter((x) => x.code === 'unauthenticated')).toHaveLength(4);
    expect(fx.refused.filter((x) => x.code === 'locked').length).toBeGreaterThanOrEqual(2);
    // Another account is not locked.
    expect(await c.login(USERS.auditor.username)).toBe(303);
    // Unknown users are refused the same way.
    expect(await new ConsoleClient(fx.base).login('nobody', PASSWORD)).toBe(401);
  });

  it('rate-limits logins per remote address (429 with retry-after)', async () => {
    fx = await startConsoleFixture({ loginsPerMinute: 3 });
    const c = new ConsoleClient(fx.base);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await c.login('nobody', 'wrong password!!'));
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(fx.refused.some((x) => x.code === 'rate_limited')).toBe(true);
  });

  it('refuses a state-changing request with a missing or wrong CSRF token, or from another origin', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.operator.username)).toBe(303);
    const page = await c.request('/console/models/bank-a-credit%401');
    const csrf = ConsoleClient.csrfOf(page.body);
    expect((await c.request('/console/models/bank-a-credit%401/promote', { form: {} })).status).toBe(403);
    expect(
      (await c.request('/console/models/bank-a-credit%401/promote', { form: { csrf: `${csrf}x` } })).status,
    ).toBe(403);
    const crossSite = await c.request('/console/models/bank-a-credit%401/promote', {
      form: { csrf },
      headers: { origin: 'https://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    const fetchMeta = await c.request('/console/models/bank-a-credit%401/promote', {
      form: { csrf },
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(fetchMeta.status).toBe(403);
    expect(fx.models.get('bank-a-credit@1').status).toBe('candidate');
    // With the token (and a same-origin Origin) the promotion goes through and is in the registry.
    const ok = await c.request('/console/models/bank-a-credit%401/promote', {
      form: { csrf },
      headers: { origin: fx.base },
    });
    expect(ok.status).toBe(303);
    expect(fx.models.get('bank-a-credit@1').status).toBe('production');
  });

  it("scopes a bank analyst to its own bank: another bank's job and model are 404 like a missing one", async () => {
    fx = await startConsoleFixture();
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    const list = await a.request('/console/jobs');
    expect(list.body).toContain('job-a1');
    expect(list.body).not.toContain('job-b1');
    expect((await a.request('/console/jobs/job-a1')).status).toBe(200);
    const other = await a.request('/console/jobs/job-b1');
    const missing = await a.request('/console/jobs/job-zz');
    expect(other.status).toBe(404);
    expect(other.body).toBe(missing.body);
    expect((await a.request('/console/jobs/job-b1/events')).status).toBe(404);
    expect((await a.request('/console/models/bank-b-credit%401')).status).toBe(404);
    expect((await a.request('/console/models/compare?a=bank-a-credit%401&b=bank-b-credit%401')).status).toBe(
      404,
    );
    expect((await a.request('/console/models')).body).not.toContain('bank-b-credit');
    for (const p of ['indicators', 'samples', 'usage', 'audit', 'consent']) {
      const r = await a.request(`/console/${p}`);
      expect(r.status, p).toBe(200);
      expect(r.body, p).not.toContain('job-b1');
    }
    // A bank analyst cannot change another bank's model even with a valid CSRF token.
    const csrf = ConsoleClient.csrfOf(list.body);
    expect((await a.request('/console/models/bank-b-credit%401/retire', { form: { csrf } })).status).toBe(
      404,
    );
    expect(fx.models.get('bank-b-credit@1').status).toBe('candidate');
  });

  it('gives the auditor audit, consent and usage read-only, and no jobs or models', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.auditor.username)).toBe(303);
    for (const p of ['audit', 'consent', 'usage', 'algorithms'])
      expect((await c.request(`/console/${p}`)).status, p).toBe(200);
    for (const p of ['jobs', 'jobs/job-a1', 'models', 'indicators', 'samples']) {
      expect((await c.request(`/console/${p}`)).status, p).toBe(403);
    }
    const page = await c.request('/console/audit');
    expect(page.body).not.toMatch(/<form method="post" action="\/console\/(models|jobs)/);
    const csrf = ConsoleClient.csrfOf(page.body);
    expect((await c.request('/console/models/bank-a-credit%401/retire', { form: { csrf } })).status).toBe(
      403,
    );
  });

  it("keeps each role to its rows and changes: consents, audit entries, submissions, another bank's model", async () => {
    fx = await startConsoleFixture();
    /** The cells of column `col` in the table captioned `caption`. */
    const column = (body: string, caption: string, col: number): string[] => {
      const t = body.split(`<caption>${caption}</caption>`)[1]?.split('</table>')[0] ?? '';
      return [...t.matchAll(/<tr>((?:<td>.*?<\/td>)+)<\/tr>/g)].map(
        (r) => [...r[1]!.matchAll(/<td>(.*?)<\/td>/g)][col]![1]!,
      );
    };
    const granted = (bank: string) => fx!.consents.list().filter((c) => c.grantee === bank).length;
    expect(granted('bank-a')).toBeGreaterThan(0);
    expect(granted('bank-b')).toBeGreaterThan(0);
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const all = column((await op.request('/console/consent')).body, 'Consent records (newest 200)', 2);
    expect(all.length).toBe(granted('bank-a') + granted('bank-b'));
    // A bank analyst: the consents granted to its bank, and audit entries it is actor or data owner of.
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    const consent = (await a.request('/console/consent')).body;
    const grantees = column(consent, 'Consent records (newest 200)', 2);
    expect(grantees.length).toBe(granted('bank-a'));
    expect(new Set(grantees)).toEqual(new Set(['bank-a']));
    expect(column(consent, 'Consents by grantee', 0)).toEqual(['bank-a']);
    const audit = (await a.request('/console/audit')).body;
    const actors = column(audit, 'Audit log (newest 200)', 3);
    const owners = column(audit, 'Audit log (newest 200)', 4);
    expect(actors.length).toBeGreaterThan(0);
    expect(actors.filter((actor, i) => actor !== 'bank-a' && owners[i] !== 'bank-a')).toEqual([]);
    const opActors = column((await op.request('/console/audit')).body, 'Audit log (newest 200)', 3);
    expect(opActors).toContain('bank-b');
    // It promotes its own bank's model, not another bank's (404, like a missing one), even with its token.
    const csrf = ConsoleClient.csrfOf(consent);
    expect((await a.request('/console/models/bank-b-credit%401/promote', { form: { csrf } })).status).toBe(
      404,
    );
    expect(fx.models.get('bank-b-credit@1').status).toBe('candidate');
    expect((await a.request('/console/models/bank-a-credit%401/promote', { form: { csrf } })).status).toBe(
      303,
    );
    expect(fx.models.get('bank-a-credit@1').status).toBe('production');
    // The auditor submits no job, even a well-formed one with its own valid token.
    const aud = new ConsoleClient(fx.base);
    expect(await aud.login(USERS.auditor.username)).toBe(303);
    const audCsrf = ConsoleClient.csrfOf((await aud.request('/console/audit')).body);
    const spec = {
      id: 'job-aud',
      guest: 'government',
      hosts: ['bank-a'],
      data: { government: 'credit', 'bank-a': 'loans' },
    };
    const refused = await aud.request('/console/jobs', {
      form: { csrf: audCsrf, spec: JSON.stringify(spec) },
    });
    expect(refused.status).toBe(403);
    expect(fx.jobs.get('job-aud')).toBeUndefined();
    // Nor does a bank analyst submit one whose guest is another bank.
    const other = await a.request('/console/jobs', {
      form: {
        csrf,
        spec: JSON.stringify({
          ...spec,
          id: 'job-ab',
          guest: 'bank-b',
          data: { 'bank-b': 'loans', 'bank-a': 'loans' },
        }),
      },
    });
    expect(other.status).toBe(403);
    expect(fx.jobs.get('job-ab')).toBeUndefined();
  });

  it('lets the platform operator record and revoke consents, audited with the user, and no one else', async () => {
    fx = await startConsoleFixture();
    const [enterprise] = generateUniqueUsccs(seededRng(1717), 1);
    const before = fx.consents.list().length;
    const log = () => [...fx!.audit.entries()];
    const auditBefore = log().length;
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const page = (await op.request('/console/consent')).body;
    expect(page).toContain('action="/console/consent"');
    const csrf = ConsoleClient.csrfOf(page);
    const grant = {
      enterprise: enterprise!,
      grantee: 'bank-b',
      purpose: 'scoring',
      scope: 'tax, court_judgments',
      grantedAt: '2026-01-01',
      expiresAt: '2099-12-31',
    };
    // The analysts and the auditor are refused, with their own valid tokens, and nothing changes.
    for (const u of [USERS.analystA, USERS.analystB, USERS.auditor]) {
      const c = new ConsoleClient(fx.base);
      expect(await c.login(u.username)).toBe(303);
      const body = (await c.request('/console/consent')).body;
      expect(body).not.toContain('action="/console/consent');
      const token = ConsoleClient.csrfOf(body);
      expect((await c.request('/console/consent', { form: { csrf: token, ...grant } })).status).toBe(403);
      const some = fx.consents.list()[0]!;
      const r = await c.request(`/console/consent/${some.id}/revoke`, { form: { csrf: token } });
      expect(r.status).toBe(403);
    }
    // Without the CSRF token, or from another origin, the operator's own request is refused too.
    expect((await op.request('/console/consent', { form: grant })).status).toBe(403);
    const cross = await op.request('/console/consent', {
      form: { csrf, ...grant },
      headers: { origin: 'https://evil.example' },
    });
    expect(cross.status).toBe(403);
    expect(fx.consents.list().length).toBe(before);
    expect(fx.consents.list().every((c) => c.revokedAt === undefined)).toBe(true);
    expect(log().length).toBe(auditBefore);
    // A bad field is named, the form keeps what was typed, and nothing is recorded.
    const bad = await op.request('/console/consent', {
      form: { csrf, ...grant, enterprise: '91350100M000100Y4X', grantee: 'bank-b' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('field consent.enterprise');
    expect(bad.body).toContain('id="c-enterprise-error"');
    expect(bad.body).toContain('value="tax, court_judgments"');
    const noEnd = await op.request('/console/consent', { form: { csrf, ...grant, expiresAt: '' } });
    expect(noEnd.status).toBe(400);
    expect(noEnd.body).toContain('field consent.expiresAt');
    const badPurpose = await op.request('/console/consent', {
      form: { csrf, ...grant, purpose: 'marketing' },
    });
    expect(badPurpose.body).toContain('field consent.purpose');
    expect(fx.consents.list().length).toBe(before);
    // The operator's grant is in the registry, on the page, and audited with the console user.
    const ok = await op.request('/console/consent', {
      form: { csrf, ...grant },
      headers: { origin: fx.base },
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/consent');
    const mine = fx.consents.list({ enterprise: enterprise! });
    expect(mine).toHaveLength(1);
    const c = mine[0]!;
    expect(c).toMatchObject({
      grantee: 'bank-b',
      purpose: 'scoring',
      scope: ['court_judgments', 'tax'],
      grantedAt: Date.UTC(2026, 0, 1),
      expiresAt: Date.UTC(2099, 11, 31),
    });
    expect(fx.consents.status(c)).toBe('valid');
    const listed = (await op.request('/console/consent')).body;
    expect(listed).toContain(`<td>${c.id}</td>`);
    expect(listed).toContain(`action="/console/consent/${c.id}/revoke"`);
    const granted = log().at(-1)!;
    expect(granted).toMatchObject({ kind: 'consent_change', actor: 'government', consentRef: c.id });
    expect(granted.details).toMatchObject({ action: 'grant', grantee: 'bank-b', by: 'console:olga' });
    // bank-b's analyst sees it, bank-a's does not.
    const b = new ConsoleClient(fx.base);
    expect(await b.login(USERS.analystB.username)).toBe(303);
    expect((await b.request('/console/consent')).body).toContain(`<td>${c.id}</td>`);
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    expect((await a.request('/console/consent')).body).not.toContain(c.id);
    // Revoked: the status turns revoked, the button goes, the revocation is audited with the user.
    const rv = await op.request(`/console/consent/${c.id}/revoke`, { form: { csrf } });
    expect(rv.status).toBe(303);
    expect(fx.consents.status(fx.consents.get(c.id))).toBe('revoked');
    const after = (await op.request('/console/consent')).body;
    expect(after).not.toContain(`action="/console/consent/${c.id}/revoke"`);
    const revoked = log().at(-1)!;
    expect(revoked).toMatchObject({ kind: 'consent_change', consentRef: c.id });
    expect(revoked.details).toMatchObject({ action: 'revoke', by: 'console:olga' });
    // Twice is refused (409), an unknown id is 404, both naming the problem on the Consent page.
    const twice = await op.request(`/console/consent/${c.id}/revoke`, { form: { csrf } });
    expect(twice.status).toBe(409);
    expect(twice.body).toContain('invalid_state');
    expect((await op.request('/console/consent/no-such/revoke', { form: { csrf } })).status).toBe(404);
  });

  it("shows other parties' published feature profiles with owner and time received, and no other bank's IV", async () => {
    fx = await startConsoleFixture();
    const published =
      /<td>bank-a<\/td><td>loans<\/td><td>revenue<\/td><td>numeric<\/td><td>97 %<\/td><td>3 %<\/td><td>1200<\/td><td>Revenue of the last 12 months, CNY thousands<\/td><td>2026-12-01 09:30:00 UTC<\/td><td>bank-a<\/td>/;
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const operator = (await op.request('/console/indicators')).body;
    expect(operator).toMatch(published);
    expect(operator).toMatch(/<td>has_collateral<\/td><td>binary<\/td><td>100 %<\/td><td>0 %<\/td>/);
    // The IV catalogue gives a party's feature the meaning it published.
    expect(operator).toMatch(
      /<td>bank-a<\/td><td>revenue<\/td><td>bank-a<\/td><td>job-a1<\/td><td>0\.31<\/td><td>kept<\/td><td>Revenue of the last 12 months/,
    );
    // bank-b's analyst sees bank-a's profile (an aggregate), but not bank-a's job or its IV.
    const b = new ConsoleClient(fx.base);
    expect(await b.login(USERS.analystB.username)).toBe(303);
    const analyst = (await b.request('/console/indicators')).body;
    expect(analyst).toMatch(published);
    expect(analyst).not.toContain('job-a1');
    expect(analyst).not.toMatch(/<td>bank-a<\/td><td>revenue<\/td><td>bank-a<\/td>/);
  });

  it('shows the operator every bank, the IV catalogue, samples and usage', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.operator.username)).toBe(303);
    const jobs = await c.request('/console/jobs');
    expect(jobs.body).toContain('job-a1');
    expect(jobs.body).toContain('job-b1');
    const indicators = (await c.request('/console/indicators')).body;
    expect(indicators).toContain('tax_arrears');
    expect(indicators).toContain('0.18');
    // The node's own datasets: 'credit' has 6 rows, below the privacy floor of 50: coverage withheld;
    // 'credit-history' has 60 rows, 45 with a value.
    expect(indicators).toMatch(
      /credit<\/td><td>tax_arrears<\/td><td>numeric<\/td><td>withheld<\/td><td>withheld \(fewer than 50 rows\)<\/td><td>6<\/td><td>Tax owed past its due date, CNY thousands<\/td>/,
    );
    // The IV catalogue gives the meaning of this node's own feature.
    expect(indicators).toMatch(
      /government<\/td><td>tax_arrears<\/td><td>bank-a<\/td><td>job-a1<\/td><td>0\.18<\/td><td>kept<\/td><td>Tax owed past its due date/,
    );
    expect(indicators).not.toContain('66.7 %');
    expect(indicators).toMatch(
      /credit-history<\/td><td>years_filed<\/td><td>numeric<\/td><td>75.0 %<\/td><td>25.0 %<\/td><td>60<\/td><td>-<\/td>/,
    );
    const samples = (await c.request('/console/samples')).body;
    expect(samples).toMatch(/job-a1.*government.*<td>6<\/td>.*enforced.*3 of 9/s);
    const usage = (await c.request('/console/usage')).body;
    expect(usage).toMatch(/bank-a<\/td><td>1<\/td><td>6<\/td>/);
    // Scoring against the policy (quota 2 per enterprise and 30 days, rate 100 per hour): bank-a 3
    // requests on 2 enterprises, 1 at quota, all 3 in the hour, none at the rate limit.
    expect(usage).toContain('at most 2 requests per 30 days (<code>scoring.quota</code>) and 100 per 1 h');
    expect(usage).toMatch(/bank-a<\/td><td>3<\/td><td>2<\/td><td>1 of 2<\/td><td>3<\/td><td>0<\/td>/);
    expect(usage).toMatch(/bank-b<\/td><td>1<\/td><td>1<\/td><td>0 of 1<\/td><td>1<\/td><td>0<\/td>/);
    // A bank analyst sees its own bank's row only.
    const b = new ConsoleClient(fx.base);
    expect(await b.login(USERS.analystB.username)).toBe(303);
    const own = (await b.request('/console/usage')).body;
    expect(own).toContain('bank-b</td>');
    expect(own).not.toContain('bank-a</td>');
    const job = (await c.request('/console/jobs/job-a1')).body;
    expect(job).toContain('AUC 0.74');
    const ev = await c.request('/console/jobs/job-a1/events');
    expect(ev.headers.get('content-type')).toContain('text/event-stream');
    expect(ev.body).toContain('"status":"done"');
  });

  it("streams the running stage's epoch / tree / round progress live and shows it as a labelled bar", async () => {
    fx = await startConsoleFixture();
    const jobs = fx.jobs;
    const spec = validateJobSpec({
      id: 'job-p1',
      guest: 'bank-a',
      hosts: ['government'],
      data: { 'bank-a': 'bank-a-loans', government: 'credit' },
    });
    jobs.put({ ...spec, id: 'job-p1' }, 'bank-a');
    // The runner's recorder (jobs/progress.ts) over the reports hetero-LR's guest makes: per batch
    // (too fine: not recorded) and per epoch (recorded, every one of 5).
    jobs.setAttempt('job-p1', 'train', 1);
    const record = progressThrottle((p) => jobs.event('job-p1', 'progress', 'train', 1, progressDetail(p)));
    const epoch = (done: number) => {
      for (let b = 1; b <= 4; b++) record({ stage: 'hetero-lr batch', done: b, total: 4, unit: 'batch' });
      record({ stage: 'hetero-lr epoch', done, total: 5, unit: 'epoch' });
    };
    epoch(1);
    epoch(2);
    expect(
      jobs
        .events('job-p1')
        .filter((e) => e.kind === 'progress')
        .map((e) => e.detail),
    ).toEqual(['unit=epoch done=1 total=5', 'unit=epoch done=2 total=5']);
    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.analystA.username)).toBe(303);
    const page = (await c.request('/console/jobs/job-p1')).body;
    expect(page).toContain(
      '<dt id="job-progress-label">Stage progress</dt><dd><progress id="job-progress" aria-labelledby="job-progress-label" aria-describedby="job-progress-text" max="5" value="2">epoch 2 of 5</progress>',
    );
    expect(page).toContain('<td>progress</td><td>train</td><td>1</td><td>unit=epoch done=2 total=5</td>');

    // The event stream: the current point first, then each new one as it is recorded, then the end.
    const cookie = [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(`${fx.base}/console/jobs/job-p1/events`, { headers: { cookie } });
    const reader = res.body!.getReader();
    const seen: unknown[] = [];
    let buffered = '';
    const next = async (): Promise<Record<string, unknown>> => {
      while (!buffered.includes('\n\n')) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        buffered += new TextDecoder().decode(value);
      }
      const i = buffered.indexOf('\n\n');
      const frame = buffered.slice(0, i);
      buffered = buffered.slice(i + 2);
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)![1]!) as Record<string, unknown>;
      seen.push(data);
      return data;
    };
    expect(await next()).toEqual({
      status: 'running',
      stage: 'train',
      attempt: 1,
      progress: { unit: 'epoch', done: 2, total: 5 },
    });
    epoch(3);
    expect((await next()).progress).toEqual({ unit: 'epoch', done: 3, total: 5 });
    // The next stage has reported nothing yet: no stale epoch counter is shown for it.
    jobs.setAttempt('job-p1', 'evaluate', 1);
    expect(await next()).toEqual({ status: 'running', stage: 'evaluate', attempt: 1 });
    jobs.finish('job-p1');
    expect(await next()).toEqual({ status: 'done', stage: 'evaluate', attempt: 1 });
    // Counters only: every field of every frame is a status, a stage, an attempt or a progress counter.
    for (const f of seen) {
      expect(
        Object.keys(f as object).every((k) => ['status', 'stage', 'attempt', 'progress'].includes(k)),
      ).toBe(true);
    }
    // A finished job's page has no progress bar.
    expect((await c.request('/console/jobs/job-p1')).body).not.toContain('<progress');
  });

  it('keeps only coarse progress: epochs, trees, rounds, and PSI as a percentage, a tenth at a time', () => {
    const kept: unknown[] = [];
    const record = progressThrottle((p) => kept.push(p));
    // PSI's id counts are table sizes: they become a percentage of the step, one record per tenth.
    for (let done = 0; done <= 1000; done += 25)
      record({ stage: 'psi guest: blind own ids', done, total: 1000, unit: 'ids' });
    expect(kept.map((p) => (p as { done: number }).done)).toEqual([
      0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100,
    ]);
    expect(kept.every((p) => (p as { unit: string; total: number }).unit === 'percent')).toBe(true);
    kept.length = 0;
    // 100 SecureBoost trees: the first, every tenth, the last. HFL rounds (no unit): every round of 3.
    for (let t = 1; t <= 100; t++)
      record({ stage: 'secureboost: trees', done: t, total: 100, unit: 'trees' });
    expect(kept.length).toBe(11);
    expect(kept.at(-1)).toEqual({ unit: 'tree', done: 100, total: 100 });
    kept.length = 0;
    for (let r = 1; r <= 3; r++) record({ stage: 'rounds', done: r, total: 3 });
    expect(kept).toEqual([1, 2, 3].map((done) => ({ unit: 'round', done, total: 3 })));
    // Finer reports (binning features, scoring records) and reports without a total are not kept.
    record({ stage: 'binning: host bins', done: 1, total: 3, unit: 'features' });
    record({ stage: 'hetero-lr epoch', done: 1, unit: 'epoch' });
    expect(kept.length).toBe(3);
    expect(coarseProgress({ stage: 'hetero-lr epoch', done: 7, total: 5, unit: 'epoch' })).toEqual({
      unit: 'epoch',
      done: 5,
      total: 5,
    });
    expect(parseProgressDetail('unit=epoch done=2 total=5')).toEqual({ unit: 'epoch', done: 2, total: 5 });
    expect(parseProgressDetail('unit=epoch done=6 total=5')).toBeUndefined();
    expect(parseProgressDetail('unit=weight done=1 total=5')).toBeUndefined();
  });

  it('shows SecureBoost and horizontal FL jobs with their own stages and settings, and their protocols', async () => {
    fx = await startConsoleFixture();
    const put = (input: Record<string, unknown>) => {
      const spec = { ...validateJobSpec(input), id: input['id'] as string };
      fx!.jobs.put(spec, 'government');
      return spec;
    };
    const sb = put({
      id: 'job-sb1',
      kind: 'secureboost',
      guest: 'government',
      hosts: ['bank-a'],
      data: { government: 'credit', 'bank-a': 'loans' },
      secureboost: { trees: 12, depth: 4 },
    });
    const hfl = put({
      id: 'job-hfl1',
      kind: 'hfl',
      guest: 'government',
      hosts: ['bank-a', 'bank-b'],
      data: { government: 'test', 'bank-a': 'loans', 'bank-b': 'loans' },
      hfl: { model: 'mlp', rounds: 7, dp: { epsilon: 4 } },
    });
    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.operator.username)).toBe(303);
    const list = (await c.request('/console/jobs')).body;
    expect(list).toMatch(/job-sb1<\/a><\/td><td>secureboost<\/td>/);
    expect(list).toMatch(/job-hfl1<\/a><\/td><td>hfl<\/td>/);
    expect(list).toMatch(/job-a1<\/a><\/td><td>hetero-lr<\/td>/);
    const stagesOf = (body: string) =>
      [...body.matchAll(/<tr><td>([a-z]+)<\/td><td><span class="status status-[a-z]+">/g)].map((m) => m[1]);
    const sbPage = (await c.request('/console/jobs/job-sb1')).body;
    expect(sbPage).toContain('<dd id="job-kind">secureboost</dd>');
    expect(sbPage).toContain('<dd id="job-training">SecureBoost, ckks, trees 12, depth 4</dd>');
    expect(sbPage).toContain('not run by secureboost jobs');
    expect(stagesOf(sbPage)).toEqual(jobStages(sb));
    const hflPage = (await c.request('/console/jobs/job-hfl1')).body;
    expect(hflPage).toContain(
      '<dd id="job-training">horizontal FL, MLP, 7 rounds of 1 local epoch, secure aggregation, DP epsilon 4</dd>',
    );
    expect(stagesOf(hflPage)).toEqual(['train', 'evaluate', 'publish']);
    expect(stagesOf(hflPage)).toEqual(jobStages(hfl));
    const algorithms = (await c.request('/console/algorithms')).body;
    expect(algorithms).toContain('SecureBoost (vertical gradient-boosted trees)');
    expect(algorithms).toContain('docs/protocols/secureboost.md');
    expect(algorithms).toContain('docs/protocols/tree-scoring.md');
  });

  it("submits a job from the form, validated like the YAML spec, for the user's own bank only", async () => {
    fx = await startConsoleFixture();
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const form = await op.request('/console/jobs');
    const csrf = ConsoleClient.csrfOf(form.body);
    const spec = {
      id: 'job-g1',
      guest: 'government',
      hosts: ['bank-a'],
      data: { government: 'credit', 'bank-a': 'loans' },
    };
    const ok = await op.request('/console/jobs', { form: { csrf, spec: JSON.stringify(spec) } });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/jobs/job-g1');
    expect(fx.jobs.get('job-g1')?.status).toBe('submitted');
    const bad = await op.request('/console/jobs', {
      form: { csrf, spec: JSON.stringify({ ...spec, id: 'job-g2', binning: { bins: 1 } }) },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('field binning.bins');
    expect(fx.jobs.get('job-g2')).toBeUndefined();
    // A bank analyst cannot submit a job of another party (here: the government's).
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    const aCsrf = ConsoleClient.csrfOf((await a.request('/console/jobs')).body);
    const refused = await a.request('/console/jobs', {
      form: { csrf: aCsrf, spec: JSON.stringify({ ...spec, id: 'job-g3' }) },
    });
    expect(refused.status).toBe(403);
    expect(fx.jobs.get('job-g3')).toBeUndefined();
  });

  it('submits a job from the form of fields, the same spec as the JSON one, and keeps the typed values on a refusal', async () => {
    fx = await startConsoleFixture();
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const page = (await op.request('/console/jobs')).body;
    for (const name of [
      'kind',
      'hosts',
      'data',
      'arbiter',
      'scheme',
      'plaintext',
      'epochs',
      'trees',
      'depth',
      'rounds',
    ]) {
      expect(page, name).toContain(`name="${name}"`);
    }
    expect(page).toContain('name="binning" value="on" checked');
    expect(page).toContain('name="spec"');
    const csrf = ConsoleClient.csrfOf(page);
    const fields = {
      csrf,
      kind: 'hetero-lr',
      id: 'job-f1',
      hosts: 'bank-a',
      data: 'government=credit, bank-a=loans',
      arbiter: '',
      scheme: 'paillier',
      epochs: '7',
      trees: '',
      depth: '',
      rounds: '',
      binning: 'on',
    };
    const ok = await op.request('/console/jobs', { form: fields });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/jobs/job-f1');
    // The same spec as validateJobSpec makes of the equivalent JSON.
    const { id: _id, ...stored } = fx.jobs.require('job-f1').spec;
    expect(stored).toEqual(
      validateJobSpec({
        kind: 'hetero-lr',
        guest: 'government',
        hosts: ['bank-a'],
        data: { government: 'credit', 'bank-a': 'loans' },
        binning: { enabled: true, scheme: 'paillier' },
        train: { scheme: 'paillier', maxEpochs: 7 },
      }),
    );
    // SecureBoost with trees and depth, binning off (an unchecked box is absent from the form).
    const { binning: _b, ...noBinning } = fields;
    const sb = await op.request('/console/jobs', {
      form: { ...noBinning, id: 'job-f2', kind: 'secureboost', scheme: 'ckks', trees: '12', depth: '4' },
    });
    expect(sb.status).toBe(303);
    const sbSpec = fx.jobs.require('job-f2').spec;
    expect(sbSpec.kind).toBe('secureboost');
    expect(sbSpec.secureboost).toEqual({ trees: 12, depth: 4 });
    expect(sbSpec.binning.enabled).toBe(false);
    // The epochs field (7) is hetero-lr's: a SecureBoost job keeps the default.
    expect(sbSpec.train.maxEpochs).toBe(validateJobSpec({ ...stored, train: {} }).train.maxEpochs);
    // Refused: the Jobs page again, the error by the field it names, every field as typed.
    const bad = await op.request('/console/jobs', { form: { ...fields, id: 'job-f3', epochs: '0' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('<h1>Jobs</h1>');
    expect(bad.body).toContain('field train.maxEpochs');
    expect(bad.body).toMatch(
      /id="j-epochs" name="epochs" value="0" inputmode="numeric" placeholder="default" aria-invalid="true"/,
    );
    expect(bad.body).toContain('id="j-epochs-error"');
    expect(bad.body).toContain('value="government=credit, bank-a=loans"');
    expect(bad.body).toContain('value="job-f3"');
    expect(bad.body).toContain('<option value="paillier" selected>');
    expect(bad.body).toContain('name="binning" value="on" checked');
    expect(fx.jobs.get('job-f3')).toBeUndefined();
    // An arbiter on a SecureBoost job, a dataset pair without its party, trees that are not a number.
    const arb = await op.request('/console/jobs', {
      form: { ...fields, id: 'job-f4', kind: 'secureboost', arbiter: 'bank-b' },
    });
    expect(arb.body).toContain('field arbiter');
    expect(arb.body).toContain('id="j-arbiter-error"');
    expect(arb.body).toContain('<option value="secureboost" selected>');
    const data = await op.request('/console/jobs', { form: { ...fields, id: 'job-f5', data: 'credit' } });
    expect(data.body).toContain('field data');
    expect(data.body).toContain('id="j-data-error"');
    expect(data.body).toContain('name="data" value="credit"');
    const trees = await op.request('/console/jobs', {
      form: { ...fields, id: 'job-f6', kind: 'secureboost', trees: 'many' },
    });
    expect(trees.status).toBe(400);
    expect(trees.body).toContain('field secureboost.trees');
    expect(trees.body).toContain('id="j-trees-error"');
    expect(trees.body).toContain('name="trees" value="many"');
    for (const id of ['job-f4', 'job-f5', 'job-f6']) expect(fx.jobs.get(id)).toBeUndefined();
    // Scheme none: refused without the plaintext box (the scheme marked, the box unchecked); with it, the
    // spec's allowPlaintextScheme opt-in -- the same spec as the JSON one.
    expect(page).toMatch(/id="j-plaintext" name="plaintext" value="on">/);
    const plain = { ...noBinning, id: 'job-p1', scheme: 'none', epochs: '3' };
    const noOptIn = await op.request('/console/jobs', { form: plain });
    expect(noOptIn.status).toBe(400);
    expect(noOptIn.body).toContain('field train.scheme');
    expect(noOptIn.body).toContain('id="j-scheme-error"');
    expect(noOptIn.body).toContain('<option value="none" selected>');
    expect(noOptIn.body).toMatch(/id="j-plaintext" name="plaintext" value="on">/);
    expect(fx.jobs.get('job-p1')).toBeUndefined();
    const optIn = await op.request('/console/jobs', { form: { ...plain, plaintext: 'on' } });
    expect(optIn.status).toBe(303);
    const { id: _p, ...plainSpec } = fx.jobs.require('job-p1').spec;
    expect(plainSpec).toEqual(
      validateJobSpec({
        kind: 'hetero-lr',
        guest: 'government',
        hosts: ['bank-a'],
        data: { government: 'credit', 'bank-a': 'loans' },
        allowPlaintextScheme: true,
        binning: { enabled: false, scheme: 'none' },
        train: { scheme: 'none', maxEpochs: 3 },
      }),
    );
    // A refusal after the box was ticked keeps it ticked.
    const ticked = await op.request('/console/jobs', {
      form: { ...plain, plaintext: 'on', id: 'job-p2', epochs: '0' },
    });
    expect(ticked.body).toMatch(/id="j-plaintext" name="plaintext" value="on" checked>/);
    // The JSON alternative keeps its typed text too, open under "Advanced".
    const typed = JSON.stringify({ id: 'job-f7', guest: 'government', hosts: [], data: {} });
    const js = await op.request('/console/jobs', { form: { csrf, spec: typed } });
    expect(js.status).toBe(400);
    expect(js.body).toContain('field hosts');
    expect(js.body).toContain('<details open>');
    expect(js.body).toContain(typed.replace(/"/g, '&quot;'));
    const notJson = await op.request('/console/jobs', { form: { csrf, spec: '{"id": "job-f8",' } });
    expect(notJson.status).toBe(400);
    expect(notJson.body).toContain('not valid JSON');
    expect(notJson.body).toContain('{&quot;id&quot;: &quot;job-f8&quot;,');
    // A bank analyst's form submits a job of the node's party (the government) only if it may: refused.
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    const aCsrf = ConsoleClient.csrfOf((await a.request('/console/jobs')).body);
    expect(
      (await a.request('/console/jobs', { form: { ...fields, csrf: aCsrf, id: 'job-f9' } })).status,
    ).toBe(403);
    expect(fx.jobs.get('job-f9')).toBeUndefined();
  });

  it("picks the hosts from the node's peers and the guest's dataset from its own, takes each kind's settings to the spec and refuses a bad one by its field", async () => {
    fx = await startConsoleFixture();
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const page = (await op.request('/console/jobs')).body;
    // The fixture node (government) has peers bank-a and bank-b and datasets credit and credit-history.
    expect(page).toContain("<legend>Hosts (this node's peers)</legend>");
    expect(page).toContain('name="hosts" value="bank-a" checked>');
    expect(page).toContain('name="hosts" value="bank-b">');
    expect(page).toMatch(
      /<select id="j-guestData" name="guestData"><option value="credit" selected>credit<\/option><option value="credit-history">credit-history<\/option><\/select>/,
    );
    for (const preset of ['ckks-16384-release', 'ckks-8192', 'ckks-8192-deep', 'ckks-16384']) {
      expect(page).toContain(`<option value="${preset}">${preset}</option>`);
    }
    expect(page).toContain('<option value="" selected>default</option>');
    for (const purpose of ['training', 'scoring']) expect(page).toContain(`<option value="${purpose}"`);
    for (const name of [
      'bins',
      'minIv',
      'ckksPreset',
      'purpose',
      'categories',
      'localEpochs',
      'learningRate',
      'decay',
    ]) {
      expect(page, name).toContain(`name="${name}"`);
    }
    expect(page).toContain('id="j-secureAgg" name="secureAgg" value="on" checked>');
    // Each kind's settings in a fieldset named for its kind (no script needed).
    for (const legend of [
      'Hetero-LR settings (kind hetero-lr only',
      'SecureBoost settings (kind secureboost only',
      'Horizontal FL settings (kind hfl only',
    ]) {
      expect(page).toContain(`<fieldset><legend>${legend}`);
    }
    const csrf = ConsoleClient.csrfOf(page);
    const form = (fields: Record<string, string>, hosts: readonly string[]) => {
      const f = new URLSearchParams({ csrf, ...fields });
      for (const h of hosts) f.append('hosts', h);
      return f;
    };
    /** The spec stored for a form post and for the JSON route's post of `json`, without their ids. */
    const both = async (
      id: string,
      fields: Record<string, string>,
      hosts: readonly string[],
      json: object,
    ) => {
      const viaForm = await op.request('/console/jobs', { form: form({ ...fields, id }, hosts) });
      expect(viaForm.status, viaForm.body).toBe(303);
      const viaJson = await op.request('/console/jobs', {
        form: { csrf, spec: JSON.stringify({ ...json, id: `${id}-json` }) },
      });
      expect(viaJson.status, viaJson.body).toBe(303);
      const { id: _a, ...a } = fx!.jobs.require(id).spec;
      const { id: _b, ...b } = fx!.jobs.require(`${id}-json`).spec;
      expect(a).toEqual(b);
      return a;
    };
    // Hetero-LR: both peers checked, the guest's second dataset picked, bins, minimum IV, a CKKS preset and
    // the consent purpose and categories.
    const lrFields = {
      kind: 'hetero-lr',
      guestData: 'credit-history',
      data: 'bank-a=loans, bank-b=loans-b',
      scheme: 'ckks',
      ckksPreset: 'ckks-8192',
      binning: 'on',
      bins: '8',
      minIv: '0.05',
      purpose: 'scoring',
      categories: 'tax, payroll',
      epochs: '4',
    };
    const lrJson = {
      kind: 'hetero-lr',
      guest: 'government',
      hosts: ['bank-a', 'bank-b'],
      data: { government: 'credit-history', 'bank-a': 'loans', 'bank-b': 'loans-b' },
      binning: { enabled: true, scheme: 'ckks', bins: 8, minIv: 0.05 },
      train: { scheme: 'ckks', ckksPreset: 'ckks-8192', maxEpochs: 4 },
      consent: { purpose: 'scoring', categories: ['tax', 'payroll'] },
    };
    const lr = await both('job-k1', lrFields, ['bank-a', 'bank-b'], lrJson);
    expect(lr.hosts).toEqual(['bank-a', 'bank-b']);
    expect(lr.data).toEqual({ government: 'credit-history', 'bank-a': 'loans', 'bank-b': 'loans-b' });
    expect(lr.binning).toMatchObject({ bins: 8, minIv: 0.05 });
    expect(lr.train.ckksPreset).toBe('ckks-8192');
    expect(lr.consent).toEqual({ purpose: 'scoring', categories: ['tax', 'payroll'] });
    // HFL: rounds, local epochs, learning rate, decay, and secure aggregation off (its box unchecked) then on;
    // the hetero-LR fields left filled in are not read.
    const hflFields = {
      ...lrFields,
      kind: 'hfl',
      rounds: '5',
      localEpochs: '2',
      learningRate: '0.05',
      decay: '0.1',
    };
    const hflJson = {
      kind: 'hfl',
      guest: 'government',
      hosts: ['bank-a', 'bank-b'],
      data: lrJson.data,
      binning: { enabled: true, scheme: 'ckks' },
      train: { scheme: 'ckks', ckksPreset: 'ckks-8192' },
      consent: lrJson.consent,
      hfl: { rounds: 5, localEpochs: 2, learningRate: 0.05, learningRateDecay: 0.1, secureAgg: false },
    };
    const hfl = await both('job-k2', hflFields, ['bank-a', 'bank-b'], hflJson);
    expect(hfl.hfl).toMatchObject({
      rounds: 5,
      localEpochs: 2,
      learningRate: 0.05,
      learningRateDecay: 0.1,
      secureAgg: false,
    });
    expect(hfl.binning.bins).toBe(validateJobSpec(hflJson).binning.bins);
    const secure = await both('job-k3', { ...hflFields, secureAgg: 'on' }, ['bank-a', 'bank-b'], {
      ...hflJson,
      hfl: { ...hflJson.hfl, secureAgg: true },
    });
    expect(secure.hfl?.secureAgg).toBe(true);
    // A bad value of each new field: the Jobs page again (400), the error naming the spec path, the field
    // marked aria-invalid with its typed value kept, the checked hosts still checked; no job made.
    const bad: [string, Record<string, string>, string, string][] = [
      ['bins', { bins: '1' }, 'binning.bins', 'name="bins" value="1"'],
      ['minIv', { minIv: '-0.5' }, 'binning.minIv', 'name="minIv" value="-0.5"'],
      ['ckksPreset', { ckksPreset: 'ckks-1024' }, 'train.ckksPreset', 'name="ckksPreset"'],
      ['purpose', { purpose: 'marketing' }, 'consent.purpose', 'name="purpose"'],
      ['categories', { categories: 'Tax Data' }, 'consent.categories', 'name="categories" value="Tax Data"'],
      ['rounds', { kind: 'hfl', rounds: '0' }, 'hfl.rounds', 'name="rounds" value="0"'],
      [
        'localEpochs',
        { kind: 'hfl', localEpochs: 'two' },
        'hfl.localEpochs',
        'name="localEpochs" value="two"',
      ],
      [
        'learningRate',
        { kind: 'hfl', learningRate: '0' },
        'hfl.learningRate',
        'name="learningRate" value="0"',
      ],
      ['decay', { kind: 'hfl', decay: '-1' }, 'hfl.learningRateDecay', 'name="decay" value="-1"'],
    ];
    for (const [name, change, path, kept] of bad) {
      const r = await op.request('/console/jobs', {
        form: form({ ...lrFields, ...change, id: `job-bad-${name.toLowerCase()}` }, ['bank-a', 'bank-b']),
      });
      expect(r.status, name).toBe(400);
      expect(r.body, name).toContain(`field ${path}`);
      expect(r.body, name).toContain(kept);
      expect(r.body, name).toMatch(
        new RegExp(
          `id="j-${name}" name="${name}"[^>]*aria-invalid="true" aria-describedby="j-${name}-error"`,
        ),
      );
      expect(r.body, name).toContain(`id="j-${name}-error"`);
      expect(r.body, name).toContain('name="hosts" value="bank-a" checked');
      expect(r.body, name).toContain('name="hosts" value="bank-b" checked');
      expect(r.body, name).toContain('<option value="credit-history" selected>');
      expect(fx.jobs.get(`job-bad-${name.toLowerCase()}`), name).toBeUndefined();
    }
    // No host checked: refused naming hosts, the boxes marked. No guest dataset and no pair of its own:
    // refused by the guest's dataset choice.
    const noHost = await op.request('/console/jobs', { form: form({ ...lrFields, id: 'job-nohost' }, []) });
    expect(noHost.status).toBe(400);
    expect(noHost.body).toContain('field hosts');
    expect(noHost.body).toMatch(/name="hosts" value="bank-a" aria-invalid="true">/);
    expect(noHost.body).toContain('id="j-hosts-error"');
    const noData = await op.request('/console/jobs', {
      form: form({ ...lrFields, guestData: '', id: 'job-nodata' }, ['bank-a']),
    });
    expect(noData.status).toBe(400);
    expect(noData.body).toContain('field data.government');
    expect(noData.body).toMatch(/id="j-guestData" name="guestData" aria-invalid="true"/);
    // A dataset the node does not have (a forged choice) is refused by the same field.
    const forged = await op.request('/console/jobs', {
      form: form({ ...lrFields, guestData: 'loans', id: 'job-forged' }, ['bank-a']),
    });
    expect(forged.status).toBe(400);
    expect(forged.body).toContain('field data.government');
    expect(forged.body).toMatch(/id="j-guestData" name="guestData" aria-invalid="true"/);
    expect(fx.jobs.get('job-forged')).toBeUndefined();
    // Without script, `?kind=` (a GET form on the page) leaves the other kinds' settings out.
    expect(page).toContain('<form method="get" action="/console/jobs" class="filters">');
    const hflOnly = await op.request('/console/jobs?kind=hfl');
    expect(hflOnly.status).toBe(200);
    expect(hflOnly.body).toContain(
      '<select id="j-kind" name="kind"><option value="hfl" selected>hfl</option></select>',
    );
    expect(hflOnly.body).toContain('<legend>Horizontal FL settings');
    expect(hflOnly.body).toContain('<legend>Consent (every kind)');
    for (const gone of [
      'Hetero-LR settings',
      'SecureBoost settings',
      'Encryption (',
      'name="epochs"',
      'name="trees"',
    ]) {
      expect(hflOnly.body, gone).not.toContain(gone);
    }
    const sbOnly = (await op.request('/console/jobs?kind=secureboost')).body;
    expect(sbOnly).toContain('name="trees"');
    expect(sbOnly).toContain('Encryption (');
    expect(sbOnly).not.toContain('name="rounds"');
    const badKind = await op.request('/console/jobs?kind=gbdt');
    expect(badKind.status).toBe(400);
    expect(badKind.body).toContain('kind');
    // What the hfl-only form posts (its fields only) is the same spec as the JSON one.
    const {
      bins: _b,
      minIv: _m,
      epochs: _e,
      ckksPreset: _c,
      binning: _bn,
      scheme: _s,
      ...hflOnlyFields
    } = hflFields;
    const hflOnlySpec = await both('job-k4', { ...hflOnlyFields, secureAgg: 'on' }, ['bank-a', 'bank-b'], {
      ...hflJson,
      binning: { enabled: false, scheme: 'ckks' },
      train: { scheme: 'ckks' },
      hfl: { ...hflJson.hfl, secureAgg: true },
    });
    expect(hflOnlySpec.kind).toBe('hfl');
  });

  it("cancels and retries a job of the user's own bank only, with its CSRF token, on the coordinating node", async () => {
    // bank-a's node: job-a2 runs, job-a3 failed; job-b1 is bank-b's (coordinated there).
    fx = await startConsoleFixture({ party: 'bank-a' });
    const spec = (id: string) =>
      validateJobSpec({
        id,
        guest: 'bank-a',
        hosts: ['government'],
        data: { 'bank-a': 'loans', government: 'credit' },
      });
    fx.jobs.put({ ...spec('job-a2'), id: 'job-a2' }, 'bank-a');
    fx.jobs.setAttempt('job-a2', 'train', 0);
    fx.jobs.put({ ...spec('job-a3'), id: 'job-a3' }, 'bank-a');
    fx.jobs.setAttempt('job-a3', 'psi', 2);
    fx.jobs.finish('job-a3', { code: 'io', message: 'government stopped answering' });
    const changes = () =>
      [...fx!.audit.entries({ kind: 'job_change' })].map((e) => [
        e.job,
        e.details?.['action'],
        e.details?.['by'],
      ]);

    // The auditor has no Jobs page, so no action either (403 before the token is even looked at).
    const aud = new ConsoleClient(fx.base);
    expect(await aud.login(USERS.auditor.username)).toBe(303);
    const audCsrf = ConsoleClient.csrfOf((await aud.request('/console/audit')).body);
    expect((await aud.request('/console/jobs/job-a2/cancel', { form: { csrf: audCsrf } })).status).toBe(403);
    // bank-b's analyst: bank-a's job does not exist for it.
    const b = new ConsoleClient(fx.base);
    expect(await b.login(USERS.analystB.username)).toBe(303);
    const bCsrf = ConsoleClient.csrfOf((await b.request('/console/jobs')).body);
    expect((await b.request('/console/jobs/job-a2/cancel', { form: { csrf: bCsrf } })).status).toBe(404);
    expect((await b.request('/console/jobs/job-a3/retry', { form: { csrf: bCsrf } })).status).toBe(404);
    // Its own job-b1 is coordinated by bank-b's node, not this one: no button, and the action is 404.
    expect((await b.request('/console/jobs/job-b1')).body).not.toContain('/cancel');
    expect((await b.request('/console/jobs/job-b1/retry', { form: { csrf: bCsrf } })).status).toBe(404);
    expect(fx.jobs.require('job-a2').cancelRequestedBy).toBeUndefined();
    expect(changes()).toEqual([]);

    // bank-a's analyst: the buttons are there; without the token, with a wrong one or cross-site: 403.
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    const page = await a.request('/console/jobs/job-a2');
    expect(page.body).toContain('action="/console/jobs/job-a2/cancel"');
    const list = (await a.request('/console/jobs')).body;
    expect(list).toContain('action="/console/jobs/job-a3/retry"');
    const csrf = ConsoleClient.csrfOf(page.body);
    expect((await a.request('/console/jobs/job-a2/cancel', { form: {} })).status).toBe(403);
    expect((await a.request('/console/jobs/job-a2/cancel', { form: { csrf: `${csrf}x` } })).status).toBe(403);
    const cross = await a.request('/console/jobs/job-a2/cancel', {
      form: { csrf },
      headers: { origin: 'https://evil.example' },
    });
    expect(cross.status).toBe(403);
    expect(fx.jobs.require('job-a2').cancelRequestedBy).toBeUndefined();
    const ok = await a.request('/console/jobs/job-a2/cancel', {
      form: { csrf },
      headers: { origin: fx.base },
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/console/jobs/job-a2');
    expect(fx.jobs.require('job-a2').cancelRequestedBy).toBe('console:anna');
    expect((await a.request('/console/jobs/job-a2')).body).toContain('cancelling');
    // Retry of a running job is refused (409); of the failed one, it goes back to its stage.
    expect((await a.request('/console/jobs/job-a2/retry', { form: { csrf } })).status).toBe(409);
    expect((await a.request('/console/jobs/job-a3/retry', { form: { csrf } })).status).toBe(303);
    const retried = fx.jobs.require('job-a3');
    expect([retried.status, retried.stage, retried.error]).toEqual(['running', 'psi', undefined]);
    // The operator may act on any bank's job this node coordinates.
    const op = new ConsoleClient(fx.base);
    expect(await op.login(USERS.operator.username)).toBe(303);
    const opCsrf = ConsoleClient.csrfOf((await op.request('/console/jobs')).body);
    expect((await op.request('/console/jobs/job-a3/cancel', { form: { csrf: opCsrf } })).status).toBe(303);
    expect(changes()).toEqual([
      ['job-a2', 'cancel', 'console:anna'],
      ['job-a3', 'retry', 'console:anna'],
      ['job-a3', 'cancel', 'console:olga'],
    ]);
    expect(fx.audit.verify().ok).toBe(true);
  });

  it("draws a model's held-out curves from group aggregates only, and downloads its report", async () => {
    fx = await startConsoleFixture();
    const a = new ConsoleClient(fx.base);
    expect(await a.login(USERS.analystA.username)).toBe(303);
    const page = await a.request('/console/models/bank-a-credit%401');
    for (const id of ['roc', 'ks', 'calibration', 'lift'])
      expect(page.body).toContain(`id="${id}" data-chart`);
    expect(page.body).toContain('<script src="/console/static/report-charts.js" defer></script>');
    // The chart data: one ROC vertex per group boundary, every group >= the floor of 50 rows, the
    // totals of the stored curves (no per-row array anywhere).
    const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page.body)![1]!;
    const d = JSON.parse(json);
    const stored = fx.models.get('bank-a-credit@1').evaluation!;
    expect(d.roc.fpr.length).toBe(stored.groups.length + 1);
    expect(d.lift.map((r: { count: number }) => r.count)).toEqual(stored.groups.map((g) => g.rows));
    expect(Math.min(...d.lift.map((r: { count: number }) => r.count))).toBeGreaterThanOrEqual(50);
    expect(d.summary).toEqual({ n: 800, positives: stored.bads, auc: 0.74, ks: 0.41 });
    const longest = Math.max(
      ...Object.values(d).flatMap((v) =>
        v !== null && typeof v === 'object'
          ? Object.values(v).map((x) => (Array.isArray(x) ? x.length : 0))
          : [],
      ),
    );
    expect(longest).toBeLessThanOrEqual(stored.groups.length + 1);
    // The assets are the report's own, served by the node (same origin, under the console's CSP).
    const js = await a.request('/console/static/report-charts.js');
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.body).toContain("getElementById('report-data')");
    expect((await a.request('/console/static/uplot.js')).body).toContain('uPlot');
    // The report: an attachment, self-contained (inlined scripts, no-network CSP), for visible models only.
    const report = await a.request('/console/models/bank-a-credit%401/report');
    expect(report.status).toBe(200);
    expect(report.headers.get('content-disposition')).toBe(
      'attachment; filename="bank-a-credit-1-report.html"',
    );
    expect(report.body).toContain('content="default-src &#39;none&#39;; script-src &#39;unsafe-inline&#39;;');
    expect(report.body).not.toMatch(/<script src=|<link /);
    expect(report.body).toContain('id="report-data"');
    const b = new ConsoleClient(fx.base);
    expect(await b.login(USERS.analystB.username)).toBe(303);
    expect((await b.request('/console/models/bank-a-credit%401/report')).status).toBe(404);
    // bank-b's version has no curves: a note, no chart, no download.
    const none = (await b.request('/console/models/bank-b-credit%401')).body;
    expect(none).toContain('No held-out curves');
    expect(none).not.toContain('report-data');
    expect((await b.request('/console/models/bank-b-credit%401/report')).status).toBe(404);
  });

  it("reconciles a bank's exported log with this node's: agreeing, a hidden use, a forged chain", async () => {
    fx = await startConsoleFixture();
    const dir = mkdtempSync(join(tmpdir(), 'fedscore-console-bank-'));
    const bankStore = NodeStore.open(dir);
    const bankAudit = new AuditLog(bankStore);
    const served = [...fx.audit.entries({ job: 'job-a1', kind: 'data_use' })][0]!;
    const { seq: _s, at: _a, prevHash: _p, hash: _h, ...use } = served;
    bankAudit.append({ kind: 'model_change', actor: 'bank-a', details: { action: 'register' } });
    bankAudit.append(use);
    const full = [...bankAudit.entries()].map((e) => JSON.stringify(e));
    bankStore.close();
    rmSync(dir, { recursive: true, force: true });

    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.auditor.username)).toBe(303);
    const form = await c.request('/console/audit/reconcile');
    expect(form.status).toBe(200);
    const csrf = ConsoleClient.csrfOf(form.body);
    const post = (claims: string[]) =>
      c.request('/console/audit/reconcile', { form: { csrf, user: 'bank-a', claims: claims.join('\n') } });
    const agree = await post(full);
    expect(agree.body).toContain('data-ok="true"');
    expect(agree.body).toContain('1 uses matched');
    // The bank hides its use: drop the entry (its chain then still verifies up to entry 1).
    const hidden = await post(full.slice(0, 1));
    expect(hidden.body).toContain('data-ok="false"');
    expect(hidden.body).toMatch(/hidden\)<\/caption>.*job-a1/s);
    // The bank edits the count in its log: the chain breaks.
    const forged = await post([full[0]!, full[1]!.replace('"enterpriseCount":6', '"enterpriseCount":5')]);
    expect(forged.body).toContain('data-ok="false"');
    expect(forged.body).toContain('broken at entry 2');
    // A bank analyst reconciles its own bank only.
    const b = new ConsoleClient(fx.base);
    expect(await b.login(USERS.analystB.username)).toBe(303);
    const bCsrf = ConsoleClient.csrfOf((await b.request('/console/audit/reconcile')).body);
    const other = await b.request('/console/audit/reconcile', {
      form: { csrf: bCsrf, user: 'bank-a', claims: full.join('\n') },
    });
    expect(other.status).toBe(403);
  });

  it('reports a tampered audit log on the Audit page', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    expect(await c.login(USERS.auditor.username)).toBe(303);
    expect((await c.request('/console/audit')).body).toContain('data-ok="true"');
    // As an insider with write access to the database would: drop the append-only trigger, edit a row.
    fx.store.exec('DROP TRIGGER audit_log_no_update');
    fx.store.run("UPDATE audit_log SET actor = 'bank-z' WHERE seq = 2");
    const page = (await c.request('/console/audit')).body;
    expect(page).toContain('data-ok="false"');
    expect(page).toContain('broken at entry 2');
  });
});

describe('config', () => {
  const base = {
    party: 'government',
    listen: '127.0.0.1:0',
    stateDir: '/tmp/x',
    tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
    peers: { bank: { address: '127.0.0.1:1' } },
  };
  it('is on by default on a node serving its peers with an http address, off on a bank', () => {
    expect(
      consoleEnabled(validateNodeConfig({ ...base, http: '127.0.0.1:0', monitoring: { serve: true } })),
    ).toBe(true);
    expect(consoleEnabled(validateNodeConfig({ ...base, http: '127.0.0.1:0' }))).toBe(false);
    expect(
      consoleEnabled(validateNodeConfig({ ...base, http: '127.0.0.1:0', console: { enabled: true } })),
    ).toBe(true);
    expect(
      consoleEnabled(
        validateNodeConfig({
          ...base,
          http: '127.0.0.1:0',
          monitoring: { serve: true },
          console: { enabled: false },
        }),
      ),
    ).toBe(false);
  });
  it("takes one line of text per feature as a dataset's descriptions, naming a bad one", () => {
    const data = (descriptions: unknown) => ({ credit: { path: 'c.csv', id: 'id', descriptions } });
    expect(
      validateNodeConfig({ ...base, data: data({ tax_arrears: 'Tax owed past its due date' }) }).data[
        'credit'
      ]?.descriptions,
    ).toEqual({ tax_arrears: 'Tax owed past its due date' });
    expect(
      validateNodeConfig({ ...base, data: { credit: { path: 'c.csv', id: 'id' } } }).data['credit']
        ?.descriptions,
    ).toEqual({});
    for (const bad of ['x'.repeat(201), 'two\nlines', '']) {
      expect(() => validateNodeConfig({ ...base, data: data({ tax_arrears: bad }) })).toThrow(
        expect.objectContaining({ code: 'invalid_config', field: 'data.credit.descriptions.tax_arrears' }),
      );
    }
  });
  it('refuses bad console settings with a typed error naming the field', () => {
    expect(() => validateNodeConfig({ ...base, console: { enabled: true } })).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'console.enabled' }),
    );
    expect(() => validateNodeConfig({ ...base, console: { maxFailedLogins: 0 } })).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'console.maxFailedLogins' }),
    );
    expect(() => validateNodeConfig({ ...base, console: { sso: true } })).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'console' }),
    );
  });
});
