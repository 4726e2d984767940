/**
 * Message capture of a whole job (docs/protocols/node-job.md): every stage of the hetero-LR pipeline
 * (PSI, WOE binning and hetero-LR under CKKS, the node protocols), each party's role function over the
 * in-memory network with the real wire codec, every delivered message kept. A known secret is planted
 * -- the guest's labels, and one known value in a guest column and in a host column -- and every
 * captured byte is searched for it in each encoding a leak could plausibly use (float64 both byte
 * orders, float32 for label sequences, one byte per value, packed bits both bit orders, decimal text). A positive control
 * shows the same search finds each needle planted in noise. The steps of the node protocols each party
 * receives are checked against the document's table.
 */
import { type CapturedMessage, seededRng } from '@fedscore/core';
import {
  HETERO_LR_PIPELINE,
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  planStages,
  runStageInProcess,
  trainPositions,
} from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';
import { population } from './population.ts';

const GUEST_VALUE = 7351.0625;
const HOST_VALUE = 9183.8125;

type Needle = { readonly what: string; readonly bytes: Uint8Array };

function f64(values: readonly number[], little: boolean): Uint8Array {
  const b = new Uint8Array(8 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => {
    v.setFloat64(8 * i, x, little);
  });
  return b;
}

function f32(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => {
    v.setFloat32(4 * i, x, true);
  });
  return b;
}

function packBits(bits: readonly number[], msbFirst: boolean): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b === 1) out[i >> 3]! |= msbFirst ? 0x80 >> (i & 7) : 1 << (i & 7);
  });
  return out;
}

/** A label sequence (0/1) in every encoding searched. */
function labelNeedles(what: string, labels: readonly number[]): Needle[] {
  const text = new TextEncoder();
  return [
    { what: `${what} f64le`, bytes: f64(labels, true) },
    { what: `${what} f64be`, bytes: f64(labels, false) },
    { what: `${what} f32le`, bytes: f32(labels) },
    { what: `${what} u8`, bytes: Uint8Array.from(labels) },
    { what: `${what} bits lsb`, bytes: packBits(labels, false) },
    { what: `${what} bits msb`, bytes: packBits(labels, true) },
    { what: `${what} text`, bytes: text.encode(labels.join(',')) },
    { what: `${what} digits`, bytes: text.encode(labels.join('')) },
  ];
}

/**
 * One value in every encoding searched: float64 (both byte orders) and text. No float32 for a single
 * value: a 4-byte pattern turns up by chance in tens of MB of CKKS ciphertext and keys with probability
 * about bytes / 2^32 (the SecureBoost capture test hit one in CI), so it cannot tell a leak from chance;
 * the wire carries values as float64. Label sequences are still searched as float32.
 */
function valueNeedles(what: string, value: number): Needle[] {
  return [
    { what: `${what} f64le`, bytes: f64([value], true) },
    { what: `${what} f64be`, bytes: f64([value], false) },
    { what: `${what} text`, bytes: new TextEncoder().encode(String(value)) },
  ];
}

function found(hay: readonly Uint8Array[], needles: readonly Needle[]): string[] {
  return needles
    .filter((n) =>
      hay.some((h) => Buffer.from(h.buffer, h.byteOffset, h.byteLength).includes(Buffer.from(n.bytes))),
    )
    .map((n) => n.what);
}

const PLAN: JobPlan = {
  id: 'job-capture',
  guest: 'bank',
  hosts: ['government'],
  arbiter: 'arbiter',
  seed: 9,
  testFraction: 0.3,
  binning: { enabled: true, method: 'quantile', bins: 4, minIv: 0, scheme: 'ckks' },
  train: { scheme: 'ckks', maxEpochs: 1, batchSize: 256 },
  consent: { purpose: 'training' },
};

describe('node job: every captured byte of a whole job', () => {
  it('holds no guest label and no planted feature value; each party receives the steps of the table', async () => {
    const pop = population(1200, 21, { guest: GUEST_VALUE, host: HOST_VALUE });
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore() },
      { id: 'government', table: pop.host, store: memoryStore() },
      { id: 'arbiter', store: memoryStore() },
    ];
    const captured: CapturedMessage[] = [];
    for (const stage of planStages(HETERO_LR_PIPELINE, PLAN)) {
      await runStageInProcess(stage, { plan: PLAN, parties, onMessage: (m) => captured.push(m) });
    }
    const psi = parties[0]!.store.checkpoint<PsiCheckpoint>('psi');
    const labels = psi.rows.map((r) => pop.guest.label![r]!);
    const train = trainPositions(psi).map((p) => labels[p]!);
    const test = psi.test.map((p) => labels[p]!);
    const needles = [
      ...labelNeedles('aligned labels', labels.slice(0, 48)),
      ...labelNeedles('training labels', train.slice(0, 48)),
      ...labelNeedles('test labels', test.slice(0, 48)),
      ...valueNeedles('guest value', GUEST_VALUE),
      ...valueNeedles('host value', HOST_VALUE),
    ];
    expect(captured.length).toBeGreaterThan(20);
    const bytes = captured.flatMap((m) => [m.bytes, m.payload]);
    expect(found(bytes, needles)).toEqual([]);

    // Positive control: every needle is found when planted in noise.
    const rng = seededRng('node-job/control');
    for (const n of needles) {
      const noise = Uint8Array.from({ length: 4096 }, () => rng.nextUint32() & 0xff);
      noise.set(n.bytes, 1234);
      expect(found([noise], [n])).toEqual([n.what]);
    }

    // The node protocols' steps each party receives, as the table says.
    const steps = (party: string) =>
      [
        ...new Set(
          captured.filter((m) => m.to === party && m.protocol.startsWith('node.')).map((m) => m.step),
        ),
      ].sort();
    expect(steps('bank')).toEqual(['consent-summary', 'partial-scores']);
    expect(steps('government')).toEqual([
      'aligned-positions',
      'joint-model',
      'selected-features',
      'test-positions',
    ]);
    expect(steps('arbiter')).toEqual([]);
  }, 600_000);
});
