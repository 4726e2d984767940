/**
 * Online joint scoring: exact mode returns s_bank + s_gov within 1e-4 (flooding sd 2^-20 plus CKKS error
 * ~1e-6 at scale 2^30); band mode returns the band of the plaintext score exactly (no score within 1e-3
 * of a threshold in the sample). Message capture checks the "who learns what" table of
 * docs/protocols/online-scoring.md: the government receives the hello, requests and ciphertexts only.
 */
import { createInMemoryNetwork, ProtocolSession, runParties, seededRng } from '@fedscore/core';
import { expectNoSecret } from '@fedscore/core/testing';
import { loadCkksSecretContext } from '@fedscore/he';
import { ckksSecretKeyBytes } from '@fedscore/he/testing';
import {
  bandFromThresholdIndex,
  bandIndexOf,
  bandThresholds,
  ONLINE_SCORING_PROTOCOL,
  OnlineScoringBank,
  OnlineScoringGovernment,
  partialScore,
  SCORING_VERSION,
  scoreApplicant,
} from '@fedscore/scoring';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { enterprises, rules, twoPartyScorecard } from './fixtures.ts';

const card = twoPartyScorecard();
const r = rules();
const applicants = enterprises(60, 21).map((e, i) => ({ id: `E${i}`, values: e }));
const byId = new Map(applicants.map((a) => [a.id, a.values]));

async function session(mode: 'exact' | 'band', ids: string[]) {
  const bank = await OnlineScoringBank.create({ mode, thresholds: bandThresholds(r) });
  const gov = new OnlineScoringGovernment({
    partialScoreOf: (id) => {
      const v = byId.get(id);
      return v === undefined ? undefined : partialScore(card, 'gov', v);
    },
    rng: seededRng(5),
  });
  const network = createInMemoryNetwork(['bank', 'gov'], envelopeCodec, { capture: true });
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'o' };
  const out = await runParties(network, {
    gov: () => gov.serve(new ProtocolSession(network.channel('gov'), spec), 'bank'),
    bank: async () => {
      await bank.open(new ProtocolSession(network.channel('bank'), spec), 'gov', 'model-1');
      const results = [];
      for (const id of ids) {
        const v = byId.get(id);
        results.push(await bank.score(id, v ? partialScore(card, 'bank', v) : 0));
      }
      await bank.close();
      return results;
    },
  });
  const secretKey = ckksSecretKeyBytes(bank.context);
  bank.dispose();
  gov.dispose();
  return { results: out.bank, served: out.gov, network, secretKey };
}

describe('online joint scoring', () => {
  it('exact mode: the joint score within 1e-4; unknown applicants are reported', async () => {
    const ids = [...applicants.map((a) => a.id), 'UNKNOWN'];
    const { results, served } = await session('exact', ids);
    applicants.forEach((a, i) => {
      expect(results[i]!.found).toBe(true);
      expect(Math.abs(results[i]!.score! - scoreApplicant(card, a.values))).toBeLessThan(1e-4);
    });
    expect(results[ids.length - 1]!.found).toBe(false);
    expect(served).toEqual({ requests: ids.length, notFound: 1 });
  });

  it('band mode: the band of the plaintext score, and nothing decrypts to the score', async () => {
    const { results, network, secretKey } = await session(
      'band',
      applicants.map((a) => a.id),
    );
    const thresholds = bandThresholds(r);
    applicants.forEach((a, i) => {
      const s = scoreApplicant(card, a.values);
      expect(thresholds.every((t) => Math.abs(s - t) > 1e-3)).toBe(true);
      const band = bandFromThresholdIndex(r.bands.length, thresholds.length, results[i]!.thresholdIndex!);
      expect(band).toBe(bandIndexOf(r, s));
    });
    // who learns what: the government receives hello, then (request, partial) per applicant, then close
    const steps = network.receivedBy('gov').map((m) => m.step);
    expect(steps[0]).toBe('online-hello');
    expect(steps.slice(1, -1)).toEqual(applicants.flatMap(() => ['score-request', 'partial-score']));
    expect(steps[steps.length - 1]).toBe('score-request');
    const hello = fedscore.scoring.OnlineHello.decode(network.receivedBy('gov')[0]!.payload);
    expect(hello.thresholds).toBe(thresholds.length);
    await expect(loadCkksSecretContext(hello.context)).rejects.toThrow();
    // no window of the bank's secret key in any byte the government receives (raw or decompressed)
    expectNoSecret(
      network.receivedBy('gov').map((m) => m.bytes),
      secretKey,
      'to the government',
    );
    // the bank receives reply + joint-result per applicant, nothing else
    expect(network.receivedBy('bank').map((m) => m.step)).toEqual(
      applicants.flatMap(() => ['score-reply', 'joint-result']),
    );
  });
});
