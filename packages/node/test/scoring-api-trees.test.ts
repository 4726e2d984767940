/**
 * The bank node's scoring API serving a SecureBoost model (protocol `scoring.tree`, session mode;
 * docs/scoring-api.md, docs/protocols/tree-scoring.md): a bank node and a government node on loopback
 * (gRPC + mutual TLS, generated certificates), a SecureBoost model trained in process by vfl (scheme
 * `none`: the serving is under test, not the training) on the generated population, each party's own
 * file registered on its node (the bank's promoted), then POST /v1/score over HTTP:
 *   - each score equals the library's plain federated prediction (vfl `predictSecureBoost`, the walk
 *     `fedscore score trees --tree-flow plain` runs) within 6 flooding sd of the session
 *     (`treeFloodingStdDev(TREE_SESSION_ROUNDS)` in log-odds, times 20 / ln 2 in points); band and line
 *     equal `decideCredit` on the reference points; the two reason entries (base, trees) add up to the
 *     score; concurrent requests (micro-batched into shared rounds) score the same;
 *   - bad requests are 400 naming the field (a missing and an unknown feature); the government's
 *     refusals are 403 consent_missing and 404 no_record, each one audit entry per node;
 *   - a bank node in band mode answers 503 upstream_unavailable for a tree model (the tree flow releases
 *     the score to the bank: exact mode only), before asking the government anything;
 *   - capture: every byte the government received from the bank and the bank from the government while
 *     scoring (the transport's raw inbound bytes) is searched for every threshold of the government's
 *     splits, as float64 in both byte orders and as text: none is found (positive control: the
 *     government's model file holds them). The bank received only scoring.tree replies (no bitmap of
 *     the plain flow's `secureboost-predict` steps is ever sent).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUniqueUsccs, normalizeUscc, seededRng, type Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  createApiToken,
  createDevCa,
  issuePartyCert,
  type NodeConfig,
  PartyNode,
  partyFeatures,
  scoreResponseSchema,
  validateNodeConfig,
} from '@fedscore/node';
import { freePorts } from '@fedscore/node/testing';
import { decideCredit, parseCreditRules, TREE_SESSION_ROUNDS, treeFloodingStdDev } from '@fedscore/scoring';
import {
  predictSecureBoost,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  serializeGuestModel,
  serializeHostModel,
  trainSecureBoost,
} from '@fedscore/vfl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PARTIES = ['bank', 'government'] as const;
type Party = (typeof PARTIES)[number];
const FACTOR = 20 / Math.LN2;
const OFFSET = 600 - FACTOR * Math.log(50);

const RULES = `format: fedscore.credit-rules
version: 1
figures: { revenue: account_turnover_12m }
rounding: 10000
baseRateBp: 435
bands:
  - { name: A, minScore: 600, revenueMultiple: 0.3, maxLine: 5000000, rateDiscountBp: 20 }
  - { name: B, minScore: 570, revenueMultiple: 0.2, maxLine: 2000000 }
  - { name: C, minScore: 540, revenueMultiple: 0.1, maxLine: 500000 }
  - { name: D, approve: false }
`;

function float64Patterns(x: number): Buffer[] {
  const le = Buffer.alloc(8);
  le.writeDoubleLE(x);
  const be = Buffer.alloc(8);
  be.writeDoubleBE(x);
  return [le, be];
}

describe('scoring API with a SecureBoost model', () => {
  const root = mkdtempSync(join(tmpdir(), 'fedscore-scoring-trees-'));
  const ca = createDevCa();
  const tls = Object.fromEntries(
    PARTIES.map((p) => [p, { ca: ca.cert, ...issuePartyCert({ ca, party: p }) }]),
  ) as Record<Party, { ca: string; cert: string; key: string }>;
  const { token, entry } = createApiToken('risk-engine-trees');
  const rules = parseCreditRules(RULES);
  let ports: Record<Party, number>;
  let files: Record<Party, string>;
  let bankTable: Table;
  let govTable: Table;
  let guest: SecureBoostGuestModel;
  let host: SecureBoostHostModel;
  let aligned: string[];
  /** The plain federated prediction (log-odds) of each aligned enterprise. */
  const reference = new Map<string, number>();
  let nodes: Record<Party, PartyNode>;
  let url: string;
  let capturing = false;
  const captured: Buffer[] = [];
  const noConsent: string[] = [];
  const unknownToGov = normalizeUscc(generateUniqueUsccs(seededRng('trees-not-at-gov'), 1)[0]!);
  const sd = treeFloodingStdDev(TREE_SESSION_ROUNDS);
  const TOLERANCE_LOGIT = 6 * sd + 1e-9;

  const config = (p: Party, mode: 'exact' | 'band' = 'exact'): NodeConfig =>
    validateNodeConfig({
      party: p,
      listen: `127.0.0.1:${ports[p]}`,
      stateDir: join(root, p),
      tls: { ca: 'unused', cert: 'unused', key: 'unused' },
      peers: Object.fromEntries(
        PARTIES.filter((q) => q !== p).map((q) => [q, { address: `127.0.0.1:${ports[q]}` }]),
      ),
      data:
        p === 'bank'
          ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
          : { credit: { path: files.government, id: ID_COLUMN } },
      limits: { retries: 1, retryBaseMs: 50 },
      scoring:
        p === 'government'
          ? {
              serve: true,
              data: 'credit',
              allowExactMode: true,
              quota: { requests: 50, windowSeconds: 86_400 },
              rate: { requests: 50, windowSeconds: 3600 },
            }
          : {
              api: {
                listen: '127.0.0.1:0',
                government: 'government',
                model: 'sme-trees@production',
                mode,
                rules: join(root, 'rules.yaml'),
                sessions: 1,
                // Key generation and the 38 MB context on the first request of a session.
                requestTimeoutMs: 60_000,
                batch: { maxApplicants: 8, windowMs: 30 },
                tokens: [entry],
              },
            },
    });

  const rowValues = (table: Table, names: readonly string[], id: string): Map<string, number> => {
    const i = table.ids.indexOf(id);
    const f = partyFeatures(
      table,
      table.columns.map((c) => c.name),
      [i],
    );
    const all = new Map(f.names.map((n, j) => [n, f.columns[j]![0]!]));
    return new Map(names.map((n) => [n, all.get(n) ?? 0]));
  };
  const featuresOf = (id: string): Record<string, number | null> => {
    const row = rowValues(bankTable, guest.features, id);
    return Object.fromEntries(guest.features.map((n) => [n, Number.isNaN(row.get(n)!) ? null : row.get(n)!]));
  };
  const post = async (body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${url}/v1/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const p = await freePorts(2);
    ports = { bank: p[0]!, government: p[1]! };
    const w = await writePopulation({ enterprises: 500, bankCustomers: 340, seed: 23 }, join(root, 'data'));
    files = { bank: w.bank.path, government: w.government.path };
    writeFileSync(join(root, 'rules.yaml'), RULES);
    bankTable = await readCsvFile(files.bank, {
      idColumn: ID_COLUMN,
      labelColumn: DEFAULT_LABEL_COLUMN,
      impute: 'keep',
    });
    govTable = await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' });
    const govRows = new Map(govTable.ids.map((id, i) => [id, i]));
    const bankRows = bankTable.ids.map((_, i) => i).filter((i) => govRows.has(bankTable.ids[i]!));
    aligned = bankRows.map((i) => bankTable.ids[i]!);
    const guestFeatures = partyFeatures(
      bankTable,
      bankTable.columns.map((c) => c.name),
      bankRows,
    );
    const hostFeatures = partyFeatures(
      govTable,
      govTable.columns.map((c) => c.name),
      aligned.map((id) => govRows.get(id)!),
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
    const onInbound = (e: { bytes: Uint8Array }) => {
      if (capturing) captured.push(Buffer.from(e.bytes));
    };
    nodes = {
      government: await PartyNode.start({ config: config('government'), tls: tls.government, onInbound }),
      bank: await PartyNode.start({ config: config('bank'), tls: tls.bank, onInbound }),
    };
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
    const now = Date.now();
    for (const id of [...aligned, unknownToGov]) {
      if (noConsent.includes(id)) continue;
      nodes.government.consents.grant({
        enterprise: id,
        grantee: 'bank',
        purpose: 'scoring',
        scope: ['*'],
        grantedAt: now - 60_000,
        expiresAt: now + 86_400_000,
      });
    }
    url = `http://127.0.0.1:${nodes.bank.scoringApiPort}`;
  }, 180_000);

  afterAll(async () => {
    await nodes?.bank.stop();
    await nodes?.government.stop();
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
      const revenue = rowValues(bankTable, ['account_turnover_12m'], id).get('account_turnover_12m')!;
      const want = decideCredit(rules, points, {
        account_turnover_12m: Number.isNaN(revenue) ? null : revenue,
      });
      // Bands and lines from the reference points (a pick this close to a band edge would be ambiguous).
      if (rules.bands.every((b) => Math.abs(points - (b.minScore ?? -1e9)) > 1)) {
        expect(body.band?.name).toBe(want.band);
        expect(body.decision?.creditLine).toBe(want.line);
      }
      expect(body.reasons.map((x) => x.code).sort()).toEqual(['base', 'trees']);
      const sum = body.reasons.reduce((a, x) => a + x.points, 0);
      expect(Math.abs(sum - body.score!)).toBeLessThan(1e-9);
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
      // No score, probability or feature in the audit entry.
      expect(
        entries.every(
          (e) => !['score', 'probabilityOfDefault', 'features'].some((k) => k in (e.details ?? {})),
        ),
      ).toBe(true);
    }
  }, 120_000);

  it('a bank node in band mode does not serve a tree model (503), without asking the government', async () => {
    await nodes.bank.stop();
    nodes.bank = await PartyNode.start({ config: config('bank', 'band'), tls: tls.bank });
    url = `http://127.0.0.1:${nodes.bank.scoringApiPort}`;
    const before = [...nodes.government.audit.entries({})].length;
    const id = aligned[40]!;
    const r = await post({ applicant: id, features: featuresOf(id) });
    expect(r.status, JSON.stringify(r.json)).toBe(503);
    expect(r.json.error).toMatchObject({ code: 'upstream_unavailable' });
    expect((r.json.error as { message: string }).message).toContain('exact mode only');
    expect([...nodes.government.audit.entries({})].length).toBe(before);
  }, 60_000);
});
