/**
 * Compact self-estimate (N = 4096, no relinearization or Galois keys, zero-sum masked slots): the band,
 * line and, when revealed, the score (within 0.05 points: flooding noise sd 2^-7 plus CKKS error measured
 * max 1.4e-3) equal the plaintext decision on the same figures; the bytes per estimate stay under 1 MiB;
 * the bank receives a public context without secret key (searched for in every byte it receives),
 * relinearization or Galois keys, and ciphertexts; the form holds no points.
 */
import { createInMemoryNetwork, ProtocolSession, runParties } from '@fedscore/core';
import { expectNoSecret } from '@fedscore/core/testing';
import { createCkksContext, loadCkksPublicContext, loadCkksSecretContext } from '@fedscore/he';
import {
  buildSelfEstimateCompactModel,
  encodeOneHot,
  plainSelfEstimate,
  SCORING_VERSION,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SELF_ESTIMATE_FORM,
  SELF_ESTIMATE_KEYS,
  SelfEstimateCompactBank,
  SelfEstimateCompactClient,
  scoreApplicant,
} from '@fedscore/scoring';
import { envelopeCodec, fedscore } from '@fedscore/wire';
import { describe, expect, it, vi } from 'vitest';
import { enterprises, rules, twoPartyScorecard } from './fixtures.ts';

// Record each secret key the client makes (the context is passed on unchanged), to search the bank's bytes.
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
  const model = buildSelfEstimateCompactModel(card, r, { product: 'test-loan', revealScore });
  const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec, { capture: true });
  const spec = { protocol: SELF_ESTIMATE_COMPACT_PROTOCOL, version: SCORING_VERSION, session: 'q' };
  const out = await runParties(network, {
    bank: () =>
      new SelfEstimateCompactBank({ model }).serve(
        new ProtocolSession(network.channel('bank'), spec),
        'enterprise',
      ),
    client: () =>
      new SelfEstimateCompactClient().estimate(
        new ProtocolSession(network.channel('enterprise'), spec),
        'bank',
        values,
      ),
  });
  const stats = network.channel('enterprise').stats();
  const bytes = (stats.bytesSent['bank'] ?? 0) + (stats.bytesReceived['bank'] ?? 0);
  return { result: out.client, network, bytes };
}

describe('compact self-estimate', () => {
  const sample = enterprises(200, 33);
  const picks = ['A', 'B', 'C', 'D'].map((band) =>
    sample.find((e) => plainSelfEstimate(r, e, scoreApplicant(card, e)).band === band),
  );

  it('the one-hot encoding marks exactly one interval per feature, and the grid interval of the value', () => {
    const model = buildSelfEstimateCompactModel(card, r, { product: 'p' });
    const bits = encodeOneHot(model.form, picks[0]!);
    let o = 0;
    for (const f of model.form.features) {
      const width = (f.missing ? 1 : 0) + (f.grid?.length ?? 0) + 1;
      const slice = Array.from(bits.slice(o, o + width));
      expect(slice.reduce((a, b) => a + b, 0)).toBe(1);
      const v = picks[0]![f.name ?? '']!;
      const interval = (f.grid ?? []).filter((t) => v > t).length;
      expect(slice[(f.missing ? 1 : 0) + interval]).toBe(1);
      o += width;
    }
    expect(o).toBe(bits.length);
  });

  it('equals the plaintext decision in every band, under 1 MiB per estimate', async () => {
    expect(picks.every((p) => p !== undefined)).toBe(true);
    for (const values of picks) {
      const s = scoreApplicant(card, values!);
      const plain = plainSelfEstimate(r, values!, s);
      const { result, bytes } = await estimate(values!, true);
      expect(result.band).toBe(plain.band);
      expect(result.line).toBe(plain.line);
      expect(result.approved).toBe(plain.approved);
      expect(Math.abs(result.score! - s)).toBeLessThan(0.05);
      expect(bytes).toBeLessThan(1024 * 1024);
    }
  });

  it('who learns what: the bank gets a public key only and ciphertexts; the score stays hidden by default', async () => {
    const before = secretKeys.length;
    const { result, network, bytes } = await estimate(picks[1]!, false);
    expect(secretKeys.length).toBe(before + 1);
    // no window of the client's secret key in any byte the bank receives (raw or decompressed)
    expectNoSecret(
      network.receivedBy('bank').map((m) => m.bytes),
      secretKeys[before]!,
      'to the bank',
    );
    console.log(`compact self-estimate: ${bytes} bytes (${(bytes / 2 ** 20).toFixed(3)} MiB)`);
    expect(result.score).toBeUndefined();
    expect(network.receivedBy('bank').map((m) => m.step)).toEqual(['self-estimate-keys', 'encrypted-bits']);
    const keys = fedscore.scoring.SelfEstimateKeys.decode(network.receivedBy('bank')[0]!.payload);
    await expect(loadCkksSecretContext(keys.context)).rejects.toThrow();
    const pub = await loadCkksPublicContext(keys.context);
    expect(pub.hasRelinKeys).toBe(false);
    expect(pub.rotations).toEqual([]);
    expect(pub.params.polyModulusDegree).toBe(4096);
    pub.dispose();
    const form = JSON.stringify(
      fedscore.scoring.SelfEstimateForm.toObject(
        fedscore.scoring.SelfEstimateForm.decode(network.receivedBy('enterprise')[0]!.payload),
      ),
    );
    for (const f of card.features) for (const p of f.points) expect(form.includes(String(p))).toBe(false);
  });

  it('the bank refuses keys under other parameters than the compact ones, naming the field', async () => {
    const model = buildSelfEstimateCompactModel(card, r, { product: 'p' });
    const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec);
    const spec = { protocol: SELF_ESTIMATE_COMPACT_PROTOCOL, version: SCORING_VERSION, session: 'w' };
    const other = await createCkksContext({ params: 'ckks-8192', relinearization: false });
    const run = runParties(network, {
      bank: () =>
        new SelfEstimateCompactBank({ model }).serve(
          new ProtocolSession(network.channel('bank'), spec),
          'enterprise',
        ),
      client: async () => {
        const s = new ProtocolSession(network.channel('enterprise'), spec);
        await s.receive('bank', SELF_ESTIMATE_FORM);
        await s.send(
          'bank',
          SELF_ESTIMATE_KEYS,
          fedscore.scoring.SelfEstimateKeys.create({ context: other.serialize() }),
        );
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'protocol_step', field: 'self-estimate-keys.context' });
    other.dispose();
  });

  it('a figure beyond what CKKS holds is refused, naming it; a missing required one too', async () => {
    await expect(estimate({ ...picks[0]!, turnover: 1e15 }, false)).rejects.toMatchObject({
      code: 'out_of_range',
      field: 'turnover',
    });
    const model = buildSelfEstimateCompactModel(card, r, { product: 'p' });
    expect(() => encodeOneHot(model.form, { turnover: 1, tax_paid: 1, penalties: 0 })).toThrow(/overdue/);
  });
});
