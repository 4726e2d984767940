/**
 * Accuracy on the real public data in ../shared/data (fixed train/test split), against core's
 * reference logistic regression (Newton, sklearn's C = 1) fitted on the pooled, standardized columns.
 * Targets of issue 5 (sklearn pooled test AUC in parentheses): breast >= 0.99 (0.9954), german >= 0.785
 * (0.7996), default_credit >= 0.7026 (0.7076); we also require at most 0.01 below our own reference.
 * By default (and so in CI): breast and default_credit (30,000 rows, the headline figure) under CKKS in
 * arbiter mode and in plaintext mode two-party (CKKS two-party gives the plaintext weights within 1e-4:
 * hetero-lr-he.test.ts), german in plaintext mode in both modes. With FEDSCORE_FULL_ACCURACY=1: every
 * set under CKKS in both modes. Skipped with a printed reason when the data folder is absent (under
 * CI=true, scripts/test/ci-requirements.test.ts fails instead).
 */
import { auc, fitLogisticRegression } from '@fedscore/core';
import { type HeteroLrMode, type HeteroLrScheme, partyPartialScores, trainHeteroLr } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { type HeteroSplit, hasDataset, loadHetero, SHARED_DATA } from './shared-data.ts';
import { standardizeOn } from './synthetic.ts';

const full = process.env.FEDSCORE_FULL_ACCURACY === '1';

function referenceAuc(d: HeteroSplit): number {
  const n = d.train.labels.length;
  const trainCols = [...d.train.guest.columns, ...d.train.host.columns];
  const testCols = [...d.test.guest.columns, ...d.test.host.columns];
  const all = Array.from({ length: n }, (_, i) => i);
  const p = trainCols.length;
  // Standardize with training statistics (test columns appended after the training rows).
  const joined = trainCols.map((c, j) => {
    const t = testCols[j]!;
    const both = new Float64Array(n + t.length);
    both.set(c);
    both.set(t, n);
    return standardizeOn(both, all);
  });
  const X = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) X[i * p + j] = joined[j]![i]!;
  const model = fitLogisticRegression(X, n, p, d.train.labels, { l2: 1 });
  const m = d.test.labels.length;
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = model.intercept;
    for (let j = 0; j < p; j++) s += model.coef[j]! * joined[j]![n + i]!;
    z[i] = s;
  }
  return auc(d.test.labels, z);
}

async function federatedAuc(
  d: HeteroSplit,
  scheme: HeteroLrScheme,
  mode: HeteroLrMode,
  batchSize: number,
  epochs: number,
  learningRate: number,
): Promise<number> {
  const res = await trainHeteroLr({
    guest: { features: d.train.guest, labels: d.train.labels },
    hosts: [{ features: d.train.host }],
    scheme,
    mode,
    hyperparams: { batchSize, maxEpochs: epochs, learningRate },
  });
  const z = partyPartialScores(res.guest, d.test.guest.columns);
  const zh = partyPartialScores(res.hosts[0]!, d.test.host.columns);
  for (let i = 0; i < z.length; i++) z[i]! += zh[i]!;
  return auc(d.test.labels, z);
}

const cases = [
  {
    folder: 'breast',
    prefix: 'breast',
    ids: 'breast',
    target: 0.99,
    batch: 128,
    epochs: 4,
    lr: 0.5,
    ckks: true,
  },
  {
    folder: 'german',
    prefix: 'german',
    ids: 'german_credit',
    target: 0.785,
    // The batch-size floor: 2 x 35 guest gradient coordinates = 70 rows; 800 training rows = 10 x 80.
    batch: 80,
    epochs: 10,
    lr: 0.3,
    ckks: full,
  },
  {
    folder: 'default_credit',
    prefix: 'default_credit',
    ids: 'default_credit',
    target: 0.7026,
    batch: 4096,
    epochs: 10,
    lr: 1,
    ckks: true,
  },
];

for (const c of cases) {
  const present = hasDataset(c.folder);
  if (!present) console.log(`skipping ${c.folder} accuracy: ${SHARED_DATA}/${c.folder} is absent`);
  const enabled = present;
  describe.skipIf(!enabled)(`hetero-LR accuracy on ${c.folder}`, () => {
    const d = enabled ? loadHetero(c.folder, c.prefix, c.ids) : undefined;
    const ref = d ? referenceAuc(d) : 0;
    for (const mode of ['arbiter', 'two-party'] as const) {
      const scheme: HeteroLrScheme = c.ckks && (full || mode === 'arbiter') ? 'ckks' : 'none';
      it(`${scheme} ${mode}: test AUC >= ${c.target} and within 0.01 of the reference LR`, async () => {
        const a = await federatedAuc(d!, scheme, mode, c.batch, c.epochs, c.lr);
        expect(a).toBeGreaterThanOrEqual(c.target);
        expect(a).toBeGreaterThanOrEqual(ref - 0.01);
      });
    }
  });
}
