/**
 * `scoring.tree` in session mode (tree-session.ts: `TreeScoringBank` / `TreeScoringGovernment`, the
 * flow behind the node's scoring API) over an in-memory network with the real wire codec. A SecureBoost
 * model is trained by vfl (`trainSecureBoost`, scheme `none`) on a seeded population; checked against
 * vfl's plain federated prediction (`predictSecureBoost`) as the independent reference:
 *   - two rounds of one session (4 applicants, then 2, named by id; the host looks each up): every scored
 *     applicant within 6 sd of the session's flooding (`treeFloodingStdDev(maxRounds)`) of the plain
 *     score; in the same round an applicant the host has no record of is `found: false`, one whose
 *     record has a value missing where training had none is `unusable_record` (version 4; it was
 *     `found: false` before), and one it refuses (`consent_missing`) is a typed refusal, their blocks
 *     decrypting to noise only;
 *   - a model the host does not serve (`modelFor` answers `policy_refused`) refuses every applicant of
 *     every round, and the host's lookup is never asked (no data read);
 *   - the declared budget: a bank with maxRounds 1 refuses a second round itself, and a host receiving a
 *     round beyond the layout's max_rounds (a weakened bank that skips its own check) fails the session
 *     with `protocol_step`;
 *   - bad input: a session naming other hosts than the model's is refused (`invalid_argument`, field
 *     hosts; models of several hosts: tree-session-hosts.test.ts);
 *   - band mode (version 3): 60 applicants over two rounds, each outcome the index of the first threshold
 *     the plain score reaches (thresholds at the plain scores' quartiles; applicants within 6 sqrt(2) sd
 *     of a threshold skipped, at most a few), no score in any outcome; the host's `modelFor` is told
 *     the mode and K; a threshold beyond the weight bound is refused naming it.
 */
import { createInMemoryNetwork, FedscoreError, ProtocolSession, runParties } from '@fedscore/core';
import {
  TREE_REPLY,
  TREE_REQUEST,
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
  TreeScoringBank,
  TreeScoringGovernment,
  treeFloodingStdDev,
} from '@fedscore/scoring';
import type { PartyFeatures, SecureBoostGuestModel, SecureBoostHostModel } from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainedTreePair, treePopulation } from './fixtures.ts';

const population = (n: number, seed: number) =>
  treePopulation(n, seed, { guest: [0.8, 0], host: [1.2, -0.9] });

const row = (f: PartyFeatures, i: number): Float64Array => Float64Array.from(f.columns, (c) => c[i]!);

