/**
 * `fedscore bench hetero-lr`: the hetero-LR targets, measured in one process on this machine.
 *
 * - accuracy: default_credit, german and breast from a data directory (../shared/data layout) with their
 *   fixed train/test id lists, under CKKS in arbiter and in two-party mode (skipped with a reason when the
 *   directory is absent);
 * - speed: seconds per epoch on default_credit (CKKS); one epoch on a generated population of 100,000
 *   enterprises with 30 bank and ~300 government features (ids aligned by the generator's ground truth:
 *   this measures training, PSI has its own benchmark); process peak RSS (an upper bound of every
 *   party's, since all parties share this process);
 * - CKKS vs Paillier-1024 seconds per mini-batch, measured in this run on the same rows and features.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { seededRng } from '@fedscore/core';
import { generatePopulation } from '@fedscore/datasets';
import { type HeteroLrMode, trainHeteroLr } from '@fedscore/vfl';
import { bool, type Command, type CommandContext, num, optNum, optStr } from '../command.ts';
import {
  alignParties,
  cipherOptions,
  epochProgress,
  type HeSettings,
  partyFeatures,
  positionsOf,
  trainAndEvaluate,
} from '../pipeline/hetero-lr.ts';
import { readPartyCsv } from '../pipeline/load.ts';
import { splitFromLists } from '../pipeline/split.ts';
import { checkLabels } from './train-hetero-lr.ts';

interface PublicSet {
  readonly name: string;
  readonly folder: string;
  readonly guest: string;
  readonly host: string;
  readonly train: string;
  readonly test: string;
  /** The target and sklearn's pooled LR test AUC (shared/data/baselines.csv). */
  readonly target: number;
  readonly sklearn: number;
}

const PUBLIC_SETS: readonly PublicSet[] = [
  {
    name: 'default_credit',
    folder: 'default_credit',
    guest: 'default_credit_hetero_guest.csv',
    host: 'default_credit_hetero_host.csv',
    train: 'default_credit_train_ids.txt',
    test: 'default_credit_test_ids.txt',
    target: 0.7026,
    sklearn: 0.7076,
  },
  {
    name: 'german',
    folder: 'german',
    guest: 'german_hetero_guest.csv',
    host: 'german_hetero_host.csv',
    train: 'german_credit_train_ids.txt',
    test: 'german_credit_test_ids.txt',
    target: 0.785,
    sklearn: 0.7996,
  },
  {
    name: 'breast',
    folder: 'breast',
    guest: 'breast_hetero_guest.csv',
    host: 'breast_hetero_host.csv',
    train: 'breast_train_ids.txt',
    test: 'breast_test_ids.txt',
    target: 0.99,
    sklearn: 0.9954,
  },
];

