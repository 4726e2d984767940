/**
 * The "who learns what" table of docs/protocols/hetero-lr.md, checked against every message each party
 * receives (in-memory network with capture):
 * - hosts receive only the plan, public contexts, control messages, ciphertexts under keys they do not
 *   hold, and their own masked-then-released gradient (p_h values): no labels, no residuals, no vector
 *   of batch length in the clear;
 * - the guest receives host contributions only as ciphertexts under keys it does not hold (or masked
 *   gradient parts and validation partial scores, by the table);
 * - the arbiter (or a key holder in two-party mode) receives only masked values: in plaintext mode we
 *   can read them, and they must look like uniform masks of 2^maskBits (tolerance below), not gradients.
 * The CKKS half (every ciphertext a party receives is under a key it does not hold) shares its runs with
 * the CKKS-vs-plaintext weight check in hetero-lr-he.test.ts.
 */
import type { CapturedMessage } from '@fedscore/core';
import { trainHeteroLr } from '@fedscore/vfl';
import { ciphertextBatchStep, fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const batchStep = ciphertextBatchStep('any');
const CIPHER_STEPS = new Set([
  'host-forward',
  'peer-forward',
  'class-weights',
  'residual',
  'masked-gradient',
  'validation-forward',
  'validation-masked',
]);
const HOST_STEPS = new Set([
  'train-plan',
  'public-context',
  'epoch-control',
  'residual',
  'released-gradient',
  'validation-result',
  'class-weights',
  'peer-forward',
  'masked-gradient',
  'resume-from',
]);
const GUEST_STEPS = new Set([
  'host-hello',
  'resume-offer',
  'public-context',
  'host-forward',
  'masked-gradient',
  'released-gradient',
  'validation-forward',
  'validation-released',
  'validation-partial',
]);
const ARBITER_STEPS = new Set([
  'train-plan',
  'resume-from',
  'epoch-control',
  'masked-gradient',
  'validation-masked',
]);

function float64s(item: Uint8Array): Float64Array {
  const v = new DataView(item.buffer, item.byteOffset, item.byteLength);
  return Float64Array.from({ length: item.length / 8 }, (_, i) => v.getFloat64(8 * i, true));
}

function released(m: CapturedMessage): Float64Array {
  return Float64Array.from(fedscore.common.Float64Vector.decode(m.payload).values);
}

const data = syntheticSplit(400, 3, [4, 2], 21);
const hyper = { batchSize: 64, maxEpochs: 2, validationFraction: 0.2, patience: 0, maskBits: 16 };

describe('hetero-LR who learns what (plaintext mode: message kinds, sizes and mask statistics)', () => {
  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}: each party receives only what the table allows`, async () => {
      const res = await trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        mode,
        scheme: 'none',
        hyperparams: { ...hyper, ...(mode === 'two-party' && { classWeight: 'balanced' as const }) },
        minMaskBits: 16, // the statistics below are for masks of 2^16 (default 2^40)
        capture: true,
      });
      const byReceiver = (p: string) => res.captured.filter((m) => m.to === p);
      // Hosts.
      res.hosts.forEach((h, i) => {
        const got = byReceiver(h.party);
        expect(got.length).toBeGreaterThan(0);
        for (const m of got) {
          expect(HOST_STEPS.has(m.step), `${h.party} got ${m.step}`).toBe(true);
          if (m.step === 'released-gradient') expect(released(m).length).toBe(data.hosts[i]!.columns.length);
          if (mode === 'arbiter')
            expect(['class-weights', 'peer-forward', 'masked-gradient']).not.toContain(m.step);
        }
        // A host never receives a plaintext vector of batch or table length (labels, residuals).
        const plainLengths = got.filter((m) => m.step === 'released-gradient').map((m) => released(m).length);
        expect(plainLengths.every((n) => n < 64)).toBe(true);
      });
      // Guest.
      for (const m of byReceiver('guest')) {
        expect(GUEST_STEPS.has(m.step), `guest got ${m.step}`).toBe(true);
        if (m.step === 'released-gradient') expect(released(m).length).toBe(data.guest.columns.length + 1);
      }
      // Key holders: every vector they can decrypt is masked. In plaintext mode the "ciphertext" is the
      // value itself: masks uniform in [-2^16, 2^16] make |value| average ~2^15 and rarely fall below 2^10.
      const keyHolderInputs = (
        mode === 'arbiter'
          ? byReceiver('arbiter')
          : res.captured.filter(
              (m) => m.step === 'masked-gradient', // two-party: the guest decrypts host parts and vice versa
            )
      ).filter((m) => CIPHER_STEPS.has(m.step));
      if (mode === 'arbiter') {
        for (const m of byReceiver('arbiter'))
          expect(ARBITER_STEPS.has(m.step), `arbiter got ${m.step}`).toBe(true);
      }
      const values: number[] = [];
      for (const m of keyHolderInputs)
        for (const item of batchStep.decode(m.payload).items) values.push(...float64s(item));
      expect(values.length).toBeGreaterThan(100);
      const meanAbs = values.reduce((a, v) => a + Math.abs(v), 0) / values.length;
      expect(meanAbs).toBeGreaterThan(2 ** 15 * 0.85);
      expect(meanAbs).toBeLessThan(2 ** 15 * 1.15);
      expect(values.filter((v) => Math.abs(v) < 2 ** 10).length / values.length).toBeLessThan(0.06);
      expect(Math.max(...values.map(Math.abs))).toBeLessThan(2 ** 16 + 100);
    });
  }
});
