/**
 * The console's JSON API (/console/api/, a Hono app with zod-validated routes; docs/console.md) on the
 * node's real HTTP endpoint: the same session, roles, bank scoping, CSRF and origin checks and security
 * headers as the pages, typed errors naming the field, answers that parse with the schemas the OpenAPI
 * document is generated from, and that document served as the committed one.
 */
import { readFileSync } from 'node:fs';
import {
  CONTENT_SECURITY_POLICY,
  consoleAlertListSchema,
  consoleAuditSchema,
  consoleCatalogueSchema,
  consoleConsentListSchema,
  consoleErrorSchema,
  consoleJobListSchema,
  consoleJobSchema,
  consoleModelListSchema,
  consoleModelSchema,
  consoleProductDetailSchema,
  consoleProductListSchema,
  consoleSamplesSchema,
  consoleSessionSchema,
  consoleUsageSchema,
  FeatureCatalogue,
  openApiDocument,
  type PsiCheckpoint,
  validateJobSpec,
} from '@fedscore/node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient, type ConsoleFixture, startConsoleFixture, USERS } from './console-fixture.ts';

let fx: ConsoleFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function api(
  c: ConsoleClient,
  path: string,
  init: Parameters<ConsoleClient['request']>[1] = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const r = await c.request(`/console/api${path}`, init);
  expect(r.headers.get('content-type'), path).toBe('application/json; charset=utf-8');
  return { status: r.status, headers: r.headers, json: JSON.parse(r.body) as Record<string, unknown> };
}

/** The error code and field of a refusal, after checking its body against the error schema. */
function refusal(r: { status: number; json: unknown }): [number, string, string | undefined] {
  const e = consoleErrorSchema.parse(r.json).error;
  return [r.status, e.code, e.field];
}

async function loggedIn(user: { username: string }): Promise<{ c: ConsoleClient; csrf: string }> {
  const c = new ConsoleClient(fx!.base);
  expect(await c.login(user.username)).toBe(303);
  const s = await api(c, '/session');
  expect(s.status).toBe(200);
  return { c, csrf: consoleSessionSchema.parse(s.json).csrf };
}

