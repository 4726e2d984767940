/**
 * The console's HTTP handler, mounted under /console/ on the node's `http` endpoint (server/http.ts):
 * one Hono app (https://hono.dev, through @hono/node-server's request listener, server/api-route.ts)
 * routes every path under /console/: the server-rendered pages, their form posts, the live job stream
 * (server-sent events), the static assets, login, logout and OIDC, and the JSON API under /console/api/
 * (api.ts, mounted on it), all under the same session, roles, CSRF check and security headers. Form bodies
 * and page queries are validated with the zod schemas of page-schema.ts (a 400 page naming the field);
 * the form posts are documented in the node's OpenAPI document beside the JSON API.
 *
 * Every response carries a strict Content-Security-Policy (`default-src 'none'`, scripts, styles and
 * connections from 'self' only, no inline script or style, `frame-ancestors 'none'`, `form-action 'self'`)
 * and `no-store`, `nosniff`, `Referrer-Policy: same-origin`, `X-Frame-Options: DENY`, COOP/CORP same-origin.
 *
 * Authentication: local accounts (accounts.ts). The session cookie `__Host-fedscore-session` is HttpOnly,
 * Secure, SameSite=Strict, Path=/ (a browser keeps Secure cookies over plain HTTP only on loopback: off
 * loopback, put the endpoint behind TLS). A request without a live session gets 303 to the login page
 * (GET) or 401 (anything else).
 *
 * CSRF: every POST must carry the session's CSRF token in its form body (synchronizer token, compared in
 * constant time) and, when the browser sends them, an `Origin` equal to the request's own origin and a
 * `Sec-Fetch-Site` of same-origin; the login form carries a pre-session token bound to a short-lived
 * `__Host-fedscore-login` cookie (no login CSRF). SameSite=Strict is a second layer, not the defence.
 *
 * OIDC (oidc.ts): `GET /console/oidc/start` sends the browser to the provider with a pending-login cookie
 * `__Host-fedscore-oidc` (SameSite=Lax: it must come back on the provider's cross-site redirect; it
 * holds only a random id of the server-side pending login); `GET /console/oidc/callback` checks state,
 * exchanges the code and validates the ID token, maps its claims to a role and bank, and opens an
 * ordinary session. A refused OIDC login goes to the refusal window like a refused password. With
 * `localAccounts: false` the password form is gone and `POST /console/login` answers 404.
 *
 * Login throttling: per account, `maxFailedLogins` failures lock it for `lockoutSeconds`; per remote
 * address, at most `loginsPerMinute` attempts a minute (429 beyond). Refused logins go to the node's
 * refusal window (one audit entry per source and window, never a row per attempt).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FedscoreError, isFedscoreError, type Logger, noopLogger } from '@fedscore/core';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import {
  type AuditEntry,
  type AuditReconciliation,
  reconcileAuditLogs,
  type UnauthenticatedRefusal,
} from '../audit/index.ts';
import type { ConsentPurpose } from '../consent/index.ts';
import {
  type ApiEnv,
  ApiError,
  type ApiRoute,
  honoPath,
  issueError,
  mountRoute,
  nodeListener,
  readFormBody,
} from '../server/api-route.ts';
import { type ConsoleAccess, type ConsolePage, ROLE_ACCESS } from './access.ts';
import type { ConsoleAccounts, ConsoleSession } from './accounts.ts';
import { createConsoleApi } from './api.ts';
import { CONSOLE_API_ERRORS } from './api-schema.ts';
import { CONSOLE_CSS, CONSOLE_ICON, CONSOLE_JS } from './assets.ts';
import { alertPage, alertsPage, alignedCoverageTable, scoringPolicyTable } from './governance.ts';
import { type Html, html } from './html.ts';
import { JOB_FORM_FIELDS, jobSpecFromFields } from './job-form.ts';
import type { ConsoleOidc } from './oidc.ts';
import { CONSOLE_FORM_ROUTES, CONSOLE_PAGE_QUERIES } from './page-schema.ts';
import {
  algorithmsPage,
  auditPage,
  BASE,
  type ConsoleChartAssets,
  type ConsoleSource,
  comparePage,
  consentPage,
  homePage,
  indicatorsPage,
  jobPage,
  jobsPage,
  layout,
  loginPage,
  modelPage,
  modelReport,
  modelsPage,
  type PageContext,
  productPage,
  productsPage,
  reconcileForm,
  reconcileResult,
  samplesPage,
  stageProgress,
  usagePage,
} from './pages.ts';
import {
  CONTENT_SECURITY_POLICY,
  consoleActor,
  crossSite,
  LOGIN_COOKIE,
  OIDC_COOKIE,
  parseCookies,
  SECURITY_HEADERS,
  SESSION_COOKIE,
  sameToken,
} from './security.ts';

export { CONTENT_SECURITY_POLICY, LOGIN_COOKIE, OIDC_COOKIE, SESSION_COOKIE };

const MAX_FORM_BYTES = 64 * 1024;
/** ID tokens held for logging out at the provider (one per OIDC session; the oldest dropped first). */
const MAX_HELD_ID_TOKENS = 10_000;
/** Longest life of one live job stream. */
const MAX_STREAM_MS = 5 * 60_000;
/** A pasted audit log for reconciliation. */
const MAX_RECONCILE_BYTES = 16 * 1024 * 1024;
const HTML_TYPE = 'text/html; charset=utf-8';
const JS_TYPE = 'text/javascript; charset=utf-8';
const CSS_TYPE = 'text/css; charset=utf-8';
const SSE_TYPE = 'text/event-stream; charset=utf-8';

