/**
 * The HE benchmark: every layer operation timed against the same operation as raw node-seal calls in
 * the same run (interleaved, so machine noise hits both alike), sizes, Paillier, and the worker-pool
 * speed-up. Used by `pnpm bench he` (he.bench.ts). It calls node-seal only through the SEAL objects
 * `@fedscore/he/testing` hands out (`rawHandles`, `rawCiphertext`, `rawPlaintext`): node-seal stays
 * imported by `he` alone, and the library ships no benchmark code.
 */
import { type Logger, noopLogger, noProgress, type ProgressCallback } from '@fedscore/core';
import {
  type CkksPresetName,
  createAdditiveHe,
  createCkksContext,
  createHeWorkerPool,
  sumRotationSteps,
} from '@fedscore/he';
import { rawCiphertext, rawHandles, rawPlaintext } from '@fedscore/he/testing';

export interface HeBenchRow {
  readonly preset: string;
  readonly operation: string;
  readonly layerMs: number;
  readonly rawMs: number;
  readonly ratio: number;
}

export interface HeBenchReport {
  readonly rows: readonly HeBenchRow[];
  readonly sizes: readonly { preset: string; object: string; bytes: number }[];
  readonly contextMs: Readonly<Record<string, number>>;
  readonly paillier: readonly { bits: number; operation: string; ms: number }[];
  readonly workers: {
    readonly vectors: number;
    readonly oneMs: number;
    readonly twoMs: number;
    readonly speedup: number;
  };
  /** The worst layer / raw ratio (median of paired ratios) over the listed operations. */
  readonly maxOverheadVsRaw: number;
  readonly runs: number;
}

export interface HeBenchOptions {
  readonly runs?: number;
  readonly presets?: readonly CkksPresetName[];
  readonly paillierBits?: readonly number[];
  readonly workerVectors?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Time `layer` and `raw` alternately `runs` times (after one warm-up each); medians in ms. */
function pair(
  runs: number,
  layer: () => void,
  raw: () => void,
): { layerMs: number; rawMs: number; ratio: number } {
  layer();
  raw();
  const a: number[] = [];
  const b: number[] = [];
  const once = (fn: () => void, into: number[]): void => {
    const t = performance.now();
    fn();
    into.push(performance.now() - t);
  };
  for (let i = 0; i < runs; i++) {
    // Alternate which side goes first, so garbage collection and cache effects fall on both alike.
    if (i % 2 === 0) {
      once(layer, a);
      once(raw, b);
    } else {
      once(raw, b);
      once(layer, a);
    }
  }
  // The ratio is the median of paired ratios: each pair ran back to back, so load drift on a shared
  // machine cancels within the pair.
  return { layerMs: median(a), rawMs: median(b), ratio: median(a.map((x, i) => x / b[i]!)) };
}

function timeOnly(runs: number, fn: () => void): number {
  fn();
  const a: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    a.push(performance.now() - t);
  }
  return median(a);
}

