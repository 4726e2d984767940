/**
 * The console's JSON API under /console/api/ (routes and schemas: api-schema.ts; docs/console.md), a
 * Hono app mounted on the console's one Hono app (server.ts, beside the pages) on the node's `http`
 * endpoint. It answers what the Jobs and Models pages and the Indicators page's published profiles show,
 * to scripts of a logged-in user:
 *
 *   GET  /console/api/openapi.json                the node's OpenAPI document (no login: no data)
 *   GET  /console/api/session                     the account and its CSRF token
 *   GET  /console/api/catalogue                   other parties' published feature profiles (Indicators)
 *   GET  /console/api/audit?kind=&limit=          the chain's verdict and the account's entries (Audit)
 *   GET  /console/api/consents?status=&limit=     counts by grantee and the account's records (Consent)
 *   GET  /console/api/samples                     aligned sets per job, counts and fingerprints (Samples)
 *   GET  /console/api/usage                       per bank uses, refusals, the scoring policy's use (Usage)
 *   GET  /console/api/products?q=&bank=&band=&amount=&sort=&order=   the product pool (Products)
 *   GET  /console/api/products/{id}               one product; its matches for its own bank (Products)
 *   GET  /console/api/alerts?severity=&kind=      the account's alerts, counts for the rest (Alerts)
 *   GET  /console/api/jobs?status=&limit=         jobs;  GET /console/api/jobs/{id}         one job
 *   POST /console/api/jobs                        submit (the job spec as JSON)
 *   POST /console/api/jobs/{id}/cancel|retry
 *   GET  /console/api/models?status=              models; GET /console/api/models/{ref}     one model
 *   POST /console/api/models/{ref}/promote|retire
 *
 * The pages' defences, unchanged: the session cookie (401 without one, never a redirect), the roles
 * and scopes of access.ts (403 for a page the role does not open; 404, as for a missing one, for a job
 * or model of another bank), and on every POST the session's CSRF token in `x-csrf-token` (constant-time
 * compare) plus the same-origin check of `Origin`/`Sec-Fetch-Site`. Every answer carries the console's
 * security headers (its CSP included; set by the console app's middleware, server.ts). Errors, an unknown
 * path under /console/api/ included, are `{ error: { code, message, field? } }`, the field named by the
 * route's zod schema.
 */
