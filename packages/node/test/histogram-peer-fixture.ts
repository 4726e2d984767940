/**
 * Child process of secureboost-liveness.test.ts: the government's `GrpcTransport` in a process that also
 * sums a SecureBoost host histogram (vfl's `GradientRotations`, one batch of 8,192 rows x 20 features x
 * 32 bins at the release preset: 1,024 encodes and products, then the giant steps and fold), as a host
 * node does in its train stage. Prints `port N` once listening and `ready` once the context and the
 * tree's rotations are built. On the stdin line `run sync` or `run steps` it prints `running`, sums the
 * histogram in one synchronous call (`node`: how the host ran before) or in steps that give the event
 * loop a turn (`runStepsYielding`: how it runs now), and prints `done <ms> <max event-loop delay ms>`.
 * Usage: node histogram-peer-fixture.ts (TLS material as JSON in FEDSCORE_TEST_TLS).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { seededRng, uniform } from '@fedscore/core';
import { createCkksContext } from '@fedscore/he';
import { GrpcTransport } from '@fedscore/node';
import { GradientRotations, histogramRotationSteps, planHistogram, runStepsYielding } from '@fedscore/vfl';

const tls = JSON.parse(process.env['FEDSCORE_TEST_TLS'] ?? 'null') as {
  ca: string;
  cert: string;
  key: string;
};
if (tls === null) throw new Error('FEDSCORE_TEST_TLS is not set');
const transport = await GrpcTransport.start({
  party: 'government',
  listen: '127.0.0.1:0',
  tls,
  peers: { bank: '127.0.0.1:1' },
});
process.stdout.write(`port ${transport.port}\n`);

const features = 20;
const bins = 32;
const S = 8192;
const layout = planHistogram(features * bins, S, S, 3);
const ctx = await createCkksContext({
  params: 'ckks-16384-release',
  rotations: histogramRotationSteps(layout),
});
const rng = seededRng(5);
const counts = Array.from({ length: features }, () => bins);
const offsets = counts.map((_, f) => f * bins);
const index = counts.map((c) => Uint16Array.from({ length: S }, () => Math.floor(uniform(rng) * c)));
const binned = { bins: [], index, counts };
const encG = ctx.encryptBatch(Float64Array.from({ length: S }, () => 2 * uniform(rng) - 1));
const encH = ctx.encryptBatch(Float64Array.from({ length: S }, () => uniform(rng) / 4));
const rot = new GradientRotations(ctx, layout, encG, encH);
const node = Int32Array.from({ length: S }, (_, i) => i);
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  const m = /^run (sync|steps)$/.exec(line);
  if (m === null) continue;
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  process.stdout.write('running\n');
  // A turn first, so the histogram below starts after the parent has read `running`.
  await new Promise<void>((resolve) => setTimeout(resolve, 20));
  const t0 = performance.now();
  const sums =
    m[1] === 'sync'
      ? rot.node(node, binned, offsets)
      : await runStepsYielding(rot.nodeSteps(node, binned, offsets));
  const ms = performance.now() - t0;
  // One more turn, so a delay that lasted to the end of the histogram is recorded.
  await new Promise<void>((resolve) => setTimeout(resolve, 20));
  h.disable();
  for (const v of sums.z) v.dispose();
  process.stdout.write(`done ${Math.round(ms)} ${Math.round(h.max / 1e6)}\n`);
}
rot.dispose();
for (const v of [...encG, ...encH]) v.dispose();
ctx.dispose();
await transport.close();
