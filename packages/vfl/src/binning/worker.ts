/**
 * Worker thread of `evaluateBinSumsParallel` (served by the core pool, reused across calls): evaluates the
 * partial bin sums of a task's batch range and returns them serialized. The public CKKS context of the
 * last task is kept loaded (keyed by its fingerprint), so tasks of one run, and later runs under the same
 * key, load it once per worker. Never floods or sends anything itself: the parent adds the partials and
 * floods the total.
 */
import { serveTasks } from '@fedscore/core/pool';
import { type CkksPublicContext, loadCkksPublicContext } from '@fedscore/he';
import { type BinSumWorkerInput, type BinSumWorkerOutput, evaluateBinSumTask } from './parallel.ts';

let loaded: { readonly fingerprint: string; readonly ctx: CkksPublicContext } | undefined;

async function contextFor(input: BinSumWorkerInput): Promise<CkksPublicContext> {
  if (loaded?.fingerprint !== input.fingerprint) {
    loaded?.ctx.dispose();
    loaded = undefined;
    const ctx = await loadCkksPublicContext(input.context, { insecure: input.insecure });
    loaded = { fingerprint: ctx.fingerprint, ctx };
  }
  return loaded.ctx;
}

serveTasks<BinSumWorkerInput, BinSumWorkerOutput>(async (input, task) =>
  evaluateBinSumTask(await contextFor(input), input, (done) => task.progress(done)),
);
