/**
 * The bank node's scoring API end to end: a bank node and a government node on loopback (the shared
 * set-up of scoring-api-fixture.ts: NodeCluster, gRPC + mutual TLS between them, generated
 * certificates), a hetero-LR model trained on the generated population
 * (scheme 'none', in process) and registered on both nodes, then POST /v1/score over HTTP:
 *   - the score equals an independent plaintext computation of the same model from the raw CSV rows
 *     (each party's sum of w_j (x_j - mean_j) / scale_j, missing -> 0, plus the intercept, mapped to
 *     points) within 0.01 points: CKKS at scale 2^30 plus the government's flooding noise (sd 2^-20 on
 *     the logit) give |error| < 1e-4 logits = 3e-3 points; band and line equal `decideCredit` on the
 *     reference score; the reason codes add up to the score;
 *   - bad requests are 400 naming the field (USCC checksum, missing / extra / non-finite feature, unknown
 *     key, not JSON), 415, 404, 405; no or a wrong token is 401 and a bank `security_event`;
 *   - the government's refusals map to 403 consent_missing, 429 quota_exceeded / rate_limited (its real
 *     `ScoringQuota`, counters primed in its store; `retry-after` set), 404 no_record; every call that
 *     reaches the government is one audit entry on each node with the same request id and applicant
 *     fingerprint (and `reconcileAuditLogs` agrees), holding no score or feature; a quota or rate refusal
 *     is the government's `security_event` (scoring-policy/) carrying the request id;
 *   - a default government (band mode only) refuses the bank's exact mode with 403 policy_refused, and a
 *     bank in its default (band) mode scores against it;
 *   - with the government node stopped the API answers 503 and the bank process keeps serving;
 *   - POST /v1/score/batch (the route tree models share): each applicant's score equals the plaintext
 *     reference (0.01 points), a refused one (no consent, no record) answered in its slot with the single
 *     route's status, each audited on both nodes under `<requestId>:<i>`; a bad applicant refuses the
 *     whole batch with 400 naming `applicants[i].<field>` before the government is asked.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateUniqueUsccs, normalizeUscc, seededRng, type Table } from '@fedscore/core';
import {
  DEFAULT_SCORING_POLICY,
  enterpriseSetFingerprint,
  openApiDocument,
  type PartyNode,
  partyFeatures,
  reconcileAuditLogs,
  ScoringQuota,
  scoreBatchResponseSchema,
  scoreResponseSchema,
} from '@fedscore/node';
import { decideCredit, parseCreditRules } from '@fedscore/scoring';
import {
  type JointModelDescriptor,
  type PartyModel,
  serializeJointModel,
  serializePartyModel,
  trainHeteroLr,
} from '@fedscore/vfl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GovernmentPolicy, type Party, ScoringPair } from './scoring-api-fixture.ts';

const FACTOR = 20 / Math.LN2;
const OFFSET = 600 - FACTOR * Math.log(50);
/** Points: see the file comment. */
const TOLERANCE_POINTS = 0.01;

const RULES = `format: fedscore.credit-rules
version: 1
figures: { revenue: account_turnover_12m }
leverage: { maxRatio: 0.6, base: account_turnover_12m, debt: existing_loans_balance }
rounding: 10000
baseRateBp: 435
bands:
  - { name: A, minScore: 600, revenueMultiple: 0.3, maxLine: 5000000, rateDiscountBp: 20 }
  - { name: B, minScore: 570, revenueMultiple: 0.2, maxLine: 2000000 }
  - { name: C, minScore: 540, revenueMultiple: 0.1, maxLine: 500000 }
  - { name: D, approve: false }
`;

const auditOf = (node: PartyNode, filter: Parameters<PartyNode['audit']['entries']>[0] = {}) => [
  ...node.audit.entries(filter),
];

/** Independent reference: a party's partial logit from its raw row (missing -> the training mean). */
function partialOf(model: PartyModel, row: ReadonlyMap<string, number>): number {
  let z = model.intercept;
  model.featureNames.forEach((name, j) => {
    const x = row.get(name);
    if (x === undefined) throw new Error(`no column ${name}`);
    if (Number.isNaN(x)) return;
    z += (model.weights[j]! * (x - model.standardization.mean[j]!)) / model.standardization.scale[j]!;
  });
  return z;
}

