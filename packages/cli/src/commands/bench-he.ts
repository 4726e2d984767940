/** `fedscore bench he`: the HE layer's per-operation timings against raw node-seal, and Paillier. */
import { runHeBenchmark } from '@fedscore/he';
import { bool, type Command, num } from '../command.ts';

export const command: Command = {
  path: ['bench', 'he'],
  summary: 'Benchmark the HE layer (CKKS vs raw node-seal, Paillier, worker speed-up)',
  description:
    'Times every CKKS operation through the layer and as raw node-seal calls in the same run, for N=8192 ' +
    'and N=16384, plus sizes, Paillier-1024/2048 and the 2-worker speed-up. With --json prints the figures ' +
    'and "max_overhead_vs_raw" (worst layer/raw ratio). --quick: N=8192 and Paillier-1024 only.',
  options: {
    runs: { type: 'integer', description: 'timed runs per operation', default: 21, placeholder: 'N' },
    quick: { type: 'boolean', description: 'N=8192 and Paillier-1024 only, fewer vectors' },
  },
  async run(options, _positionals, ctx) {
    const quick = bool(options, 'quick');
    const r = await runHeBenchmark({
      runs: num(options, 'runs'),
      logger: ctx.logger,
      progress: ctx.progress,
      ...(quick && { presets: ['ckks-8192'] as const, paillierBits: [1024], workerVectors: 16 }),
    });
    for (const x of r.rows) {
      ctx.print(
        `${x.preset.padEnd(11)} ${x.operation.padEnd(34)} layer ${x.layerMs.toFixed(3).padStart(9)} ms  raw ${x.rawMs.toFixed(3).padStart(9)} ms  x${x.ratio.toFixed(2)}`,
      );
    }
    for (const p of r.paillier)
      ctx.print(`paillier-${p.bits} ${p.operation.padEnd(48)} ${p.ms.toFixed(3)} ms`);
    ctx.print(
      `workers: 1 -> ${r.workers.oneMs.toFixed(0)} ms, 2 -> ${r.workers.twoMs.toFixed(0)} ms (x${r.workers.speedup.toFixed(2)})`,
    );
    ctx.print(`max_overhead_vs_raw ${r.maxOverheadVsRaw.toFixed(3)}`);
    return {
      max_overhead_vs_raw: r.maxOverheadVsRaw,
      operations: r.rows,
      sizes: r.sizes,
      context_ms: r.contextMs,
      paillier: r.paillier,
      workers: r.workers,
      runs: r.runs,
    };
  },
};
