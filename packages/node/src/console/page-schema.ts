/**
 * What the console's pages take from a request, as zod schemas: the fields of each HTML form the pages
 * post (`CONSOLE_FORM_ROUTES`, in the node's OpenAPI document beside the JSON API) and the query
 * parameters of the pages that read any (`CONSOLE_PAGE_QUERIES`). The router (server.ts) validates every
 * form post and page query with these before a handler runs: a malformed request (a field sent twice, a
 * field over its length, a query value that is not one of its choices) is a 400 page naming the field.
 *
 * The schemas check the shape; what a value means stays with the code that owns it (the job spec's
 * schema, the consent registry, the product pool), whose refusals re-render the form with the field
 * named. Every form carries the session's CSRF token as `csrf` (the login form: the pre-session token of
 * its `__Host-fedscore-login` cookie); the router checks it before validating the rest.
 */
import { z } from 'zod';
import { type ApiResponse, defineRoute } from '../server/api-route.ts';
import { JOB_FORM_FIELDS, JOB_KINDS } from './job-form.ts';
import { PRODUCT_SORTS } from './products.ts';

/** A form field of text, at most `max` characters (absent = empty). */
const text = (max: number, description?: string) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .default('')
    .meta(description === undefined ? {} : { description });

const csrf = z
  .string()
  .max(200, 'at most 200 characters')
  .meta({ description: "The session's CSRF token (the form's hidden field)." });

/** The largest form but one: a pasted audit log for reconciliation (MAX_RECONCILE_BYTES, server.ts). */
const MAX_CLAIMS_CHARS = 16 * 1024 * 1024;

/** `POST /console/login`. */
export const loginFormSchema = z.object({
  csrf: csrf.meta({ description: "The login form's token (its `__Host-fedscore-login` cookie)." }),
  username: text(200),
  password: text(4096),
});

/** A form of the token only: logout, cancel/retry, promote/retire, revoke, acknowledge. */
export const tokenFormSchema = z.object({ csrf });

/** `POST /console/jobs`: the whole spec as JSON (`spec`), or the form of fields (job-form.ts). */
export const jobFormSchema = z.object({
  csrf,
  spec: z
    .string()
    .max(64 * 1024, `at most ${64 * 1024} characters`)
    .optional()
    .meta({
      description: 'The job spec as JSON (the advanced form); when present, the other fields are not read.',
    }),
  ...(Object.fromEntries(Object.keys(JOB_FORM_FIELDS).map((f) => [f, text(4000)])) as Record<
    keyof typeof JOB_FORM_FIELDS,
    ReturnType<typeof text>
  >),
  /** The checked peers (one value per box), or party ids typed comma-separated (a node with no peers). */
  hosts: z
    .union([
      z.string().max(4000, 'at most 4000 characters'),
      z.array(z.string().max(200, 'at most 200 characters')).max(256, 'at most 256 hosts'),
    ])
    .default('')
    .meta({ description: 'The hosts: one checked peer per value, or party ids comma-separated.' }),
});

/** `POST /console/consent`: one consent recorded by the platform operator. */
export const consentFormSchema = z.object({
  csrf,
  enterprise: text(64, "The enterprise's unified social credit code."),
  grantee: text(200, 'The bank the consent is granted to.'),
  purpose: text(40, '`training`, `scoring` or `monitoring`.'),
  scope: text(4000, 'Data categories, comma-separated (`*` for all).'),
  grantedAt: text(40, 'YYYY-MM-DD or an ISO 8601 time; blank: now.'),
  expiresAt: text(40, 'YYYY-MM-DD or an ISO 8601 time.'),
});

/** `POST /console/products`: a loan product added or changed (validated by the pool: products.ts). */
export const productFormSchema = z.object({
  csrf,
  id: text(200),
  name: text(200),
  bank: text(200),
  rateBp: text(40, 'Rate in basis points a year.'),
  termMonths: text(40),
  lineMin: text(40),
  lineMax: text(40),
  bands: text(400, 'Eligible rating bands, comma-separated.'),
  minLine: text(40, 'Least pre-approved line.'),
});

