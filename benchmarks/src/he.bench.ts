/**
 * `pnpm bench he [--runs N] [--quick]`: CKKS layer vs raw node-seal per operation (N=8192 and 16384),
 * sizes, Paillier-1024/2048, and the 2-worker speed-up. Anchors from ../shared/ANCHORS.md beside ours.
 */
import { runHeBenchmark } from './he-layer.ts';
import type { BenchResult } from './report.ts';

/** ANCHORS.md, "here" figures (node-seal 7.0.0, N=8192 [60,40,40,60], medians of 50 on an idle box). */
const ANCHOR_8192: Record<string, string> = {
  encode: '0.69',
  'encrypt (public key)': '4.59',
  'encrypt (symmetric)': '1.53',
  'decrypt + decode': '1.51',
  add: '0.03',
  'multiply plain + rescale': '0.43 + 0.96',
  'multiply + relinearize + rescale': '4.80 + 0.96',
  rescale: '0.96',
  'rotate (1 step)': '4.0',
  'sum of 4096 slots': '12 x 4.0',
  'dot product 4096 slots': '30.9',
};

export default async function heBench(args: string[]): Promise<BenchResult> {
  const quick = args.includes('--quick');
  const runsArg = args.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : quick ? 5 : 21;
  const r = await runHeBenchmark({
    runs,
    ...(quick && { presets: ['ckks-8192'] as const, paillierBits: [1024], workerVectors: 16 }),
  });
  return {
    summary: {
      max_overhead_vs_raw: Number(r.maxOverheadVsRaw.toFixed(3)),
      worst_operation: r.rows.reduce((w, x) => (x.ratio > w.ratio ? x : w)).operation,
      worker_speedup_2: Number(r.workers.speedup.toFixed(2)),
      rotate_8192_ms: r.rows.find((x) => x.preset === 'ckks-8192' && x.operation.startsWith('rotate'))
        ?.layerMs,
    },
    parameters: {
      runs: r.runs,
      presets: [...new Set(r.rows.map((x) => x.preset))],
      'ckks-8192': 'N=8192, q=[60,40,40,60], scale 2^40, Galois keys for steps 1,2,...,2048',
      'ckks-16384': 'N=16384, q=[60,40x7,60], scale 2^40, Galois keys for steps 1,2,...,4096',
      method:
        'layer and raw node-seal calls alternate within one loop (one warm-up each); medians; every ' +
        'operation allocates and frees its result on both sides',
      machine_load: 'shared 2-core VM with other engineers running; absolute times noisy, ratios less so',
    },
    tables: [
      {
        title: 'CKKS: layer vs raw node-seal (median ms)',
        columns: [
          'preset',
          'operation',
          'layer ms',
          'raw node-seal ms',
          'layer / raw (paired median)',
          'ANCHORS (8192, idle box) ms',
        ],
        rows: r.rows.map((x) => [
          x.preset,
          x.operation,
          x.layerMs,
          x.rawMs,
          x.ratio,
          x.preset === 'ckks-8192' ? (ANCHOR_8192[x.operation] ?? '') : '',
        ]),
        note: 'ANCHORS.md native SEAL 4.1.2 at N=8192: encrypt 2.71, multiply-plain 0.13, multiply+relin 2.16, rotate 1.9, dot 15.3 ms.',
      },
      {
        title: 'Sizes (bytes)',
        columns: ['preset', 'object', 'bytes', 'KiB'],
        rows: r.sizes.map((s) => [s.preset, s.object, s.bytes, s.bytes / 1024]),
        note: 'ANCHORS.md at 8192: fresh ciphertext 384 KiB (zstd 325), seeded symmetric 192 KiB, after rescale 256 KiB, relin keys 1.5 MiB, full Galois keys 36 MiB.',
      },
      {
        title: 'Context creation (ms, incl. key generation)',
        columns: ['preset', 'ms'],
        rows: Object.entries(r.contextMs).map(([k, v]) => [k, v]),
        note: 'ANCHORS.md: 253 ms (node-seal, no Galois keys).',
      },
      {
        title: 'Paillier (paillier-bigint keys, our fixed-point layer; median ms per element)',
        columns: ['bits', 'operation', 'ms'],
        rows: r.paillier.map((p) => [p.bits, p.operation, p.ms]),
        note: 'ANCHORS.md (paillier-bigint 3.4.3, 2048-bit): encrypt 43, decrypt 31, add 0.014, multiply by 32-bit scalar 0.69, by a negative (2048-bit exponent) 42.5 ms; 1024-bit encrypt ~14, decrypt ~12.',
      },
      {
        title: 'Worker pool (public-key encryption of 4096-slot vectors, N=8192)',
        columns: ['vectors', '1 worker ms', '2 workers ms', 'speed-up'],
        rows: [[r.workers.vectors, r.workers.oneMs, r.workers.twoMs, r.workers.speedup]],
        note: 'ANCHORS.md: two worker threads give 1.9-2.0x the throughput of one (idle box).',
      },
    ],
    notes: [
      'max_overhead_vs_raw is the worst layer/raw ratio over the CKKS rows, each ratio the median of per-iteration paired ratios (robust to load drift on a shared machine); goal <= 1.2.',
      'Multiply rows include the rescale the layer does automatically; the raw side does the same calls.',
      'Paillier "multiply by scalar (negative)" uses exponent |k| and one modular inverse instead of a 2048-bit exponent.',
    ],
    raw: r as unknown as Record<string, unknown>,
  };
}