export interface ConsoleOptions {
  readonly source: ConsoleSource;
  readonly accounts: ConsoleAccounts;
  /** Who sees what (default: the roles of docs/console.md). */
  readonly access?: ConsoleAccess;
  /** Sign-in through an OpenID Connect provider (oidc.ts). */
  readonly oidc?: ConsoleOidc;
  /** Username and password logins (default true). */
  readonly localAccounts?: boolean;
  /** Login attempts per remote address and minute. Default 20. */
  readonly loginsPerMinute?: number;
  /** Refused logins (the node passes its refusal window). */
  readonly onRefused?: (r: UnauthenticatedRefusal) => void;
  /**
   * The report's chart assets (uPlot and the report page's chart script; the CLI passes its own): with
   * them the Models page draws ROC/KS/calibration/lift charts and offers the report download.
   */
  readonly charts?: ConsoleChartAssets;
  /** Seconds between live job updates (server-sent events). Default 1. */
  readonly liveSeconds?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** A request handler: true when it answered (the path is the console's), false to let others answer. */
export type ConsoleHandler = ((req: IncomingMessage, res: ServerResponse) => boolean) & {
  /** End live streams (the server closes). */
  close(): void;
};

/** The console app's context: the session and the page context of a logged-in request. */
type PageEnv = ApiEnv<{ session: ConsoleSession; ctx: PageContext }>;
type PageContextOf = Context<PageEnv>;
/** A route's handler (its checks run before it, as middleware). */
type PageHandler = (c: PageContextOf) => Response | Promise<Response>;

/** A path parameter of the route (always there when the route matched). */
function param(c: PageContextOf, name: string): string {
  return c.req.param(name) ?? '';
}

/**
 * A consent form's date (`YYYY-MM-DD`, midnight UTC) or ISO 8601 time, in ms; blank = absent. A value
 * that is not a time is refused naming `field`.
 */
function consentTime(text: string, field: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t) ? Date.parse(t) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new FedscoreError('invalid_argument', 'expected a date (YYYY-MM-DD) or an ISO 8601 time', {
      field,
    });
  }
  return ms;
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new FedscoreError('invalid_argument', 'required', { field });
  return value;
}

