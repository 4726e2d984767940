/**
 * The console's HTTP handler, mounted under /console/ on the node's `http` endpoint (server/http.ts).
 * The pages are server-rendered HTML (no client bundle; one progressive script for live job status),
 * routed here; the JSON API under /console/api/ is a Hono app with zod-validated routes (api.ts), under
 * the same session, roles, CSRF check and security headers, documented in the node's OpenAPI document.
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
import {
  type AuditEntry,
  type AuditReconciliation,
  reconcileAuditLogs,
  type UnauthenticatedRefusal,
} from '../audit/index.ts';
import type { ConsentPurpose } from '../consent/index.ts';
import { type ConsoleAccess, type ConsolePage, ROLE_ACCESS } from './access.ts';
import type { ConsoleAccounts, ConsoleSession } from './accounts.ts';
import { createConsoleApi } from './api.ts';
import { CONSOLE_CSS, CONSOLE_ICON, CONSOLE_JS } from './assets.ts';
import { alertPage, alertsPage, alignedCoverageTable, scoringPolicyTable } from './governance.ts';
import { html } from './html.ts';
import { JOB_FORM_FIELDS, jobSpecFromFields } from './job-form.ts';
import type { ConsoleOidc } from './oidc.ts';
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

function readForm(req: IncomingMessage, limit = MAX_FORM_BYTES): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      req.resume();
      reject(new HttpFailure(415, 'send the form as application/x-www-form-urlencoded'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpFailure(413, 'the form is too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/** Build the console's handler for the node's HTTP endpoint. */
