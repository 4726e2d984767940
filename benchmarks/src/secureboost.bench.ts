/**
 * SecureBoost (packages/vfl/src/secureboost): seconds per tree under CKKS on a generated population of
 * --rows enterprises with --host-features government (host) and --guest-features bank (guest) features,
 * depth --depth, --bins quantile bins; CKKS vs Paillier on the same --paillier-rows rows (the speed-up
 * the issue asks for); and default_credit (30 trees, depth 3, 32 bins, learning rate 0.3) test AUC in
 * the clear (`none`) against sklearn's HistGradientBoosting with the same settings, and under CKKS:
 * --default-credit-before-trees trees (default 0: the host refuses `lowProductLevel` under the per-bin
 * floor, so the opt-in path runs only on code before it) on the opt-in lower product level
 * (`lowProductLevel: true`) then --default-credit-trees (default 30) on the default path, same rows,
 * same run, with its test AUC next to `none`'s. All parties in this process over the
 * in-memory network with the real wire codec.
 * Targets (issue 15): default_credit 30 trees <= 60 s and test AUC >= 0.7726; 100,000 x 330 depth 3
 * <= 45 s per tree on 2 cores.
 *
 *   pnpm bench secureboost [--rows 100000] [--host-features 300] [--guest-features 30] [--trees 1]
 *                          [--depth 3] [--bins 32] [--paillier-rows 300] [--data ../shared/data]
 *                          [--default-credit-trees 30] [--default-credit-before-trees 0]
 *                          [--default-credit 0] [--default-credit-workers 2]
 *                          [--default-credit-threads-trees 0]
 *                          [--ckks-preset ckks-16384-release] [--paillier-bits 2048 [--allow-weak-parameters]]
 * `--scale` runs issue 15's scale target instead, guest and host each in its own process with its own
 * peak RSS, beside the cost model (./secureboost-scale.ts; `--as secureboost-scale`).
 * `--default-credit-before-trees 0` skips the opt-in lowProductLevel run.
 * `--default-credit-workers W`: the host's HE worker threads in the default_credit CKKS run (its cost rule,
 * `threadedHistogramsWin`, decides whether the histograms use them). `--default-credit-threads-trees N`
 * (N > 0): first N trees in-process, N on W threads forced, N in-process again, same rows, reported as
 * `threads_vs_in_process`.
 * `--default-credit 0` skips default_credit; `--default-credit-trees` sets its CKKS trees. Seconds per
 * tree are the guest's tree loop (encrypting g and h to the last split), setup (key generation, the
 * public context) is reported apart.
 * `--ckks-preset` (default SECUREBOOST_CKKS_PRESET) is the preset of the generated population's CKKS runs and
 * of the per-operation projection (default_credit keeps the default) (the smoke's ckks-8192: 128-bit, keys ~4x smaller and faster to make). `--paillier-bits B`
 * below 2048 is NOT SECURE and needs `--allow-weak-parameters` (the smoke's 1024: a key made in a tenth of
 * the time); the result then says NOT SECURE beside the Paillier figures.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { auc, type Column, FedscoreError, ks, selectRows } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import {
  CKKS_PRESETS,
  type CkksPresetName,
  type CkksSecretContext,
  createCkksContext,
  sumRotationSteps,
} from '@fedscore/he';
import {
  histogramTreeOps,
  type PartyFeatures,
  predictSecureBoost,
  productLevel,
  SECUREBOOST_CKKS_PRESET,
  type SecureBoostScheme,
  trainSecureBoost,
} from '@fedscore/vfl';
import { binningPopulation } from './binning.bench.ts';
import { type BenchResult, peakRssMb } from './report.ts';

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function flagStr(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? String(args[i + 1]) : fallback;
}

function features(columns: readonly Column[], rows?: number): PartyFeatures {
  const numeric = columns.filter((c) => c.kind === 'numeric');
  return {
    names: numeric.map((c) => c.name),
    columns: numeric.map((c) => (rows === undefined ? c.values : c.values.slice(0, rows))),
  };
}

/** The HE parameters of every run of this benchmark (`--ckks-preset`, `--paillier-bits`). */
interface HeChoice {
  readonly ckksPreset: CkksPresetName;
  readonly paillierBits: number;
  /** Paillier below 2048 bits, asked for with `--allow-weak-parameters` (NOT SECURE). */
  readonly allowWeakParameters: boolean;
}

