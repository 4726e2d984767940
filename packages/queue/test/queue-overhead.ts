/**
 * Queue overhead on a real task (docs/deploy.md, "Work distribution"): N packed products y = M [[d]]
 * (P columns of B rows, ckks-8192) one after another, each on the local HE pool (one worker thread) and
 * on the pg-boss executor with one `fedscore worker` process, on a throwaway PostgreSQL cluster. Prints
 * the medians: local pool ms, enqueue-to-result ms, and the worker's own ms in the task (from
 * `health()`). Not a test (timings belong in benchmarks); run it by hand:
 *
 *   P=64 npx -y pnpm@12.4.2 exec node --disable-warning=ExperimentalWarning packages/queue/test/queue-overhead.ts
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { normal, seededRng } from '@fedscore/core';
import {
  createCkksContext,
  createHeWorkerPool,
  emptyWork,
  type PackedPartsResult,
  type PackedProductRequest,
  packedLayout,
  packedProductOn,
  packedRotationSteps,
  replicate,
} from '@fedscore/he';
import { QueueExecutor } from '@fedscore/queue';
import { startPgCluster } from './pg-cluster.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'src', 'main.ts');
const cluster = await startPgCluster();
const SLOTS = 4096,
  B = 50,
  P = Number(process.env.P ?? 64),
  N = 12;
const layout = packedLayout(64, 100, SLOTS);
const ctx = await createCkksContext({ rotations: packedRotationSteps(layout), relinearization: false });
const local = await createHeWorkerPool({ size: 1, context: ctx.serialize({ compression: 'none' }) });
const ex = await QueueExecutor.create<PackedProductRequest, PackedPartsResult>({
  connectionString: cluster.url,
  queue: 'ov',
  pollMs: 1000,
});
await ex.publishContext(ctx.serialize({ compression: 'none' }));
const w = spawn(
  process.execPath,
  ['--disable-warning=ExperimentalWarning', CLI, 'worker', '--queue', cluster.url, '--name', 'ov'],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
await new Promise<void>((r) =>
  w.stderr!.on('data', (b) => {
    if (String(b).includes('ready')) r();
  }),
);
const rng = seededRng(5);
const lat: number[] = [],
  loc: number[] = [];
let bytes = 0;
for (let i = 0; i < N; i++) {
  const cols = Array.from({ length: P }, () => Float64Array.from({ length: B }, () => normal(rng)));
  const d = Float64Array.from({ length: B }, () => normal(rng));
  const enc = ctx.encrypt(replicate(d, layout.width, SLOTS));
  const plan = layout.productPlan(P);
  if (i === 0) bytes = enc.serialize({ compression: 'none' }).length + P * B * 8;
  let t = performance.now();
  for (const v of await local.packedProduct(enc, plan, cols, B)) v.dispose();
  loc.push(performance.now() - t);
  t = performance.now();
  for (const v of await packedProductOn(ex, enc, plan, cols, B, emptyWork(), { taskId: `ov-${i}` }))
    v.dispose();
  lat.push(performance.now() - t);
  enc.dispose();
}
const h = await ex.health();
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
process.stdout.write(
  `${JSON.stringify({ P, B, taskBytes: bytes, localMs: med(loc), queueLatencyMs: med(lat), workerTaskMs: h.taskMs.p50, latency: h.latencyMs, task: h.taskMs })}\n`,
);
w.kill('SIGTERM');
await ex.close();
await local.close();
ctx.dispose();
cluster.stop();
process.exit(0);