export function createConsoleHandler(options: ConsoleOptions): ConsoleHandler {
  const access = options.access ?? ROLE_ACCESS;
  const logger = (options.logger ?? noopLogger).child({ component: 'console' });
  const now = options.now ?? Date.now;
  const perMinute = options.loginsPerMinute ?? 20;
  const attempts = new Map<string, { start: number; count: number }>();
  const streams = new Set<() => void>();
  const { source, accounts, oidc } = options;
  /** Session id -> the ID token it was opened with (OIDC sessions; kept in memory, never stored). */
  const idTokens = new Map<string, string>();
  const local = options.localAccounts ?? true;
  const ways = { local, ...(oidc !== undefined && { oidcName: oidc.name }) };
  const api = createConsoleApi({ source, accounts, access, logger });

  const send = (
    res: ServerResponse,
    status: number,
    body: string,
    type = 'text/html; charset=utf-8',
    extra: Record<string, string | string[]> = {},
  ): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra }).end(body);
  };
  const redirect = (res: ServerResponse, to: string, extra: Record<string, string | string[]> = {}): void => {
    res.writeHead(303, { ...SECURITY_HEADERS, location: to, ...extra }).end();
  };
  const page = (
    res: ServerResponse,
    status: number,
    title: string,
    body: ReturnType<typeof html>,
    ctx?: PageContext,
  ) => send(res, status, layout(title, body, ctx));

  const refuse = (req: IncomingMessage, code: string, reason: string, field?: string): void => {
    options.onRefused?.({
      rpc: 'console.login',
      code,
      reason,
      ...(field !== undefined && { field }),
      ...(req.socket.remoteAddress !== undefined && { remoteAddress: req.socket.remoteAddress }),
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

  const checkOrigin = (req: IncomingMessage): void => {
    const refused = crossSite(req.headers['sec-fetch-site'], req.headers.origin, req.headers.host);
    if (refused !== undefined) throw new HttpFailure(403, refused);
  };

  const loginForm = (res: ServerResponse, status: number, message?: string, clear: string[] = []): void => {
    const token = randomBytes(32).toString('base64url');
    send(res, status, loginPage(token, message, ways), undefined, {
      'set-cookie': [cookie(LOGIN_COOKIE, token, 600), ...clear],
    });
  };

  async function handleLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (throttled(req, res)) return;
    checkOrigin(req);
    const form = await readForm(req);
    const cookies = parseCookies(req.headers.cookie);
    if (!sameToken(form.get('csrf'), cookies.get(LOGIN_COOKIE))) {
      refuse(req, 'csrf', 'console login without its form token', 'csrf');
      throw new HttpFailure(403, 'the login form expired; reload the page');
    }
    const r = await accounts.login(form.get('username'), form.get('password'));
    if (!r.ok) {
      refuse(req, r.reason === 'locked' ? 'locked' : 'unauthenticated', 'console login refused', 'username');
      // One message for both, so that the lock does not tell which usernames exist.
      loginForm(res, 401, 'Wrong username or password, or the account is locked after repeated failures.');
      return;
    }
    logger.info('console login', { role: r.session.account.role });
    redirect(res, `${BASE}/`, {
      'set-cookie': [cookie(SESSION_COOKIE, r.sessionId), cookie(LOGIN_COOKIE, '', 0)],
    });
  }

  const throttled = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (allowLogin(req.socket.remoteAddress ?? 'unknown')) return false;
    req.resume();
    refuse(req, 'rate_limited', 'too many console logins from one address');
    send(
      res,
      429,
      layout('Log in', html`<p class="error" role="alert">Too many attempts; wait a minute.</p>`),
      undefined,
      { 'retry-after': '60' },
    );
    return true;
  };

  async function handleOidcStart(req: IncomingMessage, res: ServerResponse, o: ConsoleOidc): Promise<void> {
    if (throttled(req, res)) return;
    let started: { url: string; pendingId: string };
    try {
      started = await o.begin();
    } catch (e) {
      logger.warn('console oidc discovery failed', { code: isFedscoreError(e) ? e.code : 'internal' });
      throw new HttpFailure(502, 'the identity provider does not answer; try again later');
    }
    redirect(res, started.url, { 'set-cookie': cookie(OIDC_COOKIE, started.pendingId, 600, 'Lax') });
  }

  async function handleOidcCallback(
    req: IncomingMessage,
    res: ServerResponse,
    o: ConsoleOidc,
    query: URLSearchParams,
  ): Promise<void> {
    if (throttled(req, res)) return;
    const clear = cookie(OIDC_COOKIE, '', 0, 'Lax');
    const r = await o.finish(parseCookies(req.headers.cookie).get(OIDC_COOKIE), query);
    if (!r.ok) {
      const forbidden = r.reason === 'no_role' || r.reason === 'no_bank';
      refuse(
        req,
        forbidden ? 'forbidden' : 'unauthenticated',
        `console oidc login refused (${r.reason}${r.detail === undefined ? '' : `: ${r.detail}`})`,
        forbidden ? (r.reason === 'no_role' ? 'console.oidc.roleClaim' : 'console.oidc.bankClaim') : 'oidc',
      );
      logger.info('console oidc login refused', { reason: r.reason });
      const message = forbidden
        ? 'Your identity provider vouched for you, but your account has no role in this console. Ask your administrator.'
        : 'The sign-in did not complete or could not be verified; start again.';
      loginForm(res, forbidden ? 403 : 401, message, [clear]);
      return;
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
    send(
      res,
      200,
      layout(
        'Signed in',
        html`<p>Signed in as ${s.session.account.username}. <a href="${BASE}/" id="continue">Continue to the console</a></p>`,
      ),
      undefined,
      { 'set-cookie': [cookie(SESSION_COOKIE, s.sessionId), clear], refresh: `0;url=${BASE}/` },
    );
  }

  function need(ctx: PageContext, p: ConsolePage): void {
    if (!access.canOpen(ctx.account, p)) throw new HttpFailure(403, 'your role does not open this page');
  }

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

  function live(req: IncomingMessage, res: ServerResponse, ctx: PageContext, id: string): void {
    visibleJob(ctx, id);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' });
    let last = '';
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
      if (data !== last) res.write(`event: job\ndata: ${data}\n\n`);
      last = data;
      if (j.status === 'done' || j.status === 'failed' || j.status === 'cancelled') stop();
    };
    const timer = setInterval(tick, (options.liveSeconds ?? 1) * 1000);
    // A stream ends after 5 minutes; the page's script then reloads it, which checks the session again.
    const limit = setTimeout(() => stop(), MAX_STREAM_MS);
    const stop = (): void => {
      clearInterval(timer);
      clearTimeout(limit);
      streams.delete(stop);
      res.end();
    };
    streams.add(stop);
    req.on('close', stop);
    tick();
  }

  async function handlePost(req: IncomingMessage, res: ServerResponse, ctx: PageContext, parts: string[]) {
    checkOrigin(req);
    const reconciling = parts[0] === 'audit' && parts[1] === 'reconcile' && parts.length === 2;
    const form = await readForm(req, reconciling ? MAX_RECONCILE_BYTES : MAX_FORM_BYTES);
    if (!sameToken(form.get('csrf'), ctx.csrf)) throw new HttpFailure(403, 'missing or wrong CSRF token');
    if (reconciling) {
      need(ctx, 'audit');
      const user = form.get('user') ?? '';
      if (!access.canSeeBank(ctx.account, user) || !(source.peers ?? []).includes(user)) {
        throw new HttpFailure(403, 'you reconcile your own bank only');
      }
      const claims: AuditEntry[] = [];
      const lines = (form.get('claims') ?? '').split('\n');
      for (const [i, raw] of lines.entries()) {
        if (raw.trim() === '') continue;
        try {
          claims.push(JSON.parse(raw) as AuditEntry);
        } catch {
          return page(res, 400, 'Reconcile', reconcileForm(ctx, `line ${i + 1} is not a JSON object`), ctx);
        }
      }
      let result: AuditReconciliation;
      try {
        result = reconcileAuditLogs(source.audit.entries(), claims, { dataOwner: source.party, user });
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        return page(
          res,
          409,
          'Reconcile',
          reconcileForm(ctx, `this node's log does not decode (${e.code})`),
          ctx,
        );
      }
      return page(res, 200, 'Reconcile', reconcileResult(ctx, user, result), ctx);
    }
    if (parts[0] === 'logout' && parts.length === 1) {
      const sid = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
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
      if (end === undefined) {
        redirect(res, `${BASE}/login`, clear);
        return;
      }
      send(
        res,
        200,
        layout(
          'Signed out',
          html`<p>Signed out of the console. <a href="${end}" id="provider-logout">Sign out of ${oidc!.name} too</a></p>`,
        ),
        undefined,
        { ...clear, refresh: `0;url=${end}` },
      );
      return;
    }
    if (parts[0] === 'jobs' && parts.length === 1) {
      need(ctx, 'jobs');
      if (source.submit === undefined) throw new HttpFailure(404, 'this node does not take jobs here');
      // The advanced form sends the whole spec as JSON; the form of fields sends its fields (job-form.ts).
      const json = form.has('spec');
      const values: Record<string, string> = json
        ? { spec: form.get('spec') ?? '' }
        : Object.fromEntries(Object.keys(JOB_FORM_FIELDS).map((f) => [f, form.get(f) ?? '']));
      const refuse = (message: string, field?: string) =>
        page(
          res,
          400,
          'Jobs',
          jobsPage(ctx, { message, ...(field !== undefined && { field }), values }),
          ctx,
        );
      let spec: unknown;
      try {
        spec = json ? JSON.parse(values['spec']!) : jobSpecFromFields(values, source.party);
      } catch (e) {
        if (isFedscoreError(e)) {
          return refuse(
            `Refused (${e.code}${e.field === undefined ? '' : `, field ${e.field}`}): ${e.message}`,
            e.field,
          );
        }
        return refuse('The spec is not valid JSON.', 'spec');
      }
      const guest = (spec as { guest?: unknown } | null)?.guest;
      if (typeof guest !== 'string' || !access.canSubmitJob(ctx.account, guest)) {
        throw new HttpFailure(403, 'you submit jobs of your own bank only');
      }
      try {
        const job = source.submit(spec);
        logger.info('console job submitted', { job: job.id, role: ctx.account.role });
        redirect(res, `${BASE}/jobs/${encodeURIComponent(job.id)}`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        refuse(
          `Refused (${e.code}${e.field === undefined ? '' : `, field ${e.field}`}): ${e.message}`,
          e.field,
        );
      }
      return;
    }
    if (parts[0] === 'jobs' && parts.length === 3 && (parts[2] === 'cancel' || parts[2] === 'retry')) {
      need(ctx, 'jobs');
      const job = visibleJob(ctx, parts[1]!);
      if (!access.canControlJob(ctx.account, job)) {
        throw new HttpFailure(403, "you cancel and retry your own bank's jobs only");
      }
      const act = parts[2] === 'cancel' ? source.cancel : source.retry;
      if (act === undefined || job.coordinator !== source.party) {
        throw new HttpFailure(404, 'this node does not coordinate the job');
      }
      try {
        act(job.id, consoleActor(ctx.account));
        logger.info(`console job ${parts[2]}`, { job: job.id, role: ctx.account.role });
        redirect(res, `${BASE}/jobs/${encodeURIComponent(job.id)}`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        page(
          res,
          409,
          `Job ${job.id}`,
          html`<p class="error" role="alert">Refused (${e.code}): ${e.message}</p>`,
          ctx,
        );
      }
      return;
    }
    if (parts[0] === 'models' && parts.length === 3 && (parts[2] === 'promote' || parts[2] === 'retire')) {
      need(ctx, 'models');
      const m = visibleModel(ctx, parts[1]!);
      if (!access.canChangeModel(ctx.account, m))
        throw new HttpFailure(403, 'your role cannot change this model');
      try {
        const after =
          parts[2] === 'promote'
            ? source.models.promote(m.ref, { reason: `console: ${ctx.account.username}` })
            : source.models.retire(m.ref, { reason: `console: ${ctx.account.username}` });
        redirect(res, `${BASE}/models/${encodeURIComponent(after.ref)}`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        page(res, 409, m.ref, html`<p class="error" role="alert">Refused (${e.code}): ${e.message}</p>`, ctx);
      }
      return;
    }
    if (parts[0] === 'consent' && (parts.length === 1 || (parts.length === 3 && parts[2] === 'revoke'))) {
      need(ctx, 'consent');
      if (!access.canManageConsent(ctx.account)) {
        throw new HttpFailure(403, 'only the platform operator records and revokes consents');
      }
      const by = consoleActor(ctx.account);
      const values = Object.fromEntries(
        ['enterprise', 'grantee', 'purpose', 'scope', 'grantedAt', 'expiresAt'].map((f) => [
          f,
          form.get(f) ?? '',
        ]),
      );
      try {
        if (parts.length === 1) {
          const granted = consentTime(values['grantedAt']!, 'consent.grantedAt');
          const c = source.consents.grant(
            {
              enterprise: values['enterprise']!,
              grantee: values['grantee']!.trim(),
              purpose: values['purpose'] as ConsentPurpose,
              scope: values['scope']!.split(',')
                .map((x) => x.trim())
                .filter((x) => x !== ''),
              expiresAt: required(
                consentTime(values['expiresAt']!, 'consent.expiresAt'),
                'consent.expiresAt',
              ),
              ...(granted !== undefined && { grantedAt: granted }),
            },
            'consent',
            { by },
          );
          logger.info('console consent granted', { role: ctx.account.role, purpose: c.purpose });
        } else {
          source.consents.revoke(parts[1]!, { by, reason: `revoked in the console by ${by}` });
          logger.info('console consent revoked', { role: ctx.account.role });
        }
        redirect(res, `${BASE}/consent`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        const status = e.code === 'not_found' ? 404 : e.code === 'invalid_state' ? 409 : 400;
        page(
          res,
          status,
          'Consent',
          consentPage(ctx, {
            message: `Refused (${e.code}${e.field === undefined ? '' : `, field ${e.field}`}): ${e.message}`,
            ...(e.field !== undefined && { field: e.field }),
            values: parts.length === 1 ? values : {},
          }),
          ctx,
        );
      }
      return;
    }
    if (parts[0] === 'products' && parts.length === 1) {
      need(ctx, 'products');
      const pool = source.products;
      if (pool === undefined) throw new HttpFailure(404, 'this node keeps no product pool');
      const input = Object.fromEntries(
        ['id', 'name', 'bank', 'rateBp', 'termMonths', 'lineMin', 'lineMax', 'bands', 'minLine'].map((f) => [
          f,
          form.get(f) ?? '',
        ]),
      );
      // Both the product's new bank and, when it exists, its current bank must be the account's own.
      const existing = pool.get(input['id']!);
      if (
        !access.canEditProduct(ctx.account, input['bank']!) ||
        (existing !== undefined && !access.canEditProduct(ctx.account, existing.bank))
      ) {
        throw new HttpFailure(403, "you change your own bank's products only");
      }
      try {
        const saved = pool.save(input);
        logger.info('console product saved', { bank: saved.bank });
        redirect(res, `${BASE}/products/${encodeURIComponent(saved.id)}`);
      } catch (e) {
        if (!isFedscoreError(e)) throw e;
        page(
          res,
          400,
          'Products',
          productsPage(
            ctx,
            `Refused (${e.code}${e.field === undefined ? '' : `, field ${e.field}`}): ${e.message}`,
          ),
          ctx,
        );
      }
      return;
    }
    if (parts[0] === 'alerts' && parts.length === 4 && parts[3] === 'acknowledge') {
      need(ctx, 'alerts');
      const a = visibleAlert(ctx, parts[1]!, parts[2]!);
      if (!ctx.access.canAcknowledgeAlert(ctx.account, a.bank)) {
        throw new HttpFailure(403, 'your role does not acknowledge alerts');
      }
      source.alerts!.acknowledge(a.government, a.seq, ctx.account.username);
      logger.info('console alert acknowledged', { severity: a.severity });
      redirect(res, `${BASE}/alerts/${encodeURIComponent(a.government)}/${a.seq}`);
      return;
    }
    throw new HttpFailure(404, 'no such action');
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

  function handleGet(req: IncomingMessage, res: ServerResponse, ctx: PageContext, parts: string[]): unknown {
    const [head, id, tail] = parts;
    if (head === undefined) return page(res, 200, 'Overview', homePage(ctx), ctx);
    switch (head) {
      case 'jobs':
        need(ctx, 'jobs');
        if (id === undefined) return page(res, 200, 'Jobs', jobsPage(ctx), ctx);
        if (tail === 'events' && parts.length === 3) return live(req, res, ctx, id);
        if (parts.length === 2) return page(res, 200, `Job ${id}`, jobPage(ctx, visibleJob(ctx, id)), ctx);
        break;
      case 'models':
        need(ctx, 'models');
        if (id === undefined) return page(res, 200, 'Models', modelsPage(ctx), ctx);
        if (id === 'compare' && parts.length === 2) {
          const a = visibleModel(ctx, ctx.query.get('a') ?? '');
          const b = visibleModel(ctx, ctx.query.get('b') ?? '');
          return page(res, 200, 'Compare models', comparePage(ctx, a, b), ctx);
        }
        if (parts.length === 2) {
          const m = visibleModel(ctx, id);
          return page(res, 200, `Model ${m.ref}`, modelPage(ctx, m), ctx);
        }
        if (tail === 'report' && parts.length === 3 && options.charts !== undefined) {
          const m = visibleModel(ctx, id);
          if (m.evaluation === undefined) throw new HttpFailure(404, 'no held-out curves for this model');
          const name = `${m.ref.replace(/[^a-z0-9._-]/gi, '-')}-report.html`;
          return send(res, 200, modelReport(m, options.charts, now()), 'text/html; charset=utf-8', {
            'content-disposition': `attachment; filename="${name}"`,
          });
        }
        break;
      case 'audit':
        if (id === 'reconcile' && parts.length === 2) {
          need(ctx, 'audit');
          return page(res, 200, 'Reconcile', reconcileForm(ctx), ctx);
        }
        if (parts.length !== 1) break;
        need(ctx, 'audit');
        return page(res, 200, 'Audit', auditPage(ctx), ctx);
      case 'products': {
        need(ctx, 'products');
        if (source.products === undefined) break;
        if (id === undefined) return page(res, 200, 'Products', productsPage(ctx), ctx);
        if (parts.length !== 2) break;
        const p = source.products.get(id);
        if (p === undefined) throw new HttpFailure(404, 'no such product');
        return page(res, 200, p.name, productPage(ctx, p), ctx);
      }
      case 'alerts':
        need(ctx, 'alerts');
        if (id === undefined) return page(res, 200, 'Alerts', alertsPage(ctx), ctx);
        if (parts.length === 3) {
          const a = visibleAlert(ctx, id, tail!);
          return page(res, 200, `Alert ${a.government} #${a.seq}`, alertPage(ctx, a), ctx);
        }
        break;
      case 'samples':
      case 'algorithms':
      case 'consent':
      case 'usage': {
        if (parts.length !== 1) break;
        need(ctx, head);
        const render = {
          samples: () => samplesPage(ctx),
          algorithms: () => algorithmsPage(),
          consent: () => consentPage(ctx),
          usage: () => html`${usagePage(ctx)}${scoringPolicyTable(ctx)}`,
        }[head];
        return page(res, 200, head[0]!.toUpperCase() + head.slice(1), render(), ctx);
      }
    }
    throw new HttpFailure(404, 'no such page');
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let parts: string[];
    try {
      parts = url.pathname
        .slice(BASE.length)
        .split('/')
        .filter((p) => p !== '')
        .map((p) => decodeURIComponent(p));
    } catch {
      throw new HttpFailure(404, 'no such page');
    }
    const method = req.method ?? 'GET';
    if (parts[0] === 'static' && parts.length === 2 && (method === 'GET' || method === 'HEAD')) {
      if (parts[1] === 'console.css') return send(res, 200, CONSOLE_CSS, 'text/css; charset=utf-8');
      if (parts[1] === 'console.js') return send(res, 200, CONSOLE_JS, 'text/javascript; charset=utf-8');
      if (parts[1] === 'favicon.svg') return send(res, 200, CONSOLE_ICON, 'image/svg+xml');
      const charts = options.charts;
      if (charts !== undefined) {
        if (parts[1] === 'uplot.js') return send(res, 200, charts.uplotJs, 'text/javascript; charset=utf-8');
        if (parts[1] === 'uplot.css') return send(res, 200, charts.uplotCss, 'text/css; charset=utf-8');
        if (parts[1] === 'report-charts.js')
          return send(res, 200, charts.clientJs, 'text/javascript; charset=utf-8');
      }
      throw new HttpFailure(404, 'no such file');
    }
    if (parts[0] === 'oidc' && parts.length === 2 && oidc !== undefined && method === 'GET') {
      if (parts[1] === 'start') return handleOidcStart(req, res, oidc);
      if (parts[1] === 'callback') return handleOidcCallback(req, res, oidc, url.searchParams);
    }
    if (parts[0] === 'login' && parts.length === 1) {
      if (method === 'POST') {
        if (!local) throw new HttpFailure(404, 'local accounts are off; sign in with your identity provider');
        return handleLogin(req, res);
      }
      if (method !== 'GET' && method !== 'HEAD') throw new HttpFailure(405, 'GET or POST');
      return loginForm(res, 200);
    }
    const session: ConsoleSession | undefined = accounts.session(
      parseCookies(req.headers.cookie).get(SESSION_COOKIE),
    );
    if (session === undefined) {
      req.resume();
      if (method === 'GET' || method === 'HEAD') return redirect(res, `${BASE}/login`);
      throw new HttpFailure(401, 'log in first');
    }
    const ctx: PageContext = {
      account: session.account,
      csrf: session.csrf,
      access,
      source,
      query: url.searchParams,
      charts: options.charts !== undefined,
    };
    if (method === 'POST') return handlePost(req, res, ctx, parts);
    if (method !== 'GET' && method !== 'HEAD') throw new HttpFailure(405, 'GET or POST');
    if (parts[0] === 'indicators' && parts.length === 1) {
      need(ctx, 'indicators');
      const profiles = (await source.datasetProfiles?.()) ?? [];
      // A log that does not decode (the Audit page reports it) leaves the aligned-set table out.
      const aligned = (await source.alignedProfiles?.().catch(() => undefined)) ?? [];
      return page(
        res,
        200,
        'Indicators',
        html`${indicatorsPage(ctx, profiles)}${alignedCoverageTable(ctx, aligned)}`,
        ctx,
      );
    }
    handleGet(req, res, ctx, parts);
  }

  const handler = ((req: IncomingMessage, res: ServerResponse): boolean => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://console.invalid');
    } catch {
      return false;
    }
    if (url.pathname !== BASE && !url.pathname.startsWith(`${BASE}/`)) return false;
    if (url.pathname === BASE) {
      redirect(res, `${BASE}/`);
      return true;
    }
    if (url.pathname.startsWith(`${BASE}/api/`)) {
      api(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, SECURITY_HEADERS).end();
      });
      return true;
    }
    handle(req, res, url).catch((e: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (e instanceof HttpFailure) {
        req.resume();
        send(
          res,
          e.status,
          layout(
            e.status === 404 ? 'Not found' : 'Refused',
            html`<p class="error" role="alert">${e.message}</p>`,
          ),
        );
        return;
      }
      logger.error('console request failed', { code: isFedscoreError(e) ? e.code : 'internal' });
      send(
        res,
        500,
        layout('Error', html`<p class="error" role="alert">Internal error; see the node log.</p>`),
      );
    });
    return true;
  }) as ConsoleHandler;
  handler.close = () => {
    for (const stop of [...streams]) stop();
  };
  return handler;
}
