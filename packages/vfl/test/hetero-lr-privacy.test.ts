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
 * Under CKKS (small data, both modes) the labels are searched for byte by byte in everything a host
 * receives (`@fedscore/core/testing`'s byte search): the labels of the first batch and of the first rows in every plausible
 * encoding, the first step's residual c (1/2 - y) (equal to what the guest encrypts then: all weights
 * are 0) and y - 1/2, and the class weights c of that batch. Positive control: the same search finds
 * the residual and class weights in the plaintext-scheme run, and every label encoding in bytes planted
 * in noise. In the same CKKS runs every byte each party receives (envelope and payload) is searched for
 * the other parties' feature values, raw and standardized, every column, in row and in batch order, and
 * in arbiter mode everything the arbiter receives for the labels, residual and class weights (positive
 * control: the feature needles planted in noise).
 */
import { type CapturedMessage, seededRng } from '@fedscore/core';
import { labelNeedles, type Needle, needlesFound, packBits, valueNeedles } from '@fedscore/core/testing';
import {
  applyStandardization,
  batchOrder,
  fixedBatches,
  type HeteroLrScheme,
  type PartyModel,
  trainHeteroLr,
  trainingRows,
} from '@fedscore/vfl';
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

describe('hetero-LR: no label, residual or class weight reaches a host (CKKS, searched byte by byte)', () => {
  // 256 rows, all training (no validation split): 4 batches of 64, 2 epochs.
  const small = syntheticSplit(256, 2, [3], 31);
  const B = 64;
  const seed = 5;
  const y = Array.from(small.labels);
  const train = trainingRows(y.length, []);
  const first = fixedBatches(train, B, seed)[batchOrder(4, seed, 0)[0]!]!;
  const pos = y.reduce((a, b) => a + b, 0);
  // Balanced class weights as the guest computes them (n / (2 n_k)), and the first step's residual.
  const c = Array.from(first, (r) => (y[r] === 1 ? y.length / (2 * pos) : y.length / (2 * (y.length - pos))));
  const yb = Array.from(first, (r) => y[r]!);
  const residual = yb.map((v, k) => c[k]! * (0.25 * 0 + 0.5 - v));
  const needles: Needle[] = [
    ...labelNeedles('labels of the first batch', yb),
    ...labelNeedles('labels of rows 0-63', y.slice(0, 64)),
    ...valueNeedles('residual c (1/2 - y)', residual),
    ...valueNeedles(
      'y - 1/2',
      yb.map((v) => v - 0.5),
    ),
    ...valueNeedles(
      '1/2 - y',
      yb.map((v) => 0.5 - v),
    ),
    ...valueNeedles('class weights c', c),
  ];

  function trainSmall(mode: 'arbiter' | 'two-party', scheme: HeteroLrScheme) {
    return trainHeteroLr({
      guest: { features: small.guest, labels: small.labels },
      hosts: small.hosts.map((features) => ({ features })),
      mode,
      scheme,
      hyperparams: { batchSize: B, maxEpochs: 2, seed, patience: 0, classWeight: 'balanced' },
      runtime: { workers: 0 },
      capture: true,
    });
  }
  // One CKKS run per mode, shared by the tests below (each costs seconds).
  const ckksRuns = new Map<string, ReturnType<typeof trainSmall>>();
  function ckksRun(mode: 'arbiter' | 'two-party') {
    let r = ckksRuns.get(mode);
    if (r === undefined) {
      r = trainSmall(mode, 'ckks');
      ckksRuns.set(mode, r);
    }
    return r;
  }

  async function run(mode: 'arbiter' | 'two-party', scheme: HeteroLrScheme) {
    const res = await (scheme === 'ckks' ? ckksRun(mode) : trainSmall(mode, scheme));
    return res.captured.filter((m) => m.to === res.hosts[0]!.party);
  }

  it('positive control: every label encoding is found when planted in noise at any stride', () => {
    const rng = seededRng('byte-search/control');
    const noise = (n: number) => Uint8Array.from({ length: n }, () => rng.nextUint32() & 0xff);
    for (const stride of [0, 3, 13]) {
      for (const n of labelNeedles('labels', yb)) {
        // Plant the same encoding the needle looks for, stride bytes of noise between values.
        const parts: Uint8Array[] = [noise(101)];
        const name = n.name;
        if (name.includes('bits')) parts.push(packBits(yb, name.includes('lsb')));
        else if (name.includes('"1,0')) parts.push(new TextEncoder().encode(yb.join(',')));
        else if (name.includes('"10')) parts.push(new TextEncoder().encode(yb.join('')));
        else {
          const enc = name.slice(name.lastIndexOf(' ') + 1) as 'f64le' | 'f64be' | 'f32le' | 'i32le' | 'u8';
          for (const v of yb) {
            const b = new Uint8Array(enc.startsWith('f64') ? 8 : enc === 'u8' ? 1 : 4);
            const dv = new DataView(b.buffer);
            if (enc === 'f64le' || enc === 'f64be') dv.setFloat64(0, v, enc === 'f64le');
            else if (enc === 'f32le') dv.setFloat32(0, v, true);
            else if (enc === 'i32le') dv.setInt32(0, v, true);
            else b[0] = v;
            parts.push(b, noise(stride));
          }
        }
        parts.push(noise(77));
        const hay = Uint8Array.from(parts.flatMap((p) => Array.from(p)));
        expect(n.foundIn(hay), `${name}, stride +${stride}`).toBe(true);
        expect(n.foundIn(noise(hay.length)), `${name} in noise`).toBe(false);
      }
    }
  });

  it('positive control: in the plaintext scheme a host receives the residual and class weights', async () => {
    for (const mode of ['arbiter', 'two-party'] as const) {
      const got = (await run(mode, 'none')).map((m) => m.payload);
      // Exactly the values the plaintext scheme sends a host at the first step, and nothing else.
      expect(needlesFound(needles, got)).toEqual(
        mode === 'arbiter'
          ? ['residual c (1/2 - y) as f64le']
          : ['residual c (1/2 - y) as f64le', 'class weights c as f64le'],
      );
    }
  }, 60_000);

  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}, CKKS: no byte a host receives holds a label, the residual or a class weight`, async () => {
      const got = await run(mode, 'ckks');
      const steps = new Set(got.map((m) => m.step));
      expect(steps.has('residual')).toBe(true);
      if (mode === 'two-party') expect(steps.has('class-weights')).toBe(true);
      expect(got.reduce((a, m) => a + m.payload.length, 0)).toBeGreaterThan(1_000_000);
      expect(
        needlesFound(
          needles,
          got.map((m) => m.payload),
        ),
      ).toEqual([]);
    }, 120_000);
  }

  /**
   * A party's feature values as a leak would carry them: raw and standardized (the party's own fitted
   * standardization, applied by the package's own function, so the bytes are exactly the ones it
   * computes with), rows 0-63 in order and the first batch in batch order, for every column.
   */
  function featureNeedles(who: string, columns: readonly Float64Array[], model: PartyModel): Needle[] {
    const std = applyStandardization(columns, model.standardization);
    return columns.flatMap((c, j) => [
      ...valueNeedles(`${who} column ${j} raw, rows 0-63`, Array.from(c.subarray(0, 64))),
      ...valueNeedles(
        `${who} column ${j} raw, first batch`,
        Array.from(first, (r) => c[r]!),
      ),
      ...valueNeedles(`${who} column ${j} standardized, rows 0-63`, Array.from(std[j]!.subarray(0, 64))),
      ...valueNeedles(
        `${who} column ${j} standardized, first batch`,
        Array.from(first, (r) => std[j]![r]!),
      ),
    ]);
  }

  it('positive control: every feature needle is found when planted in noise at any stride', async () => {
    const res = await ckksRun('arbiter');
    const rng = seededRng('byte-search/feature-control');
    const noise = (n: number) => Uint8Array.from({ length: n }, () => rng.nextUint32() & 0xff);
    const std = applyStandardization(small.hosts[0]!.columns, res.hosts[0]!.standardization);
    const values = Array.from(first, (r) => std[0]![r]!);
    const [f64le, f64be, f32le] = featureNeedles('host', small.hosts[0]!.columns, res.hosts[0]!).filter((n) =>
      n.name.startsWith('host column 0 standardized, first batch'),
    );
    for (const stride of [0, 5, 40]) {
      for (const [needle, width, enc] of [
        [f64le!, 8, 'le'],
        [f64be!, 8, 'be'],
        [f32le!, 4, 'f32'],
      ] as const) {
        const parts: Uint8Array[] = [noise(33)];
        for (const v of values) {
          const b = new Uint8Array(width);
          const dv = new DataView(b.buffer);
          if (enc === 'f32') dv.setFloat32(0, v, true);
          else dv.setFloat64(0, v, enc === 'le');
          parts.push(b, noise(stride));
        }
        const hay = Uint8Array.from(parts.flatMap((p) => Array.from(p)));
        expect(needle.foundIn(hay), `${needle.name}, stride +${stride}`).toBe(true);
        expect(needle.foundIn(noise(hay.length)), `${needle.name} in noise`).toBe(false);
      }
    }
  }, 120_000);

  for (const mode of ['arbiter', 'two-party'] as const) {
    it(`${mode}, CKKS: no party receives another's feature values${mode === 'arbiter' ? ', the arbiter no label' : ''}`, async () => {
      const res = await ckksRun(mode);
      const host = res.hosts[0]!.party;
      // Every byte a party receives: the whole envelope and its payload.
      const receivedBy = (parties: readonly string[]) =>
        res.captured.filter((m) => parties.includes(m.to)).flatMap((m) => [m.bytes, m.payload]);
      const others = (p: string) => ['guest', host, 'arbiter'].filter((q) => q !== p);
      expect(others('guest').some((p) => res.captured.some((m) => m.to === p))).toBe(true);
      const guestFeatures = featureNeedles('guest', small.guest.columns, res.guest);
      const hostFeatures = featureNeedles('host', small.hosts[0]!.columns, res.hosts[0]!);
      expect(needlesFound(guestFeatures, receivedBy(others('guest')))).toEqual([]);
      expect(needlesFound(hostFeatures, receivedBy(others(host)))).toEqual([]);
      // The arbiter (arbiter mode) holds the keys: the labels, residual and class weights must not reach
      // it either, in any byte (the hosts' view is the test above).
      if (mode === 'arbiter') {
        const toArbiter = receivedBy(['arbiter']);
        expect(toArbiter.length).toBeGreaterThan(0);
        expect(needlesFound(needles, toArbiter)).toEqual([]);
      }
    }, 120_000);
  }
});