const DEFAULT_HE: HeChoice = {
  ckksPreset: SECUREBOOST_CKKS_PRESET,
  paillierBits: 2048,
  allowWeakParameters: false,
};

async function timed(
  guest: PartyFeatures,
  host: PartyFeatures,
  labels: Float64Array,
  scheme: SecureBoostScheme,
  hyperparams: Record<string, number>,
  hostOptions: {
    readonly lowProductLevel?: boolean;
    readonly workers?: number;
    readonly threadedHistograms?: boolean;
  } = {},
  he: HeChoice = DEFAULT_HE,
) {
  const run = await trainSecureBoost({
    guest: { features: guest, labels },
    hosts: [{ features: host, ...hostOptions }],
    scheme,
    hyperparams,
    he: {
      ckksPreset: he.ckksPreset,
      paillierBits: he.paillierBits,
      ...(he.allowWeakParameters && { allowWeakParameters: true }),
    },
  });
  return run;
}

/** Mean seconds of the tree loop (guest's per-tree record) and the setup before it. */
function treeSeconds(run: Awaited<ReturnType<typeof timed>>): { perTree: number; setup: number } {
  const trees = run.history.map((h) => h.seconds);
  const loop = trees.reduce((a, b) => a + b, 0);
  return { perTree: trees.length > 0 ? loop / trees.length : 0, setup: run.secondsTotal - loop };
}

/**
 * Mean seconds of one plaintext product, one encode and one rotation at the histogram product level, on
 * `ctx` (the run's CKKS preset with sumRotationSteps(slots)'s Galois keys).
 */
function opCosts(ctx: CkksSecretContext): { product: number; encode: number; rotation: number } {
  const S = ctx.slotCount;
  const level = productLevel(ctx);
  const diag = Float64Array.from({ length: S }, (_, i) => (i % 7 === 0 ? 1 : 0));
  return ctx.scope(() => {
    let v = ctx.encrypt(new Float64Array(S).fill(0.5));
    while (v.level > level) v = v.mul(1);
    const time = (n: number, fn: (i: number) => void) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) fn(i);
      return (performance.now() - t0) / 1000 / n;
    };
    const pt = ctx.encode(diag, level);
    const encode = time(40, () => ctx.encode(diag, level).dispose());
    const product = time(80, () => v.mul(pt, { rescale: false }).dispose());
    const steps = Math.log2(S) - 1;
    const rotation = time(16, (i) => v.rotate(2 ** (i % steps)).dispose());
    return { product, encode, rotation };
  });
}

/**
 * `--ckks-preset NAME` (default SECUREBOOST_CKKS_PRESET): one of the 128-bit presets, else a typed error
 * naming the flag and the presets it takes (this benchmark's and `secureboost --scale`'s).
 */
export function secureCkksPresetFlag(args: string[]): CkksPresetName {
  const name = flagStr(args, 'ckks-preset', SECUREBOOST_CKKS_PRESET);
  const secure = (Object.keys(CKKS_PRESETS) as CkksPresetName[]).filter(
    (p) => CKKS_PRESETS[p].securityBits >= 128,
  );
  if (!(secure as string[]).includes(name)) {
    throw new FedscoreError(
      'invalid_argument',
      `--ckks-preset must be a 128-bit preset (${secure.join(', ')}), got '${name}'`,
      { field: '--ckks-preset' },
    );
  }
  return name as CkksPresetName;
}

/**
 * The generated population this benchmark (and the cost model's SecureBoost check) trains on: the binning
 * benchmark's (`binningPopulation`), as SecureBoost features.
 */