/** `POST /console/audit/reconcile`: a bank's exported audit log, one JSON entry a line. */
export const reconcileFormSchema = z.object({
  csrf,
  user: text(200, 'The bank whose log it is.'),
  claims: text(MAX_CLAIMS_CHARS, 'The exported log (JSON lines).'),
});

/** A number typed in a filter (blank: no filter). */
const amount = z
  .string()
  .max(40, 'at most 40 characters')
  .refine((v) => v.trim() === '' || Number.isFinite(Number(v)), 'expected a number')
  .optional();

/** The query parameters of the pages that read any (others ignore theirs). */
export const CONSOLE_PAGE_QUERIES = {
  /** The Jobs page: `kind` shows the job form for that kind only (its settings; the others left out). */
  jobs: z.object({ kind: z.enum(JOB_KINDS).optional() }),
  products: z.object({
    q: z.string().max(200, 'at most 200 characters').optional(),
    bank: z.string().max(200, 'at most 200 characters').optional(),
    band: z.string().max(40, 'at most 40 characters').optional(),
    amount,
    sort: z.enum(PRODUCT_SORTS).optional(),
    order: z.enum(['asc', 'desc']).optional(),
  }),
  alerts: z.object({
    severity: z.string().max(40, 'at most 40 characters').optional(),
    kind: z.string().max(60, 'at most 60 characters').optional(),
  }),
  audit: z.object({ kind: z.string().max(60, 'at most 60 characters').optional() }),
  compare: z.object({
    a: z.string().min(1, 'name the first model (name@version)').max(200, 'at most 200 characters'),
    b: z.string().min(1, 'name the second model (name@version)').max(200, 'at most 200 characters'),
  }),
} as const;

const page = (description: string): ApiResponse => ({ description, mediaType: 'text/html' });
const moved = (description: string): ApiResponse => ({
  description,
  headers: { location: { description: 'The page to show next.', schema: { type: 'string' } } },
});
const SESSION = [{ consoleSession: [] }];
const refusals = {
  '400': page('A field is malformed: the page names it (`Refused (code, field f): ...`).'),
  '401': page('No live session.'),
  '403': page('A missing or wrong CSRF token, a cross-site request, or the role does not allow it.'),
  '413': page('The form is too large.'),
  '415': page('Not sent as application/x-www-form-urlencoded.'),
} as const;

/**
 * The console pages' form posts (HTML forms: fields as `application/x-www-form-urlencoded`, answers are
 * HTML pages or a 303 to the page to show next). Validated by server.ts, documented by server/openapi.ts.
 */