describe('scoring.tree session mode', () => {
  const pop = population(1200, 17);
  const TRAIN = 1000;
  let guest: SecureBoostGuestModel;
  let host: SecureBoostHostModel;
  let plain: Float64Array;
  const ids = Array.from({ length: 200 }, (_, i) => `E${String(i).padStart(4, '0')}`);

  beforeAll(async () => {
    ({ guest, host, margins: plain } = await trainedTreePair(pop, TRAIN, 200));
  }, 120_000);

  /** Applicant k of the scoring rows (rows TRAIN + k of the population). */
  const item = (k: number) => ({
    applicant: ids[k]!,
    features: row(pop.guest, TRAIN + k),
    requestId: `r-${k}`,
  });

  const session = async (o: {
    maxRounds?: number;
    thresholds?: readonly number[];
    rounds: readonly (readonly number[])[];
    modelFor?: (
      modelId: string,
      mode: { mode: 'exact' | 'band'; thresholds: number },
    ) => Promise<SecureBoostHostModel | 'policy_refused'>;
    lookup?: (applicant: string) => Float64Array | 'consent_missing' | undefined;
    skipBankBudget?: boolean;
  }) => {
    const network = createInMemoryNetwork(['bank', 'gov'], envelopeCodec);
    const spec = {
      protocol: TREE_SCORING_PROTOCOL,
      version: TREE_SCORING_VERSION,
      session: 'score-tree/bank/x',
    };
    let lookups = 0;
    const out = await runParties(network, {
      bank: async () => {
        const bank = await TreeScoringBank.create({
          model: guest,
          maxRounds: o.maxRounds ?? 8,
          ...(o.thresholds !== undefined && { thresholds: o.thresholds }),
        });
        try {
          await bank.open(new ProtocolSession(network.channel('bank'), spec), 'gov');
          const answers = [];
          for (const r of o.rounds) answers.push(await bank.scoreBatch(r.map(item)));
          await bank.close();
          return { answers, sd: bank.floodingStdDev };
        } finally {
          bank.dispose();
        }
      },
      gov: () =>
        new TreeScoringGovernment({
          modelFor: o.modelFor ?? (async () => host),
          lookup: async (requests) =>
            requests.map((r) => {
              lookups++;
              if (o.lookup !== undefined) return o.lookup(r.applicant);
              const k = ids.indexOf(r.applicant);
              return k < 0 ? undefined : row(pop.host, TRAIN + k);
            }),
        }).serve(new ProtocolSession(network.channel('gov'), spec), 'bank'),
    });
    return { ...out, lookups };
  };

  it('rounds of named applicants score as the plain prediction; no record, unusable record and refusals per applicant', async () => {
    const consentless = ids[4]!;
    const r = await session({
      rounds: [
        [0, 1, 2, 3],
        [4, 5],
      ],
      lookup: (applicant) => {
        const k = ids.indexOf(applicant);
        if (applicant === consentless) return 'consent_missing';
        if (k === 2) return undefined;
        // A record with a value missing where training had none: the bins cannot place it.
        if (k === 3) return Float64Array.of(Number.NaN, pop.host.columns[1]![TRAIN + 3]!);
        return row(pop.host, TRAIN + k);
      },
    });
    const { answers, sd } = r.bank;
    expect(sd).toBeCloseTo(treeFloodingStdDev(8), 12);
    expect(r.gov).toEqual({ rounds: 2, requests: 6 });
    const flat = answers.flat();
    for (const [j, k] of [0, 1, 2, 3, 4, 5].entries()) {
      const o = flat[j]!;
      if (k === 2) {
        expect(o).toEqual({
          ok: true,
          score: { applicant: ids[2], found: false },
          hostAnswers: ['no_record'],
          refusedBy: 'gov',
        });
      } else if (k === 3) {
        // Told apart from no record, by a code naming no feature or value.
        expect(o.ok).toBe(false);
        expect(!o.ok && o.error).toMatchObject({ code: 'unusable_record', field: 'tree-reply.errors' });
        expect(!o.ok && o.error.message).not.toMatch(/h0|h1|NaN/);
      } else if (k === 4) {
        expect(o.ok).toBe(false);
        expect(!o.ok && o.error).toMatchObject({ code: 'consent_missing' });
      } else {
        expect(o.ok && o.score.found).toBe(true);
        const z = o.ok ? o.score.score! : Number.NaN;
        expect(Math.abs(z - plain[k]!)).toBeLessThan(6 * sd);
      }
    }
  }, 120_000);

  it('band mode: the threshold index of the plain score, no score; the host is told the mode and K', async () => {
    // Thresholds at the plain scores' quartiles, highest first (log-odds).
    const sorted = [...plain].sort((a, b) => b - a);
    const thresholds = [sorted[50]!, sorted[100]!, sorted[150]!];
    const picks = Array.from({ length: 60 }, (_, k) => k);
    let told: unknown;
    const r = await session({
      thresholds,
      rounds: [picks.slice(0, 40), picks.slice(40)],
      modelFor: async (_id, mode) => {
        told = mode;
        return host;
      },
    });
    expect(told).toEqual({ mode: 'band', thresholds: 3 });
    const { answers, sd } = r.bank;
    // Each comparison is rho (score - t + n1) + n2, rho >= 1: a sign can flip within 6 sqrt(2) sd of t.
    const margin = 6 * Math.SQRT2 * sd;
    let checked = 0;
    answers.flat().forEach((o, k) => {
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
    // A threshold that pushes tree 0's shifted weights beyond the measured range is refused up front.
    await expect(TreeScoringBank.create({ model: guest, thresholds: [40] })).rejects.toMatchObject({
      code: 'out_of_range',
      field: 'thresholds[0]',
    });
  }, 120_000);

  it('a model the host does not serve refuses every applicant without a lookup', async () => {
    const r = await session({ rounds: [[0, 1]], modelFor: async () => 'policy_refused' });
    expect(r.lookups).toBe(0);
    for (const o of r.bank.answers[0]!) expect(!o.ok && o.error).toMatchObject({ code: 'policy_refused' });
  }, 120_000);

  it('the declared rounds are a budget: the bank stops, the host refuses a round beyond it', async () => {
    await expect(session({ maxRounds: 1, rounds: [[0], [1]] })).rejects.toMatchObject({
      code: 'invalid_state',
      field: 'maxRounds',
    });
    // A weakened bank: it declares 1 round, scores it, then sends a second through the raw step.
    const network = createInMemoryNetwork(['bank', 'gov'], envelopeCodec);
    const spec = { protocol: TREE_SCORING_PROTOCOL, version: TREE_SCORING_VERSION, session: 's' };
    const run = runParties(network, {
      bank: async () => {
        const bank = await TreeScoringBank.create({ model: guest, maxRounds: 1 });
        try {
          const s = new ProtocolSession(network.channel('bank'), spec);
          await bank.open(s, 'gov');
          await bank.scoreBatch([item(0)]);
          // round 2 of 1: the host must refuse it
          await s.send('gov', TREE_REQUEST, {
            round: 2,
            applicants: [{ applicant: ids[1]!, requestId: '' }],
            items: [new Uint8Array(16)],
          } as never);
          await s.receive('gov', TREE_REPLY);
        } finally {
          bank.dispose();
        }
      },
      gov: () =>
        new TreeScoringGovernment({
          modelFor: async () => host,
          lookup: async (requests) => requests.map(() => row(pop.host, TRAIN)),
        }).serve(new ProtocolSession(network.channel('gov'), spec), 'bank'),
    });
    await expect(run).rejects.toMatchObject({ code: 'protocol_step', field: 'tree-request.round' });
  }, 120_000);

  it("a session naming other hosts than the model's is refused", async () => {
    const network = createInMemoryNetwork(['bank', 'gov'], envelopeCodec);
    const s = new ProtocolSession(network.channel('bank'), {
      protocol: TREE_SCORING_PROTOCOL,
      version: TREE_SCORING_VERSION,
      session: 'h',
    });
    const bank = await TreeScoringBank.create({ model: guest, maxRounds: 1 });
    try {
      await expect(bank.open(s, ['gov', 'gov-2'])).rejects.toSatisfy(
        (e: unknown) => e instanceof FedscoreError && e.code === 'invalid_argument' && e.field === 'hosts',
      );
    } finally {
      bank.dispose();
    }
  });
});