export function secureboostPopulation(rows: number, hostFeatures: number, guestFeatures: number) {
  const { hostColumns, guestColumns, labels } = binningPopulation(rows, hostFeatures, guestFeatures);
  return { guestF: features(guestColumns), hostF: features(hostColumns), labels };
}

function sklearnAuc(dataDir: string): number | null {
  const path = join(dataDir, 'baselines.csv');
  if (!existsSync(path)) return null;
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const row = lines.find((l) => l.startsWith('default_credit,pooled,') && l.split(',')[3] === 'HGB_sbtcfg');
  return row === undefined ? null : Number(row.split(',')[header.indexOf('test_auc')]);
}

/** default_credit's fixed train/test split (../shared/data layout), each party's numeric features. */
export async function loadDefaultCredit(dcDir: string) {
  const g = await readCsvFile(join(dcDir, 'default_credit_hetero_guest.csv'), {
    idColumn: 'id',
    labelColumn: 'y',
  });
  const h = await readCsvFile(join(dcDir, 'default_credit_hetero_host.csv'), { idColumn: 'id' });
  const pos = new Map(h.ids.map((id, i) => [id, i]));
  const ids = (name: string) =>
    readFileSync(join(dcDir, `default_credit_${name}_ids.txt`), 'utf8')
      .trim()
      .split(/\r?\n/);
  const gRow = new Map(g.ids.map((id, i) => [id, i]));
  const pick = (list: string[]) => {
    const gi = Uint32Array.from(list, (id) => gRow.get(id)!);
    const hi = Uint32Array.from(list, (id) => pos.get(id)!);
    const gt = selectRows(g, gi);
    return { guest: features(gt.columns), host: features(selectRows(h, hi).columns), labels: gt.label! };
  };
  return { train: pick(ids('train')), test: pick(ids('test')) };
}