export const command: Command = {
  path: ['bench', 'hetero-lr'],
  summary: 'hetero-LR targets: accuracy on public sets, seconds per epoch, 100k x 330, CKKS vs Paillier',
  description: `
Measures, in this process: test AUC of CKKS hetero-LR (arbiter and two-party mode) on the public
sets under --data (default_credit, german, breast with their fixed splits); seconds per epoch on
default_credit; one epoch on a generated population of --scale-rows enterprises with 30 bank and
~300 government features, and the process peak RSS; CKKS vs Paillier-1024 seconds per mini-batch.
'pnpm bench hetero-lr' runs this and writes benchmarks/results/hetero-lr.{json,md}.`,
  options: {
    data: {
      type: 'string',
      placeholder: 'DIR',
      description: 'public data directory (../shared/data layout)',
    },
    epochs: { type: 'integer', default: 10, description: 'epochs on the public sets' },
    'batch-size': { type: 'integer', default: 1024, description: 'rows per mini-batch' },
    'scale-rows': { type: 'integer', default: 100000, description: 'enterprises of the generated scale run' },
    'scale-epochs': { type: 'integer', default: 1, description: 'epochs of the scale run' },
    'skip-scale': { type: 'boolean', description: 'skip the generated scale run' },
    'skip-paillier': { type: 'boolean', description: 'skip CKKS vs Paillier' },
    'paillier-rows': {
      type: 'integer',
      description: 'rows of the CKKS vs Paillier batch (default: --batch-size, the training batch)',
    },
  },
  async run(options, _positionals, ctx) {
    const data = optStr(options, 'data');
    const epochs = num(options, 'epochs');
    const batchSize = num(options, 'batch-size');
    const out: Record<string, unknown> = {};
    const skipped: string[] = [];

    // --- public sets
    const accuracy: Record<string, unknown> = {};
    const dataDir = data === undefined ? undefined : resolve(ctx.cwd, data);
    for (const set of PUBLIC_SETS) {
      const folder = dataDir === undefined ? undefined : join(dataDir, set.folder);
      if (folder === undefined || !existsSync(join(folder, set.guest))) {
        skipped.push(`${set.name}: ${folder ?? 'no --data given'} absent`);
        ctx.logger.warn('public set skipped', { set: set.name, reason: folder ?? 'no --data' });
        continue;
      }
      const perMode: Record<string, unknown> = {};
      for (const mode of ['arbiter', 'two-party'] as const) {
        const r = await runPublic(ctx, folder, set, mode, epochs, batchSize);
        perMode[mode] = r;
        ctx.print(
          `${set.name} ${mode}: test AUC ${r.test_auc.toFixed(4)} (target >= ${set.target}, sklearn ${set.sklearn}), ${r.seconds_per_epoch.toFixed(2)} s per epoch`,
        );
      }
      accuracy[set.name] = { target: set.target, sklearn_pooled_lr: set.sklearn, ...perMode };
      if (set.name === 'default_credit') {
        const a = perMode['arbiter'] as PublicRun;
        out['default_credit'] = {
          test_auc: a.test_auc,
          seconds_per_epoch: a.seconds_per_epoch,
          two_party_test_auc: (perMode['two-party'] as PublicRun).test_auc,
          two_party_seconds_per_epoch: (perMode['two-party'] as PublicRun).seconds_per_epoch,
        };
      }
    }
    out['accuracy'] = accuracy;

    // --- CKKS vs Paillier-1024, one mini-batch each on the same rows
    if (!bool(options, 'skip-paillier')) {
      const rows = optNum(options, 'paillier-rows') ?? batchSize;
      const cmp = await ckksVsPaillier(ctx, rows);
      out['ckks_vs_paillier_speedup'] = cmp.paillier / cmp.ckks;
      out['per_batch_seconds'] = {
        rows,
        features: cmp.features,
        ckks: cmp.ckks,
        paillier_1024: cmp.paillier,
      };
      ctx.print(
        `one batch of ${rows} rows x ${cmp.features} features: CKKS ${cmp.ckks.toFixed(2)} s, Paillier-1024 ${cmp.paillier.toFixed(2)} s (${(cmp.paillier / cmp.ckks).toFixed(1)}x)`,
      );
    }

    // --- 100k x 330 generated population
    if (!bool(options, 'skip-scale')) {
      const scale = await scaleRun(ctx, num(options, 'scale-rows'), num(options, 'scale-epochs'), batchSize);
      out['scale_100k_330'] = scale;
      ctx.print(
        `scale: ${scale.rows} rows x ${scale.bank_features} + ${scale.government_features} features: ${scale.seconds_per_epoch.toFixed(1)} s per epoch, peak RSS ${scale.peak_rss_mb} MB`,
      );
    }
    out['peak_rss_mb'] = peakRssMb();
    if (skipped.length > 0) out['skipped'] = skipped;
    return out;
  },
};

interface PublicRun {
  readonly test_auc: number;
  readonly test_ks: number;
  readonly train_auc: number;
  readonly seconds_per_epoch: number;
  readonly epochs: number;
  readonly bytes_sent: Readonly<Record<string, number>>;
}

async function runPublic(
  ctx: CommandContext,
  folder: string,
  set: PublicSet,
  mode: HeteroLrMode,
  epochs: number,
  batchSize: number,
): Promise<PublicRun> {
  const g = await readPartyCsv(ctx, join(folder, set.guest), 'id', 'y', 'keep');
  const h = await readPartyCsv(ctx, join(folder, set.host), 'id', undefined, 'keep');
  const labels = checkLabels(g, 'y', set.guest);
  const alignment = await alignParties({ id: 'guest', table: g }, [{ id: 'host-1', table: h }], {
    logger: ctx.logger,
    progress: ctx.progress,
  });
  const split = await splitFromLists(ctx.cwd, alignment.ids, join(folder, set.train), join(folder, set.test));
  const r = await trainAndEvaluate({
    guest: {
      id: 'guest',
      features: partyFeatures(g, alignment.guestRows),
      labels: Float64Array.from(alignment.guestRows, (row) => labels[row]!),
    },
    hosts: [{ id: 'host-1', features: partyFeatures(h, alignment.hostRows[0]!) }],
    trainRows: positionsOf(alignment.ids, split.train),
    testRows: positionsOf(alignment.ids, split.test),
    mode,
    he: { scheme: 'ckks' },
    hyperparams: { maxEpochs: epochs, batchSize: Math.min(batchSize, split.train.length) },
    logger: ctx.logger,
    progress: ctx.progress,
  });
  return {
    test_auc: r.test.auc,
    test_ks: r.test.ks,
    train_auc: r.train.auc,
    seconds_per_epoch: r.run.secondsPerEpoch,
    epochs: r.run.epochs,
    bytes_sent: r.run.bytesSent,
  };
}

