/**
 * The node's one OpenAPI 3.1 document, covering the scoring API (`/v1/...`, scoring/api-schema.ts),
 * the console's JSON API (`/console/api/...`, console/api-schema.ts) and the console pages' form posts
 * (console/page-schema.ts). Generated from the route
 * declarations the Hono apps validate with (server/api-route.ts) and zod 4's `z.toJSONSchema`; served
 * at /v1/openapi.json and /console/api/openapi.json, committed as docs/api/openapi.json (a test and
 * `pnpm --filter @fedscore/node openapi --check` compare it). Deterministic: no time or host in it.
 */
import { z } from 'zod';
import {
  CONSOLE_API_ROUTES,
  consoleAlertListSchema,
  consoleAuditEntrySchema,
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
  consoleProductSchema,
  consolePublishedProfileSchema,
  consoleSamplesSchema,
  consoleSessionSchema,
  consoleUsageSchema,
} from '../console/api-schema.ts';
import { CONSOLE_FORM_ROUTES } from '../console/page-schema.ts';
import { jobSpecSchema } from '../jobs/spec.ts';
import {
  errorSchema,
  reasonSchema,
  SCORING_ROUTES,
  scoreBatchRequestSchema,
  scoreBatchResponseSchema,
  scoreBatchResultSchema,
  scoreRequestSchema,
  scoreResponseSchema,
} from '../scoring/api-schema.ts';
import type { ApiRoute } from './api-route.ts';

/** Every schema the routes name, by its component id. */
const COMPONENTS: readonly (readonly [string, z.ZodType])[] = [
  ['ScoreRequest', scoreRequestSchema],
  ['ScoreResponse', scoreResponseSchema],
  ['ScoreReason', reasonSchema],
  ['ScoreBatchRequest', scoreBatchRequestSchema],
  ['ScoreBatchResponse', scoreBatchResponseSchema],
  ['ScoreBatchResult', scoreBatchResultSchema],
  ['Error', errorSchema],
  ['ConsoleError', consoleErrorSchema],
  ['ConsoleSession', consoleSessionSchema],
  ['PublishedProfile', consolePublishedProfileSchema],
  ['FeatureCatalogue', consoleCatalogueSchema],
  ['AuditEntry', consoleAuditEntrySchema],
  ['AuditLog', consoleAuditSchema],
  ['ConsentList', consoleConsentListSchema],
  ['SampleSets', consoleSamplesSchema],
  ['UsageReport', consoleUsageSchema],
  ['LoanProduct', consoleProductSchema],
  ['ProductList', consoleProductListSchema],
  ['ProductDetail', consoleProductDetailSchema],
  ['AlertList', consoleAlertListSchema],
  ['Job', consoleJobSchema],
  ['JobList', consoleJobListSchema],
  ['JobSpec', jobSpecSchema],
  ['Model', consoleModelSchema],
  ['ModelList', consoleModelListSchema],
];

const JSON_SCHEMA_OPTIONS = { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' } as const;

function strip(schema: object): Record<string, unknown> {
  const { $schema: _, $id: __, ...rest } = schema as Record<string, unknown>;
  return rest;
}

function parameters(where: 'path' | 'query', object: z.ZodObject | undefined): Record<string, unknown>[] {
  if (object === undefined) return [];
  return Object.entries(object.shape).map(([name, field]) => {
    const schema = strip(z.toJSONSchema(field as z.ZodType, JSON_SCHEMA_OPTIONS));
    const { description, ...rest } = schema;
    return {
      name,
      in: where,
      required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success,
      ...(typeof description === 'string' && { description }),
      schema: rest,
    };
  });
}

function operation(route: ApiRoute, ref: (s: z.ZodType) => { $ref: string }): Record<string, unknown> {
  const content = (s: z.ZodType) => ({ 'application/json': { schema: ref(s) } });
  const params = [...parameters('path', route.params), ...parameters('query', route.query)];
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description !== undefined && { description: route.description }),
    tags: route.tags,
    security: route.security,
    ...(params.length > 0 && { parameters: params }),
    ...(route.body !== undefined && { requestBody: { required: true, content: content(route.body) } }),
    ...(route.form !== undefined && {
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: strip(z.toJSONSchema(route.form, JSON_SCHEMA_OPTIONS)),
          },
        },
      },
    }),
    responses: Object.fromEntries(
      Object.entries(route.responses).map(([status, r]) => [
        status,
        {
          description: r.description,
          ...(r.headers !== undefined && { headers: r.headers }),
          ...(r.schema !== undefined && { content: content(r.schema) }),
          ...(r.schema === undefined &&
            r.mediaType !== undefined && { content: { [r.mediaType]: { schema: { type: 'string' } } } }),
        },
      ]),
    ),
  };
}

