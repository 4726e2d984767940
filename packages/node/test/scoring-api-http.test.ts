/**
 * The scoring API's HTTP layer on its own (`startScoringApi` with a stub scorer that echoes what it was
 * given): HTTPS with `tls`, the bearer-token check before anything else, the typed error body of every
 * refusal class, and a scorer that throws an unexpected error answered as 500 with the request id while
 * the server keeps serving. POST /v1/score/batch: its schema errors name the field under
 * `applicants[i]`, an empty or over-long batch is 400 naming `applicants`, its body limit is 16 x
 * `maxBodyBytes` (a batch over the single request's limit is taken), GET is 405, and the scorer's
 * answer is passed through.
 */
import { request } from 'node:https';
import {
  ApiTokens,
  AuditLog,
  createApiToken,
  createDevCa,
  issuePartyCert,
  NodeStore,
  SCORE_BATCH_MAX_APPLICANTS,
  type ScoreResponseBody,
  ScoringRefusal,
  startScoringApi,
} from '@fedscore/node';
import { describe, expect, it } from 'vitest';

const APPLICANT = '91350100M000100Y43';

function httpsPost(
  port: number,
  ca: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/score', method: 'POST', ca, servername: 'localhost', headers },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function httpsCall(
  port: number,
  ca: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, ca, servername: 'localhost', headers },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('scoring API over HTTPS', () => {
  it('authenticates, validates and maps errors; the server survives a failing scorer', async () => {
    const ca = createDevCa();
    const server = issuePartyCert({ ca, party: 'bank' });
    const { token, entry } = createApiToken('engine');
    const store = NodeStore.inMemory();
    const audit = new AuditLog(store);
    let calls = 0;
    const batches: number[] = [];
    const api = await startScoringApi({
      listen: '127.0.0.1:0',
      tokens: new ApiTokens([entry]),
      audit,
      party: 'bank',
      tls: server,
      score: async (body, requestId): Promise<ScoreResponseBody> => {
        calls++;
        if (body.features.boom === 1) throw new Error('a bug');
        if (body.features.refuse === 1) throw new ScoringRefusal('rate_limited', 'slow down');
        return {
          requestId,
          applicant: body.applicant,
          model: { ref: 'm@1', name: 'm', version: 1, modelId: 'run' },
          mode: 'exact',
          score: 600,
          probabilityOfDefault: 0.02,
          band: null,
          decision: null,
          reasons: [],
        };
      },
      scoreBatch: async (applicants, requestId) => {
        batches.push(applicants.length);
        return {
          requestId,
          results: applicants.map((_, index) => ({
            index,
            status: 404,
            error: { code: 'no_record' as const, message: 'none', requestId: `${requestId}:${index}` },
          })),
        };
      },
    });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    try {
      const ok = await httpsPost(
        api.port,
        ca.cert,
        JSON.stringify({ applicant: APPLICANT, features: { x: 1 } }),
        headers,
      );
      expect(ok.status).toBe(200);
      expect(ok.json.applicant).toBe(APPLICANT);

      const noToken = await httpsPost(api.port, ca.cert, '{}', { 'content-type': 'application/json' });
      expect([noToken.status, (noToken.json.error as { code: string }).code]).toEqual([
        401,
        'unauthenticated',
      ]);

      const bug = await httpsPost(
        api.port,
        ca.cert,
        JSON.stringify({ applicant: APPLICANT, features: { boom: 1 } }),
        headers,
      );
      expect([bug.status, (bug.json.error as { code: string }).code]).toEqual([500, 'internal']);
      expect((bug.json.error as { requestId: string }).requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.stringify(bug.json)).not.toContain('a bug');

      const limited = await httpsPost(
        api.port,
        ca.cert,
        JSON.stringify({ applicant: APPLICANT, features: { refuse: 1 } }),
        headers,
      );
      expect([limited.status, (limited.json.error as { code: string }).code]).toEqual([429, 'rate_limited']);

      const again = await httpsPost(
        api.port,
        ca.cert,
        JSON.stringify({ applicant: APPLICANT, features: { x: 2 } }),
        headers,
      );
      expect(again.status).toBe(200);
      // The unauthenticated call never reached the scorer.
      expect(calls).toBe(4);
      expect(api.stats()).toMatchObject({ '200': 2, '401': 1, '500': 1, '429': 1 });

      // Routes: an unknown path, a wrong method, HEAD of the document (the Hono app's 404/405/HEAD).
      const missing = await httpsCall(api.port, ca.cert, 'GET', '/v1/nothing');
      expect([missing.status, JSON.parse(missing.text).error]).toEqual([
        404,
        { code: 'not_found', message: 'no route /v1/nothing' },
      ]);
      const wrong = await httpsCall(api.port, ca.cert, 'GET', '/v1/score', headers);
      expect([wrong.status, wrong.headers['allow'], JSON.parse(wrong.text).error.code]).toEqual([
        405,
        'POST',
        'method_not_allowed',
      ]);
      const head = await httpsCall(api.port, ca.cert, 'HEAD', '/v1/openapi.json');
      expect([head.status, head.text, head.headers['content-type']]).toEqual([
        200,
        '',
        'application/json; charset=utf-8',
      ]);
      // A body over the limit, declared or streamed without a length (chunked): 413, no scorer call.
      const big = JSON.stringify({ applicant: APPLICANT, features: { x: 1 }, pad: 'x'.repeat(70_000) });
      const declared = await httpsPost(api.port, ca.cert, big, headers);
      expect([declared.status, (declared.json.error as { code: string }).code]).toEqual([
        413,
        'payload_too_large',
      ]);
      const chunked = await httpsCall(
        api.port,
        ca.cert,
        'POST',
        '/v1/score',
        { ...headers, 'transfer-encoding': 'chunked' },
        big,
      );
      expect([chunked.status, JSON.parse(chunked.text).error.code]).toEqual([413, 'payload_too_large']);
      const broken = await httpsPost(api.port, ca.cert, '{"applicant":', headers);
      expect([broken.status, broken.json.error]).toMatchObject([
        400,
        { code: 'invalid_request', field: 'body' },
      ]);
      const unknown = await httpsPost(
        api.port,
        ca.cert,
        JSON.stringify({ applicant: APPLICANT, features: { x: 1 }, colour: 'red' }),
        headers,
      );
      expect([unknown.status, unknown.json.error]).toMatchObject([
        400,
        { code: 'invalid_request', field: 'colour' },
      ]);
      expect(calls).toBe(4);
      expect(api.stats()).toMatchObject({ '200': 3, '404': 1, '405': 1, '413': 2, '400': 2 });

      // The batch route: the schema's errors name the applicant's field; no scorer call for them.
      const one = { applicant: APPLICANT, features: { x: 1 } };
      const batch = (body: unknown, h: Record<string, string> = headers) =>
        httpsCall(api.port, ca.cert, 'POST', '/v1/score/batch', h, JSON.stringify(body));
      const badUscc = await batch({ applicants: [one, { ...one, applicant: '91350100M000100Y44' }] });
      expect([badUscc.status, JSON.parse(badUscc.text).error]).toMatchObject([
        400,
        { code: 'invalid_request', field: 'applicants[1].applicant' },
      ]);
      const nonFinite = await batch({ applicants: [one, one, { ...one, features: { x: 'a' } }] });
      expect(JSON.parse(nonFinite.text).error).toMatchObject({ field: 'applicants[2].features.x' });
      const extra = await batch({ applicants: [{ ...one, colour: 'red' }] });
      expect(JSON.parse(extra.text).error).toMatchObject({ field: 'applicants[0].colour' });
      for (const n of [0, SCORE_BATCH_MAX_APPLICANTS + 1]) {
        const r = await batch({ applicants: Array.from({ length: n }, () => one) });
        expect([r.status, JSON.parse(r.text).error]).toMatchObject([
          400,
          { code: 'invalid_request', field: 'applicants' },
        ]);
      }
      expect((await batch({ applicants: [one] }, { 'content-type': 'application/json' })).status).toBe(401);
      expect((await httpsCall(api.port, ca.cert, 'GET', '/v1/score/batch', headers)).status).toBe(405);
      expect(batches).toEqual([]);
      // 200 applicants of two 250-character feature names (~105 KB: over the single request's 64 KiB,
      // under the batch's 16 x) are taken.
      const features = { ['a'.repeat(250)]: 1, ['b'.repeat(250)]: 2 };
      const many = Array.from({ length: 200 }, () => ({ applicant: APPLICANT, features }));
      expect(JSON.stringify({ applicants: many }).length).toBeGreaterThan(65_536);
      const taken = await batch({ applicants: many });
      expect(taken.status, taken.text).toBe(200);
      const answer = JSON.parse(taken.text) as {
        requestId: string;
        results: { index: number; status: number }[];
      };
      expect(answer.results).toHaveLength(200);
      expect(answer.results[199]).toMatchObject({ index: 199, status: 404 });
      expect(batches).toEqual([200]);
      expect(taken.headers['x-request-id']).toBe(answer.requestId);
    } finally {
      await api.close();
      store.close();
    }
  });
});
