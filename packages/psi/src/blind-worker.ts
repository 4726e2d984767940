/**
 * A blinding worker (node:worker_threads, served by the core pool): loads libsodium's WASM once and runs
 * batch jobs posted by `BlindingPool` (pool.ts). Each job carries its scalar; the worker copies it into
 * its own WASM scratch area for the duration of the job and wipes that area afterwards (ristretto.ts). The
 * worker never logs.
 */
import { serveTasks, transferring } from '@fedscore/core/pool';
import { type BatchResult, blindBatch, hashToGroupBatch, loadSodium } from './ristretto.ts';
import type { WorkerReply, WorkerRequest } from './worker-messages.ts';

await loadSodium();

serveTasks<WorkerRequest, WorkerReply>((req) => {
  const t0 = performance.now();
  const cpu0 = process.threadCpuUsage();
  let result: BatchResult;
  try {
    result =
      req.op === 'hash'
        ? hashToGroupBatch(req.ids, req.offsets, req.scalar ?? undefined, req.domain)
        : blindBatch(req.points, req.scalar, req.outBytes);
  } finally {
    req.scalar?.fill(0);
  }
  const busyMs = performance.now() - t0;
  const cpu = process.threadCpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  if (result.ok) {
    return transferring<WorkerReply>({ type: 'done', out: result.out, busyMs, cpuMs }, [
      result.out.buffer as ArrayBuffer,
    ]);
  }
  return { type: 'rejected', index: result.index, busyMs, cpuMs };
});
