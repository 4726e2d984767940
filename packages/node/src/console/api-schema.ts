/**
 * The console's JSON API (under /console/api/, console/api.ts): its bodies as zod schemas and its routes
 * (`CONSOLE_API_ROUTES`). Hono validates the routes with these schemas, and the node's one OpenAPI 3.1
 * document (server/openapi.ts, shared with the scoring API) is generated from them.
 *
 * The API shows what the pages show and no more: the same roles (access.ts), the same 404 for a job or
 * model out of the account's scope as for one that does not exist, a party's feature count but not its
 * feature names, no evaluation curves; audit entries as the Audit page lists them (the account's scope,
 * the newest 200, details of at most 80 characters each). Every change (POST) needs the session's CSRF
 * token in `x-csrf-token` (GET /console/api/session tells it), a same-origin `Origin`/`Sec-Fetch-Site`
 * when the browser sends them, and a JSON body where the route takes one.
 */
import { z } from 'zod';
import { AUDIT_KINDS } from '../audit/audit-log.ts';
import { JOB_STATUSES } from '../jobs/job-store.ts';
import { jobSpecSchema, STAGES } from '../jobs/spec.ts';
import { CREDIT_EVENT_KINDS } from '../monitoring/index.ts';
import { MODEL_STATUSES } from '../registry/model-registry.ts';
import { defineRoute } from '../server/api-route.ts';
import { CONSOLE_ROLES } from './accounts.ts';
import { ALERT_SEVERITIES } from './alerts.ts';
import { PRODUCT_SORTS } from './products.ts';

/** The console API's error codes and the HTTP status each maps to. */
export const CONSOLE_API_ERRORS = {
  /** A parameter, query or body field is wrong (`field` names it), or the node refused the job spec. */
  invalid_request: 400,
  /** No live session (log in at /console/login). */
  unauthenticated: 401,
  /** The role does not allow it, a missing or wrong CSRF token, or a cross-site request. */
  forbidden: 403,
  /** No such route, or an object that does not exist or is out of the account's scope. */
  not_found: 404,
  method_not_allowed: 405,
  /** The object's state does not allow the change (e.g. cancel a finished job). */
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
} as const;
/** A code of the console API's errors. */
export type ConsoleApiErrorCode = keyof typeof CONSOLE_API_ERRORS;

/** The body of every refusal of the console's API (OpenAPI component `ConsoleError`). */
export const consoleErrorSchema = z
  .object({
    error: z
      .object({
        code: z.enum(Object.keys(CONSOLE_API_ERRORS) as [ConsoleApiErrorCode, ...ConsoleApiErrorCode[]]),
        message: z.string(),
        field: z.string().optional().meta({ description: 'The parameter or field that was wrong.' }),
      })
      .strict(),
  })
  .strict()
  .meta({ description: "Every non-2xx answer of the console's API." });

/** `GET /console/api/session` (component `ConsoleSession`). */
export const consoleSessionSchema = z
  .object({
    username: z.string(),
    role: z.enum(CONSOLE_ROLES),
    bank: z.string().nullable().meta({ description: "A bank analyst's bank; null for the other roles." }),
    csrf: z.string().meta({ description: 'Send it as `x-csrf-token` with every POST of this session.' }),
  })
  .strict()
  .meta({ description: 'Who is logged in.' });

const epochMs = z.number().int().meta({ description: 'Milliseconds since 1970-01-01T00:00:00Z.' });

/** One job as the console's API answers it (component `Job`). */
export const consoleJobSchema = z
  .object({
    id: z.string(),
    kind: z.string().meta({ description: '`hetero-lr`, `secureboost` or `hfl`.' }),
    guest: z.string().meta({ description: "The label holder and coordinator: the job's bank." }),
    hosts: z.array(z.string()),
    coordinator: z.string(),
    status: z.enum(JOB_STATUSES),
    stage: z.enum(STAGES).nullable(),
    attempt: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }).strict().nullable(),
    cancelRequestedBy: z.string().nullable(),
    createdAt: epochMs,
    updatedAt: epochMs,
  })
  .strict()
  .meta({ description: 'A job (its spec as submitted is the Jobs page; its data stay on each party).' });

/** `GET /console/api/jobs` (component `JobList`). */
export const consoleJobListSchema = z
  .object({ jobs: z.array(consoleJobSchema) })
  .strict()
  .meta({ description: "The account's jobs, newest first." });

