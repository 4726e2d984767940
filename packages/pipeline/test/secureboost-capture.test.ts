/**
 * Message capture of a whole `secureboost` job (docs/protocols/secureboost.md, "As a pipeline and a
 * job"; docs/protocols/node-job.md): psi, SecureBoost training under CKKS, federated evaluation and
 * publish, each party's role function over the in-memory network with the real wire codec, every
 * delivered message kept. Known secrets are planted or taken from the run -- the guest's labels, one
 * known value in a guest column and in a host column, the guest's scores of the held-out rows (which no
 * host may learn), the gains of the guest's trees (kept by the guest: a host's importance has none), and
 * the host's bin edges (which never leave the host) -- and every captured byte is searched for each in
 * the encodings a leak could plausibly use (float64 both byte orders, float32 for label sequences, one byte per value,
 * packed bits both bit orders, decimal text). A positive control shows the same search finds each
 * needle planted in noise. The node-protocol steps each party receives are checked against the table.
 */
import { type CapturedMessage, featureColumns, seededRng } from '@fedscore/core';
import {
  type JobPlan,
  memoryStore,
  type PsiCheckpoint,
  planStages,
  runStageInProcess,
  SECUREBOOST_PIPELINE,
  type SecureBoostTrainCheckpoint,
  trainPositions,
} from '@fedscore/pipeline';
import { parseGuestModel, parseHostModel, predictSecureBoost } from '@fedscore/vfl';
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
 * One value in every encoding searched: float64 (both byte orders) and text. No float32 for single
 * values: a 4-byte pattern turns up by chance in the ~100 MB of CKKS ciphertext and keys a job captures
 * with probability of a few percent per needle (about bytes / 2^32; it did in a CI run), so a float32
 * search of one value cannot tell a leak from chance. The wire carries values as float64
 * (`Float64Vector`); label sequences (48 values, 192 bytes as float32) are still searched as float32.
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
  id: 'job-sbt-capture',
  kind: 'secureboost',
  guest: 'bank',
  hosts: ['government'],
  seed: 9,
  testFraction: 0.3,
  binning: { enabled: false, method: 'quantile', bins: 10, minIv: 0, scheme: 'ckks' },
  train: { scheme: 'ckks', maxEpochs: 1 },
  consent: { purpose: 'training' },
  secureboost: { trees: 2, depth: 2, bins: 8 },
};

describe('secureboost job: every captured byte of a whole job under CKKS', () => {
  it('holds no label, planted value, held-out score, gain or host edge; each party receives the steps of the table', async () => {
    const pop = population(1200, 21, { guest: GUEST_VALUE, host: HOST_VALUE });
    const parties = [
      { id: 'bank', table: pop.guest, store: memoryStore() },
      { id: 'government', table: pop.host, store: memoryStore() },
    ];
    const captured: CapturedMessage[] = [];
    for (const stage of planStages(SECUREBOOST_PIPELINE, PLAN)) {
      await runStageInProcess(stage, { plan: PLAN, parties, onMessage: (m) => captured.push(m) });
    }
    const [bank, gov] = parties.map((p) => p.store);
    const psi = bank!.checkpoint<PsiCheckpoint>('psi');
    const labels = psi.rows.map((r) => pop.guest.label![r]!);
    const guestModel = parseGuestModel(bank!.checkpoint<SecureBoostTrainCheckpoint>('train').model);
    const hostModel = parseHostModel(gov!.checkpoint<SecureBoostTrainCheckpoint>('train').model);
    const gains = guestModel.trees.flat().flatMap((n) => (n.kind === 'leaf' ? [] : [n.gain]));
    const weights = guestModel.trees.flat().flatMap((n) => (n.kind === 'leaf' ? [n.weight] : []));
    const edges = hostModel.bins.flatMap((b) => ('edges' in b ? [...(b.edges as number[])] : []));
    // The guest's scores of the held-out rows (recomputed outside the capture): no host may learn them.
    const gPsi = gov!.checkpoint<PsiCheckpoint>('psi');
    const held = await predictSecureBoost({
      guest: {
        model: guestModel,
        features: featureColumns(
          pop.guest,
          psi.test.map((p) => psi.rows[p]!),
        ),
      },
      hosts: [
        {
          model: hostModel,
          features: featureColumns(
            pop.host,
            psi.test.map((p) => gPsi.rows[p]!),
          ),
        },
      ],
    });
    const scores = [...held.margins.slice(0, 6), ...held.scores.slice(0, 6)];
    expect(gains.length).toBeGreaterThan(0);
    expect(edges.length).toBeGreaterThan(3);
    const needles = [
      ...labelNeedles('aligned labels', labels.slice(0, 48)),
      ...labelNeedles(
        'training labels',
        trainPositions(psi)
          .map((p) => labels[p]!)
          .slice(0, 48),
      ),
      ...labelNeedles('test labels', psi.test.map((p) => labels[p]!).slice(0, 48)),
      ...valueNeedles('guest value', GUEST_VALUE),
      ...valueNeedles('host value', HOST_VALUE),
      ...gains.flatMap((g, i) => valueNeedles(`gain ${i}`, g)),
      ...scores.flatMap((z, i) => valueNeedles(`held-out score ${i}`, z)),
      ...weights.flatMap((w, i) => valueNeedles(`leaf weight ${i}`, w)),
      ...edges
        .filter((e) => Number.isFinite(e) && !Number.isInteger(e))
        .slice(0, 8)
        .flatMap((e, i) => valueNeedles(`host edge ${i}`, e)),
    ];
    expect(captured.length).toBeGreaterThan(20);
    const bytes = captured.flatMap((m) => [m.bytes, m.payload]);
    expect(found(bytes, needles)).toEqual([]);

    // Positive control: every needle is found when planted in noise.
    const rng = seededRng('secureboost-job/control');
    for (const n of needles) {
      const noise = Uint8Array.from({ length: 4096 }, () => rng.nextUint32() & 0xff);
      noise.set(n.bytes, 1234);
      expect(found([noise], [n])).toEqual([n.what]);
    }

    // The steps each party receives, as the tables say.
    const steps = (party: string, prefix: string) =>
      [
        ...new Set(
          captured.filter((m) => m.to === party && m.protocol.startsWith(prefix)).map((m) => m.step),
        ),
      ].sort();
    expect(steps('bank', 'node.')).toEqual(['consent-summary']);
    expect(steps('government', 'node.')).toEqual([
      'aligned-positions',
      'secureboost-model',
      'test-positions',
    ]);
    expect(steps('bank', 'vfl.secureboost-predict')).toEqual(['predict-answer']);
    expect(steps('government', 'vfl.secureboost-predict')).toEqual(['predict-request']);
  }, 600_000);
});