export const CONSOLE_FORM_ROUTES = {
  login: defineRoute({
    method: 'post',
    path: '/console/login',
    operationId: 'consolePageLogin',
    summary: 'Log in with a local account (a session cookie on success)',
    description:
      'Per remote address at most `console.loginsPerMinute` attempts a minute (429); a wrong password and a locked account get the same 401 page. 404 when local accounts are off.',
    tags: ['console-pages'],
    security: [],
    form: loginFormSchema,
    responses: {
      '303': moved('Logged in: on to the overview, with the session cookie.'),
      '400': refusals['400'],
      '401': page('Wrong username or password, or the account is locked.'),
      '403': page("The login form's token is missing or wrong, or a cross-site request."),
      '429': page('Too many attempts from this address.'),
    },
  }),
  logout: defineRoute({
    method: 'post',
    path: '/console/logout',
    operationId: 'consolePageLogout',
    summary: 'End the session (and, signed in through OIDC, offer the provider logout)',
    tags: ['console-pages'],
    security: SESSION,
    form: tokenFormSchema,
    responses: {
      '200': page('Signed out of the console; a link (and refresh) to log out at the provider.'),
      '303': moved('Signed out: on to the login page.'),
      ...refusals,
    },
  }),
  submitJob: defineRoute({
    method: 'post',
    path: '/console/jobs',
    operationId: 'consolePageSubmitJob',
    summary: "Submit a job of the account's bank from the Jobs page's form",
    tags: ['console-pages'],
    security: SESSION,
    form: jobFormSchema,
    responses: {
      '303': moved('Recorded: on to the job.'),
      ...refusals,
      '400': page('The spec or a field is refused: the form again, the field named and marked.'),
      '404': page('This node does not take jobs from the console.'),
    },
  }),
  controlJob: defineRoute({
    method: 'post',
    path: '/console/jobs/{id}/{action}',
    operationId: 'consolePageControlJob',
    summary: 'Cancel a job, or retry a failed or cancelled one (jobs this node coordinates)',
    tags: ['console-pages'],
    security: SESSION,
    params: z.object({ id: z.string(), action: z.enum(['cancel', 'retry']) }),
    form: tokenFormSchema,
    responses: {
      '303': moved('Done: on to the job.'),
      ...refusals,
      '404': page("No such job, another bank's, or one this node does not coordinate."),
      '409': page('The job is in a state that does not allow it.'),
    },
  }),
  changeModel: defineRoute({
    method: 'post',
    path: '/console/models/{ref}/{action}',
    operationId: 'consolePageChangeModel',
    summary: 'Promote a model version to production, or retire it',
    tags: ['console-pages'],
    security: SESSION,
    params: z.object({ ref: z.string(), action: z.enum(['promote', 'retire']) }),
    form: tokenFormSchema,
    responses: {
      '303': moved('Done: on to the version.'),
      ...refusals,
      '404': page("No such model, or another bank's."),
      '409': page('The version is in a state that does not allow it.'),
    },
  }),
  grantConsent: defineRoute({
    method: 'post',
    path: '/console/consent',
    operationId: 'consolePageGrantConsent',
    summary: "Record an enterprise's consent in this node's registry (platform operator)",
    tags: ['console-pages'],
    security: SESSION,
    form: consentFormSchema,
    responses: {
      '303': moved('Recorded (and audited): on to the Consent page.'),
      ...refusals,
      '400': page('A field is refused: the form again, the field named, what was typed kept.'),
    },
  }),
  revokeConsent: defineRoute({
    method: 'post',
    path: '/console/consent/{id}/revoke',
    operationId: 'consolePageRevokeConsent',
    summary: 'Revoke a consent (platform operator)',
    tags: ['console-pages'],
    security: SESSION,
    params: z.object({ id: z.string() }),
    form: tokenFormSchema,
    responses: {
      '303': moved('Revoked (and audited): on to the Consent page.'),
      ...refusals,
      '404': page('No such consent.'),
      '409': page('Already revoked.'),
    },
  }),
  saveProduct: defineRoute({
    method: 'post',
    path: '/console/products',
    operationId: 'consolePageSaveProduct',
    summary: "Add or change a loan product of the account's bank",
    tags: ['console-pages'],
    security: SESSION,
    form: productFormSchema,
    responses: {
      '303': moved('Saved: on to the product.'),
      ...refusals,
      '400': page('A field is refused: the Products page, the field named.'),
      '404': page('This node keeps no product pool.'),
    },
  }),
  acknowledgeAlert: defineRoute({
    method: 'post',
    path: '/console/alerts/{government}/{seq}/acknowledge',
    operationId: 'consolePageAcknowledgeAlert',
    summary: "Acknowledge a post-loan alert of the account's bank",
    tags: ['console-pages'],
    security: SESSION,
    params: z.object({ government: z.string(), seq: z.string() }),
    form: tokenFormSchema,
    responses: {
      '303': moved('Acknowledged (and audited): on to the alert.'),
      ...refusals,
      '404': page("No such alert, or another bank's."),
    },
  }),
  reconcile: defineRoute({
    method: 'post',
    path: '/console/audit/reconcile',
    operationId: 'consolePageReconcile',
    summary: "Reconcile a bank's exported audit log with this node's",
    tags: ['console-pages'],
    security: SESSION,
    form: reconcileFormSchema,
    responses: {
      '200': page('The reconciliation: agreeing uses, uses missing from either log, a broken chain.'),
      ...refusals,
      '400': page('A line of the pasted log is not a JSON object (the line named).'),
      '409': page("This node's own log does not decode."),
    },
  }),
} as const;
