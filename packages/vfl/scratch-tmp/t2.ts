import { cryptoRng, seededRng } from '@fedscore/core';
import { createCkksContext } from '@fedscore/he';
import { BINNING_CKKS_PARAMS, evaluateBinSumsCkks } from '/work/main/packages/vfl/src/binning/ckks-sums.ts';
import { binSumRotations, decodeBinSums, planBinSums } from '/work/main/packages/vfl/src/binning/packing.ts';
import { evaluateBinSumsParallel } from '/work/main/packages/vfl/src/binning/parallel.ts';

const n = Number(process.argv[2] ?? 20000),
  F = Number(process.argv[3] ?? 30),
  B = 10;
const bits = Number(process.argv[4] ?? 30);
const rng = seededRng(1);
const y = new Float64Array(n).map(() => (rng.nextUint32() % 5 === 0 ? 1 : 0));
const binIndex = Array.from({ length: F }, () => new Uint16Array(n).map(() => rng.nextUint32() % B));
const cells: { feature: number; bin: number }[] = [];
const counts: number[] = [];
const truth: number[] = [];
for (let f = 0; f < F; f++)
  for (let b = 0; b < B - 1; b++) {
    let c = 0,
      bad = 0;
    for (let i = 0; i < n; i++)
      if (binIndex[f]![i] === b) {
        c++;
        bad += y[i]!;
      }
    cells.push({ feature: f, bin: b });
    counts.push(c);
    truth.push(bad);
  }
const layout = planBinSums(counts, n, 4096, bits);
console.log({
  blocks: layout.blocks,
  m: layout.blockSize,
  n1: layout.baby,
  n2: layout.giant,
  positions: layout.positions.length,
  batches: layout.batches,
});
const ctx = await createCkksContext({
  params: BINNING_CKKS_PARAMS,
  rotations: binSumRotations(layout),
  relinearization: false,
});
const pub = ctx.toPublic();
const t0 = performance.now();
const labels = [] as ReturnType<typeof ctx.encrypt>[];
for (let k = 0; k < layout.batches; k++)
  labels.push(ctx.encrypt(y.subarray(k * 4096, Math.min(n, (k + 1) * 4096))));
const lab2 = labels.map((v) => pub.deserializeVector(v.serialize()));
const t1 = performance.now();
const { sums, cost } = await evaluateBinSumsParallel(
  pub,
  labels.map((v) => v.serialize()),
  layout,
  cells,
  binIndex,
  { rng: cryptoRng(), workers: Number(process.argv[5] ?? 2) },
);
const t2 = performance.now();
const dec = sums.map((s) => ctx.decrypt(ctx.deserializeVector(s.serialize())));
let maxRes = 0;
for (const d of dec)
  for (let t = 0; t < layout.blockSize; t++) maxRes = Math.max(maxRes, Math.abs(d[t]! - Math.round(d[t]!)));
const got = decodeBinSums(layout, counts, dec);
let bad = 0;
for (let c = 0; c < cells.length; c++) if (got[c] !== truth[c]) bad++;
console.log({
  cost,
  encMs: t1 - t0,
  evalMs: t2 - t1,
  maxResidual: maxRes,
  mismatches: bad,
  cells: cells.length,
});