describe('scoring API on the bank node', () => {
  let pair: ScoringPair;
  let token: string;
  let bankTable: Table;
  let govTable: Table;
  let guest: PartyModel;
  let host: PartyModel;
  let descriptor: JointModelDescriptor;
  let aligned: readonly string[];
  let nodes: Record<Party, PartyNode>;
  const noConsent: string[] = [];
  let quotaRefused = '';
  let rateRefused = '';
  const unknownToGov = normalizeUscc(generateUniqueUsccs(seededRng('not-at-gov'), 1)[0]!);
  const rules = parseCreditRules(RULES);

  /**
   * The government's policy in most tests: exact mode allowed (the scores are compared with the
   * plaintext model), 10 requests per hour and 20 per 30 days per (bank, enterprise); a government
   * started with `policy: {}` has the default policy (band mode only, 1 per hour, 4 per 30 days).
   */
  const TEST_POLICY = {
    allowExactMode: true,
    maxThresholds: 4,
    quota: { requests: 20, windowSeconds: 30 * 86_400 },
    rate: { requests: 10, windowSeconds: 3600 },
  } satisfies GovernmentPolicy;

  const featuresOf = (id: string): Record<string, number | null> => pair.features(guest.featureNames, id);
  const post = (body: unknown, headers: Record<string, string> = {}) => pair.post(body, headers);
  const url = () => pair.url;

  beforeAll(async () => {
    pair = await ScoringPair.create({
      population: { enterprises: 400, bankCustomers: 260, seed: 21 },
      rules: RULES,
      policy: TEST_POLICY,
      api: {
        model: 'sme-credit-line@production',
        retryAfterSeconds: 60,
        sessions: 2,
        requestTimeoutMs: 3000,
        // A wide window so that the concurrent requests of the batching test share rounds.
        batch: { maxApplicants: 8, windowMs: 15 },
      },
    });
    nodes = pair.nodes;
    token = pair.token;
    bankTable = pair.bankTable;
    govTable = pair.govTable;
    const { bankRows } = pair;
    aligned = pair.aligned;
    const trained = await trainHeteroLr({
      guest: {
        id: 'bank',
        features: partyFeatures(
          bankTable,
          bankTable.columns.map((c) => c.name),
          bankRows,
        ),
        labels: Float64Array.from(bankRows, (i) => bankTable.label![i]!),
      },
      hosts: [
        {
          id: 'government',
          features: partyFeatures(
            govTable,
            govTable.columns.map((c) => c.name),
            pair.govRows,
          ),
        },
      ],
      mode: 'two-party',
      scheme: 'none',
      modelId: 'sme-run-1',
      hyperparams: { batchSize: 80, maxEpochs: 3, learningRate: 0.3, seed: 3 },
    });
    guest = trained.guest;
    host = trained.hosts[0]!;
    noConsent.push(aligned[1]!, aligned[2]!);
    quotaRefused = aligned[3]!;
    rateRefused = aligned[4]!;
    await pair.start('government');
    await pair.start('bank');
    descriptor = trained.descriptor;
    const joint = serializeJointModel(trained.descriptor);
    const own = nodes.bank.models.registerHeteroLr({
      name: 'sme-credit-line',
      jointModel: joint,
      partyModel: serializePartyModel(guest),
      metrics: {},
      dataFingerprints: {},
    });
    nodes.bank.models.promote(own.ref);
    nodes.government.models.registerHeteroLr({
      name: 'sme-credit-line-bank',
      jointModel: joint,
      partyModel: serializePartyModel(host),
      metrics: {},
      dataFingerprints: {},
    });
    pair.grantScoringConsents([...aligned, unknownToGov].filter((id) => !noConsent.includes(id)));
    // Consent for another purpose does not count.
    pair.grantScoringConsents([noConsent[0]!], 'monitoring');
    const now = Date.now();
    // The government's quota counters, primed through its store: quotaRefused used its 20 requests one
    // every 10 minutes until two hours ago (outside the rate window), rateRefused its 10 of this hour.
    let at = now - 7_200_000 - TEST_POLICY.quota.requests * 600_000;
    const earlier = new ScoringQuota(nodes.government.store, TEST_POLICY, { now: () => at });
    for (let i = 0; i < TEST_POLICY.quota.requests; i++, at += 600_000) {
      expect(earlier.admit('bank', quotaRefused)).toBe(undefined);
    }
    const current = new ScoringQuota(nodes.government.store, TEST_POLICY);
    for (let i = 0; i < TEST_POLICY.rate.requests; i++)
      expect(current.admit('bank', rateRefused)).toBe(undefined);
  }, 120_000);

  afterAll(async () => {
    // The bank first (it tells the government its sessions are over), as an operator would.
    await pair?.close();
  }, 30_000);

  it('scores applicants as the plaintext model does (0.01 points), with band, line and reasons', async () => {
    const picks = [aligned[0]!, ...aligned.slice(10, 16)];
    const seenBands = new Set<string>();
    for (const id of picks) {
      const features = featuresOf(id);
      const r = await post({ applicant: id.toLowerCase(), features });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const body = scoreResponseSchema.parse(r.json);
      const zBank = partialOf(guest, pair.row(bankTable, id));
      const zGov = partialOf(host, pair.row(govTable, id));
      const reference = OFFSET - FACTOR * (zBank + zGov);
      expect(body.applicant).toBe(id);
      expect(Math.abs(body.score! - reference)).toBeLessThan(TOLERANCE_POINTS);
      expect(body.probabilityOfDefault!).toBeCloseTo(1 / (1 + Math.exp(-(zBank + zGov))), 5);
      // Band and line from the same rules on the reference score (scores this close to a boundary
      // would be ambiguous; none of the picks is).
      const d = decideCredit(rules, reference, {
        account_turnover_12m: features.account_turnover_12m ?? null,
        existing_loans_balance: features.existing_loans_balance ?? null,
      });
      expect(body.band).toEqual({ name: d.band, index: d.bandIndex });
      expect(body.decision).toEqual({
        approved: d.approved,
        creditLine: d.line,
        currency: 'CNY',
        bindingCap: d.bindingCap,
        rateBp: d.rateBp,
      });
      seenBands.add(String(d.band));
      // Reasons: every bank feature, the base, the government as one opaque entry; they add up.
      expect(body.reasons.length).toBe(guest.featureNames.length + 2);
      const gov = body.reasons.filter((x) => x.source === 'government');
      expect(gov.length).toBe(1);
      expect(gov[0]!.feature).toBeNull();
      expect(Math.abs(gov[0]!.points - -FACTOR * zGov)).toBeLessThan(TOLERANCE_POINTS);
      const sum = body.reasons.reduce((a, x) => a + x.points, 0);
      expect(Math.abs(sum - body.score!)).toBeLessThan(1e-6);
      for (let k = 1; k < body.reasons.length; k++) {
        expect(body.reasons[k]!.points).toBeGreaterThanOrEqual(body.reasons[k - 1]!.points);
      }
      expect(body.model).toMatchObject({ name: 'sme-credit-line', version: 1, modelId: 'sme-run-1' });
      expect(r.headers.get('x-request-id')).toBe(body.requestId);
    }
    expect(seenBands.size).toBeGreaterThan(0);
  });

  it('concurrent requests share protocol rounds: each answered and audited on its own, a refusal among them too', async () => {
    const good = aligned.slice(21, 27);
    const ids = [...good.slice(0, 3), noConsent[0]!, ...good.slice(3)];
    const rs = await Promise.all(ids.map((id) => post({ applicant: id, features: featuresOf(id) })));
    rs.forEach((r, i) => {
      const id = ids[i]!;
      if (id === noConsent[0]) {
        expect([r.status, (r.json.error as { code: string }).code]).toEqual([403, 'consent_missing']);
        return;
      }
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const body = scoreResponseSchema.parse(r.json);
      const reference =
        OFFSET -
        FACTOR * (partialOf(guest, pair.row(bankTable, id)) + partialOf(host, pair.row(govTable, id)));
      expect(body.applicant).toBe(id);
      expect(Math.abs(body.score! - reference)).toBeLessThan(TOLERANCE_POINTS);
    });
    // one entry per request on each node, under its own request id: nothing counted twice or shared
    for (const r of rs) {
      const requestId = r.headers.get('x-request-id')!;
      const ok = r.status === 200;
      const kind = ok ? 'data_use' : 'access_refused';
      expect(auditOf(nodes.bank, { job: requestId }).map((x) => x.kind)).toEqual([kind]);
      expect(auditOf(nodes.government, { job: requestId }).map((x) => x.kind)).toEqual([kind]);
    }
  });

  it('POST /v1/score/batch: the same answers as single requests, each applicant audited on its own', async () => {
    // Applicants no other test scores (the band test's default government allows one request an hour).
    const good = [17, 18, 19, 27, 28, 29].map((k) => aligned[k]!);
    const ids = [...good.slice(0, 2), noConsent[0]!, ...good.slice(2), unknownToGov];
    const features = (id: string) => (id === unknownToGov ? featuresOf(aligned[0]!) : featuresOf(id));
    const postBatch = (applicants: unknown[]) => pair.postBatch(applicants);
    // A non-finite or missing feature of one applicant refuses the batch, naming it; no audit entry.
    const before = [...nodes.government.audit.entries({})].length;
    const { account_turnover_12m: _, ...missing } = features(ids[3]!);
    const bad = await postBatch(
      ids.map((id, i) => ({ applicant: id, features: i === 3 ? missing : features(id) })),
    );
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({
      code: 'invalid_request',
      field: 'applicants[3].features.account_turnover_12m',
    });
    expect([...nodes.government.audit.entries({})].length).toBe(before);

    const r = await postBatch(ids.map((id) => ({ applicant: id, features: features(id) })));
    expect(r.status).toBe(200);
    const body = scoreBatchResponseSchema.parse(r.json);
    expect(r.headers.get('x-request-id')).toBe(body.requestId);
    body.results.forEach((x, i) => {
      const id = ids[i]!;
      expect(x.index).toBe(i);
      const requestId = `${body.requestId}:${i}`;
      if (id === noConsent[0]) expect([x.status, x.error?.code]).toEqual([403, 'consent_missing']);
      else if (id === unknownToGov) expect([x.status, x.error?.code]).toEqual([404, 'no_record']);
      else {
        expect(x.status, JSON.stringify(x)).toBe(200);
        const reference =
          OFFSET -
          FACTOR * (partialOf(guest, pair.row(bankTable, id)) + partialOf(host, pair.row(govTable, id)));
        expect(x.score!.applicant).toBe(id);
        expect(x.score!.requestId).toBe(requestId);
        expect(Math.abs(x.score!.score! - reference)).toBeLessThan(TOLERANCE_POINTS);
      }
      const kind = x.status === 200 ? 'data_use' : 'access_refused';
      expect(auditOf(nodes.bank, { job: requestId }).map((e) => e.kind)).toEqual([kind]);
      expect(auditOf(nodes.government, { job: requestId }).map((e) => e.kind)).toEqual([kind]);
    });
  });

  it('audits each call on both nodes with the same request id and fingerprint, no score or feature', async () => {
    const id = aligned[20]!;
    const r = await post({ applicant: id, features: featuresOf(id) });
    expect(r.status).toBe(200);
    const requestId = r.json.requestId as string;
    const bankEntries = auditOf(nodes.bank, { job: requestId });
    const govEntries = auditOf(nodes.government, { job: requestId });
    expect(bankEntries.map((e) => [e.kind, e.actor, e.dataOwner, e.purpose])).toEqual([
      ['data_use', 'bank', 'government', 'scoring'],
    ]);
    expect(govEntries.map((e) => [e.kind, e.actor, e.dataOwner, e.purpose])).toEqual([
      ['data_use', 'bank', 'government', 'scoring'],
    ]);
    const fp = enterpriseSetFingerprint([id]);
    expect(bankEntries[0]!.enterpriseFingerprint).toBe(fp);
    expect(govEntries[0]!.enterpriseFingerprint).toBe(fp);
    expect(govEntries[0]!.consentRef).toBeTruthy();
    // No score, probability, feature value or the USCC itself in any audit row of either node.
    // Hashes, fingerprints, times and ids are hex or digits by construction: drop them, then no number
    // of the request or the answer may appear in what is left.
    const score = r.json.score as number;
    const entries = [...auditOf(nodes.bank), ...auditOf(nodes.government)];
    expect(JSON.stringify(entries)).not.toContain(id);
    const rest = JSON.stringify(
      entries.map(
        ({
          hash: _h,
          prevHash: _p,
          at: _a,
          seq: _s,
          enterpriseFingerprint: _f,
          consentRef: _c,
          job: _j,
          details,
        }) => {
          const { requestId: _r, session: _x, ...d } = details ?? {};
          return d;
        },
      ),
    );
    expect(rest).not.toContain(String(score).slice(0, 6));
    expect(rest).not.toContain(String(r.json.probabilityOfDefault).slice(2, 8));
    for (const v of Object.values(featuresOf(id))) {
      if (v !== null && Math.abs(v) > 1000) expect(rest).not.toContain(String(v));
    }
    // The government's reconciliation of the bank's claimed scoring uses agrees.
    const rec = reconcileAuditLogs(auditOf(nodes.government, { kind: 'data_use' }), auditOf(nodes.bank), {
      dataOwner: 'government',
      user: 'bank',
    });
    expect(rec.unclaimed).toEqual([]);
    expect(rec.unknownToOwner).toEqual([]);
    expect(rec.mismatched).toEqual([]);
    expect(rec.ok).toBe(true);
  });

  it("maps the government's refusals: 403 consent, 429 quota and rate, 404 no record; each audited on both", async () => {
    const cases: [string, number, string][] = [
      [noConsent[0]!, 403, 'consent_missing'],
      [noConsent[1]!, 403, 'consent_missing'],
      [quotaRefused, 429, 'quota_exceeded'],
      [rateRefused, 429, 'rate_limited'],
      [unknownToGov, 404, 'no_record'],
    ];
    for (const [id, status, code] of cases) {
      const features = aligned.includes(id) ? featuresOf(id) : featuresOf(aligned[0]!);
      const r = await post({ applicant: id, features });
      expect([r.status, (r.json.error as { code: string }).code]).toEqual([status, code]);
      const requestId = (r.json.error as { requestId: string }).requestId;
      expect(r.headers.get('x-request-id')).toBe(requestId);
      if (status === 429) expect(r.headers.get('retry-after')).toBe('60');
      const bank = auditOf(nodes.bank, { job: requestId });
      expect(bank.map((x) => [x.kind, x.details?.['outcome']])).toEqual([['access_refused', code]]);
      expect(bank[0]!.enterpriseFingerprint).toBe(enterpriseSetFingerprint([id]));
      if (status === 429) {
        // Refused by the policy before the lookup: the government's scoring-policy security event.
        const e = auditOf(nodes.government, { kind: 'security_event' }).filter(
          (x) => x.details?.['requestId'] === requestId,
        );
        expect(e.map((x) => [x.details?.['rpc'], x.details?.['code']])).toEqual([['scoring.online', code]]);
        expect(e[0]!.enterpriseFingerprint).toBe(enterpriseSetFingerprint([id]));
        expect(auditOf(nodes.government, { job: requestId })).toEqual([]);
      } else {
        const e = auditOf(nodes.government, { job: requestId });
        expect(e.map((x) => [x.kind, x.details?.['outcome']])).toEqual([['access_refused', code]]);
        expect(e[0]!.enterpriseFingerprint).toBe(enterpriseSetFingerprint([id]));
      }
    }
    // A refused request does not spoil its session: the next one scores.
    const ok = await post({ applicant: aligned[5]!, features: featuresOf(aligned[5]!) });
    expect(ok.status).toBe(200);
  });

  it('rejects bad requests with 400 naming the field, and wrong routes, methods and media types', async () => {
    const id = aligned[0]!;
    const features = featuresOf(id);
    const [first, ...rest] = guest.featureNames;
    const govEvents = auditOf(nodes.government, { kind: 'security_event' }).length;
    const without = Object.fromEntries(rest.map((n) => [n, features[n]]));
    const badCheck = `${id.slice(0, 17)}${id[17] === '0' ? '1' : '0'}`;
    const cases: [unknown, string][] = [
      [{ applicant: badCheck, features }, 'applicant'],
      [{ applicant: 'not-a-uscc', features }, 'applicant'],
      [{ features }, 'applicant'],
      [{ applicant: id }, 'features'],
      [{ applicant: id, features: without }, `features.${first}`],
      [{ applicant: id, features: { ...features, bogus_feature: 1 } }, 'features.bogus_feature'],
      [{ applicant: id, features: { ...features, [first!]: 'high' } }, `features.${first}`],
      [{ applicant: id, features, extra: true }, 'extra'],
      [{ applicant: id, features, figures: { not_a_figure: 1 } }, 'figures.not_a_figure'],
      ['{"applicant": ', 'body'],
      ['[1, 2]', 'body'],
    ];
    for (const [body, field] of cases) {
      const r = await post(body);
      expect([r.status, r.json.error]).toMatchObject([400, { code: 'invalid_request', field }]);
    }
    // JSON overflow: 1e400 parses as Infinity.
    const raw = JSON.stringify({ applicant: id, features }).replace(
      `"${first}":${JSON.stringify(features[first!])}`,
      `"${first}":1e400`,
    );
    const inf = await post(raw);
    expect([inf.status, inf.json.error]).toMatchObject([
      400,
      { code: 'invalid_request', field: `features.${first}` },
    ]);

    const text = await post(JSON.stringify({ applicant: id, features }), { 'content-type': 'text/plain' });
    expect([text.status, (text.json.error as { code: string }).code]).toEqual([
      415,
      'unsupported_media_type',
    ]);
    const big = await post(JSON.stringify({ applicant: id, features, pad: 'x'.repeat(70_000) }));
    expect([big.status, (big.json.error as { code: string }).code]).toEqual([413, 'payload_too_large']);
    const get = await fetch(`${url()}/v1/score`, { headers: { authorization: `Bearer ${token}` } });
    expect(get.status).toBe(405);
    const nowhere = await fetch(`${url()}/v2/score`, { method: 'POST' });
    expect(nowhere.status).toBe(404);
    // None of these reached the government.
    expect(auditOf(nodes.government, { kind: 'security_event' }).length).toBe(govEvents);
  });

  it('refuses calls without a valid token with 401, audited on the bank', async () => {
    const id = aligned[0]!;
    const body = JSON.stringify({ applicant: id, features: featuresOf(id) });
    const before = auditOf(nodes.bank, { kind: 'security_event' }).length;
    for (const authorization of [
      undefined,
      'Bearer fsk_wrong',
      `Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
      `Basic ${token}`,
    ]) {
      const res = await fetch(`${url()}/v1/score`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization !== undefined && { authorization }),
        },
        body,
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    }
    const after = auditOf(nodes.bank, { kind: 'security_event' });
    expect(after.length - before).toBe(4);
    expect(after.at(-1)!.details).toMatchObject({ rpc: 'http.score', code: 'unauthenticated' });
    expect(JSON.stringify(after)).not.toContain(token);
  });

  it('serves the OpenAPI document generated from the schemas, identical to the committed one', async () => {
    const res = await fetch(`${url()}/v1/openapi.json`);
    expect(res.status).toBe(200);
    const served = await res.json();
    expect(served).toEqual(openApiDocument());
    const here = dirname(fileURLToPath(import.meta.url));
    const committed = JSON.parse(readFileSync(join(here, '../../../docs/api/openapi.json'), 'utf8'));
    // Stale? Regenerate: npx -y pnpm@12.4.2 --filter @fedscore/node openapi
    expect(committed).toEqual(served);
  });

  it('answers 503 at once when the government does not serve the model; promoting back restores scoring', async () => {
    // A bank-only model version (the government holds no part of 'sme-run-other').
    const other = nodes.bank.models.registerHeteroLr({
      name: 'sme-credit-line',
      jointModel: serializeJointModel({ ...descriptor, modelId: 'sme-run-other' }),
      partyModel: serializePartyModel({ ...guest, modelId: 'sme-run-other' }),
      metrics: {},
      dataFingerprints: {},
    });
    nodes.bank.models.promote(other.ref);
    const id = aligned[7]!;
    const t0 = Date.now();
    const r = await post({ applicant: id, features: featuresOf(id) });
    expect([r.status, (r.json.error as { code: string }).code]).toEqual([503, 'upstream_unavailable']);
    expect((r.json.error as { message: string }).message).toContain('sme-run-other');
    expect(Date.now() - t0).toBeLessThan(3000); // well before requestTimeoutMs
    const requestId = (r.json.error as { requestId: string }).requestId;
    for (const node of [nodes.bank, nodes.government]) {
      expect(auditOf(node, { job: requestId }).map((e) => e.kind)).toEqual(['access_refused']);
    }
    expect(auditOf(nodes.government, { kind: 'security_event' }).at(-1)?.details).toMatchObject({
      rpc: 'score.hello',
      modelId: 'sme-run-other',
    });
    nodes.bank.models.promote('sme-credit-line@1');
    expect((await post({ applicant: id, features: featuresOf(id) })).status).toBe(200);
  });

  it('answers 503 while the government node is down, and stays up', async () => {
    await pair.stop('government');
    const id = aligned[6]!;
    const r = await post({ applicant: id, features: featuresOf(id) });
    expect([r.status, (r.json.error as { code: string }).code]).toEqual([503, 'upstream_unavailable']);
    expect(
      auditOf(nodes.bank, { job: r.json.error ? (r.json.error as { requestId: string }).requestId : '' })[0]
        ?.details?.['outcome'],
    ).toBe('upstream_unavailable');
    const doc = await fetch(`${url()}/v1/openapi.json`);
    expect(doc.status).toBe(200);
    // The government comes back on the same state: the bank reopens sessions and scores again.
    await pair.start('government');
    let last = 0;
    for (let attempt = 0; attempt < 6 && last !== 200; attempt++) {
      last = (await post({ applicant: id, features: featuresOf(id) })).status;
    }
    expect(last).toBe(200);
  }, 60_000);

  it('a default government refuses exact mode: 403 policy_refused, audited on both nodes', async () => {
    await pair.start('government', { policy: {} });
    // The bank still asks for exact scores: refused for the session, before any applicant is counted.
    const id = aligned[8]!;
    let r = await post({ applicant: id, features: featuresOf(id) });
    for (let attempt = 0; attempt < 6 && r.status === 503; attempt++) {
      r = await post({ applicant: id, features: featuresOf(id) });
    }
    expect([r.status, (r.json.error as { code: string }).code]).toEqual([403, 'policy_refused']);
    const requestId = (r.json.error as { requestId: string }).requestId;
    expect(auditOf(nodes.bank, { job: requestId })[0]?.details?.['outcome']).toBe('policy_refused');
    expect(
      auditOf(nodes.government, { kind: 'security_event' }).filter(
        (x) => x.details?.['requestId'] === requestId,
      )[0]?.details?.['code'],
    ).toBe('policy_refused');
    expect(DEFAULT_SCORING_POLICY.allowExactMode).toBe(false);
  }, 60_000);

  it('band mode (the default): the bank learns the band (and line) only, the same band as the plaintext score', async () => {
    await pair.start('bank', { mode: 'default' });
    let checked = 0;
    const bands = new Set<string>();
    // Applicants not scored before (the default government allows 1 request per hour each), up to 8 per
    // band of the plaintext score, so that every band the population reaches is exercised.
    const referenceOf = (id: string): number =>
      OFFSET - FACTOR * (partialOf(guest, pair.row(bankTable, id)) + partialOf(host, pair.row(govTable, id)));
    const perBand = new Map<string, string[]>();
    for (const id of aligned.slice(30)) {
      const b = String(decideCredit(rules, referenceOf(id), {}).band);
      const list = perBand.get(b) ?? [];
      if (list.length < 8) list.push(id);
      perBand.set(b, list);
    }
    for (const id of [...perBand.values()].flat()) {
      const features = featuresOf(id);
      const reference = referenceOf(id);
      // Scores within 0.01 points of a band boundary could fall either way (CKKS noise): skip them.
      if (rules.bands.some((b) => b.minScore !== undefined && Math.abs(reference - b.minScore) < 0.01))
        continue;
      const r = await post({ applicant: id, features });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const body = scoreResponseSchema.parse(r.json);
      const d = decideCredit(rules, reference, {
        account_turnover_12m: features.account_turnover_12m ?? null,
        existing_loans_balance: features.existing_loans_balance ?? null,
      });
      expect(body.mode).toBe('band');
      expect(body.score).toBeNull();
      expect(body.probabilityOfDefault).toBeNull();
      expect(body.band).toEqual({ name: d.band, index: d.bandIndex });
      expect(body.decision?.creditLine).toBe(d.line);
      expect(body.reasons.some((x) => x.source === 'government')).toBe(false);
      bands.add(String(d.band));
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(9);
    // More than one band among the applicants, so the threshold mapping is exercised.
    expect(bands.size).toBeGreaterThan(1);
  }, 60_000);
});