/** One model version as the console's API answers it (component `Model`). */
export const consoleModelSchema = z
  .object({
    ref: z.string().meta({ description: 'Registry reference, `name@version`.' }),
    name: z.string(),
    version: z.number().int(),
    status: z.enum(MODEL_STATUSES),
    createdAt: epochMs,
    algorithm: z.string(),
    modelId: z.string(),
    parties: z.array(
      z
        .object({
          id: z.string(),
          role: z.string(),
          features: z
            .number()
            .int()
            .meta({ description: 'How many features the party holds (not their names).' }),
        })
        .strict(),
    ),
    metrics: z.record(z.string(), z.number()),
    lineage: z
      .object({
        job: z.string().nullable(),
        binning: z.string().nullable(),
        parent: z.string().nullable(),
      })
      .strict(),
    artifactSha256: z.string().nullable(),
    evaluated: z.boolean().meta({ description: 'Held-out curves exist (the Models page draws them).' }),
  })
  .strict()
  .meta({ description: 'A model version of the registry.' });

/** `GET /console/api/models` (component `ModelList`). */
export const consoleModelListSchema = z
  .object({ models: z.array(consoleModelSchema) })
  .strict()
  .meta({ description: "The account's model versions." });

const basisPoints = z.number().int().min(0).max(10_000);

/** One dataset of another party's published feature profile (component `PublishedProfile`). */
export const consolePublishedProfileSchema = z
  .object({
    owner: z.string().meta({ description: 'The party whose dataset it is.' }),
    dataset: z.string(),
    rows: z.number().int().meta({ description: 'Rows, rounded down to a multiple of 10 (at least 50).' }),
    rateStepBp: basisPoints.meta({ description: 'The step every rate is rounded to, in basis points.' }),
    receivedFrom: z.string().meta({ description: 'The peer it came from: the owner, or the platform node.' }),
    publishedAt: epochMs,
    receivedAt: epochMs,
    features: z.array(
      z
        .object({
          name: z.string(),
          description: z.string().meta({ description: "The owner's description; '' when it gave none." }),
          type: z.enum(['numeric', 'categorical', 'binary']),
          coverageBp: basisPoints.meta({ description: "Share of the dataset's enterprises with a value." }),
          missingBp: basisPoints.meta({ description: 'Share of rows without a value.' }),
        })
        .strict(),
    ),
  })
  .strict()
  .meta({ description: 'Aggregates of the whole dataset only (docs/protocols/feature-catalogue.md).' });

/** `GET /console/api/catalogue` (component `FeatureCatalogue`). */
export const consoleCatalogueSchema = z
  .object({ profiles: z.array(consolePublishedProfileSchema) })
  .strict()
  .meta({ description: "Other parties' published feature profiles this node holds, by owner then dataset." });

/** One audit entry as the Audit page lists it (component `AuditEntry`). */
export const consoleAuditEntrySchema = z
  .object({
    seq: z.number().int().meta({ description: 'Position in the hash chain (1-based).' }),
    at: epochMs,
    kind: z.enum(AUDIT_KINDS),
    actor: z.string(),
    dataOwner: z.string().nullable(),
    purpose: z.string().nullable(),
    job: z.string().nullable(),
    enterpriseCount: z.number().int().nullable(),
    details: z.record(z.string(), z.string()).meta({
      description: 'Each detail as text; one longer than 80 characters is left out (as on the page).',
    }),
  })
  .strict();

/** `GET /console/api/audit` (component `AuditLog`). */
export const consoleAuditSchema = z
  .object({
    chain: z
      .object({
        ok: z
          .boolean()
          .meta({ description: "The whole log's hash chain verified (acknowledged breaks passed)." }),
        entries: z
          .number()
          .int()
          .meta({ description: 'Entries read, up to and including the first bad one.' }),
        head: z.string().meta({ description: 'Hash of the last entry that verified.' }),
        firstBad: z.object({ seq: z.number().int(), reason: z.string() }).strict().nullable().meta({
          description: 'Where and why the chain breaks (the log was altered after it was written).',
        }),
        acknowledged: z.array(z.number().int()),
      })
      .strict(),
    entries: z.array(consoleAuditEntrySchema).meta({ description: "The account's entries, newest first." }),
  })
  .strict()
  .meta({ description: "This node's audit log as the Audit page shows it to the account." });

