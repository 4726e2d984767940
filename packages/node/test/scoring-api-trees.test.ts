/**
 * The bank node's scoring API serving a SecureBoost model (protocol `scoring.tree`, session mode;
 * docs/scoring-api.md, docs/protocols/tree-scoring.md): a bank node and a government node on loopback
 * (`@fedscore/node/testing`'s NodeCluster: gRPC + mutual TLS, generated certificates), a SecureBoost
 * model trained in process by vfl (scheme `none`: the serving is under test, not the training) on the
 * generated population, each party's own file registered on its node (the bank's promoted), then
 * POST /v1/score and POST /v1/score/batch over HTTP:
 *   - each score equals the library's plain federated prediction (vfl `predictSecureBoost`, the walk
 *     `fedscore score trees --tree-flow plain` runs) within 6 flooding sd of the session
 *     (`treeFloodingStdDev(TREE_SESSION_ROUNDS)` in log-odds, times 20 / ln 2 in points); band and line
 *     equal `decideCredit` on the reference points; the reasons (one per bank feature, base, government)
 *     add up to the score, the bank's entries are its own splits' contributions (`treeGuestContributions`,
 *     tested against paper values in @fedscore/scoring) and the government entry is the reference score
 *     minus what the bank's splits alone give (within the flooding tolerance); concurrent requests
 *     (micro-batched into shared rounds) score the same;
 *   - the batch route: scored applicants equal the reference, a refused one (no consent, no record) is
 *     answered in its slot with the single route's status, each applicant audited on both nodes under
 *     `<requestId>:<i>`; a bad applicant refuses the whole batch with 400 naming `applicants[i].<field>`
 *     and the government is not asked anything;
 *   - bad requests are 400 naming the field (a missing and an unknown feature); the government's
 *     refusals are 403 consent_missing and 404 no_record, each one audit entry per node; a record the
 *     government holds with a value missing where training had none (its file edited after training)
 *     is 422 unusable_record, one `access_refused` entry with that outcome per node (no data_use),
 *     naming neither the feature nor the value;
 *   - warm start: a bank node restarted with the model registered opens its tree session at start (the
 *     government holds it before any request), and the first request uses it (no second session);
 *   - the `allowExactMode` gate: a government whose config does not set it (the default) refuses the tree
 *     session (403 policy_refused, a `score.tree` security_event on the government, no data_use);
 *   - band mode (scoring.tree v3) against that default government: each applicant's band and line equal
 *     `decideCredit` on the plain prediction's points (applicants within 6 sqrt(2) flooding sd of a band
 *     edge skipped), score and probability null, reasons the bank's own features and the base only;
 *   - capture: every byte the government received from the bank and the bank from the government while
 *     scoring (the transport's raw inbound bytes) is searched for every threshold of the government's
 *     splits, as float64 in both byte orders and as text: none is found (positive control: the
 *     government's model file holds them). The bank received only scoring.tree replies (no bitmap of
 *     the plain flow's `secureboost-predict` steps is ever sent).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { generateUniqueUsccs, normalizeUscc, seededRng, type Table } from '@fedscore/core';
import { type PartyNode, partyFeatures, scoreBatchResponseSchema, scoreResponseSchema } from '@fedscore/node';
import { waitUntil } from '@fedscore/node/testing';
import {
  decideCredit,
  parseCreditRules,
  TREE_SESSION_ROUNDS,
  treeFloodingStdDev,
  treeGuestContributions,
} from '@fedscore/scoring';
import {
  predictSecureBoost,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  serializeGuestModel,
  serializeHostModel,
  trainSecureBoost,
} from '@fedscore/vfl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAND_RULES, float64Patterns, type GovernmentPolicy, ScoringPair } from './scoring-api-fixture.ts';

const FACTOR = 20 / Math.LN2;
const OFFSET = 600 - FACTOR * Math.log(50);

describe('scoring API with a SecureBoost model', () => {
  const rules = parseCreditRules(BAND_RULES);
  /** The government's policy in most tests: exact mode allowed (the scores are compared). */
  const EXACT: GovernmentPolicy = {
    allowExactMode: true,
    quota: { requests: 50, windowSeconds: 86_400 },
    rate: { requests: 50, windowSeconds: 3600 },
  };
  let pair: ScoringPair;
  let bankTable: Table;
  let guest: SecureBoostGuestModel;
  let host: SecureBoostHostModel;
  let aligned: readonly string[];
  /** The plain federated prediction (log-odds) of each aligned enterprise. */
  const reference = new Map<string, number>();
  let nodes: Record<'bank' | 'government', PartyNode>;
  let capturing = false;
  const captured: Buffer[] = [];
  const noConsent: string[] = [];
  /** An aligned enterprise whose government record loses one value after training (set in beforeAll). */
  const unusable = { id: '', feature: '' };
  const unknownToGov = normalizeUscc(generateUniqueUsccs(seededRng('trees-not-at-gov'), 1)[0]!);
  const sd = treeFloodingStdDev(TREE_SESSION_ROUNDS);
  const TOLERANCE_LOGIT = 6 * sd + 1e-9;

  const auditOf = (node: PartyNode, requestId: string) =>
    [...node.audit.entries({})].filter((e) => e.details?.requestId === requestId);
  const featuresOf = (id: string) => pair.features(guest.features, id);
  const revenueOf = (id: string): number | null => {
    const x = pair.row(bankTable, id).get('account_turnover_12m')!;
    return Number.isNaN(x) ? null : x;
  };
  const post = (body: unknown) => pair.post(body);

  beforeAll(async () => {
    pair = await ScoringPair.create({
      population: { enterprises: 500, bankCustomers: 340, seed: 23 },
      rules: BAND_RULES,
      policy: EXACT,
      api: {
        model: 'sme-trees@production',
        sessions: 1,
        // Key generation and the 38 MB context on the first request of a session.
        requestTimeoutMs: 60_000,
        batch: { maxApplicants: 8, windowMs: 30 },
      },
    });
    nodes = pair.nodes;
    bankTable = pair.bankTable;
    const govTable = pair.govTable;
    const { bankRows } = pair;
    aligned = pair.aligned;
    unusable.id = aligned[40]!;
    const guestFeatures = partyFeatures(
      bankTable,
      bankTable.columns.map((c) => c.name),
      bankRows,
    );
    const hostFeatures = partyFeatures(
      govTable,
      govTable.columns.map((c) => c.name),
      pair.govRows,
    );
    const trained = await trainSecureBoost({
      guest: {
        id: 'bank',
        features: guestFeatures,
        labels: Float64Array.from(bankRows, (i) => bankTable.label![i]!),
      },
      hosts: [{ id: 'government', features: hostFeatures }],
      scheme: 'none',
      hyperparams: { trees: 5, depth: 3, bins: 16, learningRate: 0.3 },
    });
    guest = trained.guest;
    host = trained.hosts[0]!;
    const plain = await predictSecureBoost({
      guest: { model: guest, features: guestFeatures },
      hosts: [{ model: host, features: hostFeatures }],
    });
    aligned.forEach((id, k) => {
      reference.set(id, plain.margins[k]!);
    });
    noConsent.push(aligned[1]!);
    // One enterprise's record at the government loses a value its training row had, of a feature
    // whose training values had none missing: the host model's bins cannot place it.
    const j = host.features.findIndex(
      (name, k) => !name.includes('=') && !hostFeatures.columns[k]!.some((x) => Number.isNaN(x)),
    );
    unusable.feature = host.features[j]!;
    const lines = readFileSync(pair.files.government, 'utf8').split('\n');
    const col = lines[0]!.split(',').indexOf(unusable.feature);
    const at = lines.findIndex((l) => normalizeUscc(l.split(',')[0]!) === unusable.id);
    expect(col > 0 && at > 0).toBe(true);
    const cells = lines[at]!.split(',');
    cells[col] = '';
    lines[at] = cells.join(',');
    writeFileSync(pair.files.government, lines.join('\n'));
    const onInbound = (e: { bytes: Uint8Array }) => {
      if (capturing) captured.push(Buffer.from(e.bytes));
    };
    await pair.start('government', { onInbound });
    await pair.start('bank', { onInbound });
    const descriptor = JSON.stringify({ modelId: guest.modelId, guest: 'bank', hosts: ['government'] });
    const registration = {
      algorithm: 'secureboost',
      modelId: guest.modelId,
      metrics: {},
      parameters: { trees: 5, depth: 3 },
      dataFingerprints: {},
      descriptor,
    };
    const own = nodes.bank.models.register({
      ...registration,
      name: 'sme-trees',
      parties: [
        { id: 'bank', role: 'guest', featureNames: [...guest.features] },
        { id: 'government', role: 'host' },
      ],
      artifact: serializeGuestModel(guest),
    });
    nodes.bank.models.promote(own.ref);
    nodes.government.models.register({
      ...registration,
      name: 'sme-trees-bank',
      parties: [
        { id: 'bank', role: 'guest' },
        { id: 'government', role: 'host', featureNames: [...host.features] },
      ],
      artifact: serializeHostModel(host),
    });
    pair.grantScoringConsents([...aligned, unknownToGov].filter((id) => !noConsent.includes(id)));
  }, 180_000);

  afterAll(async () => {
    await pair?.close();
  }, 30_000);

  it('scores applicants as the plain federated prediction does, with band, line and reasons', async () => {
    capturing = true;
    const picks = [aligned[0]!, ...aligned.slice(10, 15)];
    const errors: number[] = [];
    const ms: number[] = [];
    for (const id of picks) {
      const t0 = performance.now();
      const r = await post({ applicant: id.toLowerCase(), features: featuresOf(id) });
      ms.push(performance.now() - t0);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const body = scoreResponseSchema.parse(r.json);
      const z = reference.get(id)!;
      const points = OFFSET - FACTOR * z;
      errors.push(Math.abs(body.score! - points));
      expect(body.model.algorithm).toBe('secureboost');
      expect(body.mode).toBe('exact');
      expect(Math.abs(body.score! - points)).toBeLessThan(FACTOR * TOLERANCE_LOGIT);
      expect(Math.abs(body.probabilityOfDefault! - 1 / (1 + Math.exp(-z)))).toBeLessThan(TOLERANCE_LOGIT);
      const want = decideCredit(rules, points, { account_turnover_12m: revenueOf(id) });
      // Bands and lines from the reference points (a pick this close to a band edge would be ambiguous).
      if (rules.bands.every((b) => Math.abs(points - (b.minScore ?? -1e9)) > 1)) {
        expect(body.band?.name).toBe(want.band);
        expect(body.decision?.creditLine).toBe(want.line);
      }
      // Reasons: each bank feature by its own splits, the base, the government's part as one entry.
      expect(body.reasons.map((x) => x.code).sort()).toEqual(
        [...guest.features.map((n) => `bank:${n}`), 'base', 'government'].sort(),
      );
      const sum = body.reasons.reduce((a, x) => a + x.points, 0);
      expect(Math.abs(sum - body.score!)).toBeLessThan(1e-9);
      const values = guest.features.map((n) => featuresOf(id)[n] ?? Number.NaN);
      const own = treeGuestContributions(guest, values);
      const reason = (code: string) => body.reasons.find((x) => x.code === code)!.points;
      guest.features.forEach((n, j) => {
        expect(Math.abs(reason(`bank:${n}`) + FACTOR * own.features[j]!)).toBeLessThan(1e-9);
      });
      expect(Math.abs(reason('government') + FACTOR * (z - guest.baseScore - own.known))).toBeLessThan(
        FACTOR * TOLERANCE_LOGIT,
      );
    }
    capturing = false;
    // Concurrent requests share rounds (micro-batching) and score the same.
    const batch = aligned.slice(20, 26);
    const t1 = performance.now();
    const answers = await Promise.all(batch.map((id) => post({ applicant: id, features: featuresOf(id) })));
    const batchMs = performance.now() - t1;
    answers.forEach((r, k) => {
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const points = OFFSET - FACTOR * reference.get(batch[k]!)!;
      expect(Math.abs((r.json.score as number) - points)).toBeLessThan(FACTOR * TOLERANCE_LOGIT);
    });
    expect(Math.max(...errors)).toBeLessThan(FACTOR * TOLERANCE_LOGIT);
    const later = ms.slice(1).sort((a, b) => a - b);
    console.log(
      `tree scoring API: first request ${ms[0]!.toFixed(0)} ms (session: key, 38 MB context), then median ${later[later.length >> 1]!.toFixed(0)} ms, max ${later.at(-1)!.toFixed(0)} ms; ${batch.length} concurrent ${batchMs.toFixed(0)} ms; max |score - plain| ${Math.max(...errors).toFixed(4)} points (tolerance ${(FACTOR * TOLERANCE_LOGIT).toFixed(3)})`,
    );
  }, 180_000);

  it('no byte between the nodes holds a threshold of the government', () => {
    const all = Buffer.concat(captured);
    expect(all.length).toBeGreaterThan(1_000_000); // the context crossed the transport
    const thresholds = new Set<number>();
    for (const s of host.splits) {
      const bins = host.bins[s.feature]!;
      const t = bins.kind === 'numeric' ? bins.edges[s.bin] : undefined;
      // Only thresholds with a long mantissa: a round value (0, 1, 0.5, an integer amount) is 8 bytes
      // that occur by chance in protobuf framing and CKKS data, and would prove nothing.
      if (t !== undefined && !Number.isInteger(t * 2 ** 20)) thresholds.add(t);
    }
    expect(thresholds.size).toBeGreaterThan(0);
    const hostFile = Buffer.from(serializeHostModel(host));
    let control = 0;
    for (const t of thresholds) {
      for (const pattern of float64Patterns(t)) expect(all.indexOf(pattern)).toBe(-1);
      const text = String(t);
      if (text.length >= 8) expect(all.indexOf(Buffer.from(text))).toBe(-1);
      if (hostFile.indexOf(Buffer.from(text)) >= 0) control++;
    }
    expect(control).toBe(thresholds.size);
    // Only scoring.tree crossed: no step of the plain flow, whose replies are host split bitmaps.
    expect(all.indexOf(Buffer.from('scoring.tree'))).toBeGreaterThanOrEqual(0);
    expect(all.indexOf(Buffer.from('secureboost-predict'))).toBe(-1);
  });

  it('answers bad requests and refusals with typed errors, audited on both nodes', async () => {
    const id = aligned[30]!;
    const features = featuresOf(id);
    const [first] = Object.keys(features);
    const { [first!]: _, ...missing } = features;
    let r = await post({ applicant: id, features: missing });
    expect(r.status).toBe(400);
    expect((r.json.error as { field: string }).field).toBe(`features.${first}`);
    r = await post({ applicant: id, features: { ...features, not_a_feature: 1 } });
    expect(r.status).toBe(400);
    expect((r.json.error as { field: string }).field).toBe('features.not_a_feature');
    r = await post({ applicant: noConsent[0]!, features: featuresOf(noConsent[0]!) });
    expect(r.status, JSON.stringify(r.json)).toBe(403);
    expect((r.json.error as { code: string }).code).toBe('consent_missing');
    r = await post({ applicant: unknownToGov, features });
    expect(r.status, JSON.stringify(r.json)).toBe(404);
    expect((r.json.error as { code: string }).code).toBe('no_record');
    const requestId = (r.json.error as { requestId: string }).requestId;
    for (const node of [nodes.bank, nodes.government]) {
      const entries = [...node.audit.entries({})].filter((e) => e.details?.requestId === requestId);
      expect(entries.map((e) => e.kind)).toEqual(['access_refused']);
      expect(entries[0]!.details?.outcome).toBe('no_record');
      // No score, probability or feature in the audit entry.
      expect(
        entries.every(
          (e) => !['score', 'probabilityOfDefault', 'features'].some((k) => k in (e.details ?? {})),
        ),
      ).toBe(true);
    }
    // A record the government holds but its bins cannot place: 422 unusable_record, not no_record,
    // audited as such on both nodes (the government's entry names the consent that covered the
    // lookup; no data_use), naming neither the feature nor the value.
    r = await post({ applicant: unusable.id, features: featuresOf(unusable.id) });
    expect(r.status, JSON.stringify(r.json)).toBe(422);
    expect((r.json.error as { code: string }).code).toBe('unusable_record');
    expect(JSON.stringify(r.json)).not.toContain(unusable.feature);
    // No value either: the message is fixed text without a digit.
    expect((r.json.error as { message: string }).message).not.toMatch(/\d/);
    const unusableId = (r.json.error as { requestId: string }).requestId;
    for (const node of [nodes.bank, nodes.government]) {
      const entries = auditOf(node, unusableId);
      expect(entries.map((e) => [e.kind, e.details?.outcome])).toEqual([
        ['access_refused', 'unusable_record'],
      ]);
      expect(JSON.stringify(entries)).not.toContain(unusable.feature);
    }
    expect(auditOf(nodes.government, unusableId)[0]!.consentRef).toBeDefined();
  }, 120_000);

  it('scores a batch: each applicant its own answer and audit; a bad one refuses the batch', async () => {
    const ids = [...aligned.slice(50, 58), noConsent[0]!, unknownToGov];
    const postBatch = (applicants: unknown[]) => pair.postBatch(applicants);
    const features = (id: string) => (id === unknownToGov ? featuresOf(aligned[0]!) : featuresOf(id));
    // A bad applicant (an unknown feature in the third): 400 naming it, nothing asked of the government.
    const before = [...nodes.government.audit.entries({})].length;
    const bad = await postBatch(
      ids.map((id, i) => ({ applicant: id, features: i === 2 ? { ...features(id), x9: 1 } : features(id) })),
    );
    expect(bad.status, JSON.stringify(bad.json)).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'invalid_request', field: 'applicants[2].features.x9' });
    expect([...nodes.government.audit.entries({})].length).toBe(before);

    const t0 = performance.now();
    const r = await postBatch(ids.map((id) => ({ applicant: id, features: features(id) })));
    const ms = performance.now() - t0;
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const body = scoreBatchResponseSchema.parse(r.json);
    expect(body.results.map((x) => x.index)).toEqual(ids.map((_, i) => i));
    body.results.forEach((x, i) => {
      const id = ids[i]!;
      const requestId = `${body.requestId}:${i}`;
      if (id === noConsent[0]) {
        expect([x.status, x.error?.code]).toEqual([403, 'consent_missing']);
      } else if (id === unknownToGov) {
        expect([x.status, x.error?.code]).toEqual([404, 'no_record']);
      } else {
        expect(x.status, JSON.stringify(x)).toBe(200);
        expect(x.score!.requestId).toBe(requestId);
        const points = OFFSET - FACTOR * reference.get(id)!;
        expect(Math.abs(x.score!.score! - points)).toBeLessThan(FACTOR * TOLERANCE_LOGIT);
      }
      // One entry per node for each applicant, under its own request id.
      for (const node of [nodes.bank, nodes.government]) {
        expect(auditOf(node, requestId).map((e) => e.kind)).toEqual([
          x.status === 200 ? 'data_use' : 'access_refused',
        ]);
      }
    });
    console.log(`tree scoring API: a batch of ${ids.length} in ${ms.toFixed(0)} ms`);
  }, 180_000);

  it('opens its tree session at start: the government holds it before the first request', async () => {
    await pair.stop('bank');
    await waitUntil('the old bank session is closed', () => nodes.government.scoring!.activeSessions === 0);
    await pair.start('bank');
    // The model is registered now: the bank's warm-up opens its one session (sessions: 1) by itself.
    await waitUntil(
      'the warmed tree session is open',
      () => nodes.government.scoring!.activeSessions === 1,
      120_000,
    );
    const id = aligned[60]!;
    const t0 = performance.now();
    const r = await post({ applicant: id, features: featuresOf(id) });
    const ms = performance.now() - t0;
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(Math.abs((r.json.score as number) - (OFFSET - FACTOR * reference.get(id)!))).toBeLessThan(
      FACTOR * TOLERANCE_LOGIT,
    );
    // The request used the warmed session: still one open.
    expect(nodes.government.scoring!.activeSessions).toBe(1);
    console.log(`tree scoring API after a warm start: first request ${ms.toFixed(0)} ms`);
  }, 180_000);

  it('a government without allowExactMode refuses tree scoring: 403 policy_refused, no data used', async () => {
    await pair.stop('bank');
    // The config leaves allowExactMode at its default (false).
    const { allowExactMode: _, ...policy } = EXACT;
    await pair.start('government', { policy });
    await pair.start('bank');
    const id = aligned[61]!;
    const r = await post({ applicant: id, features: featuresOf(id) });
    expect(r.status, JSON.stringify(r.json)).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'policy_refused' });
    const requestId = (r.json.error as { requestId: string }).requestId;
    expect(auditOf(nodes.bank, requestId).map((e) => e.kind)).toEqual(['access_refused']);
    const gov = [...nodes.government.audit.entries({})];
    expect(
      gov.some(
        (e) =>
          e.kind === 'security_event' &&
          e.details?.rpc === 'score.tree' &&
          e.details?.code === 'policy_refused',
      ),
    ).toBe(true);
    expect(gov.filter((e) => e.kind === 'data_use' && e.details?.requestId === requestId)).toEqual([]);
  }, 180_000);

  it('band mode against that default government: the band of the plain score, no score', async () => {
    await pair.start('bank', { mode: 'band' });
    // Each comparison is rho (z - t + n1) + n2 with rho >= 1: within 6 sqrt(2) sd of a band edge the
    // band may be the neighbour's.
    const margin = FACTOR * 6 * Math.SQRT2 * sd;
    const ids = aligned.slice(70, 90);
    const r = await pair.postBatch(ids.map((id) => ({ applicant: id, features: featuresOf(id) })));
    expect(r.status).toBe(200);
    const body = scoreBatchResponseSchema.parse(r.json);
    let checked = 0;
    body.results.forEach((x, i) => {
      const id = ids[i]!;
      expect(x.status, JSON.stringify(x)).toBe(200);
      const answer = x.score!;
      expect([answer.mode, answer.score, answer.probabilityOfDefault]).toEqual(['band', null, null]);
      // Reasons: the bank's own features and the base; no government entry in band mode.
      expect(answer.reasons.map((y) => y.code).sort()).toEqual(
        [...guest.features.map((n) => `bank:${n}`), 'base'].sort(),
      );
      const points = OFFSET - FACTOR * reference.get(id)!;
      if (rules.bands.some((b) => b.minScore !== undefined && Math.abs(points - b.minScore) < margin)) return;
      const want = decideCredit(rules, points, { account_turnover_12m: revenueOf(id) });
      expect(answer.band?.name, id).toBe(want.band);
      expect(answer.decision?.creditLine).toBe(want.line);
      checked++;
    });
    expect(checked).toBeGreaterThanOrEqual(15);
    // One single request too (the same route as a scorecard's band mode).
    const id = aligned[91]!;
    const one = await post({ applicant: id, features: featuresOf(id) });
    expect(one.status, JSON.stringify(one.json)).toBe(200);
    expect(one.json).toMatchObject({ mode: 'band', score: null });
  }, 180_000);
});
