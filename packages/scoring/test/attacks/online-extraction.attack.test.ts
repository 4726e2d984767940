/**
 * Attack: a bank extracts the government's partial scores through online joint scoring (review finding 6
 * of the privacy issue; extraction through a comparison oracle, as in the prediction-API attacks of
 * Tramer, Zhang, Juels, Reiter & Ristenpart 2016, "Stealing machine learning models via prediction APIs").
 *
 * The bank knows its own partial s_bank, so anything that pins down s = s_bank + s_gov gives s_gov, the
 * government's part of the model applied to its data for that enterprise (and, over many applicants,
 * its weights). Two ways with one request per applicant:
 *   (i) exact mode: the bank decrypts s (within 2^-20), hence s_gov;
 *  (ii) band mode with a threshold grid of its own choosing: 321 thresholds one point apart give s
 *       within one point (the government sees only K, never the values).
 * Defence: the government's policy (`OnlineScoringPolicy`): exact mode refused unless allowed, K capped
 * at the registered band count (default 4). The weakened configuration (exact allowed, a cap of 1000)
 * recovers every s_gov; the default refuses with the typed error `policy_refused` and still serves the
 * bank's real band table. Repeated requests with shifted thresholds (a bisection of s) are metered per
 * (bank, enterprise) by the node: packages/node/test/attacks/scoring-quota.attack.test.ts.
 */
import {
  createInMemoryNetwork,
  FedscoreError,
  loadRngKey,
  ProtocolSession,
  runParties,
} from '@fedscore/core';
import {
  bandIndexOf,
  bandThresholds,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  OnlineScoringBank,
  OnlineScoringGovernment,
  type OnlineScoringPolicy,
  partialScore,
  scoreApplicant,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { enterprises, rules, twoPartyScorecard } from '../fixtures.ts';

const card = twoPartyScorecard();
const r = rules();
const applicants = enterprises(12, 41).map((values, i) => ({ id: `E${i}`, values }));
const byId = new Map(applicants.map((a) => [a.id, a.values]));
const govPartial = (id: string) => {
  const v = byId.get(id);
  return v === undefined ? undefined : partialScore(card, 'gov', v);
};

/** The malicious bank: one request per applicant; returns its estimate of s_gov per applicant. */
async function extract(
  policy: OnlineScoringPolicy | undefined,
  mode: 'exact' | 'band',
  thresholds: readonly number[],
): Promise<number[]> {
  const bank = await OnlineScoringBank.create({ mode, thresholds });
  const gov = new OnlineScoringGovernment({
    partialScoreOf: govPartial,
    rng: (await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => i + 3))).derive('online-extraction'),
    ...(policy !== undefined && { policy }),
  });
  const network = createInMemoryNetwork(['bank', 'gov'], envelopeCodec);
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session: 'x' };
  try {
    const out = await runParties(network, {
      gov: () => gov.serve(new ProtocolSession(network.channel('gov'), spec), 'bank'),
      bank: async () => {
        await bank.open(new ProtocolSession(network.channel('bank'), spec), 'gov', 'model-1');
        const estimates: number[] = [];
        try {
          for (const a of applicants) {
            const own = partialScore(card, 'bank', a.values);
            const res = await bank.score(a.id, own);
            if (mode === 'exact') estimates.push(res.score! - own);
            else {
              // s lies in [t_k, t_(k-1)): the middle of the interval, minus the bank's own part
              const k = res.thresholdIndex!;
              const hi = k === 0 ? thresholds[0]! + 1 : thresholds[k - 1]!;
              const lo = k === thresholds.length ? thresholds[k - 1]! - 1 : thresholds[k]!;
              estimates.push((hi + lo) / 2 - own);
            }
          }
        } finally {
          await bank.close();
        }
        return estimates;
      },
    });
    return out.bank;
  } finally {
    bank.dispose();
    gov.dispose();
  }
}

const grid = Array.from({ length: 321 }, (_, k) => 760 - k); // 760, 759, ..., 440

describe("attack: a bank extracts the government's partial scores through online scoring", () => {
  it('(i) weakened (exact mode allowed): one request per applicant gives s_gov within 1e-4', async () => {
    const est = await extract({ allowExactMode: true }, 'exact', []);
    applicants.forEach((a, i) => {
      expect(Math.abs(est[i]! - govPartial(a.id)!)).toBeLessThan(1e-4);
    });
  });

  it('(ii) weakened (no threshold cap): 321 chosen thresholds give s_gov within half a point', async () => {
    const est = await extract({ maxThresholds: 1000 }, 'band', grid);
    applicants.forEach((a, i) => {
      expect(Math.abs(est[i]! - govPartial(a.id)!)).toBeLessThanOrEqual(0.5 + 1e-3);
    });
  });

  it('default policy: both are refused with policy_refused; the real band table is served', async () => {
    for (const [mode, thresholds] of [
      ['exact', []],
      ['band', grid],
    ] as const) {
      const err = await extract(undefined, mode, thresholds).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FedscoreError);
      expect((err as FedscoreError).code).toBe('policy_refused');
      expect((err as FedscoreError).field).toBe('score-reply.error');
    }
    // Positive control: the bank's registered table (3 thresholds) is served and gives only the band,
    // which leaves s_gov uncertain by the band's width (tens of points).
    const t = bandThresholds(r);
    const est = await extract(undefined, 'band', t);
    const errors = applicants.map((a, i) => Math.abs(est[i]! - govPartial(a.id)!));
    applicants.forEach((a) => {
      expect(bandIndexOf(r, scoreApplicant(card, a.values))).toBeGreaterThanOrEqual(0);
    });
    expect(Math.max(...errors)).toBeGreaterThan(5);
  });

  it('the cap can be the band count registered per model id; an unregistered model is refused', async () => {
    const registered = (modelId: string) => (modelId === 'model-1' ? 3 : undefined);
    expect((await extract({ maxThresholds: registered }, 'band', bandThresholds(r))).length).toBe(
      applicants.length,
    );
    const err = await extract({ maxThresholds: () => undefined }, 'band', bandThresholds(r)).catch(
      (e: unknown) => e,
    );
    expect((err as FedscoreError).code).toBe('policy_refused');
  });
});