const CONSENT_STATUSES = ['valid', 'not_yet_valid', 'expired', 'revoked'] as const;

/** `GET /console/api/consents` (component `ConsentList`): what the Consent page lists. */
export const consoleConsentListSchema = z
  .object({
    byGrantee: z.array(
      z
        .object({
          grantee: z.string(),
          valid: z.number().int(),
          expired: z.number().int(),
          revoked: z.number().int(),
          notYetValid: z.number().int(),
        })
        .strict(),
    ),
    consents: z
      .array(
        z
          .object({
            id: z.string(),
            enterprise: z.string().meta({ description: "The enterprise's USCC." }),
            grantee: z.string(),
            purpose: z.string(),
            scope: z.array(z.string()),
            expiresAt: epochMs,
            status: z.enum(CONSENT_STATUSES),
          })
          .strict(),
      )
      .meta({ description: 'The newest records (at most `limit`), newest first.' }),
  })
  .strict()
  .meta({ description: "The account's consents: a bank analyst's are those granted to its bank." });

const count = z.number().int().min(0);

/** `GET /console/api/samples` (component `SampleSets`): the Samples page's aligned sets, counts only. */
export const consoleSamplesSchema = z
  .object({
    sets: z.array(
      z
        .object({
          job: z.string(),
          bank: z.string(),
          owner: z
            .string()
            .nullable()
            .meta({ description: 'The data owner whose consent check counted; null: none.' }),
          aligned: count.meta({ description: 'Enterprises PSI aligned.' }),
          consent: z.enum(['enforced', 'not required']).nullable(),
          excluded: count.nullable().meta({ description: "Enterprises the owner's consent check excluded." }),
          offered: count.nullable().meta({ description: 'Enterprises offered to the consent check.' }),
          fingerprint: z.string().nullable().meta({
            description: "The aligned set's SHA-256 in the audit log, its first 16 hex digits (as the page).",
          }),
        })
        .strict(),
    ),
  })
  .strict()
  .meta({
    description: 'Aligned enterprise sets per job the account may see; enterprise ids are never listed.',
  });

const requestWindow = z.object({ requests: count, windowSeconds: count }).strict();

/** `GET /console/api/usage` (component `UsageReport`): the Usage page's tables, counts only. */
export const consoleUsageSchema = z
  .object({
    byBank: z.array(
      z
        .object({
          bank: z.string(),
          uses: count.meta({ description: "Uses of another party's data in this node's audit log." }),
          enterpriseUses: count,
          purposes: z.array(z.string()),
          refused: count.meta({ description: 'Requests refused by policy, consent or quota.' }),
        })
        .strict(),
    ),
    scoring: z
      .array(
        z
          .object({
            bank: z.string(),
            requests: count,
            enterprises: count,
            atQuota: count,
            quota: count,
            windowSeconds: count,
          })
          .strict(),
      )
      .nullable()
      .meta({
        description: 'Online scoring against the quota, on a node serving it without its policy; else null.',
      }),
    policy: z
      .object({
        quota: requestWindow,
        rate: requestWindow,
        banks: z.array(
          z
            .object({
              bank: z.string(),
              quotaRequests: count,
              enterprises: count,
              atQuota: count,
              rateRequests: count,
              atRate: count,
            })
            .strict(),
        ),
      })
      .strict()
      .nullable()
      .meta({
        description:
          "The scoring policy against each bank's use (a government node serving scores); else null.",
      }),
  })
  .strict()
  .meta({ description: "Lawful-use monitoring as the Usage page shows it: a bank analyst's bank only." });

/** One loan product (component `LoanProduct`). */
export const consoleProductSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    bank: z.string(),
    rateBp: z.number(),
    termMonths: z.number(),
    lineMin: z.number(),
    lineMax: z.number(),
    bands: z.array(z.string()),
    minLine: z.number(),
    matched: count.meta({
      description: 'Enterprises whose pre-approved line the product matches (a count).',
    }),
  })
  .strict();

/** `GET /console/api/products` (component `ProductList`). */
export const consoleProductListSchema = z
  .object({ products: z.array(consoleProductSchema) })
  .strict()
  .meta({
    description: "The loan-product pool with each product's matched count (the Products page's table).",
  });

