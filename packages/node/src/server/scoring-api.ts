/**
 * The scoring API over HTTP/JSON for the bank's risk engine (config `scoring.api`; docs/scoring-api.md):
 *   POST /v1/score          bearer token -> ScoreRequest -> ScoreResponse (schemas: scoring/api-schema.ts)
 *   GET  /v1/openapi.json   the OpenAPI 3.1 document (no token: it holds no data)
 * Plain `node:http` (or `node:https` with `scoring.api.tls`): two routes do not need a framework, and the
 * zod schemas already validate and document the bodies.
 *
 * Checks in order, each answered with a typed error body `{ error: { code, message, field?, requestId } }`:
 * route (404/405), token (401, audited as a `security_event`), media type (415), size (413), JSON and
 * schema (400 naming the field), then the model's feature list (400 naming the field) and the government's
 * answer (403 consent_missing or policy_refused, 404 no_record, 429 quota_exceeded / rate_limited with
 * `retry-after`, 503 upstream_unavailable or overloaded). Any other failure is a 500 with the request id; the process stays up. Logs hold the
 * request id, outcome and timing, never the applicant, features or score.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { FedscoreError, isFedscoreError, type Logger, noopLogger } from '@fedscore/core';
import type { AuditLog } from '../audit/index.ts';
import {
  SCORING_API_ERRORS,
  type ScoreRequestBody,
  type ScoreResponseBody,
  type ScoringApiErrorCode,
  scoreRequestSchema,
  scoringOpenApiDocument,
} from '../scoring/api-schema.ts';
import { ScoringRefusal } from '../scoring/bank.ts';
import type { ApiTokens } from '../scoring/tokens.ts';

export interface ScoringApiOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  readonly tokens: ApiTokens;
  readonly score: (body: ScoreRequestBody, requestId: string) => Promise<ScoreResponseBody>;
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

class ApiError extends Error {
  readonly code: ScoringApiErrorCode;
  readonly field: string | undefined;
  constructor(code: ScoringApiErrorCode, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

const INPUT_ERRORS = new Set(['invalid_argument', 'out_of_range', 'missing_value', 'invalid_uscc']);

function fieldOfPath(path: readonly PropertyKey[]): string {
  return path
    .map((x) => (typeof x === 'number' ? `[${x}]` : `.${String(x)}`))
    .join('')
    .replace(/^\./, '');
}

function parseBody(text: string): ScoreRequestBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError('invalid_request', 'the body is not valid JSON', 'body');
  }
  const r = scoreRequestSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const base = fieldOfPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    throw new ApiError('invalid_request', `unknown field '${key}'`, base === '' ? key : `${base}.${key}`);
  }
  throw new ApiError('invalid_request', issue.message, base === '' ? 'body' : base);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new ApiError('payload_too_large', `the body is over ${limit} bytes`));
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
        reject(new ApiError('payload_too_large', `the body is over ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

export async function startScoringApi(options: ScoringApiOptions): Promise<ScoringApi> {
  const logger = (options.logger ?? noopLogger).child({ component: 'scoring-api' });
  const limit = options.maxBodyBytes ?? 65_536;
  const openapi = JSON.stringify(scoringOpenApiDocument());
  const counts = new Map<string, number>();

  const send = (res: ServerResponse, status: number, body: string, requestId?: string): void => {
    counts.set(String(status), (counts.get(String(status)) ?? 0) + 1);
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    };
    if (requestId !== undefined) headers['x-request-id'] = requestId;
    if (status === 401) headers['www-authenticate'] = 'Bearer realm="fedscore"';
    if (status === 405) headers.allow = 'POST';
    res.writeHead(status, headers).end(body);
  };
  const fail = (res: ServerResponse, e: ApiError, requestId?: string): void => {
    send(
      res,
      SCORING_API_ERRORS[e.code],
      JSON.stringify({
        error: {
          code: e.code,
          message: e.message,
          ...(e.field !== undefined && { field: e.field }),
          ...(requestId !== undefined && { requestId }),
        },
      }),
      requestId,
    );
  };

  const handleScore = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const t0 = performance.now();
    let outcome: string = 'scored';
    try {
      const holder = options.tokens.authenticate(req.headers.authorization);
      if (holder === undefined) {
        req.resume();
        options.audit.append({
          kind: 'security_event',
          actor: 'unauthenticated',
          details: {
            rpc: 'http.score',
            code: 'unauthenticated',
            requestId,
            remoteAddress: req.socket.remoteAddress ?? 'unknown',
          },
        });
        throw new ApiError(
          'unauthenticated',
          req.headers.authorization === undefined ? 'send Authorization: Bearer <token>' : 'unknown token',
        );
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        req.resume();
        throw new ApiError('unsupported_media_type', 'send the body as application/json', 'content-type');
      }
      const body = parseBody(await readBody(req, limit));
      const out = await options.score(body, requestId);
      send(res, 200, JSON.stringify(out), requestId);
    } catch (e) {
      let err: ApiError;
      if (e instanceof ApiError) err = e;
      else if (e instanceof ScoringRefusal) err = new ApiError(e.code, e.message);
      else if (isFedscoreError(e) && INPUT_ERRORS.has(e.code)) {
        err = new ApiError('invalid_request', e.message, e.field ?? 'body');
      } else {
        logger.error('scoring request failed', {
          requestId,
          code: isFedscoreError(e) ? e.code : 'internal',
          error: e instanceof Error ? e.name : 'unknown',
        });
        err = new ApiError('internal', 'internal error; the request id locates it in the node log');
      }
      outcome = err.code;
      if (err.code === 'rate_limited' || err.code === 'quota_exceeded') {
        res.setHeader('retry-after', String(options.retryAfterSeconds ?? 3600));
      }
      fail(res, err, requestId);
    } finally {
      logger.debug('scoring request', { requestId, outcome, ms: Math.round(performance.now() - t0) });
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/score') {
      if (req.method !== 'POST') {
        req.resume();
        fail(res, new ApiError('method_not_allowed', 'use POST'));
        return;
      }
      handleScore(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    req.resume();
    if (path === '/v1/openapi.json' && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 200, openapi);
      return;
    }
    fail(res, new ApiError('not_found', `no route ${path}`));
  };

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