describe('console JSON API', () => {
  it('answers 401 without a session (never a redirect), with the console security headers; the OpenAPI document is public', async () => {
    fx = await startConsoleFixture();
    const c = new ConsoleClient(fx.base);
    for (const path of [
      '/session',
      '/catalogue',
      '/audit',
      '/consents',
      '/samples',
      '/usage',
      '/products',
      '/products/a-working-capital',
      '/alerts',
      '/jobs',
      '/jobs/job-a1',
      '/models',
      '/models/bank-a-credit@1',
    ]) {
      const r = await api(c, path);
      expect(refusal(r), path).toEqual([401, 'unauthenticated', undefined]);
      expect(r.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
    expect(refusal(await api(c, '/models/bank-a-credit@1/promote', { json: {} }))[1]).toBe('unauthenticated');
    const doc = await api(c, '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json).toEqual(openApiDocument());
    const committed = JSON.parse(
      readFileSync(new URL('../../../docs/api/openapi.json', import.meta.url), 'utf8'),
    ) as unknown;
    // Stale? Regenerate: npx -y pnpm@12.4.2 --filter @fedscore/node openapi
    expect(committed).toEqual(doc.json);
    const paths = Object.keys((doc.json as { paths: Record<string, unknown> }).paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/score',
        '/console/api/catalogue',
        '/console/api/audit',
        '/console/api/consents',
        '/console/api/samples',
        '/console/api/usage',
        '/console/api/products',
        '/console/api/products/{id}',
        '/console/api/alerts',
        '/console/api/jobs',
        '/console/api/models/{ref}',
      ]),
    );
    expect(refusal(await api(c, '/nothing-here'))).toEqual([404, 'not_found', undefined]);
    const wrong = await api(c, '/jobs', { method: 'DELETE' });
    expect(refusal(wrong)[0]).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST');
  });

  it("scopes a bank analyst to its own bank: another bank's job and model are 404 like a missing one", async () => {
    fx = await startConsoleFixture();
    const { c, csrf } = await loggedIn(USERS.analystA);
    const jobs = consoleJobListSchema.parse((await api(c, '/jobs')).json).jobs;
    expect(jobs.map((j) => j.id)).toEqual(['job-a1']);
    expect(jobs[0]).toMatchObject({ guest: 'bank-a', hosts: ['government'], kind: 'hetero-lr' });
    expect(consoleJobSchema.parse((await api(c, '/jobs/job-a1')).json).id).toBe('job-a1');
    const other = await api(c, '/jobs/job-b1');
    const missing = await api(c, '/jobs/job-zz');
    expect(refusal(other)).toEqual([404, 'not_found', 'id']);
    expect(other.json).toEqual(missing.json);
    const models = consoleModelListSchema.parse((await api(c, '/models')).json).models;
    expect(models.map((m) => m.ref)).toEqual(['bank-a-credit@1']);
    const m = consoleModelSchema.parse((await api(c, '/models/bank-a-credit%401')).json);
    // The party's feature count, never the feature names (as on the page).
    expect(m.parties.every((p) => typeof p.features === 'number')).toBe(true);
    expect(JSON.stringify(m)).not.toContain('featureNames');
    const otherModel = await api(c, '/models/bank-b-credit%401');
    expect(refusal(otherModel)).toEqual([404, 'not_found', 'ref']);
    expect(otherModel.json).toEqual((await api(c, '/models/nobody%401')).json);
    // Not even with a valid CSRF token can it change another bank's model.
    const retire = await api(c, '/models/bank-b-credit%401/retire', {
      method: 'POST',
      headers: { 'x-csrf-token': csrf },
    });
    expect(refusal(retire)).toEqual([404, 'not_found', 'ref']);
    expect(fx.models.get('bank-b-credit@1').status).toBe('candidate');
    // The operator sees both banks.
    const op = await loggedIn(USERS.operator);
    const all = consoleJobListSchema.parse((await api(op.c, '/jobs')).json).jobs.map((j) => j.id);
    expect(all.sort()).toEqual(['job-a1', 'job-b1']);
  });

  it('gives the auditor no jobs or models (403), its session only', async () => {
    fx = await startConsoleFixture();
    const { c } = await loggedIn(USERS.auditor);
    for (const path of ['/jobs', '/jobs/job-a1', '/models', '/models/bank-a-credit%401']) {
      expect(refusal(await api(c, path)), path).toEqual([403, 'forbidden', undefined]);
    }
    expect(consoleSessionSchema.parse((await api(c, '/session')).json)).toMatchObject({
      username: USERS.auditor.username,
      role: 'auditor',
      bank: null,
    });
  });

  it("serves the Indicators page's published profiles to the roles that open it, never this node's own", async () => {
    fx = await startConsoleFixture();
    // This (government) node's own last publication is in its store too; the page and the API leave it out.
    new FeatureCatalogue(fx.store).save(
      {
        party: 'government',
        publishedAt: Date.UTC(2026, 11, 2),
        datasets: [
          {
            dataset: 'credit',
            rows: 500,
            rateStepBp: 100,
            features: [
              { name: 'tax_arrears', description: '', type: 'numeric', coverageBp: 9000, missingBp: 1000 },
            ],
          },
        ],
      },
      'government',
    );
    const bankA = {
      owner: 'bank-a',
      dataset: 'loans',
      rows: 1200,
      rateStepBp: 100,
      receivedFrom: 'bank-a',
      publishedAt: Date.UTC(2026, 11, 1, 9, 0),
      receivedAt: Date.UTC(2026, 11, 1, 9, 30),
      features: [
        {
          name: 'revenue',
          description: 'Revenue of the last 12 months, CNY thousands',
          type: 'numeric',
          coverageBp: 9700,
          missingBp: 300,
        },
        { name: 'has_collateral', description: '', type: 'binary', coverageBp: 10_000, missingBp: 0 },
      ],
    };
    // The operator and another bank's analyst (a profile is a whole-dataset aggregate, as on the page).
    for (const user of [USERS.operator, USERS.analystB]) {
      const { c } = await loggedIn(user);
      const r = await api(c, '/catalogue');
      expect(r.status, user.username).toBe(200);
      expect(consoleCatalogueSchema.parse(r.json)).toEqual({ profiles: [bankA] });
      // The same rows as the Indicators page's table.
      const page = (await c.request('/console/indicators')).body;
      expect(page).toContain('<td>bank-a</td><td>loans</td><td>revenue</td><td>numeric</td><td>97 %</td>');
    }
    // The auditor does not open the Indicators page, nor its API.
    const { c } = await loggedIn(USERS.auditor);
    expect(refusal(await api(c, '/catalogue'))).toEqual([403, 'forbidden', undefined]);
    expect((await c.request('/console/indicators')).status).toBe(403);
    // Read-only: no other method.
    const op = await loggedIn(USERS.operator);
    const post = await api(op.c, '/catalogue', { method: 'POST', headers: { 'x-csrf-token': op.csrf } });
    expect(refusal(post)[0]).toBe(405);
  });

  it("gives the Audit page's verdict and entries, scoped like the page, and reports a tampered chain", async () => {
    fx = await startConsoleFixture();
    // Independent reference: every entry straight from the log; a bank analyst's are those it acted in or
    // whose data they are (docs/console.md, Audit).
    const all = [...fx.audit.entries()];
    const ofBankA = all.filter((e) => e.actor === 'bank-a' || e.dataOwner === 'bank-a');
    expect(ofBankA.length).toBeGreaterThan(0);
    expect(ofBankA.length).toBeLessThan(all.length);
    const auditor = await loggedIn(USERS.auditor);
    const whole = consoleAuditSchema.parse((await api(auditor.c, '/audit')).json);
    expect(whole.chain).toEqual({
      ok: true,
      entries: all.length,
      head: all.at(-1)!.hash,
      firstBad: null,
      acknowledged: [],
    });
    expect(whole.entries.map((e) => e.seq)).toEqual(
      all
        .map((e) => e.seq)
        .reverse()
        .slice(0, 200),
    );
    const a = await loggedIn(USERS.analystA);
    const own = consoleAuditSchema.parse((await api(a.c, '/audit')).json);
    expect(own.entries.map((e) => e.seq)).toEqual(ofBankA.map((e) => e.seq).reverse());
    // The same entries as the page lists for it, with the same fields.
    const src = ofBankA.at(-1)!;
    expect(own.entries[0]).toMatchObject({
      kind: src.kind,
      actor: src.actor,
      at: src.at,
      job: src.job ?? null,
    });
    const page = (await a.c.request('/console/audit')).body;
    for (const e of own.entries) expect(page).toContain(`<td>${e.seq}</td>`);
    // kind and limit, validated.
    const uses = consoleAuditSchema.parse((await api(auditor.c, '/audit?kind=data_use&limit=2')).json);
    expect(uses.entries.map((e) => e.seq)).toEqual(
      all
        .filter((e) => e.kind === 'data_use')
        .map((e) => e.seq)
        .reverse()
        .slice(0, 2),
    );
    expect(refusal(await api(auditor.c, '/audit?kind=nothing'))).toEqual([400, 'invalid_request', 'kind']);
    expect(refusal(await api(auditor.c, '/audit?limit=201'))).toEqual([400, 'invalid_request', 'limit']);
    // As an insider with write access to the database would: drop the append-only trigger, edit a row.
    fx.store.exec('DROP TRIGGER audit_log_no_update');
    fx.store.run("UPDATE audit_log SET actor = 'bank-z' WHERE seq = 2");
    const broken = consoleAuditSchema.parse((await api(auditor.c, '/audit')).json).chain;
    expect(broken).toMatchObject({ ok: false, entries: 2, firstBad: { seq: 2, reason: 'hash' } });
  });

  it("lists the Consent page's counts and records, a bank analyst's grants only, read-only for the auditor", async () => {
    fx = await startConsoleFixture();
    const revoked = fx.consents.list()[0]!;
    fx.consents.revoke(revoked.id, { by: 'test' });
    // Independent reference: the registry's records and statuses, counted here.
    const now = Date.now();
    const all = fx.consents.list();
    const counted = (rows: typeof all) => {
      const m = new Map<string, Record<string, number>>();
      for (const r of rows) {
        const g = m.get(r.grantee) ?? { valid: 0, expired: 0, revoked: 0, notYetValid: 0 };
        const st = fx!.consents.status(r, now);
        g[st === 'not_yet_valid' ? 'notYetValid' : st]!++;
        m.set(r.grantee, g);
      }
      return [...m].map(([grantee, g]) => ({ grantee, ...g }));
    };
    for (const user of [USERS.operator, USERS.auditor]) {
      const { c } = await loggedIn(user);
      const r = consoleConsentListSchema.parse((await api(c, '/consents')).json);
      expect(r.byGrantee).toEqual(counted(all));
      expect(r.consents.map((x) => x.id)).toEqual(
        all
          .map((x) => x.id)
          .reverse()
          .slice(0, 200),
      );
    }
    const { c } = await loggedIn(USERS.analystA);
    const own = consoleConsentListSchema.parse((await api(c, '/consents')).json);
    const ofA = all.filter((x) => x.grantee === 'bank-a');
    expect(ofA.length).toBeGreaterThan(0);
    expect(ofA.length).toBeLessThan(all.length);
    expect(own.byGrantee).toEqual(counted(ofA));
    expect(new Set(own.consents.map((x) => x.grantee))).toEqual(new Set(['bank-a']));
    // status and limit, validated; the revoked record is found by its status.
    const op = await loggedIn(USERS.operator);
    const rev = consoleConsentListSchema.parse((await api(op.c, '/consents?status=revoked')).json);
    expect(rev.consents).toEqual([
      {
        id: revoked.id,
        enterprise: revoked.enterprise,
        grantee: revoked.grantee,
        purpose: revoked.purpose,
        scope: [...revoked.scope],
        expiresAt: revoked.expiresAt,
        status: 'revoked',
      },
    ]);
    expect(consoleConsentListSchema.parse((await api(op.c, '/consents?limit=1')).json).consents).toHaveLength(
      1,
    );
    expect(refusal(await api(op.c, '/consents?status=gone'))).toEqual([400, 'invalid_request', 'status']);
    expect(refusal(await api(op.c, '/consents?limit=0'))).toEqual([400, 'invalid_request', 'limit']);
    const post = await api(op.c, '/consents', { method: 'POST', headers: { 'x-csrf-token': op.csrf } });
    expect(refusal(post)[0]).toBe(405);
  });

  it('refuses a change without the CSRF token, with a wrong one, or cross-site; promotes with it', async () => {
    fx = await startConsoleFixture();
    const { c, csrf } = await loggedIn(USERS.operator);
    const promote = (headers: Record<string, string>) =>
      api(c, '/models/bank-a-credit%401/promote', { method: 'POST', headers });
    expect(refusal(await promote({}))).toEqual([403, 'forbidden', 'x-csrf-token']);
    expect(refusal(await promote({ 'x-csrf-token': `${csrf}x` }))).toEqual([
      403,
      'forbidden',
      'x-csrf-token',
    ]);
    expect(refusal(await promote({ 'x-csrf-token': csrf, origin: 'https://evil.example' }))[1]).toBe(
      'forbidden',
    );
    expect(refusal(await promote({ 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }))[1]).toBe(
      'forbidden',
    );
    // Another session's token does not do either.
    const other = await loggedIn(USERS.analystA);
    expect(refusal(await promote({ 'x-csrf-token': other.csrf }))[1]).toBe('forbidden');
    expect(fx.models.get('bank-a-credit@1').status).toBe('candidate');
    const ok = await promote({ 'x-csrf-token': csrf, origin: fx.base });
    expect(ok.status).toBe(200);
    expect(consoleModelSchema.parse(ok.json).status).toBe('production');
    expect(fx.models.get('bank-a-credit@1').status).toBe('production');
  });

  it('validates query, path and body with the zod schemas, naming the field', async () => {
    fx = await startConsoleFixture();
    const { c, csrf } = await loggedIn(USERS.operator);
    expect(refusal(await api(c, '/jobs?limit=0'))).toEqual([400, 'invalid_request', 'limit']);
    expect(refusal(await api(c, '/jobs?limit=2.5'))).toEqual([400, 'invalid_request', 'limit']);
    expect(refusal(await api(c, '/jobs?status=exploded'))).toEqual([400, 'invalid_request', 'status']);
    expect(refusal(await api(c, '/jobs?colour=red'))).toEqual([400, 'invalid_request', 'colour']);
    expect(refusal(await api(c, '/models/no-version'))).toEqual([400, 'invalid_request', 'ref']);
    expect(refusal(await api(c, '/models?status=gone'))).toEqual([400, 'invalid_request', 'status']);
    const listed = consoleJobListSchema.parse((await api(c, '/jobs?limit=1&status=submitted')).json).jobs;
    expect(listed.length).toBeLessThanOrEqual(1);

    const spec = {
      id: 'job-g1',
      guest: 'government',
      hosts: ['bank-a'],
      data: { government: 'credit', 'bank-a': 'loans' },
    };
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      api(c, '/jobs', { method: 'POST', json: body, headers: { 'x-csrf-token': csrf, ...headers } });
    expect(refusal(await post({ ...spec, binning: { bins: 1 } }))).toEqual([
      400,
      'invalid_request',
      'binning.bins',
    ]);
    expect(refusal(await post({ ...spec, hosts: [] }))).toEqual([400, 'invalid_request', 'hosts']);
    expect(refusal(await post({ ...spec, colour: 'red' }))[1]).toBe('invalid_request');
    expect(refusal(await post(spec, { 'content-type': 'text/plain' }))).toEqual([
      415,
      'unsupported_media_type',
      'content-type',
    ]);
    const notJson = await c.request('/console/api/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      form: { x: '{' },
    });
    expect([notJson.status, JSON.parse(notJson.body).error.field]).toEqual([400, 'body']);
    expect(refusal(await post({ ...spec, pad: 'x'.repeat(70_000) }))).toEqual([
      413,
      'payload_too_large',
      undefined,
    ]);
    expect(fx.jobs.get('job-g1')).toBeUndefined();
    const ok = await post(spec);
    expect(ok.status).toBe(201);
    expect(consoleJobSchema.parse(ok.json)).toMatchObject({
      id: 'job-g1',
      status: 'submitted',
      guest: 'government',
    });
    expect(fx.jobs.get('job-g1')?.status).toBe('submitted');
    // A bank analyst submits jobs of its own bank only.
    const a = await loggedIn(USERS.analystA);
    const refused = await api(a.c, '/jobs', {
      method: 'POST',
      json: { ...spec, id: 'job-g2' },
      headers: { 'x-csrf-token': a.csrf },
    });
    expect(refusal(refused)).toEqual([403, 'forbidden', 'guest']);
    expect(fx.jobs.get('job-g2')).toBeUndefined();
  });

  it("cancels and retries a job of the user's own bank on the coordinating node; a refused change is 409", async () => {
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
    const b = await loggedIn(USERS.analystB);
    const bCancel = await api(b.c, '/jobs/job-a2/cancel', {
      method: 'POST',
      headers: { 'x-csrf-token': b.csrf },
    });
    expect(refusal(bCancel)).toEqual([404, 'not_found', 'id']);
    expect(
      refusal(await api(b.c, '/jobs/job-b1/retry', { method: 'POST', headers: { 'x-csrf-token': b.csrf } })),
    ).toEqual([404, 'not_found', 'id']);
    const a = await loggedIn(USERS.analystA);
    const act = (path: string) => api(a.c, path, { method: 'POST', headers: { 'x-csrf-token': a.csrf } });
    expect(refusal(await act('/jobs/job-a2/explode'))).toEqual([400, 'invalid_request', 'action']);
    const ok = await act('/jobs/job-a2/cancel');
    expect(ok.status).toBe(200);
    expect(consoleJobSchema.parse(ok.json).cancelRequestedBy).toBe('console:anna');
    expect(fx.jobs.require('job-a2').cancelRequestedBy).toBe('console:anna');
    expect(refusal(await act('/jobs/job-a2/retry')).slice(0, 2)).toEqual([409, 'conflict']);
    expect(
      [...fx.audit.entries({ kind: 'job_change' })].map((e) => [
        e.job,
        e.details?.['action'],
        e.details?.['by'],
      ]),
    ).toEqual([['job-a2', 'cancel', 'console:anna']]);
    expect(fx.audit.verify().ok).toBe(true);
  });
  it("gives the Samples page's aligned sets, counts only, for the jobs each account may see", async () => {
    fx = await startConsoleFixture();
    // Independent reference: the jobs' PSI checkpoints read from the job store.
    const expected = (bank?: string) =>
      fx!.jobs
        .list()
        .filter((j) => bank === undefined || j.spec.guest === bank)
        .flatMap((j): { job: string; owner: string | null; aligned: number }[] => {
          const psi = fx!.jobs.checkpoint<PsiCheckpoint>(j.id, 'psi')?.output;
          if (psi === undefined) return [];
          const owners = Object.entries(psi.consent ?? {});
          return owners.length === 0
            ? [{ job: j.id, owner: null, aligned: psi.rows.length }]
            : owners.map(([owner, c]) => ({ job: j.id, owner, aligned: c.aligned }));
        });
    const op = await loggedIn(USERS.operator);
    const all = consoleSamplesSchema.parse((await api(op.c, '/samples')).json);
    expect(all.sets.map(({ job, owner, aligned }) => ({ job, owner, aligned }))).toEqual(expected());
    expect(new Set(all.sets.map((s) => s.job))).toEqual(new Set(['job-a1', 'job-b1']));
    const a = await loggedIn(USERS.analystA);
    const own = consoleSamplesSchema.parse((await api(a.c, '/samples')).json);
    expect(own.sets.map(({ job, owner, aligned }) => ({ job, owner, aligned }))).toEqual(expected('bank-a'));
    expect(own.sets.length).toBeGreaterThan(0);
    for (const s of own.sets) {
      expect(s.bank).toBe('bank-a');
      // The set's fingerprint as the audit log recorded it, its first 16 hex digits (as the page).
      const fp = [...fx.audit.entries({ job: s.job, kind: 'data_use' })].find(
        (e) => e.enterpriseFingerprint !== undefined,
      )?.enterpriseFingerprint;
      expect(s.fingerprint).toBe(fp === undefined ? null : fp.slice(0, 16));
    }
    const auditor = await loggedIn(USERS.auditor);
    expect(refusal(await api(auditor.c, '/samples'))).toEqual([403, 'forbidden', undefined]);
  });

  it("gives the Usage page's counts per bank and the scoring policy's use, a bank analyst's bank only", async () => {
    fx = await startConsoleFixture();
    // Independent reference: the audit log read directly, and the fixture's admitted scoring requests
    // (bank-a: 3 requests on 2 enterprises, one of them at the quota of 2; bank-b: 1 on 1).
    const uses = new Map<string, { uses: number; enterpriseUses: number; refused: number }>();
    for (const e of fx.audit.entries()) {
      const row = () => uses.get(e.actor) ?? { uses: 0, enterpriseUses: 0, refused: 0 };
      if (e.kind === 'data_use' && e.dataOwner !== undefined && e.dataOwner !== e.actor) {
        const u = row();
        uses.set(e.actor, {
          ...u,
          uses: u.uses + 1,
          enterpriseUses: u.enterpriseUses + (e.enterpriseCount ?? 0),
        });
      } else if (e.kind === 'access_refused' || e.kind === 'job_refused') {
        const u = row();
        uses.set(e.actor, { ...u, refused: u.refused + 1 });
      }
    }
    expect(uses.size).toBeGreaterThan(1);
    for (const user of [USERS.operator, USERS.auditor]) {
      const { c } = await loggedIn(user);
      const r = consoleUsageSchema.parse((await api(c, '/usage')).json);
      expect(
        new Map(
          r.byBank.map(({ bank, uses, enterpriseUses, refused }) => [
            bank,
            { uses, enterpriseUses, refused },
          ]),
        ),
      ).toEqual(uses);
      expect(r.scoring).toBeNull();
      expect(r.policy?.quota).toEqual({ requests: 2, windowSeconds: 30 * 86_400 });
      expect(r.policy?.rate).toEqual({ requests: 100, windowSeconds: 3_600 });
      expect(r.policy?.banks).toEqual([
        { bank: 'bank-a', quotaRequests: 3, enterprises: 2, atQuota: 1, rateRequests: 3, atRate: 0 },
        { bank: 'bank-b', quotaRequests: 1, enterprises: 1, atQuota: 0, rateRequests: 1, atRate: 0 },
      ]);
    }
    const { c } = await loggedIn(USERS.analystA);
    const own = consoleUsageSchema.parse((await api(c, '/usage')).json);
    expect(own.byBank.map((u) => u.bank)).toEqual(uses.has('bank-a') ? ['bank-a'] : []);
    expect(own.policy?.banks.map((u) => u.bank)).toEqual(['bank-a']);
  });

  it("lists the product pool like the Products page, and a product's matches for its own bank only (a count for the others)", async () => {
    fx = await startConsoleFixture();
    const { c } = await loggedIn(USERS.analystA);
    // Independent reference: the pool read directly.
    const list = consoleProductListSchema.parse((await api(c, '/products?sort=rate&order=desc')).json);
    expect(list.products.map((p) => [p.id, p.matched])).toEqual(
      fx.products.search({ sort: 'rate', descending: true }).map((r) => [r.product.id, r.matched]),
    );
    expect(list.products.length).toBe(fx.products.search().length);
    const filtered = consoleProductListSchema.parse((await api(c, '/products?bank=bank-b')).json);
    expect(filtered.products.map((p) => p.id)).toEqual(
      fx.products.search({ bank: 'bank-b' }).map((r) => r.product.id),
    );
    let named = 0;
    let countedOnly = 0;
    for (const r of fx.products.search()) {
      const d = consoleProductDetailSchema.parse((await api(c, `/products/${r.product.id}`)).json);
      const matches = fx.products.matches(r.product);
      expect(d.product.matched).toBe(matches.length);
      if (r.product.bank === 'bank-a') {
        // Its own product: the enterprises bank-a pre-approved, by name; other banks' counted.
        const mine = matches.filter((m) => m.bank === 'bank-a');
        expect(d.matches).toEqual(
          mine.map((m) => ({ enterprise: m.enterprise, bank: m.bank, band: m.band, amount: m.amount })),
        );
        expect(d.otherBanks).toBe(matches.length - mine.length);
        named += mine.length;
      } else {
        expect(d.matches).toBeNull();
        expect(d.otherBanks).toBe(matches.length);
        countedOnly += matches.length;
      }
    }
    // The fixture exercises both: enterprises named on bank-a's products, counted on bank-b's.
    expect(named).toBeGreaterThan(0);
    expect(countedOnly).toBeGreaterThan(0);
    const body = (await c.request('/console/api/products/b-tax-credit')).body;
    for (const m of fx.products.matches(fx.products.get('b-tax-credit')!))
      expect(body).not.toContain(m.enterprise);
    expect(refusal(await api(c, '/products/nope'))).toEqual([404, 'not_found', 'id']);
    expect(refusal(await api(c, '/products?sort=price'))).toEqual([400, 'invalid_request', 'sort']);
    expect(refusal(await api(c, '/products?amount=lots'))).toEqual([400, 'invalid_request', 'amount']);
    const auditor = await loggedIn(USERS.auditor);
    expect(refusal(await api(auditor.c, '/products'))).toEqual([403, 'forbidden', undefined]);
  });

  it("lists a bank's own post-loan alerts, counts per bank for the platform operator, none for another bank", async () => {
    fx = await startConsoleFixture({ alerts: true });
    const a = await loggedIn(USERS.analystA);
    // Independent reference: bank-a's alert book read directly.
    const book = fx.alerts.list();
    expect(book.length).toBe(3);
    const own = consoleAlertListSchema.parse((await api(a.c, '/alerts')).json);
    expect(own.alerts.map((x) => [x.government, x.seq, x.enterprise, x.severity])).toEqual(
      book.map((x) => [x.government, x.seq, x.enterprise, x.severity]),
    );
    expect(own.counts).toEqual([]);
    const high = consoleAlertListSchema.parse((await api(a.c, '/alerts?severity=high')).json);
    expect(high.alerts.map((x) => x.seq)).toEqual(
      book.filter((x) => x.severity === 'high').map((x) => x.seq),
    );
    expect(refusal(await api(a.c, '/alerts?severity=urgent'))).toEqual([400, 'invalid_request', 'severity']);
    const op = await loggedIn(USERS.operator);
    const opBody = (await op.c.request('/console/api/alerts')).body;
    const counted = consoleAlertListSchema.parse(JSON.parse(opBody));
    expect(counted.alerts).toEqual([]);
    expect(counted.counts).toEqual([
      {
        bank: 'bank-a',
        alerts: 3,
        high: book.filter((x) => x.severity === 'high').length,
        medium: book.filter((x) => x.severity === 'medium').length,
        unacknowledged: book.filter((x) => x.acknowledged === undefined).length,
      },
    ]);
    // Counts only: no borrower of bank-a in the operator's answer.
    for (const id of fx.alerted) expect(opBody).not.toContain(id);
    const b = await loggedIn(USERS.analystB);
    const other = consoleAlertListSchema.parse((await api(b.c, '/alerts')).json);
    expect(other.alerts).toEqual([]);
    expect(other.counts).toEqual([]);
    expect(other.deliveries?.every((d) => d.bank === 'bank-b')).toBe(true);
  });
});