/** One mini-batch of `rows` rows (one epoch = one batch) under each scheme, same data and plan. */
async function ckksVsPaillier(
  ctx: CommandContext,
  rows: number,
): Promise<{ ckks: number; paillier: number; features: number }> {
  const pop = generatePopulation({
    enterprises: Math.max(1000, rows),
    overlap: 1,
    bankOnlyFraction: 0,
    seed: 7,
  });
  const govRows = pop.truth.governmentRowOfBank;
  const bankRows = Uint32Array.from({ length: rows }, (_, i) => i);
  const guest = partyFeatures(pop.bank, bankRows);
  const host = partyFeatures(
    pop.government,
    Uint32Array.from(bankRows, (r) => govRows[r]!),
  );
  const labels = Float64Array.from(bankRows, (r) => pop.bank.label![r]!);
  const time = async (he: HeSettings): Promise<number> => {
    const res = await trainHeteroLr({
      guest: { features: guest, labels },
      hosts: [{ features: host }],
      mode: 'arbiter',
      scheme: he.scheme,
      hyperparams: { maxEpochs: 1, batchSize: rows },
      he: cipherOptions(he, ctx.logger),
      logger: ctx.logger,
      onProgress: epochProgress((e) => ctx.progress({ ...e, stage: `${he.scheme} batch: ${e.stage}` })),
    });
    return res.secondsPerEpoch;
  };
  const ckks = await time({ scheme: 'ckks' });
  const paillier = await time({ scheme: 'paillier', paillierBits: 1024 });
  return { ckks, paillier, features: guest.names.length + host.names.length };
}

interface ScaleRun {
  readonly rows: number;
  readonly bank_features: number;
  readonly government_features: number;
  readonly epochs: number;
  readonly seconds_per_epoch: number;
  readonly seconds_total: number;
  readonly peak_rss_mb: number;
  readonly bytes_sent: Readonly<Record<string, number>>;
}

/** `rows` enterprises, all bank customers: 14 + 16 = 30 bank features, 34 + 266 = 300 government features (categories one-hot). */
async function scaleRun(
  ctx: CommandContext,
  rows: number,
  epochs: number,
  batchSize: number,
): Promise<ScaleRun> {
  const pop = generatePopulation(
    {
      enterprises: rows,
      overlap: 1,
      bankOnlyFraction: 0,
      bankExtraFeatures: 16,
      govExtraFeatures: 266,
      seed: 11,
    },
    seededRng(11),
    { progress: ctx.progress },
  );
  const n = pop.bank.nRows;
  const bankRows = Uint32Array.from({ length: n }, (_, i) => i);
  const guest = partyFeatures(pop.bank, bankRows);
  const host = partyFeatures(
    pop.government,
    Uint32Array.from(bankRows, (r) => pop.truth.governmentRowOfBank[r]!),
  );
  const labels = Float64Array.from(pop.bank.label!);
  ctx.logger.info('scale run', { rows: n, bank: guest.names.length, government: host.names.length });
  const res = await trainHeteroLr({
    guest: { features: guest, labels },
    hosts: [{ features: host }],
    mode: 'arbiter',
    scheme: 'ckks',
    hyperparams: { maxEpochs: epochs, batchSize },
    he: cipherOptions({ scheme: 'ckks' }, ctx.logger),
    logger: ctx.logger,
    onProgress: epochProgress(ctx.progress),
  });
  return {
    rows: n,
    bank_features: guest.names.length,
    government_features: host.names.length,
    epochs: res.epochs,
    seconds_per_epoch: res.secondsPerEpoch,
    seconds_total: res.secondsTotal,
    peak_rss_mb: peakRssMb(),
    bytes_sent: res.bytesSent,
  };
}

/** Peak resident set size of this process (VmHWM), in MB. */
function peakRssMb(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {}
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}
