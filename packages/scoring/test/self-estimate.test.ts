/**
 * Enterprise self-estimate: the band, line (to the rounding step, tolerance 1e-4 figure units) and, when
 * revealed, the score (within 2e-3: the bits check adds r b (b - 1) terms with |r| up to 2^16, whose
 * CKKS error measured RMS 1.8e-4 points, max 4.5e-4 over 16 enterprises) equal the plaintext decision on the same figures. Message capture
 * checks docs/protocols/self-estimate.md: the bank receives the client's public context (no secret key),
 * the bits and the figures as ciphertexts only; the form carries no points.
 */
import { createInMemoryNetwork, ProtocolSession, runParties } from '@fedscore/core';
import { expectNoSecret } from '@fedscore/core/testing';
import { loadCkksPublicContext, loadCkksSecretContext } from '@fedscore/he';
import {
  buildSelfEstimateModel,
  encodeBits,
  plainSelfEstimate,
  SCORING_VERSION,
  SELF_ESTIMATE_PROTOCOL,
  SelfEstimateBank,
  SelfEstimateClient,
  scoreApplicant,
} from '@fedscore/scoring';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it, vi } from 'vitest';
import { enterprises, rules, twoPartyScorecard } from './fixtures.ts';

// The client makes its key set inside `estimate`; record each one's secret key as it is created (the
// context itself is passed on unchanged) so the captured messages can be searched for it.
const secretKeys = vi.hoisted(() => [] as Uint8Array[]);
vi.mock('@fedscore/he', async (importOriginal) => {
  const he = await importOriginal<typeof import('@fedscore/he')>();
  const { ckksSecretKeyBytes } = await import('@fedscore/he/testing');
  return {
    ...he,
    createCkksContext: async (...args: Parameters<typeof he.createCkksContext>) => {
      const ctx = await he.createCkksContext(...args);
      secretKeys.push(ckksSecretKeyBytes(ctx));
      return ctx;
    },
  };
});

const card = twoPartyScorecard();
const r = rules();

async function estimate(values: Record<string, number>, revealScore: boolean) {
  const model = buildSelfEstimateModel(card, r, { product: 'test-loan', revealScore });
  const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec, { capture: true });
  const spec = { protocol: SELF_ESTIMATE_PROTOCOL, version: SCORING_VERSION, session: 'q' };
  const out = await runParties(network, {
    bank: () =>
      new SelfEstimateBank({ model }).serve(new ProtocolSession(network.channel('bank'), spec), 'enterprise'),
    client: () =>
      new SelfEstimateClient().estimate(
        new ProtocolSession(network.channel('enterprise'), spec),
        'bank',
        values,
      ),
  });
  return { result: out.client, network, model };
}

describe('self-estimate', () => {
  const sample = enterprises(200, 33);
  // A spread of bands: pick enterprises from each band of the plaintext decision.
  const picks = ['A', 'B', 'C', 'D'].map((band) =>
    sample.find((e) => plainSelfEstimate(r, e, scoreApplicant(card, e)).band === band),
  );

  it('a figure beyond what CKKS holds exactly is refused before encryption, naming it', async () => {
    await expect(estimate({ ...picks[0]!, turnover: 1e15 }, false)).rejects.toMatchObject({
      code: 'out_of_range',
      field: 'turnover',
    });
  });

  it('equals the plaintext decision in every band', async () => {
    expect(picks.every((p) => p !== undefined)).toBe(true);
    for (const values of picks) {
      const s = scoreApplicant(card, values!);
      const plain = plainSelfEstimate(r, values!, s);
      const { result } = await estimate(values!, true);
      expect(result.band).toBe(plain.band);
      expect(result.line).toBe(plain.line);
      expect(result.approved).toBe(plain.approved);
      expect(Math.abs(result.score! - s)).toBeLessThan(2e-3);
    }
  });

  it('who learns what: the bank sees keys without a secret key and ciphertexts; the form holds no points', async () => {
    const before = secretKeys.length;
    const { result, network, model } = await estimate(picks[1]!, false);
    expect(secretKeys.length).toBe(before + 1);
    expect(result.score).toBeUndefined();
    expect(network.receivedBy('bank').map((m) => m.step)).toEqual([
      'self-estimate-keys',
      'encrypted-bits',
      'encrypted-figures',
    ]);
    expect(network.receivedBy('enterprise').map((m) => m.step)).toEqual([
      'self-estimate-form',
      'estimate-result',
    ]);
    const keys = fedscore.scoring.SelfEstimateKeys.decode(network.receivedBy('bank')[0]!.payload);
    await expect(loadCkksSecretContext(keys.context)).rejects.toThrow();
    // no window of the client's secret key in any byte the bank receives (raw or decompressed)
    expectNoSecret(
      network.receivedBy('bank').map((m) => m.bytes),
      secretKeys[before]!,
      'to the bank',
    );
    (await loadCkksPublicContext(keys.context)).dispose();
    const form = fedscore.scoring.SelfEstimateForm.toObject(
      fedscore.scoring.SelfEstimateForm.decode(network.receivedBy('enterprise')[0]!.payload),
    );
    const text = JSON.stringify(form);
    for (const f of card.features) for (const p of f.points) expect(text.includes(String(p))).toBe(false);
    // every bin edge hides among the grid points
    for (const f of card.features) {
      const grid = model.form.features.find((g) => g.name === f.name)!.grid;
      expect(grid?.length ?? 0).toBeGreaterThan(f.bins.kind === 'numeric' ? f.bins.edges.length : 0);
    }
  });

  it('the client refuses a missing required figure, naming it', () => {
    const model = buildSelfEstimateModel(card, r, { product: 'p' });
    expect(() => encodeBits(model.form, { turnover: 1, tax_paid: 1, penalties: 0 })).toThrow(/overdue/);
  });
});
