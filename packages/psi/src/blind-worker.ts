/**
 * A blinding worker (node:worker_threads): loads libsodium's WASM once and runs batch jobs posted by
 * `BlindingPool` (pool.ts). Each job carries its scalar; the worker copies it into its own WASM scratch
 * area for the duration of the job and wipes that area afterwards (ristretto.ts). The worker never logs.
 */
import { parentPort } from 'node:worker_threads';
import { type BatchResult, blindBatch, hashToGroupBatch, loadSodium } from './ristretto.ts';
import type { WorkerReply, WorkerRequest } from './worker-messages.ts';

const port = parentPort;
if (port === null) throw new Error('blind-worker.ts must run in a worker thread');

await loadSodium();
port.postMessage({ type: 'ready' } satisfies WorkerReply);

port.on('message', (req: WorkerRequest) => {
  const t0 = performance.now();
  const cpu0 = process.threadCpuUsage();
  let result: BatchResult;
  try {
    result =
      req.op === 'hash'
        ? hashToGroupBatch(req.ids, req.offsets, req.scalar ?? undefined, req.domain)
        : blindBatch(req.points, req.scalar, req.outBytes);
  } catch (e) {
    port.postMessage({
      type: 'failed',
      id: req.id,
      message: e instanceof Error ? e.message : String(e),
    } satisfies WorkerReply);
    return;
  } finally {
    req.scalar?.fill(0);
  }
  const busyMs = performance.now() - t0;
  const cpu = process.threadCpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  if (result.ok) {
    const reply: WorkerReply = { type: 'done', id: req.id, out: result.out, busyMs, cpuMs };
    port.postMessage(reply, [result.out.buffer as ArrayBuffer]);
  } else {
    port.postMessage({
      type: 'rejected',
      id: req.id,
      index: result.index,
      busyMs,
      cpuMs,
    } satisfies WorkerReply);
  }
});
