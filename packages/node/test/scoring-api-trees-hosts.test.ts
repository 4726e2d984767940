/**
 * The bank node's scoring API serving a SecureBoost model of two hosts (protocol `scoring.tree` v5,
 * session mode with the portfolio job's chain: the bank's ciphertext goes to the government, the
 * government's product to tax over the node transport itself, tax floods the block sums back; each host
 * looks up, admits, consent-checks and audits the applicant on its own and answers the bank for its own
 * record). Three in-process nodes of `@fedscore/node/testing`'s NodeCluster (bank, government, tax) over
 * gRPC + mutual TLS on loopback; the model is trained in process by vfl (scheme `none`: the serving is
 * under test) on the generated population with the government's columns split between the two hosts,
 * each party registering only its own part (tree-score-job.test.ts's set-up).
 *   - POST /v1/score: each score equals vfl's plain federated prediction (`predictSecureBoost`, the
 *     in-process model's walk) within 6 flooding sd of the session (`treeFloodingStdDev(
 *     TREE_SESSION_ROUNDS)` in log-odds, x 20 / ln 2 in points); the reasons (one per bank feature, the
 *     base, and ONE government entry for both hosts' splits together, never one per host) add up to
 *     the score; band and line equal `decideCredit` on the reference points;
 *   - POST /v1/score/batch: scored applicants equal the reference; one whose consent tax lacks is 403
 *     consent_missing in its slot, the message naming tax; audit per applicant on every node: the bank
 *     one entry per host as that host answered (data_use at the government, which used its record;
 *     access_refused consent_missing at tax), each host its own entry;
 *   - capture: every byte each node received while scoring is searched for every threshold of the OTHER
 *     hosts' splits and the scored applicants' values of the other hosts' features (float64, both byte
 *     orders): none is found (positive controls: each host's model file holds its thresholds, and a
 *     needle planted in a copy of the haystack is found); tax received scoring.tree traffic from the
 *     government (the host-to-host hop), and no step of the plain flow (`secureboost-predict`) crossed;
 *   - warm start: the bank restarted opens its session at start (both hosts hold it before any request);
 *   - the allowExactMode gate at every host: tax restarted without it refuses the session, so exact
 *     scoring is 403 policy_refused naming tax, no data_use at tax;
 *   - band mode (the bank restarted in band mode; tax's default policy serves it): each band and line
 *     equal `decideCredit` on the reference points (applicants within 6 sqrt(2) sd of an edge skipped),
 *     score null, reasons the bank's own features and the base only;
 *   - a host whose registered hosts are in another order than the bank's chain fails the session
 *     (`protocol_step` naming tree-layout.previous, a security_event on tax) before any lookup: a bank
 *     cannot route a host's product where the model's registration does not say.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeUscc, type Table } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  createApiToken,
  type PartyNode,
  partyFeatures,
  scoreBatchResponseSchema,
  scoreResponseSchema,
} from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides, waitUntil } from '@fedscore/node/testing';
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
import { BAND_RULES, float64Patterns, type GovernmentPolicy } from './scoring-api-fixture.ts';

const PARTIES = ['bank', 'government', 'tax'] as const;
type Party = (typeof PARTIES)[number];
const HOSTS = ['government', 'tax'] as const;
type Host = (typeof HOSTS)[number];
const FACTOR = 20 / Math.LN2;
const OFFSET = 600 - FACTOR * Math.log(50);
const EXACT: GovernmentPolicy = {
  allowExactMode: true,
  quota: { requests: 50, windowSeconds: 86_400 },
  rate: { requests: 50, windowSeconds: 3600 },
};

/** A CSV of `table`'s numeric columns `names` (missing = empty field). */
function numericCsv(table: Table, names: readonly string[]): string {
  const cols = names.map((n) => table.columns.find((c) => c.name === n)!);
  const lines = [[ID_COLUMN, ...names].join(',')];
  table.ids.forEach((id, i) => {
    lines.push(
      [
        id,
        ...cols.map((c) => (c.kind === 'numeric' && !Number.isNaN(c.values[i]!) ? String(c.values[i]) : '')),
      ].join(','),
    );
  });
  return `${lines.join('\n')}\n`;
}

