/**
 * The node's JSON APIs on Hono (https://hono.dev), served through @hono/node-server's request listener
 * on the node's own `node:http`/`node:https` servers (so their TLS, listen and keep-alive settings stay
 * the node's). Both APIs (the scoring API, server/scoring-api.ts; the console's JSON API,
 * console/api.ts) declare each route once as an `ApiRoute`: method, path, zod schemas of its path
 * parameters, query and body, and its responses. The same declaration
 *   - registers the Hono route with a validating middleware (`mountRoute`): params, query, then the
 *     body (media type, size limit, JSON, schema), each refusal an `ApiError` naming the field;
 *   - becomes the route's entry in the one OpenAPI 3.1 document (`openApiDocument`, server/openapi.ts),
 *     generated with zod 4's `z.toJSONSchema`, so the document cannot drift from what is validated.
 *
 * Why not @hono/zod-openapi (1.6.3 supports zod 4): it generates the document with
 * @asteasolutions/zod-to-openapi and openapi3-ts (more packages, and a second JSON Schema generator next to
 * zod's own, whose output the committed document already is); the route table here is ~100 lines.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { z } from 'zod';

/** A refusal of an API request: a code of the API's error table, a message, the field that was wrong. */
export class ApiError extends Error {
  readonly code: string;
  readonly field: string | undefined;
  constructor(code: string, message: string, field?: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = field;
  }
}

export interface ApiResponse {
  readonly description: string;
  /** A schema registered in the document's components (server/openapi.ts), or none. */
  readonly schema?: z.ZodType;
  /** Without a schema: the media type of the answer (an HTML page: `text/html`), a string. */
  readonly mediaType?: string;
  readonly headers?: Readonly<Record<string, { readonly description?: string; readonly schema: object }>>;
}

/** One route: what Hono validates and what the OpenAPI document says about it. */
export interface ApiRoute {
  readonly method: 'get' | 'post';
  /** OpenAPI path template (`/console/api/jobs/{id}`); Hono's `:id` is derived from it. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** OpenAPI security requirements; `[]` for a public route. */
  readonly security: readonly Readonly<Record<string, readonly string[]>>[];
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  /** A JSON body (`application/json`), registered in the document's components. */
  readonly body?: z.ZodType;
  /**
   * An HTML form's fields (`application/x-www-form-urlencoded`), instead of a JSON body: each field a
   * string, or an array of strings when the field is repeated (a schema of strings refuses that).
   */
  readonly form?: z.ZodObject;
  readonly responses: Readonly<Record<string, ApiResponse>>;
}

/** Keeps the schemas' own types (for the handler's input). */
export function defineRoute<const R extends ApiRoute>(route: R): R {
  return route;
}

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

/** The validated parts of a request, typed by its route's schemas. */
export interface RouteInput<R extends ApiRoute> {
  readonly params: Out<R['params']>;
  readonly query: Out<R['query']>;
  readonly body: Out<R['body']>;
  readonly form: Out<R['form']>;
  /** The body as parsed JSON, before the schema's transforms and defaults. */
  readonly json: unknown;
}

export type ApiEnv<V extends object = object> = { Bindings: HttpBindings; Variables: V };

/** A zod path as a field name: `features.revenue`, `hosts[0]`. */
export function fieldOfPath(path: readonly PropertyKey[]): string {
  return path
    .map((x) => (typeof x === 'number' ? `[${x}]` : `.${String(x)}`))
    .join('')
    .replace(/^\./, '');
}

/** The first issue of a failed parse as an `invalid_request` naming its field (`fallback`: none). */
export function issueError(error: z.ZodError, fallback: string): ApiError {
  const issue = error.issues[0]!;
  const base = fieldOfPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return new ApiError('invalid_request', `unknown field '${key}'`, base === '' ? key : `${base}.${key}`);
  }
  return new ApiError('invalid_request', issue.message, base === '' ? fallback : base);
}

/**
 * The body's bytes: at most `limit` bytes, by its declared length and as it streams (413). The media type
 * is the caller's to check.
 */
export async function readBodyBytes(c: Context, limit: number): Promise<Buffer> {
  const tooLarge = () => new ApiError('payload_too_large', `the body is over ${limit} bytes`);
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  const chunks =
    incoming === undefined ? await readWebStream(c.req.raw.body, limit) : await readIncoming(incoming, limit);
  if (chunks === undefined) throw tooLarge();
  return Buffer.concat(chunks);
}

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * The body as JSON: `application/json` (415), at most `limit` bytes (413), valid JSON (400, field
 * `body`).
 */
export async function readJsonBody(c: Context, limit: number): Promise<unknown> {
  if (mediaType(c) !== 'application/json') {
    throw new ApiError('unsupported_media_type', 'send the body as application/json', 'content-type');
  }
  const bytes = await readBodyBytes(c, limit);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ApiError('invalid_request', 'the body is not valid JSON', 'body');
  }
}

