/**
 * The scoring API over HTTP/JSON for the bank's risk engine (config `scoring.api`; docs/scoring-api.md):
 *   POST /v1/score          bearer token -> ScoreRequest -> ScoreResponse (schemas: scoring/api-schema.ts)
 *   POST /v1/score/batch    bearer token -> ScoreBatchRequest -> ScoreBatchResponse (up to 256 applicants;
 *                           body limit maxBodyBytes x 16; each applicant answered with its own status)
 *   GET  /v1/openapi.json   the node's OpenAPI 3.1 document (server/openapi.ts; no token: it holds no data)
 * A Hono app (server/api-route.ts): the routes are declared once in scoring/api-schema.ts, validated with
 * their zod schemas and documented from them; served by @hono/node-server's listener on the node's own
 * `node:http` server (or `node:https` with `scoring.api.tls`), so TLS, listen and keep-alive are as before.
 *
 * Checks in order, each answered with a typed error body `{ error: { code, message, field?, requestId } }`:
 * route (404/405), token (401, audited as a `security_event`), media type (415), size (413), JSON and
 * schema (400 naming the field), then the model's feature list (400 naming the field) and the government's
 * answer (403 consent_missing or policy_refused, 404 no_record, 429 quota_exceeded / rate_limited with
 * `retry-after`, 503 upstream_unavailable or overloaded). Any other failure is a 500 with the request id; the process stays up. Logs hold the
 * request id, outcome and timing, never the applicant, features or score.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { FedscoreError, isFedscoreError, type Logger, noopLogger } from '@fedscore/core';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { AuditLog } from '../audit/index.ts';
import {
  SCORING_API_ERRORS,
  SCORING_ROUTES,
  type ScoreBatchRequestBody,
  type ScoreBatchResponseBody,
  type ScoreRequestBody,
  type ScoreResponseBody,
  type ScoringApiErrorCode,
} from '../scoring/api-schema.ts';
import { ScoringRefusal } from '../scoring/bank.ts';
import type { ApiTokens } from '../scoring/tokens.ts';
import { type ApiEnv, ApiError, mountRoute, nodeListener } from './api-route.ts';
import { openApiDocument } from './openapi.ts';

export interface ScoringApiOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  readonly tokens: ApiTokens;
  readonly score: (body: ScoreRequestBody, requestId: string) => Promise<ScoreResponseBody>;
  /** POST /v1/score/batch: the applicants of one request (`ScoringClient.scoreBatch`). */
  readonly scoreBatch: (
    body: ScoreBatchRequestBody['applicants'],
    requestId: string,
  ) => Promise<ScoreBatchResponseBody>;
  readonly audit: AuditLog;
  /** This node's party id (the actor of its audit entries). */
  readonly party: string;
  readonly maxBodyBytes?: number;
  /**
   * `retry-after` (seconds) of a 429 (the government's quota or rate refused). The government does not
   * tell its windows; default 3600, the default government's rate window (`scoring.rate`).
   */
  readonly retryAfterSeconds?: number;
  /** PEM certificate and key: serve HTTPS. */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly logger?: Logger;
}