/** A refusal answered with an HTML page of its status (the API's refusals are `ApiError`s). */
class HttpFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function cookie(name: string, value: string, maxAge?: number, sameSite = 'Strict'): string {
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=${sameSite}${maxAge === undefined ? '' : `; Max-Age=${maxAge}`}`;
}

type Extra = Readonly<Record<string, string | readonly string[]>>;

/** An answer (the app's middleware adds the security headers to every one). */
function respond(
  status: number,
  body: BodyInit | null,
  type: string | undefined = HTML_TYPE,
  extra: Extra = {},
): Response {
  const headers = new Headers();
  if (type !== undefined) headers.set('content-type', type);
  for (const [k, v] of Object.entries(extra)) {
    for (const x of typeof v === 'string' ? [v] : v) headers.append(k, x);
  }
  return new Response(body, { status, headers });
}

function redirect(to: string, extra: Extra = {}): Response {
  return respond(303, null, undefined, { location: to, ...extra });
}

/** A refusal's line: its code and the field it names. */
function refusalText(code: string, message: string, field?: string): string {
  return `Refused (${code}${field === undefined ? '' : `, field ${field}`}): ${message}`;
}

/**
 * The console's one Hono app, every path under /console/: the pages, their form posts, the live job
 * stream, the static assets, login, logout and OIDC, and the JSON API (api.ts), behind one security-header
 * middleware. A request is checked in this order: its route (404, 405), its session (GET: 303 to the login
 * page; anything else 401), for a form post the origin, media type, size and CSRF token (403/415/413),
 * the role's page (403), then the route's zod schemas (400 naming the field), then the handler.
 */
function createConsoleApp(options: ConsoleOptions, streams: Set<() => void>): Hono<PageEnv> {
  const access = options.access ?? ROLE_ACCESS;
  const logger = (options.logger ?? noopLogger).child({ component: 'console' });
  const now = options.now ?? Date.now;
  const perMinute = options.loginsPerMinute ?? 20;
  const attempts = new Map<string, { start: number; count: number }>();
  const { source, accounts, oidc } = options;
  /** Session id -> the ID token it was opened with (OIDC sessions; kept in memory, never stored). */
  const idTokens = new Map<string, string>();
  const local = options.localAccounts ?? true;
  const ways = { local, ...(oidc !== undefined && { oidcName: oidc.name }) };

  const page = (status: number, title: string, body: Html, ctx?: PageContext): Response =>
    respond(status, layout(title, body, ctx));

  const remoteAddress = (c: PageContextOf): string | undefined => c.env?.incoming?.socket.remoteAddress;

  const refuse = (c: PageContextOf, code: string, reason: string, field?: string): void => {
    const remote = remoteAddress(c);
    options.onRefused?.({
      rpc: 'console.login',
      code,
      reason,
      ...(field !== undefined && { field }),
      ...(remote !== undefined && { remoteAddress: remote }),
    });
  };

  const allowLogin = (addr: string): boolean => {
    const t = now();
    const a = attempts.get(addr);
    if (a === undefined || t - a.start >= 60_000) {
      if (attempts.size >= 10_000) attempts.clear();
      attempts.set(addr, { start: t, count: 1 });
      return true;
    }
    a.count++;
    return a.count <= perMinute;
  };

  const loginForm = (status: number, message?: string, clear: string[] = []): Response => {
    const token = randomBytes(32).toString('base64url');
    return respond(status, loginPage(token, message, ways), HTML_TYPE, {
      'set-cookie': [cookie(LOGIN_COOKIE, token, 600), ...clear],
    });
  };

  const app = new Hono<PageEnv>();

  // The console's security headers (strict CSP, nosniff, no-store, DENY framing...) on every answer: pages,
  // redirects, assets, the stream, the API, and every refusal and 404 (the error handlers' answers too).
  app.use('*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  });

  // A page asked for with a trailing slash (`/console/jobs/`): on to the page without it (a relative
  // Location, under /console/ only).
  app.use('*', async (c, next) => {
    await next();
    const m = c.req.method;
    if (c.res.status !== 404 || (m !== 'GET' && m !== 'HEAD')) return;
    // The path as sent (still percent-encoded), not Hono's decoded one.
    const url = new URL(c.req.url);
    const to = url.pathname.replace(/\/+$/, '');
    if (to === url.pathname || !to.startsWith(`${BASE}/`)) return;
    c.res = redirect(`${to}${url.search}`);
  });

  app.notFound(() => page(404, 'Not found', html`<p class="error" role="alert">no such page</p>`));
  app.onError((e) => {
    if (e instanceof HttpFailure) {
      return page(
        e.status,
        e.status === 404 ? 'Not found' : 'Refused',
        html`<p class="error" role="alert">${e.message}</p>`,
      );
    }
    if (e instanceof ApiError) {
      // A request the route's schemas (or the body's reader) refused: its status, the field named.
      const status = (CONSOLE_API_ERRORS as Readonly<Record<string, number>>)[e.code] ?? 400;
      return page(
        status,
        status === 404 ? 'Not found' : 'Refused',
        html`<p class="error" role="alert" data-field="${e.field ?? ''}">${refusalText(e.code, e.message, e.field)}</p>`,
      );
    }
    logger.error('console request failed', { code: isFedscoreError(e) ? e.code : 'internal' });
    return page(500, 'Error', html`<p class="error" role="alert">Internal error; see the node log.</p>`);
  });

  /** Routes by path and the methods they take (a known path with another method is 405). */
  const methods = new Map<string, Set<string>>();
  const on = app.on.bind(app) as unknown as (
    method: string,
    path: string,
    ...handlers: (MiddlewareHandler<PageEnv> | PageHandler)[]
  ) => unknown;
  /** A page (GET, and HEAD with it): `before` checks, then the handler. */
  const get = (path: string, before: readonly MiddlewareHandler<PageEnv>[], handler: PageHandler): void => {
    const known = methods.get(path) ?? new Set<string>();
    known.add('GET').add('HEAD');
    methods.set(path, known);
    on('GET', path, ...before, handler);
  };
  /** A form route (mounted by `mountRoute`) among the known paths. */
  const posted = (r: ApiRoute): void => {
    const known = methods.get(honoPath(r.path)) ?? new Set<string>();
    known.add('POST');
    methods.set(honoPath(r.path), known);
  };

  // --- checks, as middleware ---

  /** A live session: on GET/HEAD a 303 to the login page without one, else 401. */
  const authenticated: MiddlewareHandler<PageEnv> = async (c, next) => {
    const session = accounts.session(parseCookies(c.req.header('cookie')).get(SESSION_COOKIE));
    if (session === undefined) {
      if (c.req.method === 'GET' || c.req.method === 'HEAD') return redirect(`${BASE}/login`);
      throw new HttpFailure(401, 'log in first');
    }
    c.set('session', session);
    c.set('ctx', {
      account: session.account,
      csrf: session.csrf,
      access,
      source,
      query: new URL(c.req.url).searchParams,
      charts: options.charts !== undefined,
    });
    await next();
  };

  /** `Sec-Fetch-Site` and `Origin`, when the browser sends them, must be this origin's. */
  const sameOrigin: MiddlewareHandler<PageEnv> = async (c, next) => {
    const refused = crossSite(c.req.header('sec-fetch-site'), c.req.header('origin'), c.req.header('host'));
    if (refused !== undefined) throw new HttpFailure(403, refused);
    await next();
  };

  /** The session's CSRF token in the form (synchronizer token, constant-time compare). */
  const csrf =
    (limit: number): MiddlewareHandler<PageEnv> =>
    async (c, next) => {
      const form = await readFormBody(c, limit);
      if (!sameToken(typeof form['csrf'] === 'string' ? form['csrf'] : undefined, c.get('session').csrf)) {
        throw new HttpFailure(403, 'missing or wrong CSRF token');
      }
      await next();
    };

  /** The role opens page `p`. */
  const opens =
    (p: ConsolePage): MiddlewareHandler<PageEnv> =>
    async (c, next) => {
      if (!access.canOpen(c.get('ctx').account, p)) {
        throw new HttpFailure(403, 'your role does not open this page');
      }
      await next();
    };

  /** A page of `p` (no page: any logged-in role). */
  const pageOf = (p?: ConsolePage): MiddlewareHandler<PageEnv>[] =>
    p === undefined ? [authenticated] : [authenticated, opens(p)];
  /** A form post on page `p`: session, origin, CSRF token, role. */
  const formOf = (p: ConsolePage | undefined, limit = MAX_FORM_BYTES) => ({
    before: [authenticated, sameOrigin, csrf(limit), ...(p === undefined ? [] : [opens(p)])],
    bodyLimit: limit,
  });

  /** The page's query, validated by its schema (400 naming the parameter); the page reads `ctx.query`. */
  const checkQuery = <S extends z.ZodObject>(c: PageContextOf, schema: S): z.output<S> => {
    const r = schema.safeParse(c.req.query());
    if (!r.success) throw issueError(r.error, 'query');
    return r.data;
  };

  /** Login attempts per remote address and minute: a 429 page beyond (audited once per window). */
  const throttle: MiddlewareHandler<PageEnv> = async (c, next) => {
    if (!allowLogin(remoteAddress(c) ?? 'unknown')) {
      refuse(c, 'rate_limited', 'too many console logins from one address');
      return respond(
        429,
        layout('Log in', html`<p class="error" role="alert">Too many attempts; wait a minute.</p>`),
        HTML_TYPE,
        { 'retry-after': '60' },
      );
    }
    await next();
  };

  function visibleJob(ctx: PageContext, id: string) {
    const job = source.jobs.get(id);
    if (job === undefined || !access.canSeeJob(ctx.account, job)) throw new HttpFailure(404, 'no such job');
    return job;
  }

  function visibleModel(ctx: PageContext, ref: string) {
    let m: ReturnType<typeof source.models.get>;
    try {
      m = source.models.get(ref);
    } catch {
      throw new HttpFailure(404, 'no such model');
    }
    if (!access.canSeeModel(ctx.account, m)) throw new HttpFailure(404, 'no such model');
    return m;
  }

  /** An alert the account may see borrower by borrower; else 404, like one that does not exist. */
  function visibleAlert(ctx: PageContext, government: string, seqText: string) {
    const seq = /^[1-9]\d{0,15}$/.test(seqText) ? Number(seqText) : undefined;
    const a = seq === undefined ? undefined : source.alerts?.get(government, seq);
    if (a === undefined || !access.canSeeAlerts(ctx.account, a.bank)) {
      throw new HttpFailure(404, 'no such alert');
    }
    return a;
  }

  /** The job's status as server-sent events until it ends (or the stream's time is up). */
  function live(c: PageContextOf, id: string): Response {
    visibleJob(c.get('ctx'), id);
    if (c.req.method === 'HEAD') return respond(200, null, SSE_TYPE);
    const encoder = new TextEncoder();
    let stop = (): void => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let last = '';
        let ended = false;
        const tick = (): void => {
          const j = source.jobs.get(id);
          if (j === undefined) {
            stop();
            return;
          }
          // Within a stage: its coarse counter only (epoch / tree / round / PSI percent), never a data value.
          const progress = stageProgress(source.jobs, j);
          const data = JSON.stringify({
            status: j.status,
            stage: j.stage,
            attempt: j.attempt,
            ...(progress !== undefined && { progress }),
          });
          if (data !== last) controller.enqueue(encoder.encode(`event: job\ndata: ${data}\n\n`));
          last = data;
          if (j.status === 'done' || j.status === 'failed' || j.status === 'cancelled') stop();
        };
        const timer = setInterval(tick, (options.liveSeconds ?? 1) * 1000);
        // A stream ends after 5 minutes; the page's script then reloads it, which checks the session again.
        const limit = setTimeout(() => stop(), MAX_STREAM_MS);
        stop = (): void => {
          if (ended) return;
          ended = true;
          clearInterval(timer);
          clearTimeout(limit);
          streams.delete(stop);
          try {
            controller.close();
          } catch {
            // Already cancelled by the client going away.
          }
        };
        streams.add(stop);
        tick();
      },
      // The client went away (the adapter cancels the body when the response closes).
      cancel() {
        stop();
      },
    });
    return respond(200, body, SSE_TYPE);
  }

  // --- no session: the entry, static assets, login, OIDC ---

  app.get(BASE, () => redirect(`${BASE}/`));

  const assets: Readonly<Record<string, readonly [string, string]>> = {
    'console.css': [CONSOLE_CSS, CSS_TYPE],
    'console.js': [CONSOLE_JS, JS_TYPE],
    'favicon.svg': [CONSOLE_ICON, 'image/svg+xml'],
    ...(options.charts !== undefined && {
      'uplot.js': [options.charts.uplotJs, JS_TYPE],
      'uplot.css': [options.charts.uplotCss, CSS_TYPE],
      'report-charts.js': [options.charts.clientJs, JS_TYPE],
    }),
  };
  get(`${BASE}/static/:name`, [], (c) => {
    const a = Object.hasOwn(assets, param(c, 'name')) ? assets[param(c, 'name')] : undefined;
    if (a === undefined) throw new HttpFailure(404, 'no such file');
    return respond(200, a[0], a[1]);
  });

  get(`${BASE}/login`, [], () => loginForm(200));
  mountRoute(
    app,
    CONSOLE_FORM_ROUTES.login,
    {
      before: [
        async (_c, next) => {
          if (!local)
            throw new HttpFailure(404, 'local accounts are off; sign in with your identity provider');
          await next();
        },
        throttle,
        sameOrigin,
        async (c, next) => {
          const form = await readFormBody(c, MAX_FORM_BYTES);
          const token = typeof form['csrf'] === 'string' ? form['csrf'] : undefined;
          if (!sameToken(token, parseCookies(c.req.header('cookie')).get(LOGIN_COOKIE))) {
            refuse(c, 'csrf', 'console login without its form token', 'csrf');
            throw new HttpFailure(403, 'the login form expired; reload the page');
          }
          await next();
        },
      ],
      bodyLimit: MAX_FORM_BYTES,
    },
    async (c, { form }) => {
      const r = await accounts.login(form.username, form.password);
      if (!r.ok) {
        refuse(c, r.reason === 'locked' ? 'locked' : 'unauthenticated', 'console login refused', 'username');
        // One message for both, so that the lock does not tell which usernames exist.
        return loginForm(
          401,
          'Wrong username or password, or the account is locked after repeated failures.',
        );
      }
      logger.info('console login', { role: r.session.account.role });
      return redirect(`${BASE}/`, {
        'set-cookie': [cookie(SESSION_COOKIE, r.sessionId), cookie(LOGIN_COOKIE, '', 0)],
      });
    },
  );
  posted(CONSOLE_FORM_ROUTES.login);

  if (oidc !== undefined) {
    get(`${BASE}/oidc/start`, [throttle], async () => {
      let started: { url: string; pendingId: string };
      try {
        started = await oidc.begin();
      } catch (e) {
        logger.warn('console oidc discovery failed', { code: isFedscoreError(e) ? e.code : 'internal' });
        throw new HttpFailure(502, 'the identity provider does not answer; try again later');
      }
      return redirect(started.url, { 'set-cookie': cookie(OIDC_COOKIE, started.pendingId, 600, 'Lax') });
    });
    get(`${BASE}/oidc/callback`, [throttle], async (c) => {
      const clear = cookie(OIDC_COOKIE, '', 0, 'Lax');
      const r = await oidc.finish(
        parseCookies(c.req.header('cookie')).get(OIDC_COOKIE),
        new URL(c.req.url).searchParams,
      );
      if (!r.ok) {
        const forbidden = r.reason === 'no_role' || r.reason === 'no_bank';
        refuse(
          c,
          forbidden ? 'forbidden' : 'unauthenticated',
          `console oidc login refused (${r.reason}${r.detail === undefined ? '' : `: ${r.detail}`})`,
          forbidden ? (r.reason === 'no_role' ? 'console.oidc.roleClaim' : 'console.oidc.bankClaim') : 'oidc',
        );
        logger.info('console oidc login refused', { reason: r.reason });
        const message = forbidden
          ? 'Your identity provider vouched for you, but your account has no role in this console. Ask your administrator.'
          : 'The sign-in did not complete or could not be verified; start again.';
        return loginForm(forbidden ? 403 : 401, message, [clear]);
      }
      const s = accounts.openExternalSession(r.identity);
      if (r.idToken !== undefined) {
        // Bounded: a session whose token is dropped here still logs out at the provider, without the hint.
        if (idTokens.size >= MAX_HELD_ID_TOKENS) idTokens.delete(idTokens.keys().next().value!);
        idTokens.set(s.sessionId, r.idToken);
      }
      logger.info('console login', { role: s.session.account.role, via: 'oidc' });
      // A page, not a 303: the browser arrived from the provider's site, and a redirect chain started
      // there would not carry the SameSite=Strict session cookie to the next page.
      return respond(
        200,
        layout(
          'Signed in',
          html`<p>Signed in as ${s.session.account.username}. <a href="${BASE}/" id="continue">Continue to the console</a></p>`,
        ),
        HTML_TYPE,
        { 'set-cookie': [cookie(SESSION_COOKIE, s.sessionId), clear], refresh: `0;url=${BASE}/` },
      );
    });
  }

  // --- the JSON API (its own JSON errors, its own 404 and 405 under /console/api/) ---
  app.route('/', createConsoleApi({ source, accounts, access, logger }));

  // --- pages ---

  get(`${BASE}/`, pageOf(), (c) => page(200, 'Overview', homePage(c.get('ctx')), c.get('ctx')));
  get(`${BASE}/indicators`, pageOf('indicators'), async (c) => {
    const ctx = c.get('ctx');
    const profiles = (await source.datasetProfiles?.()) ?? [];
    // A log that does not decode (the Audit page reports it) leaves the aligned-set table out.
    const aligned = (await source.alignedProfiles?.().catch(() => undefined)) ?? [];
    return page(
      200,
      'Indicators',
      html`${indicatorsPage(ctx, profiles)}${alignedCoverageTable(ctx, aligned)}`,
      ctx,
    );
  });
  get(`${BASE}/jobs`, pageOf('jobs'), (c) => {
    checkQuery(c, CONSOLE_PAGE_QUERIES.jobs);
    return page(200, 'Jobs', jobsPage(c.get('ctx')), c.get('ctx'));
  });
  get(`${BASE}/jobs/:id`, pageOf('jobs'), (c) => {
    const ctx = c.get('ctx');
    const id = param(c, 'id');
    return page(200, `Job ${id}`, jobPage(ctx, visibleJob(ctx, id)), ctx);
  });
  get(`${BASE}/jobs/:id/events`, pageOf('jobs'), (c) => live(c, param(c, 'id')));
  get(`${BASE}/models`, pageOf('models'), (c) => page(200, 'Models', modelsPage(c.get('ctx')), c.get('ctx')));
  // Before /models/:ref, which `compare` would match too.
  get(`${BASE}/models/compare`, pageOf('models'), (c) => {
    const ctx = c.get('ctx');
    const q = checkQuery(c, CONSOLE_PAGE_QUERIES.compare);
    return page(200, 'Compare models', comparePage(ctx, visibleModel(ctx, q.a), visibleModel(ctx, q.b)), ctx);
  });
  get(`${BASE}/models/:ref`, pageOf('models'), (c) => {
    const ctx = c.get('ctx');
    const m = visibleModel(ctx, param(c, 'ref'));
    return page(200, `Model ${m.ref}`, modelPage(ctx, m), ctx);
  });
  const charts = options.charts;
  if (charts !== undefined) {
    get(`${BASE}/models/:ref/report`, pageOf('models'), (c) => {
      const m = visibleModel(c.get('ctx'), param(c, 'ref'));
      if (m.evaluation === undefined) throw new HttpFailure(404, 'no held-out curves for this model');
      const name = `${m.ref.replace(/[^a-z0-9._-]/gi, '-')}-report.html`;
      return respond(200, modelReport(m, charts, now()), HTML_TYPE, {
        'content-disposition': `attachment; filename="${name}"`,
      });
    });
  }
  get(`${BASE}/audit`, pageOf('audit'), (c) => {
    checkQuery(c, CONSOLE_PAGE_QUERIES.audit);
    return page(200, 'Audit', auditPage(c.get('ctx')), c.get('ctx'));
  });
  get(`${BASE}/audit/reconcile`, pageOf('audit'), (c) =>
    page(200, 'Reconcile', reconcileForm(c.get('ctx')), c.get('ctx')),
  );
  if (source.products !== undefined) {
    const pool = source.products;
    get(`${BASE}/products`, pageOf('products'), (c) => {
      checkQuery(c, CONSOLE_PAGE_QUERIES.products);
      return page(200, 'Products', productsPage(c.get('ctx')), c.get('ctx'));
    });
    get(`${BASE}/products/:id`, pageOf('products'), (c) => {
      const p = pool.get(param(c, 'id'));
      if (p === undefined) throw new HttpFailure(404, 'no such product');
      return page(200, p.name, productPage(c.get('ctx'), p), c.get('ctx'));
    });
  }
  get(`${BASE}/alerts`, pageOf('alerts'), (c) => {
    checkQuery(c, CONSOLE_PAGE_QUERIES.alerts);
    return page(200, 'Alerts', alertsPage(c.get('ctx')), c.get('ctx'));
  });
  get(`${BASE}/alerts/:government/:seq`, pageOf('alerts'), (c) => {
    const ctx = c.get('ctx');
    const a = visibleAlert(ctx, param(c, 'government'), param(c, 'seq'));
    return page(200, `Alert ${a.government} #${a.seq}`, alertPage(ctx, a), ctx);
  });
  const simple = {
    samples: (ctx: PageContext) => samplesPage(ctx),
    algorithms: () => algorithmsPage(),
    consent: (ctx: PageContext) => consentPage(ctx),
    usage: (ctx: PageContext) => html`${usagePage(ctx)}${scoringPolicyTable(ctx)}`,
  } as const;
  for (const [name, render] of Object.entries(simple) as [
    keyof typeof simple,
    (ctx: PageContext) => Html,
  ][]) {
    get(`${BASE}/${name}`, pageOf(name), (c) =>
      page(200, name[0]!.toUpperCase() + name.slice(1), render(c.get('ctx')), c.get('ctx')),
    );
  }

  // --- form posts (CONSOLE_FORM_ROUTES: each validated by its schema after the checks) ---
  const F = CONSOLE_FORM_ROUTES;

  mountRoute(app, F.logout, formOf(undefined), async (c) => {
    const ctx = c.get('ctx');
    const sid = parseCookies(c.req.header('cookie')).get(SESSION_COOKIE);
    if (sid !== undefined) accounts.logout(sid);
    const idToken = sid === undefined ? undefined : idTokens.get(sid);
    if (sid !== undefined) idTokens.delete(sid);
    const clear = { 'set-cookie': cookie(SESSION_COOKIE, '', 0) };
    // Signed in through the provider: end its session too (RP-Initiated Logout). A page that moves on
    // by itself (refresh) and a link, not a redirect of this POST: CSP form-action 'self' would stop a
    // form submission redirected to the provider's site.
    const end =
      ctx.account.username.startsWith('oidc:') && oidc !== undefined
        ? await oidc.endSessionUrl(idToken)
        : undefined;
    if (end === undefined) return redirect(`${BASE}/login`, clear);
    return respond(
      200,
      layout(
        'Signed out',
        html`<p>Signed out of the console. <a href="${end}" id="provider-logout">Sign out of ${oidc!.name} too</a></p>`,
      ),
      HTML_TYPE,
      { ...clear, refresh: `0;url=${end}` },
    );
  });
  posted(F.logout);

  mountRoute(app, F.submitJob, formOf('jobs'), (c, { form }) => {
    const ctx = c.get('ctx');
    if (source.submit === undefined) throw new HttpFailure(404, 'this node does not take jobs here');
    // The advanced form sends the whole spec as JSON; the form of fields sends its fields (job-form.ts).
    const json = form.spec !== undefined;
    const values: Record<string, string> = json
      ? { spec: form.spec ?? '' }
      : Object.fromEntries(
          Object.keys(JOB_FORM_FIELDS).map((f) => {
            const v = form[f as keyof typeof JOB_FORM_FIELDS];
            // The host boxes send one value each: the spec's hosts in the order checked.
            return [f, typeof v === 'string' ? v : v.join(', ')];
          }),
        );
    const refused = (message: string, field?: string) =>
      page(400, 'Jobs', jobsPage(ctx, { message, ...(field !== undefined && { field }), values }), ctx);
    let spec: unknown;
    try {
      spec = json ? JSON.parse(values['spec']!) : jobSpecFromFields(values, source.party, source.datasets);
    } catch (e) {
      if (isFedscoreError(e)) return refused(refusalText(e.code, e.message, e.field), e.field);
      return refused('The spec is not valid JSON.', 'spec');
    }
    const guest = (spec as { guest?: unknown } | null)?.guest;
    if (typeof guest !== 'string' || !access.canSubmitJob(ctx.account, guest)) {
      throw new HttpFailure(403, 'you submit jobs of your own bank only');
    }
    try {
      const job = source.submit(spec);
      logger.info('console job submitted', { job: job.id, role: ctx.account.role });
      return redirect(`${BASE}/jobs/${encodeURIComponent(job.id)}`);
    } catch (e) {
      if (!isFedscoreError(e)) throw e;
      return refused(refusalText(e.code, e.message, e.field), e.field);
    }
  });
  posted(F.submitJob);

  mountRoute(app, F.controlJob, formOf('jobs'), (c, { params }) => {
    const ctx = c.get('ctx');
    const job = visibleJob(ctx, params.id);
    if (!access.canControlJob(ctx.account, job)) {
      throw new HttpFailure(403, "you cancel and retry your own bank's jobs only");
    }
    const act = params.action === 'cancel' ? source.cancel : source.retry;
    if (act === undefined || job.coordinator !== source.party) {
      throw new HttpFailure(404, 'this node does not coordinate the job');
    }
    try {
      act(job.id, consoleActor(ctx.account));
      logger.info(`console job ${params.action}`, { job: job.id, role: ctx.account.role });
      return redirect(`${BASE}/jobs/${encodeURIComponent(job.id)}`);
    } catch (e) {
      if (!isFedscoreError(e)) throw e;
      return page(
        409,
        `Job ${job.id}`,
        html`<p class="error" role="alert">Refused (${e.code}): ${e.message}</p>`,
        ctx,
      );
    }
  });
  posted(F.controlJob);

  mountRoute(app, F.changeModel, formOf('models'), (c, { params }) => {
    const ctx = c.get('ctx');
    const m = visibleModel(ctx, params.ref);
    if (!access.canChangeModel(ctx.account, m))
      throw new HttpFailure(403, 'your role cannot change this model');
    try {
      const reason = { reason: `console: ${ctx.account.username}` };
      const after =
        params.action === 'promote'
          ? source.models.promote(m.ref, reason)
          : source.models.retire(m.ref, reason);
      return redirect(`${BASE}/models/${encodeURIComponent(after.ref)}`);
    } catch (e) {
      if (!isFedscoreError(e)) throw e;
      return page(409, m.ref, html`<p class="error" role="alert">Refused (${e.code}): ${e.message}</p>`, ctx);
    }
  });
  posted(F.changeModel);

  /** Only the platform operator records and revokes consents (before the form's fields are read). */
  const managesConsent: MiddlewareHandler<PageEnv> = async (c, next) => {
    if (!access.canManageConsent(c.get('ctx').account)) {
      throw new HttpFailure(403, 'only the platform operator records and revokes consents');
    }
    await next();
  };
  /** The Consent page again with a registry's refusal (its status; the grant form keeps what was typed). */
  const consentRefused = (ctx: PageContext, e: FedscoreError, values: Record<string, string>) => {
    const status = e.code === 'not_found' ? 404 : e.code === 'invalid_state' ? 409 : 400;
    return page(
      status,
      'Consent',
      consentPage(ctx, {
        message: refusalText(e.code, e.message, e.field),
        ...(e.field !== undefined && { field: e.field }),
        values,
      }),
      ctx,
    );
  };
  const consentForm = formOf('consent');
  mountRoute(
    app,
    F.grantConsent,
    { ...consentForm, before: [...consentForm.before, managesConsent] },
    (c, { form }) => {
      const ctx = c.get('ctx');
      const by = consoleActor(ctx.account);
      const { csrf: _, ...values } = form;
      try {
        const granted = consentTime(values.grantedAt, 'consent.grantedAt');
        const consent = source.consents.grant(
          {
            enterprise: values.enterprise,
            grantee: values.grantee.trim(),
            purpose: values.purpose as ConsentPurpose,
            scope: values.scope
              .split(',')
              .map((x) => x.trim())
              .filter((x) => x !== ''),
            expiresAt: required(consentTime(values.expiresAt, 'consent.expiresAt'), 'consent.expiresAt'),
            ...(granted !== undefined && { grantedAt: granted }),
          },
          'consent',
          { by },
        );
        logger.info('console consent granted', { role: ctx.account.role, purpose: consent.purpose });
        return redirect(`${BASE}/consent`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        return consentRefused(ctx, e, values);
      }
    },
  );
  posted(F.grantConsent);
  mountRoute(
    app,
    F.revokeConsent,
    { ...consentForm, before: [...consentForm.before, managesConsent] },
    (c, { params }) => {
      const ctx = c.get('ctx');
      const by = consoleActor(ctx.account);
      try {
        source.consents.revoke(params.id, { by, reason: `revoked in the console by ${by}` });
        logger.info('console consent revoked', { role: ctx.account.role });
        return redirect(`${BASE}/consent`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        return consentRefused(ctx, e, {});
      }
    },
  );
  posted(F.revokeConsent);

  mountRoute(app, F.saveProduct, formOf('products'), (c, { form }) => {
    const ctx = c.get('ctx');
    const pool = source.products;
    if (pool === undefined) throw new HttpFailure(404, 'this node keeps no product pool');
    const { csrf: _, ...input } = form;
    // Both the product's new bank and, when it exists, its current bank must be the account's own.
    const existing = pool.get(input.id);
    if (
      !access.canEditProduct(ctx.account, input.bank) ||
      (existing !== undefined && !access.canEditProduct(ctx.account, existing.bank))
    ) {
      throw new HttpFailure(403, "you change your own bank's products only");
    }
    try {
      const saved = pool.save(input);
      logger.info('console product saved', { bank: saved.bank });
      return redirect(`${BASE}/products/${encodeURIComponent(saved.id)}`);
    } catch (e) {
      if (!isFedscoreError(e)) throw e;
      return page(400, 'Products', productsPage(ctx, refusalText(e.code, e.message, e.field)), ctx);
    }
  });
  posted(F.saveProduct);

  mountRoute(app, F.acknowledgeAlert, formOf('alerts'), (c, { params }) => {
    const ctx = c.get('ctx');
    const a = visibleAlert(ctx, params.government, params.seq);
    if (!access.canAcknowledgeAlert(ctx.account, a.bank)) {
      throw new HttpFailure(403, 'your role does not acknowledge alerts');
    }
    source.alerts!.acknowledge(a.government, a.seq, ctx.account.username);
    logger.info('console alert acknowledged', { severity: a.severity });
    return redirect(`${BASE}/alerts/${encodeURIComponent(a.government)}/${a.seq}`);
  });
  posted(F.acknowledgeAlert);

  mountRoute(app, F.reconcile, formOf('audit', MAX_RECONCILE_BYTES), (c, { form }) => {
    const ctx = c.get('ctx');
    const user = form.user;
    if (!access.canSeeBank(ctx.account, user) || !(source.peers ?? []).includes(user)) {
      throw new HttpFailure(403, 'you reconcile your own bank only');
    }
    const claims: AuditEntry[] = [];
    for (const [i, raw] of form.claims.split('\n').entries()) {
      if (raw.trim() === '') continue;
      let entry: unknown;
      try {
        entry = JSON.parse(raw);
      } catch {
        entry = undefined;
      }
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        return page(400, 'Reconcile', reconcileForm(ctx, `line ${i + 1} is not a JSON object`), ctx);
      }
      claims.push(entry as AuditEntry);
    }
    let result: AuditReconciliation;
    try {
      result = reconcileAuditLogs(source.audit.entries(), claims, { dataOwner: source.party, user });
    } catch (e) {
      if (!isFedscoreError(e)) throw e;
      return page(409, 'Reconcile', reconcileForm(ctx, `this node's log does not decode (${e.code})`), ctx);
    }
    return page(200, 'Reconcile', reconcileResult(ctx, user, result), ctx);
  });
  posted(F.reconcile);

  // A known path with another method: 405 with the methods it takes.
  for (const [path, allow] of methods) {
    const list = [...allow].join(', ');
    app.all(path, () => {
      const r = page(405, 'Refused', html`<p class="error" role="alert">use ${[...allow].join(' or ')}</p>`);
      r.headers.set('allow', list);
      return r;
    });
  }
  return app;
}

/** Build the console's handler for the node's HTTP endpoint: every path under /console/ is its app's. */
export function createConsoleHandler(options: ConsoleOptions): ConsoleHandler {
  const logger = (options.logger ?? noopLogger).child({ component: 'console' });
  const streams = new Set<() => void>();
  const app = createConsoleApp(options, streams);
  const listener = nodeListener(app, (e) => {
    // A request the adapter could not read (a bad Host, a backslash in the path): refused, headers on.
    const bad = e instanceof Error && e.name === 'RequestError';
    if (!bad) logger.error('console request failed', { code: 'internal' });
    return new Response(null, { status: bad ? 400 : 500, headers: SECURITY_HEADERS });
  });
  const handler = ((req: IncomingMessage, res: ServerResponse): boolean => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://console.invalid').pathname;
    } catch {
      return false;
    }
    if (path !== BASE && !path.startsWith(`${BASE}/`)) return false;
    listener(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, SECURITY_HEADERS);
      res.end();
    });
    return true;
  }) as ConsoleHandler;
  handler.close = () => {
    for (const stop of [...streams]) stop();
  };
  return handler;
}
