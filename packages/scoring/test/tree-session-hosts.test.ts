/**
 * `scoring.tree` session mode (tree-session.ts, version 5) with a model of three hosts: the flow behind
 * the node's scoring API for a model trained with several data owners, over an in-memory network with the
 * real wire codec and every message captured. The chain is the portfolio job's (tree.ts): the bank's
 * ciphertext goes to gov, gov's product to tax, tax's to utility, utility floods the block sums back.
 * A SecureBoost model is trained by vfl (`trainSecureBoost`, scheme `none`) on a seeded population in
 * which every host's features carry signal, so that each host owns splits. Checked against vfl's plain
 * federated prediction (`predictSecureBoost`) as the independent reference:
 *   - exact mode, two rounds of one session: every applicant all three hosts score is within 6 flooding
 *     sd (`treeFloodingStdDev(maxRounds)`) of the plain score; an applicant tax refuses (consent) is that
 *     refusal with `refusedBy` tax, one utility has no record of is `found: false` with `refusedBy`
 *     utility; each outcome carries every host's own answer;
 *   - who receives what: each host's layout names only its own split ids and its neighbours; a host
 *     receives from the host before it only `tree-leaf-weights` (one ciphertext), never a `tree-reply`;
 *     the bank receives a `tree-reply` from every host and ciphertext bytes from utility only; no host
 *     receives another host's answer code (the planted refusal `consent_missing` of tax is in no byte gov
 *     or utility receives, and is in the bytes the bank receives: the positive control); no byte any party
 *     receives holds a threshold of another host's splits or an applicant's feature value at another host
 *     (float64, both byte orders; positive control: the needle planted in a copy of the haystack is
 *     found by the same search);
 *   - band mode: each applicant's threshold index equals the plain score's (applicants within
 *     6 sqrt(2) sd of a threshold skipped), no score; every host's `modelFor` is told the mode and K;
 *   - a host that refuses the session (`policy_refused` at tax): every applicant refused naming tax, tax's
 *     lookup never asked, and the chain still completes (utility receives a ciphertext each round and
 *     cannot tell);
 *   - a host whose previous host went away (never passes the product on) ends the session with `timeout`
 *     after its `relayTimeoutMs`, instead of holding it (and the bank's context) until its node stops;
 *   - a model of four hosts is refused (`unsupported`, field hosts).
 */
import {
  createInMemoryNetwork,
  normal,
  type PartyId,
  ProtocolSession,
  runParties,
  seededRng,
} from '@fedscore/core';
import { encodeValue } from '@fedscore/core/testing';
import {
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
  type TreeBatchOutcome,
  TreeScoringBank,
  TreeScoringGovernment,
  treeFloodingStdDev,
} from '@fedscore/scoring';
import {
  type PartyFeatures,
  predictSecureBoost,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  trainSecureBoost,
} from '@fedscore/vfl';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { beforeAll, describe, expect, it } from 'vitest';

const HOSTS = ['gov', 'tax', 'utility'] as const;
type Host = (typeof HOSTS)[number];