/** Where each API listens (a path item's `servers`). */
const SERVERS: Readonly<Record<string, readonly { url: string; description: string }[]>> = {
  scoring: [{ url: 'https://bank-node.internal:9443', description: "The bank node's `scoring.api.listen`" }],
  console: [{ url: 'https://node.internal:9090', description: "The node's `http` endpoint (`console`)" }],
  'console-pages': [
    { url: 'https://node.internal:9090', description: "The node's `http` endpoint (`console`)" },
  ],
};

/** The OpenAPI 3.1 document of the node's JSON APIs. */
export function openApiDocument(): Record<string, unknown> {
  // One registry, so that shared parts become `#/components/schemas/<id>` references.
  const registry = z.registry<{ id: string }>();
  const ids = new Map<z.ZodType, string>();
  for (const [id, schema] of COMPONENTS) {
    registry.add(schema, { id });
    ids.set(schema, id);
  }
  const json = z.toJSONSchema(registry, {
    ...JSON_SCHEMA_OPTIONS,
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Record<string, unknown>> };
  const schemas = Object.fromEntries(Object.entries(json.schemas).map(([id, s]) => [id, strip(s)]));
  const ref = (s: z.ZodType): { $ref: string } => {
    const id = ids.get(s);
    if (id === undefined)
      throw new Error('a route names a schema that is not a component (server/openapi.ts)');
    return { $ref: `#/components/schemas/${id}` };
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of [
    ...Object.values(SCORING_ROUTES),
    ...Object.values(CONSOLE_API_ROUTES),
    ...Object.values(CONSOLE_FORM_ROUTES),
  ] as ApiRoute[]) {
    paths[route.path] ??= { servers: SERVERS[route.tags[0]!] };
    paths[route.path]![route.method] = operation(route, ref);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'fedscore node API',
      version: '1.2.0',
      description:
        "The JSON APIs of a fedscore party node. `scoring`: the bank node's scoring endpoint for a risk engine, on its own listener (`scoring.api`): scores one applicant under encryption with the government node (protocol scoring.online over mutual TLS), subject to the government's consent check and quotas; every call is audited on both nodes (request id, applicant fingerprint, outcome; never scores or features); see docs/scoring-api.md. `console`: the web console's JSON API on the node's `http` endpoint, behind the console's login, roles and CSRF token; see docs/console.md. `console-pages`: the HTML form posts of the console's pages on the same endpoint, under the same session and roles, with the CSRF token in the form.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'scoring', description: 'The scoring API (bearer token of `fedscore node token`).' },
      { name: 'console', description: "The console's JSON API (console session; CSRF token on changes)." },
      {
        name: 'console-pages',
        description:
          "The console pages' HTML form posts (console session; the session's CSRF token as the form field `csrf`; answers are HTML pages or a 303 to the next page).",
      },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token from `fedscore node token` (only its SHA-256 is kept in the node config: scoring.api.tokens).',
        },
        consoleSession: {
          type: 'apiKey',
          in: 'cookie',
          name: '__Host-fedscore-session',
          description: 'The session cookie of a console login (password or OIDC, /console/login).',
        },
        csrfToken: {
          type: 'apiKey',
          in: 'header',
          name: 'x-csrf-token',
          description: "The session's CSRF token (GET /console/api/session), on every POST.",
        },
      },
      schemas,
    },
  };
}