export default async function secureboostBench(args: string[]): Promise<BenchResult> {
  // The scale run: each party its own process, its own peak RSS (./secureboost-scale.ts).
  if (args.includes('--scale')) return (await import('./secureboost-scale.ts')).secureboostScale(args);
  const loadAtStart = loadavg();
  const rows = flag(args, 'rows', 100_000);
  const hostFeatures = flag(args, 'host-features', 300);
  const guestFeatures = flag(args, 'guest-features', 30);
  const trees = flag(args, 'trees', 1);
  const depth = flag(args, 'depth', 3);
  const bins = flag(args, 'bins', 32);
  const paillierRows = flag(args, 'paillier-rows', 300);
  const dcTrees = flag(args, 'default-credit-trees', 30);
  const dcBeforeTrees = flag(args, 'default-credit-before-trees', 0);
  const withDc = flag(args, 'default-credit', 1) !== 0;
  const dcWorkers = flag(args, 'default-credit-workers', 2);
  const dcThreadsTrees = flag(args, 'default-credit-threads-trees', 0);
  const dataDir = flagStr(args, 'data', join(import.meta.dirname, '..', '..', '..', 'shared', 'data'));
  const hp = { trees, depth, bins, learningRate: 0.3 };
  const ckksPreset = secureCkksPresetFlag(args);
  const paillierBits = flag(args, 'paillier-bits', 2048);
  const allowWeakParameters = args.includes('--allow-weak-parameters');
  if (paillierBits < 2048 && !allowWeakParameters)
    throw new Error(
      `--paillier-bits ${paillierBits} is NOT SECURE: add --allow-weak-parameters (smoke runs)`,
    );
  const he: HeChoice = { ckksPreset, paillierBits, allowWeakParameters };
  const weakPaillier = paillierBits < 2048;

  const { guestF, hostF, labels } = secureboostPopulation(rows, hostFeatures, guestFeatures);

  const ckks = await timed(guestF, hostF, labels, 'ckks', hp, {}, he);
  const { perTree, setup } = treeSeconds(ckks);
  const rssAfterCkks = peakRssMb();

  // Per-operation costs now, and the operation counts of this run's shape and of FATE's 100k x (30 + 300)
  // (assumed bins + 1 cells per host feature: every quantile bin filled, plus the missing-value bin).
  // One key set for both (its Galois keys are most of a key generation's seconds).
  const model = await createCkksContext({
    params: ckksPreset,
    rotations: sumRotationSteps(CKKS_PRESETS[ckksPreset].polyModulusDegree / 2),
    relinearization: false,
  });
  const costs = opCosts(model);
  const project = (cells: number, r: number) => {
    // The host's own plan and path (histogramTreeOps; the full cost model: bench cost-model).
    const ops = histogramTreeOps(model, cells, r, depth, undefined, true);
    const { products, encodes, rotations } = ops.perTree;
    return {
      cells,
      rows: r,
      layout: ops.layout,
      path: ops.path,
      products,
      encodes,
      rotations,
      he_seconds_per_tree: products * costs.product + encodes * costs.encode + rotations * costs.rotation,
    };
  };
  const thisShape = project(hostFeatures * (bins + 1), rows);
  const fateShape = project(300 * (bins + 1), 100_000);
  model.dispose();

  // CKKS vs Paillier on the same rows (Paillier-2048 histograms are per-row exponentiations: few rows).
  const sub = (f: PartyFeatures) => ({
    names: f.names.slice(0, 4),
    columns: f.columns.slice(0, 4).map((c) => c.slice(0, paillierRows)),
  });
  const small = { trees: 1, depth: 2, bins: 8, learningRate: 0.3 };
  const subLabels = labels.slice(0, paillierRows);
  const ckksSmall = await timed(sub(guestF), sub(hostF), subLabels, 'ckks', small, {}, he);
  const paillierSmall = await timed(sub(guestF), sub(hostF), subLabels, 'paillier', small, {}, he);

  let dc: Record<string, unknown> = { skipped: `no ${dataDir}/default_credit` };
  const dcDir = join(dataDir, 'default_credit');
  if (!withDc) dc = { skipped: '--default-credit 0' };
  else if (existsSync(join(dcDir, 'default_credit_hetero_guest.csv'))) {
    const { train, test } = await loadDefaultCredit(dcDir);
    const full = { trees: 30, depth: 3, bins: 32, learningRate: 0.3 };
    const plain = await timed(train.guest, train.host, train.labels, 'none', full);
    const pred = await predictSecureBoost({
      guest: { model: plain.guest, features: test.guest },
      hosts: [{ model: plain.hosts[0]!, features: test.host }],
    });
    // Both histogram paths on the same rows in this run: the run-cached products one level lower
    // (`lowProductLevel: true`, opt-in) for a few trees, then at productLevel (the default) for dcTrees.
    const loadBefore = loadavg()[0]!;
    // `--default-credit-before-trees 0` skips the opt-in path (trees must be >= 1 in a run).
    const before =
      dcBeforeTrees > 0
        ? await timed(
            train.guest,
            train.host,
            train.labels,
            'ckks',
            { ...full, trees: dcBeforeTrees },
            { lowProductLevel: true },
          )
        : undefined;
    const beforeTimes = before ? treeSeconds(before) : undefined;
    const loadAfter = loadavg()[0]!;
    // The host's histograms on its HE worker threads (per-node tasks) against in-process on one thread
    // (run-cached diagonals): in-process, threads, in-process again (the load moves), same rows.
    const threadsAb: Record<string, unknown>[] = [];
    for (const mode of dcThreadsTrees > 0 ? (['in-process', 'threads', 'in-process'] as const) : []) {
      const load = loadavg()[0]!;
      const r = await timed(
        train.guest,
        train.host,
        train.labels,
        'ckks',
        { ...full, trees: dcThreadsTrees },
        mode === 'threads' ? { workers: dcWorkers, threadedHistograms: true } : { workers: 0 },
      );
      threadsAb.push({
        mode,
        workers: mode === 'threads' ? dcWorkers : 0,
        load_1min_before: load,
        load_1min_after: loadavg()[0]!,
        seconds_per_tree: treeSeconds(r).perTree,
        seconds_setup: treeSeconds(r).setup,
        tree_seconds: r.history.map((h) => h.seconds),
        splits: r.hosts[0]!.splits.map((x) => `${x.feature}:${x.bin}`).join(' '),
      });
    }
    const oneCkks = await timed(
      train.guest,
      train.host,
      train.labels,
      'ckks',
      { ...full, trees: dcTrees },
      { workers: dcWorkers },
    );
    const dcTimes = treeSeconds(oneCkks);
    const firstAfter = oneCkks.history.slice(0, dcBeforeTrees).map((h) => h.seconds);
    const ckksPred = await predictSecureBoost({
      guest: { model: oneCkks.guest, features: test.guest },
      hosts: [{ model: oneCkks.hosts[0]!, features: test.host }],
    });
    const ckksAuc = auc(test.labels, ckksPred.scores);
    const plainAuc = auc(test.labels, pred.scores);
    dc = {
      rows: train.labels.length,
      test_auc: auc(test.labels, pred.scores),
      test_ks: ks(test.labels, pred.scores).ks,
      sklearn_hgb_same_settings_auc: sklearnAuc(dataDir),
      none_seconds_30_trees: plain.secondsTotal,
      host_features: train.host.names.length,
      ckks_trees: dcTrees,
      ckks_seconds_total: oneCkks.secondsTotal,
      ckks_seconds_setup: dcTimes.setup,
      ckks_seconds_per_tree: dcTimes.perTree,
      ckks_seconds_30_trees_projected: dcTimes.setup + dcTimes.perTree * 30,
      ckks_bytes_sent: oneCkks.bytesSent,
      ckks_trees_kept: oneCkks.guest.trees.length,
      ckks_test_auc: ckksAuc,
      ckks_minus_none_auc: ckksAuc - plainAuc,
      ckks_flooding_sd: oneCkks.hostRuns[0]?.floodingStdDev,
      ckks_host_workers: dcWorkers,
      threads_vs_in_process:
        threadsAb.length === 0 ? { skipped: '--default-credit-threads-trees 0' } : threadsAb,
      before_after: !before
        ? { skipped: '--default-credit-before-trees 0' }
        : {
            trees: dcBeforeTrees,
            load_1min_before: loadBefore,
            load_1min_after: loadAfter,
            before_path:
              'opt-in lowProductLevel: run-cached products at level 1, diagonals at 2^44 (maskedProduct)',
            after_path: 'default: run-cached products at productLevel (level 2), diagonals at 2^55',
            before_seconds_per_tree: beforeTimes?.perTree,
            before_seconds_setup: beforeTimes?.setup,
            before_tree_seconds: before.history.map((h) => h.seconds),
            after_tree_seconds_first: firstAfter,
            after_seconds_per_tree_first:
              firstAfter.reduce((a, b) => a + b, 0) / Math.max(1, firstAfter.length),
            before_bytes_sent: before.bytesSent,
          },
    };
  }

  return {
    summary: {
      rows,
      host_features: hostFeatures,
      guest_features: guestFeatures,
      depth,
      ckks_seconds_per_tree: perTree,
      ckks_seconds_setup: setup,
      target_seconds_per_tree: 45,
      meets_target: rows >= 100_000 && hostFeatures >= 300 && perTree <= 45,
      ckks_bytes_sent: ckks.bytesSent,
      peak_rss_mb_after_ckks_run: rssAfterCkks,
      op_seconds: costs,
      projected_this_shape: thisShape,
      projected_100k_x_330: fateShape,
      ckks_vs_paillier_speedup: paillierSmall.secondsTotal / ckksSmall.secondsTotal,
      default_credit: dc,
    },
    parameters: {
      rows,
      host_features: hostFeatures,
      guest_features: guestFeatures,
      trees,
      depth,
      bins,
      scheme: `${ckksPreset}${ckksPreset === SECUREBOOST_CKKS_PRESET ? ' (SECUREBOOST_CKKS_PRESET)' : ' (--ckks-preset; the default is SECUREBOOST_CKKS_PRESET)'}, histograms by secureboost/histogram.ts (g, h packed as one complex vector; run-cached diagonals when they fit, else per-level or per-node encodes)`,
      load_average_at_start: loadAtStart.map((x) => Number(x.toFixed(2))),
      paillier: `${paillierBits} bits${weakPaillier ? ' (NOT SECURE: below 2048 bits, --allow-weak-parameters)' : ''}, ${paillierRows} rows x (4 + 4) features, 8 bins, depth 2, 1 tree`,
      allowWeakParameters,
      population: 'generatePopulation(enterprises=rows, overlap=1, bankOnlyFraction=0), default seed',
    },
    tables: [
      {
        title: 'Seconds per tree (CKKS, flooded), generated population',
        columns: ['setting', 'rows x features', 'depth', 'seconds per tree', 'source'],
        rows: [
          [
            `fedscore, CKKS, 1 host`,
            `${rows} x ${guestF.columns.length + hostF.columns.length}`,
            depth,
            perTree,
            'this run',
          ],
          [
            'FATE 2.0 SecureBoost (16 cores, Paillier)',
            '100,000 x 330 (300 host)',
            3,
            114,
            '../shared/ANCHORS.md',
          ],
        ],
        note: 'Wall time includes encrypting g and h, the host histograms, flooding, decryption and split finding.',
      },
      {
        title: 'CKKS vs Paillier on the same rows',
        columns: ['scheme', 'rows', 'seconds total', 'bytes guest -> host'],
        rows: [
          ['ckks', paillierRows, ckksSmall.secondsTotal, ckksSmall.bytesSent['guest'] ?? 0],
          [
            `paillier-${paillierBits}${weakPaillier ? ' (NOT SECURE)' : ''}`,
            paillierRows,
            paillierSmall.secondsTotal,
            paillierSmall.bytesSent['guest'] ?? 0,
          ],
        ],
        note: 'CKKS time is dominated by key generation and the 68 MB public context at this size.',
      },
    ],
    notes: [
      ...(weakPaillier
        ? [
            `NOT SECURE: the Paillier run uses a ${paillierBits}-bit modulus (below 2048 bits; asked for with --allow-weak-parameters, as the smoke does): its figures say nothing of a real run.`,
          ]
        : []),
      `default_credit: ${JSON.stringify(dc)}.`,
      'The machine is shared (2 cores, several engineers): wall times are noisy.',
      `Per operation at the product level (${ckksPreset}): product ${(costs.product * 1e3).toFixed(2)} ms, encode ${(costs.encode * 1e3).toFixed(2)} ms, rotation ${(costs.rotation * 1e3).toFixed(1)} ms.`,
      `Operation model of one tree at this shape (${thisShape.cells} cells assumed): ${thisShape.products} products, ${thisShape.encodes} encodes, ${thisShape.rotations} rotations = ${thisShape.he_seconds_per_tree.toFixed(1)} s of HE (measured: ${perTree.toFixed(1)} s per tree, which also holds the diagonal scatter in JS, flooding, decryption and split finding; the per-operation costs were timed minutes later).`,
      `Projected 100,000 x (30 + 300), ${fateShape.cells} host cells: ${fateShape.products} products, ${fateShape.encodes} encodes, ${fateShape.rotations} rotations = ${fateShape.he_seconds_per_tree.toFixed(0)} s of HE per tree at these per-operation costs (one thread; target 45 s).`,
      `Peak RSS ${peakRssMb()} MB (all parties in one process).`,
      `Load average (1, 5, 15 min) at the end: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(', ')}.`,
    ],
    raw: { ckks_history: ckks.history, bytes: ckks.bytesSent, default_credit: dc },
  };
}