/** `GET /console/api/products/{id}` (component `ProductDetail`). */
export const consoleProductDetailSchema = z
  .object({
    product: consoleProductSchema,
    matches: z
      .array(
        z.object({ enterprise: z.string(), bank: z.string(), band: z.string(), amount: z.number() }).strict(),
      )
      .nullable()
      .meta({
        description:
          "The matched enterprises pre-approved by the account's bank, for the product's own bank; null for another bank's product (the count only).",
      }),
    otherBanks: count.meta({
      description: 'Matches pre-approved by banks the account may not see (counted).',
    }),
  })
  .strict();

/** `GET /console/api/alerts` (component `AlertList`). */
export const consoleAlertListSchema = z
  .object({
    alerts: z
      .array(
        z
          .object({
            government: z.string(),
            seq: count,
            bank: z.string(),
            enterprise: z.string().meta({ description: "The borrower's USCC (the bank's own borrower)." }),
            kind: z.enum(CREDIT_EVENT_KINDS),
            severity: z.enum(ALERT_SEVERITIES),
            occurredAt: epochMs,
            receivedAt: epochMs,
            loanEnd: epochMs.nullable(),
            rescored: z.boolean(),
            acknowledged: z.object({ by: z.string(), at: epochMs }).strict().nullable(),
          })
          .strict(),
      )
      .meta({
        description: 'Alerts of the banks whose borrowers the account may see, newest first (at most 500).',
      }),
    counts: z
      .array(
        z
          .object({ bank: z.string(), alerts: count, high: count, medium: count, unacknowledged: count })
          .strict(),
      )
      .meta({ description: 'Per bank, alerts the account may not see borrower by borrower (counts only).' }),
    deliveries: z
      .array(
        z
          .object({
            bank: z.string(),
            watched: count,
            deliveries: count,
            alerts: count,
            high: count,
            medium: count,
            lastAt: epochMs.nullable(),
          })
          .strict(),
      )
      .nullable()
      .meta({
        description: "A government node's deliveries per bank (counts); null on a node that sends none.",
      }),
  })
  .strict()
  .meta({ description: 'Post-loan alerts as the Alerts page shows them to the account.' });

const jobId = z.string().min(1).max(63).meta({ description: 'The job id.' });
const modelRef = z
  .string()
  .min(3)
  .max(200)
  .regex(/@\d+$/, 'a model reference is name@version')
  .meta({ description: 'A registry reference, `name@version`.' });

const err = (description: string) => ({ description, schema: consoleErrorSchema });
const SESSION = [{ consoleSession: [] }];
const CHANGE = [{ consoleSession: [], csrfToken: [] }];
const common = {
  '401': err('unauthenticated: no live session.'),
  '403': err("forbidden: the account's role does not open this."),
} as const;

