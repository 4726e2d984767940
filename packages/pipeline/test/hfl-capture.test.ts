/**
 * Message capture of the `hfl` pipeline (docs/protocols/secure-aggregation.md): the coordinator and three
 * banks run the pipeline's stages (the same role functions a node runs over gRPC) over the in-memory
 * network with the real wire codec, and every byte the coordinator receives is kept. The needle is one
 * bank's round-1 update, recomputed independently from the bank's own rows, the job's seed and the
 * protocol's fixed-point encoding: [n·w, n] as float64 (both byte orders), the local weights w as
 * float32, and the 64-bit fixed-point words secure aggregation would mask. With secure aggregation off
 * (the weakened configuration) the search finds the update in the coordinator's bytes; with it on, never.
 * A planted feature value of that bank is never in the coordinator's bytes in either mode. Also: the
 * secure and the plain runs train the same model (the sum is exact to the fixed-point precision).
 */
import { type CapturedMessage, seededRng, type Table } from '@fedscore/core';
import { generatePopulation, splitHorizontal } from '@fedscore/datasets';
import {
  DEFAULT_SCALE_BITS,
  encodeFixedPoint,
  fitTfjs,
  initialModelWeights,
  initTfjsBackend,
  type ModelSpec,
  secAggVector,
} from '@fedscore/hfl';
import { type HflPlan, hflRows, runHflInProcess } from '@fedscore/pipeline';
import { beforeAll, describe, expect, it } from 'vitest';

const SEED = 5;
// A plausible standardized value, exact in float32 and float64.
const PLANT = 1.8359375;

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function f64(values: ArrayLike<number>, little: boolean): Uint8Array {
  const b = new Uint8Array(8 * values.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat64(8 * i, values[i]!, little);
  return b;
}

function f32(values: ArrayLike<number>): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat32(4 * i, values[i]!, true);
  return b;
}

function u64(words: BigUint64Array): Uint8Array {
  const b = new Uint8Array(8 * words.length);
  const v = new DataView(b.buffer);
  for (let i = 0; i < words.length; i++) v.setBigUint64(8 * i, words[i]!, true);
  return b;
}

/** A copy of `t` with every 5th value of its first feature column replaced by `value`. */
function planted(t: Table, value: number): Table {
  const columns = t.columns.map((c, k) => {
    if (k !== 0 || c.kind !== 'numeric') return c;
    const values = Float64Array.from(c.values, (x, i) => (i % 5 === 0 ? value : x));
    return { ...c, values };
  });
  return { ...t, columns };
}

describe('hfl pipeline: what the coordinator receives', () => {
  let banks: { id: string; table: Table }[];
  let test: Table;
  const plan = (secureAgg: boolean): HflPlan => ({
    model: 'lr',
    rounds: 2,
    localEpochs: 1,
    learningRate: 0.1,
    batchSize: 32,
    proximalMu: 0,
    secureAgg,
  });

  beforeAll(async () => {
    await initTfjsBackend();
    const split = splitHorizontal(
      generatePopulation({ enterprises: 3000, overlap: 1, defaultRate: 0.15, seed: 3 }),
      {
        banks: 3,
        bankRows: 250,
        seed: 4,
      },
    );
    banks = split.banks.map((b, i) => ({
      id: `bank-${i + 1}`,
      table: i === 0 ? planted(b.table, PLANT) : b.table,
    }));
    test = split.test;
  });

  const run = async (secureAgg: boolean) => {
    const got: CapturedMessage[] = [];
    const r = await runHflInProcess({
      id: 'hfl-capture',
      coordinator: 'platform',
      test,
      banks,
      seed: SEED,
      plan: plan(secureAgg),
      onMessage: (m) => {
        if (m.to === 'platform') got.push(m);
      },
    });
    return { r, bytes: got.map((m) => m.bytes) };
  };

  /** Bank 1's round-1 update, recomputed from its own rows and the job's seeds. */
  const bankOneUpdate = async () => {
    const rows = hflRows(
      banks[0]!.table,
      test.columns.map((c) => c.name),
      'label',
    );
    const spec: ModelSpec = { kind: 'lr', features: rows.features };
    const reply = await fitTfjs(
      spec,
      {
        client: 'bank-1',
        round: 1,
        weights: initialModelWeights(spec, seededRng(SEED)),
        localEpochs: 1,
        learningRate: 0.1,
        batchSize: 32,
        proximalMu: 0,
      },
      rows,
      seededRng(SEED + 1000),
    );
    const vector = secAggVector(reply);
    return {
      'float64 LE [n·w]': f64(vector.subarray(0, 4), true),
      'float64 BE [n·w]': f64(vector.subarray(0, 4), false),
      'float32 w': f32(reply.weights.subarray(0, 4)),
      'fixed-point words': u64(encodeFixedPoint(vector, DEFAULT_SCALE_BITS, 3).subarray(0, 3)),
    };
  };

  const plantNeedles = {
    'float64 LE': f64([PLANT], true),
    'float64 BE': f64([PLANT], false),
    float32: f32([PLANT]),
    text: new TextEncoder().encode(String(PLANT)),
  };

  it('weakened (secure aggregation off): the search finds the bank update in the coordinator bytes', async () => {
    const { bytes } = await run(false);
    const needles = await bankOneUpdate();
    expect(contains(concat(bytes), needles['float64 LE [n·w]'])).toBe(true);
    for (const [what, n] of Object.entries(plantNeedles))
      expect(contains(concat(bytes), n), what).toBe(false);
  });

  it('secure aggregation on: no encoding of the update and no planted feature value in any byte', async () => {
    const plain = await run(false);
    const { r, bytes } = await run(true);
    const all = concat(bytes);
    expect(all.length).toBeGreaterThan(1000);
    for (const [what, n] of Object.entries(await bankOneUpdate())) expect(contains(all, n), what).toBe(false);
    for (const [what, n] of Object.entries(plantNeedles)) expect(contains(all, n), what).toBe(false);
    // The same model as plain aggregation, to the fixed-point precision (2^-24 per value, summed over 3
    // banks, amplified by two rounds of training on it).
    const a = r.train.weights;
    const b = plain.r.train.weights;
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
    expect(Math.abs(r.evaluate.auc - plain.r.evaluate.auc)).toBeLessThan(1e-4);
    expect(r.evaluate.testRows).toBe(test.nRows);
  });
});

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