/** An HTML form's fields: one string each, an array for a field sent more than once. */
export type FormFields = Readonly<Record<string, string | readonly string[]>>;

const FORMS = new WeakMap<Request, Promise<FormFields>>();

/**
 * The body as an HTML form: `application/x-www-form-urlencoded` (415), at most `limit` bytes (413).
 * Read once per request (a CSRF check reads it before the route's validation does).
 */
export function readFormBody(c: Context, limit: number): Promise<FormFields> {
  const known = FORMS.get(c.req.raw);
  if (known !== undefined) return known;
  const read = (async (): Promise<FormFields> => {
    if (mediaType(c) !== 'application/x-www-form-urlencoded') {
      throw new ApiError(
        'unsupported_media_type',
        'send the form as application/x-www-form-urlencoded',
        'content-type',
      );
    }
    const fields: Record<string, string | string[]> = Object.create(null);
    for (const [k, v] of new URLSearchParams((await readBodyBytes(c, limit)).toString('utf8'))) {
      const had = fields[k];
      fields[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
    return fields;
  })();
  FORMS.set(c.req.raw, read);
  return read;
}

/**
 * The body straight from the node request (the listener's bindings): no web-stream wrapping of the
 * socket on the scoring API's hot path. Undefined when it is over `limit` (the rest is drained by the
 * server after the answer, so the connection is not reset).
 */
function readIncoming(incoming: IncomingMessage, limit: number): Promise<Uint8Array[] | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        incoming.off('data', onData).off('end', onEnd).off('error', onError);
        incoming.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(chunks);
    const onError = (e: Error): void => reject(e);
    // A client that goes away mid-body: no answer can reach it, but the request must not wait forever.
    const onClose = (): void => {
      if (!incoming.complete) reject(new ApiError('invalid_request', 'the body ended early', 'body'));
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onError).once('close', onClose);
  });
}

/** The same from a web stream (a request that did not come through the node listener). */
async function readWebStream(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array[] | undefined> {
  const chunks: Uint8Array[] = [];
  if (stream === null) return chunks;
  const reader = stream.getReader();
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    size += value.byteLength;
    if (size > limit) {
      reader.releaseLock();
      return undefined;
    }
    chunks.push(value);
  }
}

/** Hono's path (`/jobs/:id`) of an OpenAPI template (`/jobs/{id}`). */
export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/**
 * Register `route` on `app`: `before` (e.g. authentication) runs first, then the validation of the
 * route's params, query and body, then `handler` with the validated input.
 */
export function mountRoute<E extends ApiEnv, const R extends ApiRoute>(
  app: Hono<E>,
  route: R,
  options: {
    readonly before?: readonly MiddlewareHandler<E>[];
    readonly bodyLimit: number;
  },
  handler: (c: Context<E>, input: RouteInput<R>) => Response | Promise<Response>,
): void {
  const run = async (c: Context<E>): Promise<Response> => {
    let params: unknown;
    let query: unknown;
    let body: unknown;
    let json: unknown;
    let form: unknown;
    if (route.params !== undefined) {
      const r = route.params.safeParse(c.req.param());
      if (!r.success) throw issueError(r.error, 'path');
      params = r.data;
    }
    if (route.query !== undefined) {
      const r = route.query.safeParse(c.req.query());
      if (!r.success) throw issueError(r.error, 'query');
      query = r.data;
    }
    if (route.body !== undefined) {
      json = await readJsonBody(c, options.bodyLimit);
      const r = route.body.safeParse(json);
      if (!r.success) throw issueError(r.error, 'body');
      body = r.data;
    }
    if (route.form !== undefined) {
      const r = route.form.safeParse(await readFormBody(c, options.bodyLimit));
      if (!r.success) throw issueError(r.error, 'body');
      form = r.data;
    }
    return handler(c, { params, query, body, json, form } as RouteInput<R>);
  };
  // Hono's typed overloads take a fixed number of handlers; the chain here is built at run time.
  const on = app.on.bind(app) as unknown as (m: string, p: string, ...h: MiddlewareHandler<E>[]) => unknown;
  on(route.method.toUpperCase(), honoPath(route.path), ...(options.before ?? []), run);
}

/**
 * A `node:http` request listener for `app` (@hono/node-server). It leaves the global `Request` and
 * `Response` alone (`overrideGlobalObjects: false`: the node's OIDC client uses the global fetch).
 * `onRequestError` answers a request the adapter cannot make a `Request` of (a bad `Host`, a backslash
 * in the path) or a failure outside the app's own error handler; without it the adapter's bare 400/500.
 */
export function nodeListener<E extends ApiEnv>(
  app: Hono<E>,
  onRequestError?: (e: unknown) => Response,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return getRequestListener(app.fetch, {
    overrideGlobalObjects: false,
    ...(onRequestError !== undefined && { errorHandler: onRequestError }),
  });
}