/** The console API's routes: validated by console/api.ts, documented by server/openapi.ts. */
export const CONSOLE_API_ROUTES = {
  openapi: defineRoute({
    method: 'get',
    path: '/console/api/openapi.json',
    operationId: 'consoleOpenapi',
    summary: "The node's OpenAPI document (the same document as /v1/openapi.json)",
    tags: ['console'],
    security: [],
    responses: { '200': { description: 'The OpenAPI document.' } },
  }),
  session: defineRoute({
    method: 'get',
    path: '/console/api/session',
    operationId: 'consoleSession',
    summary: 'The logged-in account and its CSRF token',
    tags: ['console'],
    security: SESSION,
    responses: { '200': { description: 'The session.', schema: consoleSessionSchema }, '401': common['401'] },
  }),
  catalogue: defineRoute({
    method: 'get',
    path: '/console/api/catalogue',
    operationId: 'consoleFeatureCatalogue',
    summary: "Other parties' published feature profiles (the Indicators page's; the roles that open it)",
    tags: ['console'],
    security: SESSION,
    responses: {
      '200': { description: 'The feature catalogue.', schema: consoleCatalogueSchema },
      ...common,
    },
  }),
  audit: defineRoute({
    method: 'get',
    path: '/console/api/audit',
    operationId: 'consoleAuditLog',
    summary: "The audit log's chain verdict and the account's newest entries (a bank analyst: its bank's)",
    tags: ['console'],
    security: SESSION,
    query: z
      .object({
        kind: z.enum(AUDIT_KINDS).optional().meta({ description: 'Only entries of this kind.' }),
        limit: z.coerce
          .number()
          .int('limit is a whole number')
          .min(1)
          .max(200)
          .default(200)
          .meta({ description: 'At most this many (1-200, default 200).' }),
      })
      .strict(),
    responses: {
      '200': { description: 'The verdict and the entries.', schema: consoleAuditSchema },
      '400': err('invalid_request: `field` names the query parameter.'),
      ...common,
    },
  }),
  consents: defineRoute({
    method: 'get',
    path: '/console/api/consents',
    operationId: 'consoleListConsents',
    summary: "Consent counts by grantee and the newest records (a bank analyst: its bank's)",
    tags: ['console'],
    security: SESSION,
    query: z
      .object({
        status: z.enum(CONSENT_STATUSES).optional().meta({ description: 'Only records in this status now.' }),
        limit: z.coerce
          .number()
          .int('limit is a whole number')
          .min(1)
          .max(200)
          .default(200)
          .meta({ description: 'At most this many records (1-200, default 200).' }),
      })
      .strict(),
    responses: {
      '200': { description: 'The counts and the records.', schema: consoleConsentListSchema },
      '400': err('invalid_request: `field` names the query parameter.'),
      ...common,
    },
  }),
  samples: defineRoute({
    method: 'get',
    path: '/console/api/samples',
    operationId: 'consoleSampleSets',
    summary: "Aligned enterprise sets per job (the Samples page's; counts and fingerprints only)",
    tags: ['console'],
    security: SESSION,
    responses: { '200': { description: 'The aligned sets.', schema: consoleSamplesSchema }, ...common },
  }),
  usage: defineRoute({
    method: 'get',
    path: '/console/api/usage',
    operationId: 'consoleUsage',
    summary:
      "Per bank, uses of other parties' data, refusals and the scoring policy's use (the Usage page's)",
    tags: ['console'],
    security: SESSION,
    responses: {
      '200': { description: 'The usage report.', schema: consoleUsageSchema },
      '409': err('conflict: the audit log does not decode (see GET /console/api/audit).'),
      ...common,
    },
  }),
  products: defineRoute({
    method: 'get',
    path: '/console/api/products',
    operationId: 'consoleListProducts',
    summary:
      "The loan-product pool, searched and sorted like the Products page, with each product's matched count",
    tags: ['console'],
    security: SESSION,
    query: z
      .object({
        q: z
          .string()
          .max(200, 'at most 200 characters')
          .optional()
          .meta({ description: "Search text (the Products page's Search)." }),
        bank: z.string().max(200, 'at most 200 characters').optional(),
        band: z
          .string()
          .max(40, 'at most 40 characters')
          .optional()
          .meta({ description: 'Admits this rating band.' }),
        amount: z.coerce.number().min(0).optional().meta({ description: 'Lends this amount.' }),
        sort: z.enum(PRODUCT_SORTS).default('name'),
        order: z.enum(['asc', 'desc']).default('asc'),
      })
      .strict(),
    responses: {
      '200': { description: 'The products.', schema: consoleProductListSchema },
      '400': err('invalid_request: `field` names the query parameter.'),
      '404': err('not_found: this node keeps no product pool.'),
      ...common,
    },
  }),
  product: defineRoute({
    method: 'get',
    path: '/console/api/products/{id}',
    operationId: 'consoleGetProduct',
    summary: "One product; its matched enterprises for its own bank's accounts, the count for the others",
    tags: ['console'],
    security: SESSION,
    params: z.object({ id: z.string().min(1).max(200).meta({ description: 'The product id.' }) }),
    responses: {
      '200': { description: 'The product.', schema: consoleProductDetailSchema },
      '404': err('not_found: no such product, or no product pool on this node.'),
      ...common,
    },
  }),
  alerts: defineRoute({
    method: 'get',
    path: '/console/api/alerts',
    operationId: 'consoleListAlerts',
    summary:
      "Post-loan alerts: a bank's own borrowers' alerts, counts per bank for the others (the Alerts page's)",
    tags: ['console'],
    security: SESSION,
    query: z
      .object({
        severity: z.enum(ALERT_SEVERITIES).optional(),
        kind: z.enum(CREDIT_EVENT_KINDS).optional(),
      })
      .strict(),
    responses: {
      '200': { description: 'The alerts and counts.', schema: consoleAlertListSchema },
      '400': err('invalid_request: `field` names the query parameter.'),
      ...common,
    },
  }),
  jobs: defineRoute({
    method: 'get',
    path: '/console/api/jobs',
    operationId: 'consoleListJobs',
    summary: "The account's jobs (a bank analyst: its bank's only)",
    tags: ['console'],
    security: SESSION,
    query: z
      .object({
        status: z.enum(JOB_STATUSES).optional().meta({ description: 'Only jobs in this status.' }),
        limit: z.coerce
          .number()
          .int('limit is a whole number')
          .min(1)
          .max(1000)
          .default(100)
          .meta({ description: 'At most this many (1-1000, default 100).' }),
      })
      .strict(),
    responses: {
      '200': { description: 'The jobs.', schema: consoleJobListSchema },
      '400': err('invalid_request: `field` names the query parameter.'),
      ...common,
    },
  }),
  job: defineRoute({
    method: 'get',
    path: '/console/api/jobs/{id}',
    operationId: 'consoleGetJob',
    summary: 'One job',
    tags: ['console'],
    security: SESSION,
    params: z.object({ id: jobId }).strict(),
    responses: {
      '200': { description: 'The job.', schema: consoleJobSchema },
      ...common,
      '404': err("not_found: no such job, or another bank's (the same answer)."),
    },
  }),
  submitJob: defineRoute({
    method: 'post',
    path: '/console/api/jobs',
    operationId: 'consoleSubmitJob',
    summary: "Submit a job of the account's bank (validated like the YAML spec)",
    tags: ['console'],
    security: CHANGE,
    body: jobSpecSchema,
    responses: {
      '201': { description: 'Recorded; it runs when every party accepted it.', schema: consoleJobSchema },
      '400': err('invalid_request: `field` names the wrong field of the spec.'),
      ...common,
      '403': err("forbidden: the role, the CSRF token, or a job of another bank (the spec's guest)."),
      '404': err('not_found: this node does not take jobs from the console.'),
      '413': err('payload_too_large.'),
      '415': err('unsupported_media_type: send application/json.'),
    },
  }),
  controlJob: defineRoute({
    method: 'post',
    path: '/console/api/jobs/{id}/{action}',
    operationId: 'consoleControlJob',
    summary: 'Cancel a job, or retry a failed or cancelled one (jobs this node coordinates)',
    tags: ['console'],
    security: CHANGE,
    params: z.object({ id: jobId, action: z.enum(['cancel', 'retry']) }).strict(),
    responses: {
      '200': { description: 'The job after the change.', schema: consoleJobSchema },
      ...common,
      '404': err("not_found: no such job, another bank's, or one this node does not coordinate."),
      '409': err('conflict: the job is in a state that does not allow it.'),
    },
  }),
  models: defineRoute({
    method: 'get',
    path: '/console/api/models',
    operationId: 'consoleListModels',
    summary: "The account's model versions (a bank analyst: its bank's only)",
    tags: ['console'],
    security: SESSION,
    query: z
      .object({
        status: z.enum(MODEL_STATUSES).optional().meta({ description: 'Only versions in this status.' }),
      })
      .strict(),
    responses: {
      '200': { description: 'The model versions.', schema: consoleModelListSchema },
      '400': err('invalid_request: `field` names the query parameter.'),
      ...common,
    },
  }),
  model: defineRoute({
    method: 'get',
    path: '/console/api/models/{ref}',
    operationId: 'consoleGetModel',
    summary: 'One model version',
    tags: ['console'],
    security: SESSION,
    params: z.object({ ref: modelRef }).strict(),
    responses: {
      '200': { description: 'The model version.', schema: consoleModelSchema },
      '400': err('invalid_request: not a model reference.'),
      ...common,
      '404': err("not_found: no such model, or another bank's (the same answer)."),
    },
  }),
  changeModel: defineRoute({
    method: 'post',
    path: '/console/api/models/{ref}/{action}',
    operationId: 'consoleChangeModel',
    summary: 'Promote a model version to production, or retire it',
    tags: ['console'],
    security: CHANGE,
    params: z.object({ ref: modelRef, action: z.enum(['promote', 'retire']) }).strict(),
    responses: {
      '200': { description: 'The version after the change.', schema: consoleModelSchema },
      '400': err('invalid_request: not a model reference.'),
      ...common,
      '404': err("not_found: no such model, or another bank's."),
      '409': err('conflict: the version is in a state that does not allow it.'),
    },
  }),
} as const;
