/**
 * SecureBoost accuracy on the real public data in ../shared/data (fixed train/test split), against the
 * sklearn baseline committed beside the data (baselines.csv, `HGB_sbtcfg`: HistGradientBoosting with 30
 * trees, depth 3, 32 bins, learning rate 0.3 -- FATE's SecureBoost benchmark settings) on the pooled
 * columns. Same settings here: 30 trees, depth 3, 32 bins, learning rate 0.3, one host. Tolerance: test
 * AUC at most 0.005 below sklearn's (issue 15's target: default_credit >= 0.7726 against 0.7776; breast
 * >= 0.98). Measured 2026-12-05 with the hosts' per-bin floor: default_credit 0.7797 (KS 0.4300) in 20 s,
 * breast 0.9891, german 0.7682 (KS 0.4429; sklearn 0.7749; without the per-bin floor 0.7802, 0.9881,
 * 0.7844). Scheme `none`: the federated computation in the clear, which CKKS
 * reproduces to within 0.005 AUC (secureboost-he.test.ts); a 24,000-row CKKS run belongs in the
 * benchmark (benchmarks/src/secureboost.bench.ts), not a unit test. Skipped with a printed reason when
 * the data folder is absent.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auc, ks } from '@fedscore/core';
import { predictSecureBoost, trainSecureBoost } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { hasDataset, loadHetero, SHARED_DATA } from './shared-data.ts';

function sklearnAuc(dataset: string): number {
  const lines = readFileSync(join(SHARED_DATA, 'baselines.csv'), 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells[0] === dataset && cells[1] === 'pooled' && cells[3] === 'HGB_sbtcfg') {
      return Number(cells[header.indexOf('test_auc')]);
    }
  }
  throw new Error(`no HGB_sbtcfg baseline for ${dataset}`);
}

// german: issue 15 asks for its figure to be reported. With 800 training rows a root bin holds ~25 rows,
// below the 50-row floor, so the hosts' per-bin floor merges bins (docs/protocols/secureboost.md,
// "Per-bin floor"): 0.7682 against 0.7844 without it; the bound is 0.01 there.
const cases = [
  { folder: 'default_credit', prefix: 'default_credit', baseline: 'default_credit' },
  { folder: 'breast', prefix: 'breast', baseline: 'breast' },
  { folder: 'german', prefix: 'german', ids: 'german_credit', baseline: 'german_credit', tolerance: 0.01 },
] as const;

for (const c of cases) {
  const present = hasDataset(c.folder);
  if (!present)
    console.log(`skipping ${c.folder} SecureBoost accuracy: ${SHARED_DATA}/${c.folder} is absent`);
  describe.skipIf(!present)(`SecureBoost accuracy on ${c.folder}`, () => {
    it('reaches sklearn HistGradientBoosting (same settings) within 0.005 test AUC', async () => {
      const d = loadHetero(c.folder, c.prefix, 'ids' in c ? c.ids : c.prefix);
      const t0 = performance.now();
      const run = await trainSecureBoost({
        guest: { features: d.train.guest, labels: d.train.labels },
        hosts: [{ features: d.train.host }],
        scheme: 'none',
        hyperparams: { trees: 30, depth: 3, bins: 32, learningRate: 0.3 },
      });
      const pred = await predictSecureBoost({
        guest: { model: run.guest, features: d.test.guest },
        hosts: [{ model: run.hosts[0]!, features: d.test.host }],
      });
      const seconds = (performance.now() - t0) / 1000;
      const ours = auc(d.test.labels, pred.scores);
      const theirs = sklearnAuc(c.baseline);
      console.log(
        `${c.folder}: SecureBoost (none) test AUC ${ours.toFixed(4)} KS ${ks(d.test.labels, pred.scores).ks.toFixed(4)}; sklearn HGB_sbtcfg ${theirs.toFixed(4)}; ${seconds.toFixed(1)} s`,
      );
      expect(ours).toBeGreaterThan(theirs - ('tolerance' in c ? c.tolerance : 0.005));
      if (c.folder === 'breast') expect(ours).toBeGreaterThanOrEqual(0.98);
    }, 120_000);
  });
}
