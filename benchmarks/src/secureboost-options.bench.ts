/**
 * SecureBoost's optional algorithms and mitigations on a generated population and on default_credit
 * (fixed train/test split, when present; 30 trees, depth 3, 32 bins, learning rate 0.3, one host) in the clear (`none`, the federated computation that
 * CKKS reproduces within 0.005 AUC: secureboost-he.test.ts): the test AUC cost of each option against
 * the plain run. Options: guest-only first trees (Cheng et al. 2019, section 6: hosts take no part in
 * them), GOSS (Ke et al. 2017, a = 0.2, b = 0.1), colsample_bytree 0.5 at both parties, early stopping on
 * 20 % of the training rows held by the guest (5 rounds, up to 100 trees), layered trees (FATE's LAYERED
 * mode, `hostDepth` H), and the hosts' per-bin floor switched off (the unsafe test-only setting: its AUC
 * cost, since every other row has it on).
 * The samplers are key-derived cryptographic generators with a fixed benchmark key (the kind production
 * uses, seeded here so that the table is reproducible). Skipped with the reason when the data is absent.
 *
 *   pnpm bench secureboost-options [--data ../shared/data] [--rows 10000] [--guest-only 1,2,3,5]
 *     [--layered 1,2]
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { auc, type Column, ks, loadRngKey, selectRows, type Table } from '@fedscore/core';
import { generatePopulation } from '@fedscore/datasets';
import {
  type PartyFeatures,
  predictSecureBoost,
  type SecureBoostHyperparams,
  trainSecureBoost,
} from '@fedscore/vfl';
import type { BenchResult, BenchTable } from './report.ts';
import { loadDefaultCredit } from './secureboost.bench.ts';

interface Split {
  readonly guest: PartyFeatures;
  readonly host: PartyFeatures;
  readonly labels: Float64Array;
}

function flagStr(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? String(args[i + 1]) : fallback;
}

/** A generated population (datasets' `generatePopulation`): bank = guest, government = host; every 5th row tests. */
function generated(rows: number) {
  const pop = generatePopulation({ enterprises: rows, overlap: 1, bankOnlyFraction: 0 });
  const host: Table = selectRows(pop.government, Uint32Array.from(pop.truth.governmentRowOfBank));
  const labels = pop.bank.label!;
  const numeric = (columns: readonly Column[], keep: (i: number) => boolean): PartyFeatures => {
    const cols = columns.filter((c) => c.kind === 'numeric');
    return {
      names: cols.map((c) => c.name),
      columns: cols.map((c) => Float64Array.from((c.values as Float64Array).filter((_, i) => keep(i)))),
    };
  };
  const part = (keep: (i: number) => boolean) => ({
    guest: numeric(pop.bank.columns, keep),
    host: numeric(host.columns, keep),
    labels: Float64Array.from(labels.filter((_, i) => keep(i))),
  });
  return { train: part((i) => i % 5 !== 0), test: part((i) => i % 5 === 0) };
}