function population(n: number, seed: number) {
  const rng = seededRng(seed);
  const col = () => Float64Array.from({ length: n }, () => normal(rng));
  const guest: PartyFeatures = { names: ['g0', 'g1'], columns: [col(), col()] };
  const hosts = HOSTS.map((h): PartyFeatures => ({ names: [`${h}0`, `${h}1`], columns: [col(), col()] }));
  const labels = Float64Array.from({ length: n }, (_, i) => {
    const z =
      0.6 * guest.columns[0]![i]! +
      1.1 * hosts[0]!.columns[0]![i]! -
      1.0 * hosts[1]!.columns[0]![i]! +
      0.9 * hosts[2]!.columns[1]![i]!;
    return rng.nextUint32() / 2 ** 32 < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
  return { guest, hosts, labels };
}

const slice = (f: PartyFeatures, from: number, to: number): PartyFeatures => ({
  names: f.names,
  columns: f.columns.map((c) => c.slice(from, to)),
});
const row = (f: PartyFeatures, i: number): Float64Array => Float64Array.from(f.columns, (c) => c[i]!);

describe('scoring.tree session mode with a model of three hosts', () => {
  const pop = population(1300, 41);
  const TRAIN = 1000;
  const SCORE = 100;
  const ids = Array.from({ length: SCORE }, (_, i) => `E${String(i).padStart(4, '0')}`);
  let guest: SecureBoostGuestModel;
  let hostModels: SecureBoostHostModel[];
  let plain: Float64Array;

  beforeAll(async () => {
    const trained = await trainSecureBoost({
      guest: { id: 'bank', features: slice(pop.guest, 0, TRAIN), labels: pop.labels.subarray(0, TRAIN) },
      hosts: HOSTS.map((id, j) => ({ id, features: slice(pop.hosts[j]!, 0, TRAIN) })),
      scheme: 'none',
      hyperparams: { trees: 5, depth: 3, bins: 16, learningRate: 0.3 },
    });
    guest = trained.guest;
    hostModels = [...trained.hosts];
    plain = (
      await predictSecureBoost({
        guest: { model: guest, features: slice(pop.guest, TRAIN, TRAIN + SCORE) },
        hosts: HOSTS.map((_, j) => ({
          model: hostModels[j]!,
          features: slice(pop.hosts[j]!, TRAIN, TRAIN + SCORE),
        })),
      })
    ).margins;
  }, 120_000);

  const item = (k: number) => ({
    applicant: ids[k]!,
    features: row(pop.guest, TRAIN + k),
    requestId: `r-${k}`,
  });

  /** One session of the bank with the three hosts; `lookup` per host overrides the default record. */
  const session = async (o: {
    rounds: readonly (readonly number[])[];
    thresholds?: readonly number[];
    lookup?: Partial<Record<Host, (applicant: string) => Float64Array | 'consent_missing' | undefined>>;
    refuse?: Host;
    /** A host that went away: it reads nothing and never answers. */
    gone?: Host;
  }) => {
    const network = createInMemoryNetwork(['bank', ...HOSTS], envelopeCodec, { capture: true });
    const spec = {
      protocol: TREE_SCORING_PROTOCOL,
      version: TREE_SCORING_VERSION,
      session: 'score-tree/bank/x',
    };
    const lookups: Record<string, number> = {};
    const told: Record<string, unknown> = {};
    const roles: Record<string, () => Promise<unknown>> = {
      bank: async () => {
        const bank = await TreeScoringBank.create({
          model: guest,
          maxRounds: 4,
          ...(o.thresholds !== undefined && { thresholds: o.thresholds }),
        });
        try {
          await bank.open(new ProtocolSession(network.channel('bank'), spec), [...HOSTS]);
          const answers: TreeBatchOutcome[][] = [];
          for (const r of o.rounds) answers.push(await bank.scoreBatch(r.map(item)));
          await bank.close();
          return { answers, sd: bank.floodingStdDev };
        } finally {
          bank.dispose();
        }
      },
    };
    HOSTS.forEach((h, j) => {
      roles[h] = () =>
        o.gone === h
          ? Promise.resolve(undefined)
          : new TreeScoringGovernment({
              ...(o.gone !== undefined && { relayTimeoutMs: 2000 }),
              modelFor: async (_id, mode) => {
                told[h] = mode;
                return o.refuse === h ? 'policy_refused' : hostModels[j]!;
              },
              lookup: async (requests) =>
                requests.map((r) => {
                  lookups[h] = (lookups[h] ?? 0) + 1;
                  const own = o.lookup?.[h];
                  if (own !== undefined) return own(r.applicant);
                  const k = ids.indexOf(r.applicant);
                  return k < 0 ? undefined : row(pop.hosts[j]!, TRAIN + k);
                }),
            }).serve(new ProtocolSession(network.channel(h), spec), 'bank');
    });
    const out = await runParties(network, roles);
    return {
      bank: out.bank as { answers: TreeBatchOutcome[][]; sd: number },
      hosts: HOSTS.map((h) => out[h] as { rounds: number; requests: number }),
      captured: network.captured,
      lookups,
      told,
    };
  };

  it('every host owns splits', () => {
    const owners = new Set(guest.trees.flat().flatMap((n) => (n.kind === 'host-split' ? [n.host] : [])));
    expect([...owners].sort()).toEqual([0, 1, 2]);
    expect(guest.hosts).toEqual([...HOSTS]);
  });

  it('exact mode: the plain scores within 6 sd, per-host refusals named; who receives what', async () => {
    const refusedAtTax = ids[3]!;
    const unknownAtUtility = ids[5]!;
    const r = await session({
      rounds: [
        [0, 1, 2, 3],
        [4, 5, 6, 7, 8],
      ],
      lookup: {
        tax: (a) => (a === refusedAtTax ? 'consent_missing' : row(pop.hosts[1]!, TRAIN + ids.indexOf(a))),
        utility: (a) => (a === unknownAtUtility ? undefined : row(pop.hosts[2]!, TRAIN + ids.indexOf(a))),
      },
    });
    const { answers, sd } = r.bank;
    expect(sd).toBeCloseTo(treeFloodingStdDev(4), 12);
    expect(r.hosts).toEqual(HOSTS.map(() => ({ rounds: 2, requests: 9 })));
    let worst = 0;
    answers.flat().forEach((o, k) => {
      if (ids[k] === refusedAtTax) {
        expect(o.ok).toBe(false);
        expect(!o.ok && o.error).toMatchObject({ code: 'consent_missing', field: 'tree-reply.errors' });
        expect(!o.ok && o.error.message).toContain('tax');
        expect(o.refusedBy).toBe('tax');
        expect(o.hostAnswers).toEqual(['', 'consent_missing', '']);
      } else if (ids[k] === unknownAtUtility) {
        expect(o).toMatchObject({ ok: true, score: { found: false }, refusedBy: 'utility' });
        expect(o.hostAnswers).toEqual(['', '', 'no_record']);
      } else {
        expect(o.ok && o.score.found).toBe(true);
        expect(o.hostAnswers).toEqual(['', '', '']);
        expect(o.refusedBy).toBeUndefined();
        const z = o.ok ? o.score.score! : Number.NaN;
        worst = Math.max(worst, Math.abs(z - plain[k]!));
        expect(Math.abs(z - plain[k]!), `applicant ${k}`).toBeLessThan(6 * sd);
      }
    });
    expect(worst).toBeGreaterThan(0);

    // Who receives what.
    const to = (p: PartyId) => r.captured.filter((m) => m.to === p);
    const layoutOf = (h: Host) =>
      fedscore.scoring.TreeLayout.decode(to(h).find((m) => m.step === 'tree-layout')!.payload);
    HOSTS.forEach((h, j) => {
      const layout = layoutOf(h);
      expect(layout.hosts).toBe(3);
      expect(layout.previous).toBe(j === 0 ? '' : HOSTS[j - 1]);
      expect(layout.next).toBe(j === 2 ? '' : HOSTS[j + 1]);
      const own = new Set(hostModels[j]!.splits.map((s) => s.splitId));
      const named = layout.splits.map((s) => s.splitId);
      expect(named.length).toBeGreaterThan(0);
      expect(named.every((id) => own.has(id ?? -1))).toBe(true);
      // From the bank: layout, context, requests; from the previous host: its product only.
      const steps = new Set(to(h).map((m) => `${m.from}:${m.step}`));
      const want = ['bank:tree-layout', 'bank:tree-context', 'bank:tree-request'];
      if (j > 0) want.push(`${HOSTS[j - 1]}:tree-leaf-weights`);
      expect([...steps].sort()).toEqual(want.sort());
    });
    const toBank = to('bank');
    expect(new Set(toBank.map((m) => `${m.from}:${m.step}`))).toEqual(
      new Set(HOSTS.map((h) => `${h}:tree-reply`)),
    );
    // Only the last host's replies carry a ciphertext (the flooded sums); the others' are codes only.
    for (const m of toBank) {
      const reply = fedscore.scoring.TreeReply.decode(m.payload);
      expect(reply.items.length > 0).toBe(m.from === 'utility');
    }

    // Planted secrets: tax's refusal code, each host's thresholds and the scored applicants' values.
    const received = (p: PartyId) => Buffer.concat(to(p).map((m) => Buffer.from(m.bytes)));
    const refusal = Buffer.from('consent_missing');
    expect(received('bank').indexOf(refusal)).toBeGreaterThanOrEqual(0); // positive control
    expect(received('gov').indexOf(refusal)).toBe(-1);
    expect(received('utility').indexOf(refusal)).toBe(-1);
    const scored = [0, 1, 2, 4, 6, 7, 8];
    HOSTS.forEach((h, j) => {
      const host = hostModels[j]!;
      const needles: Uint8Array[] = [];
      for (const s of host.splits) {
        const bins = host.bins[s.feature]!;
        const t = bins.kind === 'numeric' ? bins.edges[s.bin] : undefined;
        if (t !== undefined && !Number.isInteger(t * 2 ** 20)) {
          needles.push(encodeValue(t, 'f64le'), encodeValue(t, 'f64be'));
        }
      }
      for (const k of scored) {
        for (const x of row(pop.hosts[j]!, TRAIN + k))
          needles.push(encodeValue(x, 'f64le'), encodeValue(x, 'f64be'));
      }
      expect(needles.length).toBeGreaterThan(4 * scored.length);
      for (const other of ['bank', ...HOSTS.filter((x) => x !== h)]) {
        const hay = received(other);
        expect(hay.length).toBeGreaterThan(1_000_000);
        // Positive control: the same search finds a needle planted in a copy of the haystack.
        const planted = Buffer.concat([hay.subarray(0, 5000), Buffer.from(needles[0]!), hay.subarray(5000)]);
        expect(planted.indexOf(Buffer.from(needles[0]!))).toBeGreaterThanOrEqual(0);
        for (const n of needles) expect(hay.indexOf(Buffer.from(n)), `${h}'s secret at ${other}`).toBe(-1);
      }
    });
  }, 240_000);

  it('band mode: the threshold index of the plain score, no score; every host is told the mode and K', async () => {
    const sorted = [...plain].sort((a, b) => b - a);
    const thresholds = [sorted[25]!, sorted[50]!, sorted[75]!];
    const picks = Array.from({ length: 60 }, (_, k) => k);
    const r = await session({ thresholds, rounds: [picks.slice(0, 30), picks.slice(30)] });
    for (const h of HOSTS) expect(r.told[h]).toEqual({ mode: 'band', thresholds: 3 });
    const margin = 6 * Math.SQRT2 * r.bank.sd;
    let checked = 0;
    r.bank.answers.flat().forEach((o, k) => {
      expect(o.ok && o.score.found).toBe(true);
      if (!o.ok) return;
      expect(o.score.score).toBeUndefined();
      if (thresholds.some((t) => Math.abs(plain[k]! - t) < margin)) return;
      let want = 0;
      while (want < thresholds.length && plain[k]! < thresholds[want]!) want++;
      expect(o.score.thresholdIndex, `applicant ${k}`).toBe(want);
      checked++;
    });
    expect(checked).toBeGreaterThan(50);
  }, 240_000);

  it('a host that refuses the session refuses every applicant, and the chain still completes', async () => {
    const r = await session({ rounds: [[0, 1], [2]], refuse: 'tax' });
    expect(r.lookups.tax).toBeUndefined();
    for (const o of r.bank.answers.flat()) {
      expect(!o.ok && o.error).toMatchObject({ code: 'policy_refused' });
      expect(o.refusedBy).toBe('tax');
    }
    // utility got tax's product every round (a ciphertext it cannot tell from any other).
    expect(r.captured.filter((m) => m.to === 'utility' && m.step === 'tree-leaf-weights')).toHaveLength(2);
  }, 240_000);

  it('a host whose previous host went away ends the session after relayTimeoutMs (timeout)', async () => {
    await expect(session({ rounds: [[0]], gone: 'gov' })).rejects.toMatchObject({
      code: 'timeout',
      field: 'tree-leaf-weights',
    });
  }, 240_000);

  it('a model of four hosts is refused', async () => {
    await expect(
      TreeScoringBank.create({ model: { ...guest, hosts: ['a', 'b', 'c', 'd'] } }),
    ).rejects.toMatchObject({ code: 'unsupported', field: 'hosts' });
  });
});
