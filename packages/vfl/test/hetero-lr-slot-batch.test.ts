/**
 * Batches up to the CKKS slot count. The default preset (ckks-16384-release) has 8192 slots; a packed
 * product costs about the same at any batch up to that count (its products depend on the columns, not
 * the rows: packing.ts), so a batch of 8192 rows halves an epoch's products against 4096. Checked here:
 * - the key holder's public context for a batch of 8192 (13 power-of-two Galois keys at N = 16384; 68 MB
 *   expanded) fits one message (DEFAULT_MAX_MESSAGE_BYTES, 64 MiB): the keys travel in SEAL's seeded form;
 * - the packed gradient X^T [[d]] of a full 8192-row batch with 37 columns (blocks 32 + 4 + 1, the
 *   fold running over the whole width) equals X^T d computed in float64 within 6 sd of the key's
 *   release flooding + 1e-6 (as hetero-lr-packing.test.ts), and a fresh d is mod-switched down one
 *   level first, so the product lands at the release level (1) as a class-weighted one does;
 * - a whole arbiter-mode run at batch 8192 (12,000 rows: batches of 8192 and 3808), without class
 *   weights (the pipeline's default), gives the weights of the plaintext run within 5e-3 (the argument of hetero-lr-he.test.ts: 4 steps of lr 0.3, each adding
 *   the flooding of a released gradient);
 * - the per-batch floor still holds at batch 8192: FATE's 100,000 rows cut into batches of at most 8192
 *   (one ciphertext each) and at least 4944 (above 2 x 331 coordinates), and a plan whose batches fall
 *   below 2 x its widest gradient is refused, naming batchSize.
 */
import { normal, seededRng } from '@fedscore/core';
import { batchSizes, checkBatchFloor, cipherProvider, minBatchRows, trainHeteroLr } from '@fedscore/vfl';
import { DEFAULT_MAX_MESSAGE_BYTES } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const SLOTS = 8192;

describe('hetero-LR batches of the full slot count (8192 rows, ckks-16384-release)', () => {
  it('the public context fits one message; X^T [[d]] of 8192 rows x 37 columns equals X^T d', async () => {
    const B = SLOTS;
    const p = 37;
    const rng = seededRng(21);
    const columns = Array.from({ length: p }, () => Float64Array.from({ length: B }, () => normal(rng)));
    const d = Float64Array.from({ length: B }, () => normal(rng, 0, 0.5));
    const expected = columns.map((c) => c.reduce((s, v, i) => s + v * d[i]!, 0));
    const provider = cipherProvider('ckks');
    const sk = await provider.create({ batchSize: B, columns: p, releases: { products: 2 } }, { workers: 0 });
    try {
      const bytes = sk.serializePublic();
      expect(bytes.length).toBeLessThan(DEFAULT_MAX_MESSAGE_BYTES);
      const pub = await provider.load(bytes, { workers: 0 });
      try {
        expect(pub.description).toContain(`packed width ${SLOTS}`);
        const enc = pub.encrypt(d);
        const prod = pub.matVecT(enc, columns);
        const wire = pub.toBatch(prod);
        // A fresh residual (level 3) is mod-switched to level 2 before the product, which rescales it to
        // the release level 1 (as a class-weighted one): one prime fewer for every operation.
        expect(wire.level).toBe(1);
        const back = sk.fromBatch(wire, p, 'gradient', 'product');
        const got = sk.decryptForRelease(back);
        const tol = 6 * sk.release!.noiseStdDev + 1e-6;
        expect(got.length).toBe(p);
        got.forEach((v, j) => {
          expect(Math.abs(v - expected[j]!)).toBeLessThan(tol);
        });
        for (const x of [enc, prod, back]) x.dispose();
      } finally {
        pub.dispose();
      }
    } finally {
      sk.dispose();
    }
  }, 120_000);

  it('a run at batch 8192 gives the weights of the plaintext run within 5e-3', async () => {
    const n = 12_000;
    expect(batchSizes(n, SLOTS)).toEqual([8192, 3808]);
    const data = syntheticSplit(n, 3, [2], 29, 0.02);
    const run = (scheme: 'ckks' | 'none') =>
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        mode: 'arbiter',
        scheme,
        // No class weights (the pipeline's default): the residuals reach the products at the top level.
        hyperparams: { batchSize: SLOTS, maxEpochs: 2, learningRate: 0.3, seed: 5, classWeight: 'none' },
        runtime: { workers: 0 },
      });
    const ckks = await run('ckks');
    const none = await run('none');
    const w = (r: typeof ckks) => [
      ...r.guest.weights,
      r.guest.intercept,
      ...r.hosts.flatMap((h) => h.weights),
    ];
    expect(ckks.insecure).toBe(false);
    const a = w(ckks);
    const b = w(none);
    expect(a.length).toBe(6);
    a.forEach((v, j) => {
      expect(Math.abs(v - b[j]!)).toBeLessThan(5e-3);
    });
    // The run moved: the comparison is not between two untrained models.
    expect(Math.max(...b.map(Math.abs))).toBeGreaterThan(0.05);
  }, 180_000);

  it('the per-batch floor holds at batch 8192', () => {
    const sizes = batchSizes(100_000, SLOTS);
    expect(sizes.length).toBe(13);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(Math.max(...sizes)).toBe(SLOTS);
    expect(Math.min(...sizes)).toBe(4944);
    // FATE's shape: 30 bank features + intercept, 300 government ones (+ one-hot): floor 2 x 331.
    expect(checkBatchFloor(100_000, SLOTS, 331)).toBe(SLOTS);
    // Every batch stays within one ciphertext and at or above min(batchSize, 2048), whatever the rows.
    for (const batch of [4096, 6000, SLOTS]) {
      for (let rows = batch; rows < 5 * batch; rows += 977) {
        const s = batchSizes(rows, batch);
        expect(Math.max(...s)).toBeLessThanOrEqual(SLOTS);
        expect(Math.min(...s)).toBeGreaterThanOrEqual(Math.min(batch, 2048));
      }
    }
    // A gradient so wide that the smallest batch (8192 + 100 rows -> two of 4146) is below its floor.
    expect(minBatchRows(2100)).toBe(4200);
    let err: unknown;
    try {
      checkBatchFloor(SLOTS + 100, SLOTS, 2100);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'out_of_range', field: 'batchSize' });
  });
});
