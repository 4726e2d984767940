/**
 * SecureBoost's optional algorithms and mitigations on default_credit (fixed train/test split, 30 trees,
 * depth 3, 32 bins, learning rate 0.3, one host) in the clear (`none`, the federated computation that
 * CKKS reproduces within 0.005 AUC: secureboost-he.test.ts): the test AUC cost of each option against
 * the plain run. Options: guest-only first trees (Cheng et al. 2019, section 6: hosts take no part in
 * them), GOSS (Ke et al. 2017, a = 0.2, b = 0.1), colsample_bytree 0.5 at both parties, early stopping on
 * 20 % of the training rows held by the guest (5 rounds, up to 100 trees).
 * The samplers are key-derived cryptographic generators with a fixed benchmark key (the kind production
 * uses, seeded here so that the table is reproducible). Skipped with the reason when the data is absent.
 *
 *   pnpm bench secureboost-options [--data ../shared/data] [--guest-only 1,2,3,5]
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { auc, ks, loadRngKey } from '@fedscore/core';
import { predictSecureBoost, type SecureBoostHyperparams, trainSecureBoost } from '@fedscore/vfl';
import type { BenchResult } from './report.ts';
import { loadDefaultCredit } from './secureboost.bench.ts';

function flagStr(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? String(args[i + 1]) : fallback;
}

export default async function secureboostOptionsBench(args: string[]): Promise<BenchResult> {
  const dataDir = flagStr(args, 'data', join(import.meta.dirname, '..', '..', '..', 'shared', 'data'));
  const guestOnly = flagStr(args, 'guest-only', '1,2,3,5').split(',').map(Number);
  const dcDir = join(dataDir, 'default_credit');
  const base = { trees: 30, depth: 3, bins: 32, learningRate: 0.3 };
  const parameters = { dataset: 'default_credit fixed split', scheme: 'none', ...base };
  if (!existsSync(join(dcDir, 'default_credit_hetero_guest.csv'))) {
    const reason = `no ${dcDir}/default_credit_hetero_guest.csv`;
    console.error(`secureboost-options: skipped: ${reason}`);
    return { summary: { skipped: reason }, parameters, tables: [] };
  }
  const { train, test } = await loadDefaultCredit(dcDir);
  const key = await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => (7 * i + 3) & 0xff));
  const runs: { name: string; hp: SecureBoostHyperparams }[] = [
    { name: 'plain', hp: base },
    ...guestOnly.map((k) => ({ name: `guestOnlyTrees ${k}`, hp: { ...base, guestOnlyTrees: k } })),
    {
      name: 'GOSS a=0.2 b=0.1',
      hp: { ...base, gossTopRate: 0.2, gossOtherRate: 0.1, acceptGossLabelLeakage: true },
    },
    { name: 'colsampleByTree 0.5', hp: { ...base, colsampleByTree: 0.5 } },
    {
      name: 'early stopping (20 % validation, 5 rounds, <= 100 trees)',
      hp: { ...base, trees: 100, validationFraction: 0.2, earlyStoppingRounds: 5 },
    },
  ];
  const rows: (string | number)[][] = [];
  const raw: Record<string, unknown>[] = [];
  let plainAuc = Number.NaN;
  for (const r of runs) {
    const run = await trainSecureBoost({
      guest: { features: train.guest, labels: train.labels },
      hosts: [{ features: train.host, rng: key.derive(`${r.name}/host`) }],
      scheme: 'none',
      hyperparams: r.hp,
      rng: key.derive(`${r.name}/guest`),
    });
    const pred = await predictSecureBoost({
      guest: { model: run.guest, features: test.guest },
      hosts: [{ model: run.hosts[0]!, features: test.host }],
    });
    const testAuc = auc(test.labels, pred.scores);
    if (r.name === 'plain') plainAuc = testAuc;
    const nodes = run.guest.trees.flat();
    const hostSplits = nodes.filter((n) => n.kind === 'host-split').length;
    const splits = nodes.filter((n) => n.kind !== 'leaf').length;
    rows.push([
      r.name,
      testAuc,
      testAuc - plainAuc,
      ks(test.labels, pred.scores).ks,
      run.guest.trees.length,
      `${hostSplits} / ${splits}`,
      run.secondsTotal,
    ]);
    raw.push({
      name: r.name,
      hyperparams: r.hp,
      test_auc: testAuc,
      trees: run.guest.trees.length,
      history: run.history,
    });
  }
  const byName = Object.fromEntries(rows.map((r) => [r[0], r[1]]));
  return {
    summary: { plain_auc: plainAuc, ...byName },
    parameters: { ...parameters, rows_train: train.labels.length, rows_test: test.labels.length },
    tables: [
      {
        title: 'default_credit: test AUC of each SecureBoost option (scheme none, 1 host)',
        columns: ['option', 'test AUC', 'AUC - plain', 'KS', 'trees kept', 'host splits / splits', 'seconds'],
        rows,
        note: 'guestOnlyTrees k: the first k trees use the guest features only; hosts take no part in them.',
      },
    ],
    notes: [
      'Samplers: key-derived cryptographic generators with a fixed benchmark key (reproducible table).',
      `Load average (1, 5, 15 min) at the end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(', ')}.`,
    ],
    raw: { runs: raw },
  };
}