import { isFedscoreError, type Logger } from '@fedscore/core';
import { Hono, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { AuditEntry } from '../audit/index.ts';
import type { JobRecord } from '../jobs/job-store.ts';
import type { PsiCheckpoint } from '../jobs/stages.ts';
import type { ModelVersion } from '../registry/index.ts';
import { type ApiEnv, ApiError, type ApiRoute, honoPath, mountRoute } from '../server/api-route.ts';
import { openApiDocument } from '../server/openapi.ts';
import { type ConsoleAccess, type ConsolePage, jobBank } from './access.ts';
import type { ConsoleAccount, ConsoleAccounts, ConsoleSession } from './accounts.ts';
import { countAlerts } from './alerts.ts';
import {
  CONSOLE_API_ERRORS,
  CONSOLE_API_ROUTES,
  type ConsoleApiErrorCode,
  type consoleAlertListSchema,
  type consoleAuditSchema,
  type consoleCatalogueSchema,
  type consoleConsentListSchema,
  type consoleJobSchema,
  type consoleModelSchema,
  type consoleProductDetailSchema,
  type consoleProductListSchema,
  type consoleProductSchema,
  type consoleSamplesSchema,
  type consoleUsageSchema,
} from './api-schema.ts';
import type { ConsoleSource } from './pages.ts';
import type { LoanProduct } from './products.ts';
import { consoleActor, crossSite, parseCookies, SESSION_COOKIE, sameToken } from './security.ts';

/** A job spec is small; the pages' form limit. */
const MAX_BODY_BYTES = 64 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';

export interface ConsoleApiOptions {
  readonly source: ConsoleSource;
  readonly accounts: ConsoleAccounts;
  readonly access: ConsoleAccess;
  readonly logger: Logger;
}

export type ConsoleEnv = ApiEnv<{ session: ConsoleSession }>;

function jobJson(j: JobRecord): z.input<typeof consoleJobSchema> {
  return {
    id: j.id,
    kind: j.spec.kind ?? 'hetero-lr',
    guest: j.spec.guest,
    hosts: [...j.spec.hosts],
    coordinator: j.coordinator,
    status: j.status,
    stage: j.stage,
    attempt: j.attempt,
    error: j.error === undefined ? null : { code: j.error.code, message: j.error.message },
    cancelRequestedBy: j.cancelRequestedBy ?? null,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
  };
}

function modelJson(m: ModelVersion): z.input<typeof consoleModelSchema> {
  return {
    ref: m.ref,
    name: m.name,
    version: m.version,
    status: m.status,
    createdAt: m.createdAt,
    algorithm: m.algorithm,
    modelId: m.modelId,
    parties: m.parties.map((p) => ({ id: p.id, role: p.role, features: p.featureNames?.length ?? 0 })),
    metrics: { ...m.metrics },
    lineage: {
      job: m.lineage.job ?? null,
      binning: m.lineage.binning ?? null,
      parent: m.lineage.parent ?? null,
    },
    artifactSha256: m.artifactSha256 ?? null,
    evaluated: m.evaluation !== undefined,
  };
}

function productJson(p: LoanProduct, matched: number): z.input<typeof consoleProductSchema> {
  return {
    id: p.id,
    name: p.name,
    bank: p.bank,
    rateBp: p.rateBp,
    termMonths: p.termMonths,
    lineMin: p.lineMin,
    lineMax: p.lineMax,
    bands: [...p.bands],
    minLine: p.minLine,
    matched,
  };
}

/** Rows of the alert list, newest first (the Alerts page's limit). */
const MAX_ALERT_ROWS = 500;

/**
 * The console API's routes, every path under /console/api/, as a Hono app for the console's app to mount
 * (`app.route('/', api)`, server.ts): its error handler answers the API's errors as JSON.
 */
export function createConsoleApi(options: ConsoleApiOptions): Hono<ConsoleEnv> {
  const { source, accounts, access, logger } = options;
  const openapi = JSON.stringify(openApiDocument());
  const json = (status: number, body: unknown): Response =>
    new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': JSON_TYPE },
    });
  const fail = (e: ApiError, extra: Record<string, string> = {}): Response => {
    const code = (e.code in CONSOLE_API_ERRORS ? e.code : 'internal') as ConsoleApiErrorCode;
    const res = json(CONSOLE_API_ERRORS[code], {
      error: { code, message: e.message, ...(e.field !== undefined && { field: e.field }) },
    });
    for (const [k, v] of Object.entries(extra)) res.headers.set(k, v);
    return res;
  };

  const app = new Hono<ConsoleEnv>();
  app.onError((e) => {
    if (e instanceof ApiError) return fail(e);
    logger.error('console api request failed', { code: isFedscoreError(e) ? e.code : 'internal' });
    return fail(new ApiError('internal', 'internal error; see the node log'));
  });

  const authenticated: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const session = accounts.session(parseCookies(c.req.header('cookie')).get(SESSION_COOKIE));
    if (session === undefined) throw new ApiError('unauthenticated', 'log in first (/console/login)');
    c.set('session', session);
    await next();
  };
  const csrf: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const refused = crossSite(c.req.header('sec-fetch-site'), c.req.header('origin'), c.req.header('host'));
    if (refused !== undefined) throw new ApiError('forbidden', refused);
    if (!sameToken(c.req.header('x-csrf-token'), c.get('session').csrf)) {
      throw new ApiError('forbidden', 'missing or wrong CSRF token', 'x-csrf-token');
    }
    await next();
  };
  const opens =
    (p: ConsolePage): MiddlewareHandler<ConsoleEnv> =>
    async (c, next) => {
      if (!access.canOpen(c.get('session').account, p)) {
        throw new ApiError('forbidden', 'your role does not open this page');
      }
      await next();
    };
  const read = (p?: ConsolePage) => ({
    before: p === undefined ? [authenticated] : [authenticated, opens(p)],
    bodyLimit: MAX_BODY_BYTES,
  });
  const change = (p: ConsolePage) => ({ before: [authenticated, csrf, opens(p)], bodyLimit: MAX_BODY_BYTES });

  const visibleJob = (account: ConsoleAccount, id: string): JobRecord => {
    const job = source.jobs.get(id);
    if (job === undefined || !access.canSeeJob(account, job))
      throw new ApiError('not_found', 'no such job', 'id');
    return job;
  };
  const visibleModel = (account: ConsoleAccount, ref: string): ModelVersion => {
    let m: ModelVersion;
    try {
      m = source.models.get(ref);
    } catch {
      throw new ApiError('not_found', 'no such model', 'ref');
    }
    if (!access.canSeeModel(account, m)) throw new ApiError('not_found', 'no such model', 'ref');
    return m;
  };
  /** The node's refusal of a change, as a typed answer (its code and field in the message). */
  const refusal = (e: unknown, code: 'invalid_request' | 'conflict'): ApiError => {
    if (!isFedscoreError(e)) throw e;
    return new ApiError(code, `refused (${e.code}): ${e.message}`, e.field);
  };

  const R = CONSOLE_API_ROUTES;
  mountRoute(app, R.openapi, { bodyLimit: 0 }, () => json(200, openapi));
  mountRoute(app, R.session, read(), (c) => {
    const { account, csrf: token } = c.get('session');
    return json(200, {
      username: account.username,
      role: account.role,
      bank: account.bank ?? null,
      csrf: token,
    });
  });
  // The Indicators page's "other parties' features" (console/catalogue.ts): the same roles, the same rows.
  mountRoute(app, R.catalogue, read('indicators'), () => {
    const profiles = (source.featureCatalogue?.() ?? [])
      .filter((p) => p.owner !== source.party)
      .map((p) => ({
        owner: p.owner,
        dataset: p.dataset,
        rows: p.rows,
        rateStepBp: p.rateStepBp,
        receivedFrom: p.receivedFrom,
        publishedAt: p.publishedAt,
        receivedAt: p.receivedAt,
        features: p.features.map((f) => ({
          name: f.name,
          description: f.description,
          type: f.type,
          coverageBp: f.coverageBp,
          missingBp: f.missingBp,
        })),
      }));
    return json(200, { profiles } satisfies z.input<typeof consoleCatalogueSchema>);
  });
  // The Audit page's verdict and list (pages.ts `auditPage`): the same scope and the same details.
  mountRoute(app, R.audit, read('audit'), (c, { query }) => {
    const v = source.audit.verify({ acknowledged: source.acknowledgedBreaks ?? [] });
    let entries: AuditEntry[];
    try {
      entries = [...source.audit.entries(query.kind === undefined ? {} : { kind: query.kind })];
    } catch {
      throw new ApiError(
        'conflict',
        'some entries do not decode; examine the log with fedscore audit verify',
      );
    }
    const visible = entries
      .filter((e) => access.canSeeAuditEntry(c.get('session').account, e))
      .slice(-query.limit)
      .reverse();
    return json(200, {
      chain: {
        ok: v.ok,
        entries: v.entries,
        head: v.head,
        firstBad: v.firstBad === undefined ? null : { seq: v.firstBad.seq, reason: v.firstBad.reason },
        acknowledged: [...(v.acknowledged ?? [])],
      },
      entries: visible.map((e) => ({
        seq: e.seq,
        at: e.at,
        kind: e.kind,
        actor: e.actor,
        dataOwner: e.dataOwner ?? null,
        purpose: e.purpose ?? null,
        job: e.job ?? null,
        enterpriseCount: e.enterpriseCount ?? null,
        details: Object.fromEntries(
          Object.entries(e.details ?? {})
            .map(([k, x]) => [k, String(x)] as const)
            .filter(([, x]) => x.length <= 80),
        ),
      })),
    } satisfies z.input<typeof consoleAuditSchema>);
  });
  // The Consent page's tables (pages.ts `consentPage`): the same scope and fields.
  mountRoute(app, R.consents, read('consent'), (c, { query }) => {
    const now = Date.now();
    const account = c.get('session').account;
    const records = source.consents
      .list()
      .filter((r) => access.canSeeConsent(account, r))
      .map((r) => ({ r, status: source.consents.status(r, now) }));
    const counts = new Map<
      string,
      { valid: number; expired: number; revoked: number; notYetValid: number }
    >();
    for (const { r, status } of records) {
      const g = counts.get(r.grantee) ?? { valid: 0, expired: 0, revoked: 0, notYetValid: 0 };
      g[status === 'not_yet_valid' ? 'notYetValid' : status]++;
      counts.set(r.grantee, g);
    }
    return json(200, {
      byGrantee: [...counts].map(([grantee, g]) => ({ grantee, ...g })),
      consents: records
        .filter((x) => query.status === undefined || x.status === query.status)
        .slice(-query.limit)
        .reverse()
        .map(({ r, status }) => ({
          id: r.id,
          enterprise: r.enterprise,
          grantee: r.grantee,
          purpose: r.purpose,
          scope: [...r.scope],
          expiresAt: r.expiresAt,
          status,
        })),
    } satisfies z.input<typeof consoleConsentListSchema>);
  });
  // The Samples page's table (pages.ts `samplesPage`): the same jobs, counts and fingerprint prefix.
  mountRoute(app, R.samples, read('samples'), (c) => {
    const account = c.get('session').account;
    const sets: z.input<typeof consoleSamplesSchema>['sets'] = [];
    for (const j of source.jobs.list()) {
      if (!access.canSeeJob(account, j)) continue;
      const psi = source.jobs.checkpoint<PsiCheckpoint>(j.id, 'psi')?.output;
      if (psi === undefined) continue;
      const fingerprint =
        [...source.audit.entries({ job: j.id, kind: 'data_use' })]
          .filter((e) => e.details?.['stage'] === 'psi' || e.details?.['stage'] === undefined)
          .find((e) => e.enterpriseFingerprint !== undefined)
          ?.enterpriseFingerprint?.slice(0, 16) ?? null;
      const cs = psi.consentedSet;
      const bank = jobBank(j);
      const owners = Object.entries(psi.consent ?? {});
      for (const [owner, o] of owners) {
        sets.push({
          job: j.id,
          bank,
          owner,
          aligned: o.aligned,
          consent: o.enforced ? 'enforced' : 'not required',
          excluded: cs?.excludedTotal ?? null,
          offered: cs === undefined ? null : cs.offered + cs.excludedTotal,
          fingerprint,
        });
      }
      if (owners.length === 0) {
        sets.push({
          job: j.id,
          bank,
          owner: null,
          aligned: psi.rows.length,
          consent: null,
          excluded: cs?.excludedTotal ?? null,
          offered: cs === undefined ? null : cs.offered + cs.excludedTotal,
          fingerprint,
        });
      }
    }
    return json(200, { sets } satisfies z.input<typeof consoleSamplesSchema>);
  });
  // The Usage page's tables (pages.ts `usagePage`, governance.ts `scoringPolicyTable`): banks in scope.
  mountRoute(app, R.usage, read('usage'), (c) => {
    const account = c.get('session').account;
    const usage = new Map<
      string,
      { uses: number; enterpriseUses: number; refused: number; purposes: Set<string> }
    >();
    const of = (bank: string) => {
      let u = usage.get(bank);
      if (u === undefined) {
        u = { uses: 0, enterpriseUses: 0, refused: 0, purposes: new Set() };
        usage.set(bank, u);
      }
      return u;
    };
    try {
      for (const e of source.audit.entries()) {
        if (e.kind === 'data_use' && e.dataOwner !== undefined && e.dataOwner !== e.actor) {
          if (!access.canSeeBank(account, e.actor)) continue;
          const u = of(e.actor);
          u.uses++;
          u.enterpriseUses += e.enterpriseCount ?? 0;
          if (e.purpose !== undefined) u.purposes.add(e.purpose);
        } else if (e.kind === 'access_refused' || e.kind === 'job_refused') {
          if (!access.canSeeBank(account, e.actor)) continue;
          of(e.actor).refused++;
        }
      }
    } catch {
      throw new ApiError('conflict', 'the audit log does not decode; examine it with fedscore audit verify');
    }
    const policy = source.scoringPolicy;
    return json(200, {
      byBank: [...usage].map(([bank, u]) => ({
        bank,
        uses: u.uses,
        enterpriseUses: u.enterpriseUses,
        purposes: [...u.purposes],
        refused: u.refused,
      })),
      scoring:
        source.scoringUsage === undefined || policy !== undefined
          ? null
          : source
              .scoringUsage()
              .filter((u) => access.canSeeBank(account, u.bank))
              .map((u) => ({ ...u })),
      policy:
        policy === undefined
          ? null
          : {
              quota: { requests: policy.quota.requests, windowSeconds: policy.quota.windowSeconds },
              rate: { requests: policy.rate.requests, windowSeconds: policy.rate.windowSeconds },
              banks: policy
                .usage()
                .filter((u) => access.canSeeBank(account, u.bank))
                .map((u) => ({ ...u })),
            },
    } satisfies z.input<typeof consoleUsageSchema>);
  });
  // The Products page's table and a product's page (pages.ts `productsPage`, `productPage`).
  const pool = () => {
    if (source.products === undefined) throw new ApiError('not_found', 'this node keeps no product pool');
    return source.products;
  };
  mountRoute(app, R.products, read('products'), (_c, { query }) => {
    const rows = pool().search({
      search: query.q ?? '',
      bank: query.bank ?? '',
      band: query.band ?? '',
      ...(query.amount !== undefined && { amount: query.amount }),
      sort: query.sort,
      descending: query.order === 'desc',
    });
    return json(200, {
      products: rows.map(({ product, matched }) => productJson(product, matched)),
    } satisfies z.input<typeof consoleProductListSchema>);
  });
  mountRoute(app, R.product, read('products'), (c, { params }) => {
    const account = c.get('session').account;
    const p = pool().get(params.id);
    if (p === undefined) throw new ApiError('not_found', 'no such product', 'id');
    const matches = pool().matches(p);
    // As the page: the product's own bank sees by name only the enterprises it pre-approved itself.
    const shown = matches.filter((m) => access.canSeeBank(account, m.bank));
    const own = access.canSeeProductMatches(account, p.bank);
    return json(200, {
      product: productJson(p, matches.length),
      matches: own
        ? shown.map((m) => ({ enterprise: m.enterprise, bank: m.bank, band: m.band, amount: m.amount }))
        : null,
      otherBanks: own ? matches.length - shown.length : matches.length,
    } satisfies z.input<typeof consoleProductDetailSchema>);
  });
  // The Alerts page (governance.ts `alertsPage`): the list for the banks whose borrowers the account may
  // see, counts per bank for the others in its scope, a government's deliveries per bank.
  mountRoute(app, R.alerts, read('alerts'), (c, { query }) => {
    const account = c.get('session').account;
    const all = source.alerts?.list() ?? [];
    const alerts = all
      .filter((a) => access.canSeeAlerts(account, a.bank))
      .filter(
        (a) =>
          (query.severity === undefined || a.severity === query.severity) &&
          (query.kind === undefined || a.kind === query.kind),
      )
      .slice(0, MAX_ALERT_ROWS);
    const counts = countAlerts(
      all.filter((a) => !access.canSeeAlerts(account, a.bank) && access.canSeeBank(account, a.bank)),
    );
    const deliveries = source.alertDeliveries?.().filter((d) => access.canSeeBank(account, d.bank));
    return json(200, {
      alerts: alerts.map((a) => ({
        government: a.government,
        seq: a.seq,
        bank: a.bank,
        enterprise: a.enterprise,
        kind: a.kind,
        severity: a.severity,
        occurredAt: a.occurredAt,
        receivedAt: a.receivedAt,
        loanEnd: a.loanEnd ?? null,
        rescored: a.rescored,
        acknowledged: a.acknowledged === undefined ? null : { by: a.acknowledged.by, at: a.acknowledged.at },
      })),
      counts: counts.map((x) => ({ ...x })),
      deliveries:
        deliveries === undefined
          ? null
          : deliveries.map((d) => ({
              bank: d.bank,
              watched: d.watched,
              deliveries: d.deliveries,
              alerts: d.alerts,
              high: d.high,
              medium: d.medium,
              lastAt: d.lastAt ?? null,
            })),
    } satisfies z.input<typeof consoleAlertListSchema>);
  });
  mountRoute(app, R.jobs, read('jobs'), (c, { query }) => {
    const account = c.get('session').account;
    const jobs = source.jobs
      .list(query.status)
      .filter((j) => access.canSeeJob(account, j))
      .reverse()
      .slice(0, query.limit)
      .map(jobJson);
    return json(200, { jobs });
  });
  mountRoute(app, R.job, read('jobs'), (c, { params }) =>
    json(200, jobJson(visibleJob(c.get('session').account, params.id))),
  );
  mountRoute(app, R.submitJob, change('jobs'), (c, { body, json: spec }) => {
    const account = c.get('session').account;
    if (source.submit === undefined) throw new ApiError('not_found', 'this node does not take jobs here');
    if (!access.canSubmitJob(account, body.guest)) {
      throw new ApiError('forbidden', 'you submit jobs of your own bank only', 'guest');
    }
    let job: JobRecord;
    try {
      // The node validates the spec as it was sent (its own defaults), as the page's form does.
      job = source.submit(spec);
    } catch (e) {
      throw refusal(e, 'invalid_request');
    }
    logger.info('console job submitted', { job: job.id, role: account.role, via: 'api' });
    return json(201, jobJson(job));
  });
  mountRoute(app, R.controlJob, change('jobs'), (c, { params }) => {
    const account = c.get('session').account;
    const job = visibleJob(account, params.id);
    if (!access.canControlJob(account, job)) {
      throw new ApiError('forbidden', "you cancel and retry your own bank's jobs only");
    }
    const act = params.action === 'cancel' ? source.cancel : source.retry;
    if (act === undefined || job.coordinator !== source.party) {
      throw new ApiError('not_found', 'this node does not coordinate the job', 'id');
    }
    let after: JobRecord;
    try {
      after = act(job.id, consoleActor(account));
    } catch (e) {
      throw refusal(e, 'conflict');
    }
    logger.info(`console job ${params.action}`, { job: job.id, role: account.role, via: 'api' });
    return json(200, jobJson(after));
  });
  mountRoute(app, R.models, read('models'), (c, { query }) => {
    const account = c.get('session').account;
    const models = source.models
      .list(query.status === undefined ? {} : { status: query.status })
      .filter((m) => access.canSeeModel(account, m))
      .map(modelJson);
    return json(200, { models });
  });
  mountRoute(app, R.model, read('models'), (c, { params }) =>
    json(200, modelJson(visibleModel(c.get('session').account, params.ref))),
  );
  mountRoute(app, R.changeModel, change('models'), (c, { params }) => {
    const account = c.get('session').account;
    const m = visibleModel(account, params.ref);
    if (!access.canChangeModel(account, m))
      throw new ApiError('forbidden', 'your role cannot change this model');
    let after: ModelVersion;
    try {
      const reason = { reason: `console: ${account.username}` };
      after =
        params.action === 'promote'
          ? source.models.promote(m.ref, reason)
          : source.models.retire(m.ref, reason);
    } catch (e) {
      throw refusal(e, 'conflict');
    }
    logger.info(`console model ${params.action}`, { role: account.role, via: 'api' });
    return json(200, modelJson(after));
  });
  // A known path with another method: 405 with the methods it takes.
  const methods = new Map<string, string[]>();
  for (const route of Object.values(R) as ApiRoute[]) {
    const m = route.method.toUpperCase();
    methods.set(route.path, [...(methods.get(route.path) ?? []), ...(m === 'GET' ? ['GET', 'HEAD'] : [m])]);
  }
  for (const [path, allow] of methods) {
    app.all(honoPath(path), () =>
      fail(new ApiError('method_not_allowed', `use ${allow.join(' or ')}`), { allow: allow.join(', ') }),
    );
  }
  // Anything else under /console/api/: the API's 404, in JSON (not the pages' HTML one).
  app.all('/console/api/*', (c) => fail(new ApiError('not_found', `no route ${c.req.path}`)));
  return app;
}
