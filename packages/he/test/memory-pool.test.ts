/**
 * Deterministic memory (thousands of operations leave the WASM heap and RSS bounded) and the worker pool
 * (results equal to single-thread results: evaluation is deterministic, so ciphertext bytes are equal).
 */
import { seededRng } from '@fedscore/core';
import {
  type CkksSecretContext,
  columnDot,
  createCkksContext,
  createHeWorkerPool,
  splitBatches,
  sumRotationSteps,
  wasmHeapBytes,
} from '@fedscore/he';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let ctx: CkksSecretContext;
beforeAll(async () => {
  ctx = await createCkksContext({ rotations: sumRotationSteps(4096) });
});
afterAll(() => ctx.dispose());

describe('memory', () => {
  it('14,000 operations keep the WASM heap flat and RSS bounded', () => {
    const x = Array.from({ length: 4096 }, (_, i) => Math.sin(i));
    const round = (): void => {
      ctx.scope(() => {
        const a = ctx.encrypt(x);
        let acc = a;
        for (let i = 0; i < 30; i++) acc = acc.add(a).neg();
        acc.mul(x).rotate(1).add(a.mul(a));
        ctx.decrypt(a.sub(2).mul(0));
      });
    };
    for (let i = 0; i < 20; i++) round(); // warm-up: the heap grows to its working size once
    const heap0 = wasmHeapBytes();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 200; i++) round(); // ~70 operations each: 14,000 operations
    const heap1 = wasmHeapBytes();
    const rss1 = process.memoryUsage().rss;
    expect(heap0).toBeDefined();
    // The WASM heap never shrinks, so any leak would show as growth: allow one 16 MiB step of slack.
    expect(heap1! - heap0!).toBeLessThanOrEqual(16 * 2 ** 20);
    expect(rss1 - rss0).toBeLessThan(150 * 2 ** 20);
  });
});

describe('worker pool', () => {
  it('two workers give the same column dots (byte for byte) as one thread, and decrypt correctly', async () => {
    const rng = seededRng('pool');
    const n = 5000;
    const d = Float64Array.from({ length: n }, () => rng.nextUint32() / 2 ** 32 - 0.5);
    const cols = Array.from({ length: 4 }, () =>
      Float64Array.from({ length: n }, () => rng.nextUint32() / 2 ** 32),
    );
    const cts = ctx.encryptBatch(d);
    const ctBytes = cts.map((c) => c.serialize());
    const single = cols.map((c) => ctx.scope(() => columnDot(ctx, cts, c).serialize()));
    const pool = await createHeWorkerPool({ size: 2, context: ctx.serializeSecret() });
    try {
      const parallel = await pool.columnDots(
        ctBytes,
        cols.map((c) => splitBatches(c, ctx.slotCount)),
      );
      expect(parallel.length).toBe(4);
      for (let j = 0; j < 4; j++)
        expect(Buffer.from(parallel[j]!).equals(Buffer.from(single[j]!))).toBe(true);
      const dec = await pool.decrypt(parallel);
      for (let j = 0; j < 4; j++) {
        const want = cols[j]!.reduce((s, v, i) => s + v * d[i]!, 0);
        expect(Math.abs(dec[j]![0]! - want)).toBeLessThan(1e-5);
      }
      const enc = await pool.encrypt([d.subarray(0, 4096), d.subarray(4096)]);
      const back = enc.map((b) => ctx.scope(() => ctx.decrypt(ctx.deserializeVector(b))));
      expect(Math.max(...back[1]!.map((v, i) => Math.abs(v - d[4096 + i]!)))).toBeLessThan(1e-6);
    } finally {
      await pool.close();
      for (const c of cts) c.dispose();
    }
  });
});
