/**
 * The task kinds a SecureBoost host's HE worker threads serve (`HeWorkerPoolOptions.taskKinds`, loaded by
 * each thread of `@fedscore/he`'s pool): the histogram tasks of secureboost/offload.ts, the same kind
 * (`sbHistogram`) and handler a queue worker process runs. Host.ts hands its histograms to these threads
 * when it has `workers` and the cost rule (`threadedHistogramsWin`) says the threads beat the run-cached
 * diagonals on one thread.
 *
 * One difference from a queue worker: a task crosses the thread boundary by structured clone, so the
 * tasks of one range at the next level arrive with equal bytes but a new array. The handler keeps its
 * baby rotations by the identity of the packed gradients; here each task's gradients are replaced by the
 * last equal array this thread saw (compared byte for byte), so a range's rotations are made once per
 * tree on a thread, not once per level.
 */
import { Buffer } from 'node:buffer';
import type { CkksPublicContext, HeThreadTaskKinds } from '@fedscore/he';
import { type HistogramTask, type HistogramTaskOutput, histogramTaskHandler } from './offload.ts';

/** Packed-gradient arrays a thread remembers (as many as the handler keeps ranges' rotations). */
const INTERNED = 2;

function sameBytes(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!(x instanceof Uint8Array) || !(y instanceof Uint8Array) || x.length !== y.length) return false;
    if (
      !Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(y.buffer, y.byteOffset, y.length))
    ) {
      return false;
    }
  }
  return true;
}

/** `histogramTaskHandler` for a thread: equal packed gradients become the same array (see above). */
export function threadHistogramHandler(ctx: CkksPublicContext): (task: HistogramTask) => HistogramTaskOutput {
  const inner = histogramTaskHandler(ctx);
  const seen: (readonly Uint8Array[])[] = [];
  return (task) => {
    const given = task?.packedGradients;
    if (!Array.isArray(given)) return inner(task);
    let same = seen.find((s) => sameBytes(s, given));
    if (same === undefined) {
      same = given;
      seen.push(given);
      while (seen.length > INTERNED) seen.shift();
    }
    return inner({ ...task, packedGradients: same });
  };
}

export const taskKinds: HeThreadTaskKinds = {
  sbHistogram: threadHistogramHandler as HeThreadTaskKinds[string],
};
