/**
 * Attack: an honest-but-curious enterprise reads the bank's per-interval points from the decrypted slots
 * of a compact self-estimate (protocol scoring.self-estimate-compact). Without rotations the bank cannot
 * sum the slots itself: the result holds, per slot i of block 0, points_i b_i, and the client knows its
 * one-hot b, so every slot it set IS one of the scorecard's points (per-feature weights); model
 * extraction through a prediction interface (Tramer et al. 2016, "Stealing machine learning models via
 * prediction APIs") in one query, without even probing.
 * Defence: the bank adds a fresh mask m, uniform in +-2^maskBits (default 2^20) and centred so its slots
 * sum to zero (the masking of secure aggregation, Bonawitz et al. 2017, over slots), from a cryptographic
 * generator: the sum (the score) is unchanged, each slot is hidden.
 * Weakened configuration (`maskBits: 0`) recovers every set slot's points to 0.05; the default leaves the
 * attacker's estimate off by more than 100 points (the mask is ~2^20; a slot lands within 100 with probability ~1e-4) and its sum still right.
 */
import { createInMemoryNetwork, ProtocolSession, runParties } from '@fedscore/core';
import {
  buildSelfEstimateCompactModel,
  encodeOneHot,
  SCORING_VERSION,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SelfEstimateCompactBank,
  SelfEstimateCompactClient,
  scoreApplicant,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { enterprises, rules, twoPartyScorecard } from '../fixtures.ts';

const card = twoPartyScorecard();
const r = rules();

/** Run one estimate and return what the attacker reads: the decrypted block-0 slots it set. */
async function attack(maskBits: number | undefined) {
  const model = buildSelfEstimateCompactModel(card, r, { product: 'p', revealScore: true });
  const values = enterprises(5, 11)[2]!;
  const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec);
  const spec = { protocol: SELF_ESTIMATE_COMPACT_PROTOCOL, version: SCORING_VERSION, session: 'x' };
  const client = new SelfEstimateCompactClient();
  const out = await runParties(network, {
    bank: () =>
      new SelfEstimateCompactBank({ model, ...(maskBits !== undefined && { maskBits }) }).serve(
        new ProtocolSession(network.channel('bank'), spec),
        'enterprise',
      ),
    client: () => client.estimate(new ProtocolSession(network.channel('enterprise'), spec), 'bank', values),
  });
  const bits = encodeOneHot(model.form, values);
  const slots = client.lastTrace!.scoreSlots;
  // the secret: per set slot, the bank's points (relative to the feature's first bin)
  const recovered: { slot: number; guess: number; truth: number }[] = [];
  bits.forEach((b, i) => {
    if (b === 1 && model.points[i] !== 0)
      recovered.push({ slot: i, guess: slots[i]!, truth: model.points[i]! });
  });
  return { recovered, score: out.client.score!, truth: scoreApplicant(card, values) };
}

describe('attack: per-slot weights from the compact self-estimate', () => {
  it('recovers the bank points of every set slot when the zero-sum mask is off', async () => {
    const { recovered } = await attack(0);
    expect(recovered.length).toBeGreaterThan(0);
    for (const x of recovered) expect(Math.abs(x.guess - x.truth)).toBeLessThan(0.05);
  });

  it('fails with the mask on (default): each slot is off by > 100 points (P < 1e-3 per run), the total still right', async () => {
    const { recovered, score, truth } = await attack(undefined);
    expect(recovered.length).toBeGreaterThan(0);
    for (const x of recovered) expect(Math.abs(x.guess - x.truth)).toBeGreaterThan(100);
    expect(Math.abs(score - truth)).toBeLessThan(0.05);
  });
});