export default async function secureboostOptionsBench(args: string[]): Promise<BenchResult> {
  const loadAtStart = loadavg();
  const dataDir = flagStr(args, 'data', join(import.meta.dirname, '..', '..', '..', 'shared', 'data'));
  const guestOnly = flagStr(args, 'guest-only', '1,2,3,5').split(',').map(Number);
  const layered = flagStr(args, 'layered', '1,2').split(',').map(Number);
  const genRows = Number(flagStr(args, 'rows', '10000'));
  const dcDir = join(dataDir, 'default_credit');
  const base = { trees: 30, depth: 3, bins: 32, learningRate: 0.3 };
  const parameters = {
    datasets: `generated population (${genRows} enterprises, every 5th row tests), default_credit fixed split if present`,
    scheme: 'none',
    ...base,
  };
  const datasets: { name: string; train: Split; test: Split }[] = [
    { name: `generated ${genRows}`, ...generated(genRows) },
  ];
  if (existsSync(join(dcDir, 'default_credit_hetero_guest.csv'))) {
    datasets.push({ name: 'default_credit', ...(await loadDefaultCredit(dcDir)) });
  } else {
    console.error(`secureboost-options: default_credit skipped: no ${dcDir}/default_credit_hetero_guest.csv`);
  }
  const key = await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => (7 * i + 3) & 0xff));
  const runs: { name: string; hp: SecureBoostHyperparams; unsafeNoBinFloor?: boolean }[] = [
    { name: 'plain', hp: base },
    ...guestOnly.map((k) => ({ name: `guestOnlyTrees ${k}`, hp: { ...base, guestOnlyTrees: k } })),
    ...layered.map((h) => ({ name: `layered hostDepth ${h}`, hp: { ...base, hostDepth: h } })),
    {
      name: 'GOSS a=0.2 b=0.1',
      hp: { ...base, gossTopRate: 0.2, gossOtherRate: 0.1, acceptGossLabelLeakage: true },
    },
    { name: 'colsampleByTree 0.5', hp: { ...base, colsampleByTree: 0.5 } },
    {
      name: 'early stopping (20 % validation, 5 rounds, <= 100 trees)',
      hp: { ...base, trees: 100, validationFraction: 0.2, earlyStoppingRounds: 5 },
    },
    { name: 'per-bin floor off (unsafe; its cost)', hp: base, unsafeNoBinFloor: true },
  ];
  const tables: BenchTable[] = [];
  const summary: Record<string, unknown> = {};
  const raw: Record<string, unknown>[] = [];
  for (const d of datasets) {
    const rows: (string | number)[][] = [];
    let plainAuc = Number.NaN;
    for (const r of runs) {
      const run = await trainSecureBoost({
        guest: { features: d.train.guest, labels: d.train.labels },
        hosts: [
          {
            features: d.train.host,
            rng: key.derive(`${r.name}/host`),
            ...(r.unsafeNoBinFloor === true && { unsafeNoBinFloor: true }),
          },
        ],
        scheme: 'none',
        hyperparams: r.hp,
        rng: key.derive(`${r.name}/guest`),
      });
      const pred = await predictSecureBoost({
        guest: { model: run.guest, features: d.test.guest },
        hosts: [{ model: run.hosts[0]!, features: d.test.host }],
      });
      const testAuc = auc(d.test.labels, pred.scores);
      if (r.name === 'plain') plainAuc = testAuc;
      const nodes = run.guest.trees.flat();
      const hostSplits = nodes.filter((n) => n.kind === 'host-split').length;
      const splits = nodes.filter((n) => n.kind !== 'leaf').length;
      rows.push([
        r.name,
        testAuc,
        testAuc - plainAuc,
        ks(d.test.labels, pred.scores).ks,
        run.guest.trees.length,
        `${hostSplits} / ${splits}`,
        run.secondsTotal,
      ]);
      summary[`${d.name}: ${r.name}`] = testAuc;
      raw.push({
        dataset: d.name,
        name: r.name,
        hyperparams: r.hp,
        test_auc: testAuc,
        trees: run.guest.trees.length,
        history: run.history,
      });
    }
    tables.push({
      title: `${d.name}: test AUC of each SecureBoost option (scheme none, 1 host; rows ${d.train.labels.length} train / ${d.test.labels.length} test)`,
      columns: ['option', 'test AUC', 'AUC - plain', 'KS', 'trees kept', 'host splits / splits', 'seconds'],
      rows,
      note: 'guestOnlyTrees k: the first k trees use the guest features only. layered hostDepth H: the top H levels split on host features, the rest on guest features by the guest alone. The per-bin floor is on in every row but the last.',
    });
  }
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  return {
    summary,
    parameters,
    tables,
    notes: [
      'Samplers: key-derived cryptographic generators with a fixed benchmark key (reproducible table).',
      `Load average (1, 5, 15 min) at the start: ${fmt(loadAtStart)}; at the end: ${fmt(loadavg())} (2 cores shared by several engineers: the seconds are noisy).`,
    ],
    raw: { runs: raw },
  };
}