describe('scoring API with a SecureBoost model of two hosts', () => {
  const rules = parseCreditRules(BAND_RULES);
  const token = createApiToken('risk-engine-test');
  let cluster: NodeCluster<Party>;
  let nodes: Record<Party, PartyNode>;
  let guest: SecureBoostGuestModel;
  let hostModels: SecureBoostHostModel[];
  let bankTable: Table;
  let hostTables: Record<Host, Table>;
  let files: Record<Party, string>;
  let aligned: string[];
  const reference = new Map<string, number>();
  /** An aligned enterprise without a scoring consent at tax (it has one at the government). */
  let noConsentAtTax = '';
  const captured: { to: Party; peer: string | undefined; bytes: Buffer }[] = [];
  let capturing = false;
  const sd = treeFloodingStdDev(TREE_SESSION_ROUNDS);
  const TOLERANCE = FACTOR * (6 * sd + 1e-9);

  const rowOf = (table: Table, id: string) => {
    const i = table.ids.findIndex((x) => normalizeUscc(x) === id);
    const f = partyFeatures(
      table,
      table.columns.map((c) => c.name),
      [i],
    );
    return new Map(f.names.map((n, j) => [n, f.columns[j]![0]!]));
  };
  const featuresOf = (id: string): Record<string, number | null> => {
    const row = rowOf(bankTable, id);
    return Object.fromEntries(
      guest.features.map((n) => {
        const x = row.get(n) ?? 0;
        return [n, Number.isNaN(x) ? null : x];
      }),
    );
  };
  const revenueOf = (id: string): number | null => {
    const x = rowOf(bankTable, id).get('account_turnover_12m')!;
    return Number.isNaN(x) ? null : x;
  };
  const url = () => `http://127.0.0.1:${nodes.bank.scoringApiPort}`;
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${url()}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const post = (id: string) => call('/v1/score', { applicant: id, features: featuresOf(id) });
  const auditOf = (node: PartyNode, requestId: string) =>
    [...node.audit.entries({})].filter((e) => e.details?.requestId === requestId);

  type StartOptions = { mode?: 'exact' | 'band'; policy?: GovernmentPolicy; timeoutMs?: number };
  const config = (p: Party, o: StartOptions = {}): NodeConfigOverrides =>
    p === 'bank'
      ? {
          data: { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } },
          limits: { retries: 1, retryBaseMs: 50 },
          scoring: {
            api: {
              listen: '127.0.0.1:0',
              government: 'government',
              mode: o.mode ?? 'exact',
              rules: join(cluster.dir, 'rules.yaml'),
              tokens: [token.entry],
              model: 'sme-trees@production',
              sessions: 1,
              // Key generation and two contexts of the deeper parameters on a session's first request.
              requestTimeoutMs: o.timeoutMs ?? 120_000,
              batch: { maxApplicants: 8, windowMs: 30 },
            },
          },
        }
      : {
          data: { [p]: { path: files[p], id: ID_COLUMN } },
          limits: { retries: 1, retryBaseMs: 50 },
          scoring: { serve: true, data: p, ...(o.policy ?? EXACT) },
        };
  const onInbound = (to: Party) => (e: { peer: string | undefined; bytes: Uint8Array }) => {
    if (capturing) captured.push({ to, peer: e.peer, bytes: Buffer.from(e.bytes) });
  };
  const start = async (p: Party, o: StartOptions = {}) => {
    if (nodes[p] !== undefined) await cluster.stop(nodes[p]);
    nodes[p] = await cluster.start(p, { onInbound: onInbound(p), config: config(p, o) });
    return nodes[p];
  };

  beforeAll(async () => {
    cluster = await NodeCluster.create({ parties: PARTIES });
    const dir = join(cluster.dir, 'data');
    // 1,600 enterprises, as tree-score-job.test.ts: with the hosts' per-bin floor, fewer leave the hosts
    // only splits at 0, which the threshold search cannot tell from chance bytes.
    const w = await writePopulation({ enterprises: 1600, bankCustomers: 1200, seed: 31 }, dir);
    writeFileSync(join(cluster.dir, 'rules.yaml'), BAND_RULES);
    bankTable = await readCsvFile(w.bank.path, {
      idColumn: ID_COLUMN,
      labelColumn: DEFAULT_LABEL_COLUMN,
      impute: 'keep',
    });
    const gov = await readCsvFile(w.government.path, { idColumn: ID_COLUMN, impute: 'keep' });
    const numeric = gov.columns.filter((c) => c.kind === 'numeric').map((c) => c.name);
    const half = Math.ceil(numeric.length / 2);
    files = { bank: w.bank.path, government: join(dir, 'gov-part.csv'), tax: join(dir, 'tax-part.csv') };
    writeFileSync(files.government, numericCsv(gov, numeric.slice(0, half)));
    writeFileSync(files.tax, numericCsv(gov, numeric.slice(half)));
    hostTables = {
      government: await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' }),
      tax: await readCsvFile(files.tax, { idColumn: ID_COLUMN, impute: 'keep' }),
    };
    const govRow = new Map(gov.ids.map((id, i) => [normalizeUscc(id), i]));
    const bankRows = bankTable.ids
      .map((_, i) => i)
      .filter((i) => govRow.has(normalizeUscc(bankTable.ids[i]!)));
    aligned = bankRows.map((i) => normalizeUscc(bankTable.ids[i]!));
    const hostRows = aligned.map((id) => govRow.get(id)!);
    const features = (t: Table, rows: readonly number[]) =>
      partyFeatures(
        t,
        t.columns.map((c) => c.name),
        rows,
      );
    const guestFeatures = features(bankTable, bankRows);
    const hostFeatures = HOSTS.map((h) => features(hostTables[h], hostRows));
    const trained = await trainSecureBoost({
      guest: {
        id: 'bank',
        features: guestFeatures,
        labels: Float64Array.from(bankRows, (i) => bankTable.label![i]!),
      },
      hosts: HOSTS.map((id, j) => ({ id, features: hostFeatures[j]! })),
      scheme: 'none',
      hyperparams: { trees: 5, depth: 3, bins: 16, learningRate: 0.3 },
    });
    guest = trained.guest;
    hostModels = [...trained.hosts];
    expect(hostModels.every((m) => m.splits.length > 0)).toBe(true);
    const plain = await predictSecureBoost({
      guest: { model: guest, features: guestFeatures },
      hosts: HOSTS.map((_, j) => ({ model: hostModels[j]!, features: hostFeatures[j]! })),
    });
    aligned.forEach((id, k) => {
      reference.set(id, plain.margins[k]!);
    });
    noConsentAtTax = aligned[7]!;

    nodes = {} as Record<Party, PartyNode>;
    for (const h of HOSTS) await start(h);
    await start('bank');
    const descriptor = JSON.stringify({ modelId: guest.modelId, guest: 'bank', hosts: [...HOSTS] });
    const registration = {
      algorithm: 'secureboost',
      modelId: guest.modelId,
      metrics: {},
      parameters: { trees: 5, depth: 3 },
      dataFingerprints: {},
      descriptor,
    };
    const parties = (own: Party, names: readonly string[]) => [
      { id: 'bank', role: 'guest', ...(own === 'bank' && { featureNames: [...names] }) },
      ...HOSTS.map((id) => ({ id, role: 'host', ...(own === id && { featureNames: [...names] }) })),
    ];
    const mine = nodes.bank.models.register({
      ...registration,
      name: 'sme-trees',
      parties: parties('bank', guest.features),
      artifact: serializeGuestModel(guest),
    });
    nodes.bank.models.promote(mine.ref);
    HOSTS.forEach((h, j) => {
      nodes[h].models.register({
        ...registration,
        name: 'sme-trees-bank',
        parties: parties(h, hostModels[j]!.features),
        artifact: serializeHostModel(hostModels[j]!),
      });
    });
    const now = Date.now();
    for (const h of HOSTS) {
      for (const enterprise of aligned) {
        if (h === 'tax' && enterprise === noConsentAtTax) continue;
        nodes[h].consents.grant({
          enterprise,
          grantee: 'bank',
          purpose: 'scoring',
          scope: ['*'],
          grantedAt: now - 60_000,
          expiresAt: now + 86_400_000,
        });
      }
    }
  }, 300_000);

  afterAll(async () => {
    if (nodes?.bank !== undefined) await cluster.stop(nodes.bank);
    await cluster?.close();
  }, 60_000);

  it('scores single applicants as the in-process model does, with band, line and one government reason', async () => {
    capturing = true;
    const picks = [aligned[0]!, ...aligned.slice(10, 14)];
    const ms: number[] = [];
    let worst = 0;
    for (const id of picks) {
      const t0 = performance.now();
      const r = await post(id);
      ms.push(performance.now() - t0);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const body = scoreResponseSchema.parse(r.json);
      const points = OFFSET - FACTOR * reference.get(id)!;
      worst = Math.max(worst, Math.abs(body.score! - points));
      expect(Math.abs(body.score! - points)).toBeLessThan(TOLERANCE);
      expect(body.model.algorithm).toBe('secureboost');
      // One entry for both hosts' splits together (never one per host), the bank's features, the base.
      expect(body.reasons.map((x) => x.code).sort()).toEqual(
        [...guest.features.map((n) => `bank:${n}`), 'base', 'government'].sort(),
      );
      expect(Math.abs(body.reasons.reduce((a, x) => a + x.points, 0) - body.score!)).toBeLessThan(1e-9);
      if (rules.bands.every((b) => Math.abs(points - (b.minScore ?? -1e9)) > 1)) {
        const want = decideCredit(rules, points, { account_turnover_12m: revenueOf(id) });
        expect(body.band?.name).toBe(want.band);
        expect(body.decision?.creditLine).toBe(want.line);
      }
      // Audit: the bank's use of each host's data, and each host's own entry.
      const requestId = body.requestId;
      expect(
        auditOf(nodes.bank, requestId)
          .map((e) => `${e.kind}:${e.dataOwner}`)
          .sort(),
      ).toEqual(['data_use:government', 'data_use:tax']);
      for (const h of HOSTS) {
        expect(auditOf(nodes[h], requestId).map((e) => [e.kind, e.details?.outcome])).toEqual([
          ['data_use', 'scored'],
        ]);
      }
    }
    const later = ms.slice(1).sort((a, b) => a - b);
    console.log(
      `tree scoring API, 2 hosts: first request ${ms[0]!.toFixed(0)} ms (session: key, two contexts), then median ${later[later.length >> 1]!.toFixed(0)} ms, max ${later.at(-1)!.toFixed(0)} ms; max |score - plain| ${worst.toFixed(4)} points (tolerance ${TOLERANCE.toFixed(3)})`,
    );
  }, 300_000);

  it('scores a batch: a refusal at tax is answered in its slot naming tax, audited per host', async () => {
    const ids = [...aligned.slice(20, 26), noConsentAtTax];
    const t0 = performance.now();
    const r = await call('/v1/score/batch', {
      applicants: ids.map((id) => ({ applicant: id, features: featuresOf(id) })),
    });
    const ms = performance.now() - t0;
    capturing = false;
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const body = scoreBatchResponseSchema.parse(r.json);
    body.results.forEach((x, i) => {
      const id = ids[i]!;
      const requestId = `${body.requestId}:${i}`;
      if (id === noConsentAtTax) {
        expect([x.status, x.error?.code]).toEqual([403, 'consent_missing']);
        expect(x.error?.message).toContain('tax');
        // The government used its record (its own data_use); tax refused; the bank says so per host.
        expect(
          auditOf(nodes.bank, requestId)
            .map((e) => `${e.kind}:${e.dataOwner}:${e.details?.outcome}`)
            .sort(),
        ).toEqual(['access_refused:tax:consent_missing', 'data_use:government:scored']);
        expect(auditOf(nodes.tax, requestId).map((e) => [e.kind, e.details?.outcome])).toEqual([
          ['access_refused', 'consent_missing'],
        ]);
        expect(auditOf(nodes.government, requestId).map((e) => e.kind)).toEqual(['data_use']);
      } else {
        expect(x.status, JSON.stringify(x)).toBe(200);
        const points = OFFSET - FACTOR * reference.get(id)!;
        expect(Math.abs(x.score!.score! - points)).toBeLessThan(TOLERANCE);
        for (const h of HOSTS) expect(auditOf(nodes[h], requestId).map((e) => e.kind)).toEqual(['data_use']);
      }
    });
    console.log(`tree scoring API, 2 hosts: a batch of ${ids.length} in ${ms.toFixed(0)} ms`);
  }, 300_000);

  it("no byte a node received holds another host's threshold or feature value; tax heard from the government", () => {
    expect(captured.some((c) => c.to === 'tax' && c.peer === 'government')).toBe(true);
    const received = (p: Party) => Buffer.concat(captured.filter((c) => c.to === p).map((c) => c.bytes));
    const all = Buffer.concat(captured.map((c) => c.bytes));
    expect(all.indexOf(Buffer.from('scoring.tree'))).toBeGreaterThanOrEqual(0);
    expect(all.indexOf(Buffer.from('secureboost-predict'))).toBe(-1);
    const scored = [aligned[0]!, ...aligned.slice(10, 14), ...aligned.slice(20, 26)];
    let checked = 0;
    HOSTS.forEach((h, j) => {
      const host = hostModels[j]!;
      const file = Buffer.from(serializeHostModel(host));
      const needles: Uint8Array[] = [];
      for (const s of host.splits) {
        const bins = host.bins[s.feature]!;
        const t = bins.kind === 'numeric' ? bins.edges[s.bin] : undefined;
        // Only thresholds with a long mantissa: a round value is 8 bytes that occur by chance.
        if (t === undefined || t === null || Number.isInteger(t * 2 ** 20)) continue;
        needles.push(...float64Patterns(t));
        expect(file.indexOf(Buffer.from(String(t)))).toBeGreaterThanOrEqual(0); // positive control
        checked++;
      }
      for (const id of scored) {
        const row = rowOf(hostTables[h], id);
        for (const name of host.features) {
          const x = row.get(name)!;
          if (!Number.isNaN(x) && !Number.isInteger(x * 2 ** 20)) needles.push(...float64Patterns(x));
        }
      }
      for (const other of PARTIES.filter((p) => p !== h)) {
        const hay = received(other);
        expect(hay.length, other).toBeGreaterThan(1_000_000);
        const planted = Buffer.concat([hay.subarray(0, 4096), Buffer.from(needles[0]!), hay.subarray(4096)]);
        expect(planted.indexOf(Buffer.from(needles[0]!))).toBeGreaterThanOrEqual(0);
        for (const n of needles) expect(hay.indexOf(Buffer.from(n)), `${h}'s secret at ${other}`).toBe(-1);
      }
    });
    expect(checked).toBeGreaterThan(0);
  });

  it('opens its session with both hosts at start (warm start)', async () => {
    await cluster.stop(nodes.bank);
    await waitUntil('the old sessions are closed', () =>
      HOSTS.every((h) => nodes[h].scoring!.activeSessions === 0),
    );
    await start('bank');
    await waitUntil(
      'the warmed tree session is open at both hosts',
      () => HOSTS.every((h) => nodes[h].scoring!.activeSessions === 1),
      180_000,
    );
    const id = aligned[30]!;
    const r = await post(id);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(Math.abs((r.json.score as number) - (OFFSET - FACTOR * reference.get(id)!))).toBeLessThan(
      TOLERANCE,
    );
    for (const h of HOSTS) expect(nodes[h].scoring!.activeSessions).toBe(1);
  }, 300_000);

  it('tax without allowExactMode refuses exact scoring: 403 policy_refused naming tax, no data used there', async () => {
    await cluster.stop(nodes.bank);
    const { allowExactMode: _, ...policy } = EXACT;
    await start('tax', { policy });
    await start('bank');
    const id = aligned[31]!;
    const r = await post(id);
    expect(r.status, JSON.stringify(r.json)).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'policy_refused' });
    expect((r.json.error as { message: string }).message).toContain('tax');
    const requestId = (r.json.error as { requestId: string }).requestId;
    expect(auditOf(nodes.tax, requestId).filter((e) => e.kind === 'data_use')).toEqual([]);
    expect(
      [...nodes.tax.audit.entries({})].some(
        (e) =>
          e.kind === 'security_event' &&
          e.details?.rpc === 'score.tree' &&
          e.details?.code === 'policy_refused',
      ),
    ).toBe(true);
  }, 300_000);

  it('band mode against that tax: the band of the in-process score, no score', async () => {
    await start('bank', { mode: 'band' });
    const margin = FACTOR * 6 * Math.SQRT2 * sd;
    const ids = aligned.slice(40, 56);
    const r = await call('/v1/score/batch', {
      applicants: ids.map((id) => ({ applicant: id, features: featuresOf(id) })),
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const body = scoreBatchResponseSchema.parse(r.json);
    let checked = 0;
    body.results.forEach((x, i) => {
      const id = ids[i]!;
      expect(x.status, JSON.stringify(x)).toBe(200);
      const answer = x.score!;
      expect([answer.mode, answer.score, answer.probabilityOfDefault]).toEqual(['band', null, null]);
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
    expect(checked).toBeGreaterThanOrEqual(12);
  }, 300_000);

  it("a host whose registered hosts differ from the bank's chain fails the session before any lookup", async () => {
    // tax registers a newer version of the model whose hosts are in the other order: the bank's layout
    // (government first, tax last) names tax's previous host where tax expects none.
    const descriptor = JSON.stringify({
      modelId: guest.modelId,
      guest: 'bank',
      hosts: ['tax', 'government'],
    });
    nodes.tax.models.register({
      algorithm: 'secureboost',
      modelId: guest.modelId,
      metrics: {},
      parameters: { trees: 5, depth: 3 },
      dataFingerprints: {},
      descriptor,
      name: 'sme-trees-bank',
      parties: [
        { id: 'bank', role: 'guest' },
        { id: 'tax', role: 'host', featureNames: [...hostModels[1]!.features] },
        { id: 'government', role: 'host' },
      ],
      artifact: serializeHostModel(hostModels[1]!),
    });
    await start('bank', { mode: 'band', timeoutMs: 20_000 });
    const id = aligned[60]!;
    const r = await post(id);
    expect(r.status, JSON.stringify(r.json)).toBe(503);
    const requestId = (r.json.error as { requestId: string }).requestId;
    expect(auditOf(nodes.tax, requestId)).toEqual([]);
    await waitUntil('tax audits the failed session', () =>
      [...nodes.tax.audit.entries({})].some(
        (e) =>
          e.kind === 'security_event' &&
          e.details?.code === 'protocol_step' &&
          e.details?.field === 'tree-layout.previous',
      ),
    );
  }, 300_000);
});
