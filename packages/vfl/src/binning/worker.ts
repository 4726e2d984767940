/**
 * Worker thread of `evaluateBinSumsParallel`: loads the public CKKS context once, evaluates the partial
 * bin sums of its batch range, and posts them back serialized. Never floods or sends anything itself: the
 * parent adds the partials and floods the total.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadCkksPublicContext } from '@fedscore/he';
import { partialBinSumsCkks } from './ckks-sums.ts';
import type { BinSumWorkerInput, BinSumWorkerOutput } from './parallel.ts';

const input = workerData as BinSumWorkerInput;
const ctx = await loadCkksPublicContext(input.context, { insecure: input.insecure });
try {
  const labels = input.labels.map((b) => ctx.deserializeVector(b));
  const { sums, cost } = partialBinSumsCkks(
    ctx,
    labels,
    input.layout,
    input.cells,
    input.binIndex,
    input.from,
    input.to,
    (e) => parentPort?.postMessage({ progress: e.done }),
  );
  const out: BinSumWorkerOutput = { sums: sums.map((s) => s.serialize({ compression: 'none' })), cost };
  for (const v of [...labels, ...sums]) v.dispose();
  parentPort?.postMessage(out);
} finally {
  ctx.dispose();
}