export async function runHeBenchmark(options: HeBenchOptions = {}): Promise<HeBenchReport> {
  const runs = options.runs ?? 20;
  const presets = options.presets ?? ['ckks-8192', 'ckks-16384'];
  const logger = options.logger ?? noopLogger;
  const progress = options.progress ?? noProgress;
  const rows: HeBenchRow[] = [];
  const sizes: { preset: string; object: string; bytes: number }[] = [];
  const contextMs: Record<string, number> = {};

  for (const [pi, preset] of presets.entries()) {
    progress({ stage: 'he bench: CKKS', done: pi, total: presets.length, unit: 'presets' });
    const slots = preset === 'ckks-16384' ? 8192 : 4096;
    const t0 = performance.now();
    const ctx = await createCkksContext({ params: preset, rotations: sumRotationSteps(slots) });
    contextMs[preset] = performance.now() - t0;
    const k = rawHandles(ctx);
    const ev = k.evaluator;
    const scale = 2 ** ctx.params.scaleBits;
    const x = Float64Array.from({ length: slots }, (_, i) => Math.sin(i) * 0.5);
    const y = Float64Array.from({ length: slots }, (_, i) => Math.cos(i) * 0.5);
    const a = ctx.encrypt(x);
    const b = ctx.encrypt(y);
    const pt = ctx.encode(y);
    const ca = rawCiphertext(a);
    const cb = rawCiphertext(b);
    const ppt = rawPlaintext(pt);
    const row = (operation: string, r: { layerMs: number; rawMs: number; ratio: number }): void => {
      rows.push({ preset, operation, ...r });
      logger.debug('he bench', { preset, operation, layerMs: r.layerMs, rawMs: r.rawMs });
    };
    const withCt = (f: (out: InstanceType<typeof k.seal.Ciphertext>) => void) => () => {
      const out = new k.seal.Ciphertext();
      f(out);
      out.delete();
    };
    row(
      'encode',
      pair(
        runs,
        () => ctx.encode(x).dispose(),
        () => {
          const p = new k.seal.Plaintext();
          k.encoder.encode(x, scale, p);
          p.delete();
        },
      ),
    );
    row(
      'encrypt (public key)',
      pair(
        runs,
        () => ctx.encrypt(x).dispose(),
        () => {
          const p = new k.seal.Plaintext();
          const c = new k.seal.Ciphertext();
          k.encoder.encode(x, scale, p);
          k.encryptor.encrypt(p, c);
          p.delete();
          c.delete();
        },
      ),
    );
    row(
      'encrypt (symmetric)',
      pair(
        runs,
        () => ctx.encryptSymmetric(x).dispose(),
        () => {
          const p = new k.seal.Plaintext();
          const c = new k.seal.Ciphertext();
          k.encoder.encode(x, scale, p);
          k.encryptor.encryptSymmetric(p, c);
          p.delete();
          c.delete();
        },
      ),
    );
    row(
      'decrypt + decode',
      pair(
        runs,
        () => ctx.decrypt(a),
        () => {
          const p = new k.seal.Plaintext();
          k.decryptor!.decrypt(ca, p);
          (k.encoder.decodeFloat64(p) as Float64Array).slice(0, slots);
          p.delete();
        },
      ),
    );
    row(
      'add',
      pair(
        runs * 5,
        () => a.add(b).dispose(),
        withCt((o) => ev.add(ca, cb, o)),
      ),
    );
    row(
      'multiply plain + rescale',
      pair(
        runs,
        () => a.mul(pt).dispose(),
        withCt((o) => {
          ev.multiplyPlain(ca, ppt, o);
          ev.rescaleToNextInplace(o);
        }),
      ),
    );
    row(
      'multiply + relinearize + rescale',
      pair(
        runs,
        () => a.mul(b).dispose(),
        withCt((o) => {
          ev.multiply(ca, cb, o);
          ev.relinearizeInplace(o, k.relinKeys!);
          ev.rescaleToNextInplace(o);
        }),
      ),
    );
    const unscaled = a.mul(pt, { rescale: false });
    const cu = rawCiphertext(unscaled);
    row(
      'rescale',
      pair(
        runs,
        () => unscaled.rescale().dispose(),
        withCt((o) => ev.rescaleToNext(cu, o)),
      ),
    );
    row(
      'rotate (1 step)',
      pair(
        runs,
        () => a.rotate(1).dispose(),
        withCt((o) => ev.rotateVector(ca, 1, k.galoisKeys!, o)),
      ),
    );
    const rawSum = (src: InstanceType<typeof k.seal.Ciphertext>) => {
      const acc = src.copy();
      const tmp = new k.seal.Ciphertext();
      for (let s = 1; s < slots; s *= 2) {
        ev.rotateVector(acc, s, k.galoisKeys!, tmp);
        ev.addInplace(acc, tmp);
      }
      tmp.delete();
      return acc;
    };
    const sumRuns = Math.max(3, Math.floor(runs / 3));
    row(
      `sum of ${slots} slots`,
      pair(
        sumRuns,
        () => a.sum().dispose(),
        () => rawSum(ca).delete(),
      ),
    );
    row(
      `dot product ${slots} slots`,
      pair(
        sumRuns,
        () => a.dot(pt).dispose(),
        withCt((o) => {
          ev.multiplyPlain(ca, ppt, o);
          ev.rescaleToNextInplace(o);
          rawSum(o).delete();
        }),
      ),
    );
    const size = (object: string, bytes: number): void => {
      sizes.push({ preset, object, bytes });
    };
    size('ciphertext, fresh (zstd)', a.serialize().length);
    size('ciphertext, fresh (uncompressed)', a.serialize({ compression: 'none' }).length);
    size('ciphertext, seeded symmetric (zstd)', ctx.encryptSymmetricSerialized(x).length);
    size('ciphertext, after one rescale (zstd)', a.mul(pt).serialize().length);
    size(
      'relinearization keys (zstd)',
      (k.relinKeys!.saveToArray(k.seal.ComprModeType.zstd) as Uint8Array).length,
    );
    size(
      `Galois keys, ${ctx.rotations.length} steps (zstd)`,
      (k.galoisKeys!.saveToArray(k.seal.ComprModeType.zstd) as Uint8Array).length,
    );
    size('public context: pk + relin + Galois (zstd)', ctx.serialize().length);
    unscaled.dispose();
    ctx.dispose();
  }

  const paillier: { bits: number; operation: string; ms: number }[] = [];
  for (const bits of options.paillierBits ?? [1024, 2048]) {
    progress({ stage: 'he bench: Paillier', done: 0, unit: `${bits}-bit` });
    const he = await createAdditiveHe({ scheme: 'paillier', bits, allowWeakParameters: bits < 2048 });
    const pr = Math.max(5, Math.floor(runs / 2));
    const c1 = he.encrypt([0.75]);
    const c2 = he.encrypt([-1.5]);
    paillier.push({ bits, operation: 'encrypt', ms: timeOnly(pr, () => he.encrypt([0.75])) });
    paillier.push({ bits, operation: 'add', ms: timeOnly(pr * 10, () => he.add(c1, c2)) });
    paillier.push({
      bits,
      operation: 'multiply by scalar (positive, 32-bit fixed point)',
      ms: timeOnly(pr, () => he.mulScalar(c1, 0.3)),
    });
    paillier.push({
      bits,
      operation: 'multiply by scalar (negative)',
      ms: timeOnly(pr, () => he.mulScalar(c1, -0.3)),
    });
    paillier.push({ bits, operation: 'decrypt', ms: timeOnly(pr, () => he.decrypt(c1)) });
    he.dispose();
  }

  // Worker pool: throughput of public-key encryption with one and two workers.
  progress({ stage: 'he bench: workers', done: 0 });
  const nVec = options.workerVectors ?? 48;
  const ctx = await createCkksContext({ params: 'ckks-8192', relinearization: false });
  const pubBytes = ctx.serialize();
  ctx.dispose();
  const vectors = Array.from({ length: nVec }, (_, j) =>
    Float64Array.from({ length: 4096 }, (_, i) => Math.sin(i + j)),
  );
  const timePool = async (size: number): Promise<number> => {
    const pool = await createHeWorkerPool({ size, context: pubBytes });
    try {
      await pool.encrypt(vectors.slice(0, size * 2)); // warm-up
      const t = performance.now();
      await pool.encrypt(vectors);
      return performance.now() - t;
    } finally {
      await pool.close();
    }
  };
  const oneMs = await timePool(1);
  const twoMs = await timePool(2);
  progress({ stage: 'he bench: workers', done: 1, total: 1 });

  return {
    rows,
    sizes,
    contextMs,
    paillier,
    workers: { vectors: nVec, oneMs, twoMs, speedup: oneMs / twoMs },
    maxOverheadVsRaw: Math.max(...rows.map((r) => r.ratio)),
    runs,
  };
}