export interface ScoringApi {
  readonly port: number;
  /** Answers by HTTP status since start (for /metrics). */
  stats(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

const INPUT_ERRORS = new Set(['invalid_argument', 'out_of_range', 'missing_value', 'invalid_uscc']);

const JSON_TYPE = 'application/json; charset=utf-8';

/** POST /v1/score/batch takes up to `maxBodyBytes` x this (256 applicants of ~4 KiB each by default). */
const BATCH_BODY_FACTOR = 16;

type ScoringEnv = ApiEnv<{ requestId: string; outcome: string }>;

export async function startScoringApi(options: ScoringApiOptions): Promise<ScoringApi> {
  const logger = (options.logger ?? noopLogger).child({ component: 'scoring-api' });
  const limit = options.maxBodyBytes ?? 65_536;
  const openapi = JSON.stringify(openApiDocument());
  const counts = new Map<string, number>();

  // Answers are written to the node response directly (@hono/node-server's RESPONSE_ALREADY_SENT): a
  // web `Response` per score, converted back by the adapter, cost ~25 us of CPU a request more
  // (docs/scoring-api.md, "HTTP layer: Hono").
  const send = (
    c: Context<ScoringEnv>,
    status: number,
    body: string,
    requestId?: string,
    extra: Record<string, string> = {},
  ): Response => {
    counts.set(String(status), (counts.get(String(status)) ?? 0) + 1);
    const headers: Record<string, string> = { 'content-type': JSON_TYPE, 'cache-control': 'no-store' };
    if (requestId !== undefined) headers['x-request-id'] = requestId;
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="fedscore"';
    if (status === 405) headers.allow = 'POST';
    const out = c.env.outgoing;
    out.writeHead(status, { ...headers, ...extra }).end(c.req.method === 'HEAD' ? undefined : body);
    return RESPONSE_ALREADY_SENT;
  };
  const fail = (
    c: Context<ScoringEnv>,
    e: ApiError,
    requestId?: string,
    extra: Record<string, string> = {},
  ): Response => {
    const code = e.code as ScoringApiErrorCode;
    return send(
      c,
      SCORING_API_ERRORS[code] ?? 500,
      JSON.stringify({
        error: {
          code,
          message: e.message,
          ...(e.field !== undefined && { field: e.field }),
          ...(requestId !== undefined && { requestId }),
        },
      }),
      requestId,
      extra,
    );
  };

  const app = new Hono<ScoringEnv>();
  app.notFound((c) => fail(c, new ApiError('not_found', `no route ${c.req.path}`)));
  app.onError((e, c) => {
    const requestId = c.get('requestId');
    let err: ApiError;
    if (e instanceof ApiError) err = e;
    else if (e instanceof ScoringRefusal) err = new ApiError(e.code, e.message);
    else if (isFedscoreError(e) && INPUT_ERRORS.has(e.code)) {
      err = new ApiError('invalid_request', e.message, e.field ?? 'body');
    } else {
      logger.error('scoring request failed', {
        ...(requestId !== undefined && { requestId }),
        code: isFedscoreError(e) ? e.code : 'internal',
        error: e instanceof Error ? e.name : 'unknown',
      });
      err = new ApiError('internal', 'internal error; the request id locates it in the node log');
    }
    const retry: Record<string, string> =
      err.code === 'rate_limited' || err.code === 'quota_exceeded'
        ? { 'retry-after': String(options.retryAfterSeconds ?? 3600) }
        : {};
    c.set('outcome', err.code);
    if (c.env.outgoing.headersSent) {
      c.env.outgoing.end();
      return RESPONSE_ALREADY_SENT;
    }
    return fail(c, err, requestId, retry);
  });

  /** The request id, and the outcome and timing in the node log (never the applicant or the score). */
  const traced: MiddlewareHandler<ScoringEnv> = async (c, next) => {
    const requestId = randomUUID();
    c.set('requestId', requestId);
    const t0 = performance.now();
    await next();
    const outcome = c.get('outcome') ?? 'scored';
    logger.debug('scoring request', { requestId, outcome, ms: Math.round(performance.now() - t0) });
  };
  /** The bearer token, before the body is read; a refusal is audited as a security event. */
  const authenticated: MiddlewareHandler<ScoringEnv> = async (c, next) => {
    const authorization = c.req.header('authorization');
    if (options.tokens.authenticate(authorization) === undefined) {
      options.audit.append({
        kind: 'security_event',
        actor: 'unauthenticated',
        details: {
          rpc: 'http.score',
          code: 'unauthenticated',
          requestId: c.get('requestId'),
          remoteAddress: c.env.incoming.socket.remoteAddress ?? 'unknown',
        },
      });
      throw new ApiError(
        'unauthenticated',
        authorization === undefined ? 'send Authorization: Bearer <token>' : 'unknown token',
      );
    }
    await next();
  };
  mountRoute(
    app,
    SCORING_ROUTES.score,
    { before: [traced, authenticated], bodyLimit: limit },
    async (c, { body }) => {
      const requestId = c.get('requestId');
      return send(c, 200, JSON.stringify(await options.score(body, requestId)), requestId);
    },
  );
  app.all(SCORING_ROUTES.score.path, (c) => fail(c, new ApiError('method_not_allowed', 'use POST')));
  mountRoute(
    app,
    SCORING_ROUTES.scoreBatch,
    { before: [traced, authenticated], bodyLimit: limit * BATCH_BODY_FACTOR },
    async (c, { body }) => {
      const requestId = c.get('requestId');
      return send(c, 200, JSON.stringify(await options.scoreBatch(body.applicants, requestId)), requestId);
    },
  );
  app.all(SCORING_ROUTES.scoreBatch.path, (c) => fail(c, new ApiError('method_not_allowed', 'use POST')));
  mountRoute(app, SCORING_ROUTES.openapi, { bodyLimit: 0 }, (c) => send(c, 200, openapi));
  const handler = nodeListener(app);

  const server: Server = options.tls
    ? (createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) as unknown as Server)
    : createServer(handler);
  server.keepAliveTimeout = 65_000;
  const i = options.listen.lastIndexOf(':');
  const host = options.listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(options.listen.slice(i + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new FedscoreError('io', `cannot listen on ${options.listen} (${(e as NodeJS.ErrnoException).code})`, {
          field: 'scoring.api.listen',
          cause: e,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    stats: () => Object.fromEntries(counts),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
