/**
 * `fedscore train hetero-lr`: vertical federated logistic regression between a guest (the label owner,
 * a bank) and one or more hosts (e.g. the government credit node), every party in this process over the
 * in-memory network with the real wire codec: PSI alignment, a train/test split, hetero-LR training
 * under CKKS (or the Paillier baseline, or the insecure plaintext debug mode), and evaluation.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createTable, FedscoreError, selectRows, type Table } from '@fedscore/core';
import {
  type AlignedRows,
  HETERO_LR_DEFAULTS as D,
  type HeSettings,
  type InProcessDataParty,
  partyWoeFile,
  runHeteroLrInProcess,
  type WoeEngineering,
  woeFeatures,
  woeLineage,
  woeLrModel,
} from '@fedscore/pipeline';
import type { PsiIdKindChoice } from '@fedscore/psi';
import {
  type BinningMethod,
  type HeteroLrHyperparams,
  type HeteroLrMode,
  type HeteroLrScheme,
  type LrScheduleName,
  type PartyFeatures,
  type PartyModel,
  resolveHyperparams,
  serializeJointModel,
} from '@fedscore/vfl';
import { bool, type Command, num, optNum, optStr, str, strs } from '../command.ts';
import { checkLabels, readPartyCsvDetailed } from '../pipeline/load.ts';
import {
  CATEGORICAL_OPTION,
  checkFlagRange,
  GUEST_FILE_OPTION,
  HOST_FILES_OPTION,
  ID_COLUMN_OPTION,
  ID_KIND_OPTION,
  LABEL_OPTION,
  TEST_IDS_OPTION,
  TRAIN_IDS_OPTION,
} from '../pipeline/options.ts';
import { formatBytes, writeModels } from '../pipeline/output.ts';
import { checkListPair, checkTestFraction, readSplitLists } from '../pipeline/split.ts';

export const command: Command = {
  path: ['train', 'hetero-lr'],
  summary: 'vertical federated LR (guest + hosts): PSI, training under CKKS/Paillier, test AUC/KS',
  description: `
Runs every party in this process, over the in-memory network with the real wire format:
  1. PSI (ECDH over ristretto255) aligns the guest with each host on --id, as USCCs or as
     opaque ids of any other form (--id-kind; auto: each party decides from its own file, and
     PSI refuses parties that decided differently);
  2. the aligned rows are split into train and test (--train-ids/--test-ids, one id a line;
     otherwise a stratified split seeded by --seed);
  3. hetero-LR trains on the train rows (docs/protocols/hetero-lr.md): each party imputes and
     standardizes its own columns locally; categorical columns are one-hot encoded;
  4. each party's partial predictions score the train and test rows (AUC, KS).

Raw CSVs with missing values and unscaled columns are fine. --he none is an INSECURE debug mode
(no encryption); --he paillier is the FATE-style baseline. With --out, every party's model and the
joint-model descriptor are written there (each party keeps its own file).

--woe (the scorecard path, docs/scorecard.md): before training, every party bins its own features
on the training rows (--woe-method, --woe-bins; the hosts' bins counted under the guest's encrypted
labels, CKKS, or in the clear with --he none) and replaces each value by its bin's WOE; the guest
sends each host the WOE of the host's own bins (released by design: the host needs it to transform
its column and to hold its scorecard points). --min-iv drops features below that IV (a party left
with none keeps its strongest); the selection is recorded in joint-model.json. With --out, also
<party>.woe.json (each party's own bins and WOE) and woe-lr.json, the input of
'fedscore scorecard --model'.

Example:
  fedscore train hetero-lr --guest bank.csv --host government.csv --id uscc --label y --json`,
  options: {
    guest: GUEST_FILE_OPTION,
    host: HOST_FILES_OPTION,
    id: ID_COLUMN_OPTION,
    'id-kind': ID_KIND_OPTION,
    label: LABEL_OPTION,
    categorical: CATEGORICAL_OPTION,
    'train-ids': TRAIN_IDS_OPTION,
    'test-ids': TEST_IDS_OPTION,
    he: {
      type: 'string',
      default: 'ckks',
      choices: ['ckks', 'paillier', 'none'],
      description: 'encryption: ckks, paillier (baseline), none (INSECURE debug)',
    },
    mode: {
      type: 'string',
      default: 'arbiter',
      choices: ['arbiter', 'two-party'],
      description: 'arbiter: a coordinator holds the key; two-party: no third party',
    },
    'paillier-bits': {
      type: 'integer',
      default: 2048,
      description: 'Paillier modulus bits (1024 is insecure)',
    },
    'ckks-preset': {
      type: 'string',
      default: 'ckks-16384-release',
      choices: ['ckks-16384-release', 'ckks-8192', 'ckks-8192-deep', 'ckks-16384'],
      description: 'CKKS parameters',
    },
    epochs: {
      type: 'integer',
      default: D.maxEpochs,
      description: 'maximum epochs (passes over the train rows)',
    },
    'batch-size': {
      type: 'integer',
      description: `rows per mini-batch (default: ${D.largeBatchSize} from ${D.largeFromRows} train rows, else ${D.batchSize}; never below the privacy floor)`,
    },
    'learning-rate': {
      type: 'number',
      description: `initial learning rate (default: ${D.largeLearningRate} with the ${D.largeBatchSize}-row default batch, else ${D.learningRate})`,
    },
    'lr-schedule': {
      type: 'string',
      default: D.lrSchedule,
      choices: ['constant', 'inverse-time', 'exponential'],
      description: 'learning-rate schedule',
    },
    'lr-decay': { type: 'number', default: D.lrDecay, description: 'decay of the schedule' },
    l2: { type: 'number', default: D.l2, description: 'L2 penalty on the weights' },
    'class-weight': {
      type: 'string',
      default: D.classWeight,
      choices: ['none', 'balanced'],
      description: 'class weights (balanced: n / (2 n_class))',
    },
    'validation-fraction': {
      type: 'number',
      default: D.validationFraction,
      description: 'share of train rows held out for early stopping (0 = off)',
    },
    patience: {
      type: 'integer',
      default: D.patience,
      description: 'epochs without validation gain before stopping',
    },
    seed: { type: 'integer', default: D.seed, description: 'seed of the split and the batch order' },
    'test-fraction': {
      type: 'number',
      default: D.testFraction,
      description: 'share of each class in test without id lists',
    },
    out: {
      type: 'string',
      placeholder: 'DIR',
      description: 'write each party model and the joint descriptor here',
    },
    woe: { type: 'boolean', description: 'train on WOE features (binned per party on the train rows)' },
    'woe-method': {
      type: 'string',
      default: 'quantile',
      choices: ['quantile', 'equal-width', 'chimerge'],
      description: 'with --woe: binning method',
    },
    'woe-bins': { type: 'integer', default: 10, description: 'with --woe: target bins per feature' },
    'min-iv': {
      type: 'number',
      description: 'with --woe: keep features with IV >= this (default: keep all)',
    },
  },
  async run(options, _positionals, ctx) {
    const t0 = performance.now();
    const guestFile = str(options, 'guest');
    const hostFiles = strs(options, 'host');
    const idName = str(options, 'id');
    const labelName = str(options, 'label');
    const trainIds = optStr(options, 'train-ids');
    const testIds = optStr(options, 'test-ids');
    checkListPair(trainIds, testIds);
    const testFraction = checkTestFraction(num(options, 'test-fraction'));
    const seed = num(options, 'seed');
    const heSettings: HeSettings = {
      scheme: str(options, 'he') as HeteroLrScheme,
      ckksPreset: str(options, 'ckks-preset') as NonNullable<HeSettings['ckksPreset']>,
      paillierBits: num(options, 'paillier-bits'),
    };
    const mode = str(options, 'mode') as HeteroLrMode;
    // Every flag is checked here, before a file is read or a protocol runs, and errors name the flag.
    const hyperparams = hyperparamsFrom(options);
    checkFlagRange(heSettings.paillierBits, '--paillier-bits', 512, 8192);
    const woeSettings = woeSettingsFrom(options, heSettings.scheme);
    if (heSettings.scheme === 'none') {
      ctx.logger.warn('--he none: INSECURE debug run, no encryption; never use it on real data');
    }

    const categorical = strs(options, 'categorical');
    const read = { categorical, finiteMoments: true };
    const guestCsv = await readPartyCsvDetailed(ctx, guestFile, idName, labelName, 'keep', read);
    const guestTable = guestCsv.table;
    const lineOf = (lines: Int32Array) => (row: number) => lines[row] ?? row + 2;
    const guest: InProcessDataParty = {
      id: 'guest',
      table: guestTable,
      idSource: { file: guestFile, field: 'id', lineOf: lineOf(guestCsv.lines) },
    };
    const hosts: InProcessDataParty[] = [];
    for (const [k, f] of hostFiles.entries()) {
      const h = await readPartyCsvDetailed(ctx, f, idName, undefined, 'keep', read);
      hosts.push({
        id: `host-${k + 1}`,
        table: h.table,
        idSource: { file: f, field: 'id', lineOf: lineOf(h.lines) },
      });
    }
    const labels = checkLabels(guestTable, labelName, guestFile, guestCsv.lines);
    const lists =
      trainIds !== undefined && testIds !== undefined
        ? await readSplitLists(ctx.cwd, trainIds, testIds)
        : undefined;

    let woe: WoeEngineering | undefined;
    // The WOE path: every party bins its own aligned rows (fitted on the training rows) and trains on
    // the WOE values, one table per party of its aligned rows.
    const engineer =
      woeSettings === undefined
        ? undefined
        : async ({ rows, trainPositions }: AlignedRows) => {
            const guestRows = rows.get(guest.id)!;
            const alignedLabels = Float64Array.from(guestRows, (r) => labels[r]!);
            woe = await woeFeatures({
              guest: { id: guest.id, table: selectRows(guestTable, guestRows), labels: alignedLabels },
              hosts: hosts.map((h) => ({ id: h.id, table: selectRows(h.table, rows.get(h.id)!) })),
              trainRows: trainPositions,
              settings: woeSettings,
              logger: ctx.logger,
              progress: ctx.progress,
            });
            const engineered = woe;
            return new Map(
              [guest, ...hosts].map((p, k) => [
                p.id,
                woeTable(
                  rows.get(p.id)!.map((r) => p.table.ids[r]!),
                  engineered.parties[k]!.features,
                  k === 0 ? alignedLabels : undefined,
                ),
              ]),
            );
          };
    const result = await runHeteroLrInProcess({
      guest,
      hosts,
      mode,
      he: heSettings,
      hyperparams,
      testFraction,
      ...(lists !== undefined && { splitIds: lists }),
      idKind: str(options, 'id-kind') as PsiIdKindChoice,
      runtime: { workers: D.workers },
      ...(engineer !== undefined && { engineer }),
      logger: ctx.logger,
      progress: ctx.progress,
    }).catch((e: unknown) => {
      throw asFlagError(e);
    });
    const woeDone = woe as WoeEngineering | undefined;
    const splitHow =
      lists !== undefined
        ? `id lists ${lists.source.train}, ${lists.source.test}`
        : `stratified ${Math.round(testFraction * 100)}% test, seed ${seed}`;
    const trainRows = result.trainPositions;
    const testRows = result.testPositions;
    const featureCount = (k: number): number => result.models[k]!.featureNames.length;
    const batch = result.batch;

    let written: string | undefined;
    const out = optStr(options, 'out');
    if (out !== undefined) {
      written = resolve(ctx.cwd, out);
      // The descriptor every party may hold; with --woe it carries the feature-engineering lineage.
      const descriptor =
        woeDone === undefined
          ? serializeJointModel(result.descriptor)
          : `${JSON.stringify({ ...result.descriptor, lineage: { features: woeLineage(woeDone) } }, null, 2)}\n`;
      writeModels(written, result.models, descriptor);
      if (woeDone !== undefined) writeWoeFiles(written, woeDone, result.models, guest.id);
    }

    const psiBytes = result.psi.reduce((a, p) => a + p.bytes.guestToHost + p.bytes.hostToGuest, 0);
    ctx.print(`hetero-LR, ${mode} mode, ${result.security}`);
    ctx.print(
      `rows: guest ${guestTable.nRows}, ${hosts.map((h) => `${h.id} ${h.table.nRows}`).join(', ')}; aligned ${result.aligned} (PSI ${result.psiSeconds.toFixed(1)} s, ${formatBytes(psiBytes)}); train ${trainRows.length}, test ${testRows.length} (${splitHow})`,
    );
    ctx.print(
      `features: guest ${featureCount(0)}, ${hosts.map((h, k) => `${h.id} ${featureCount(k + 1)}`).join(', ')}`,
    );
    if (woeDone !== undefined) {
      const s = woeDone.settings;
      ctx.print(
        `WOE features: ${s.method}, ${s.bins} bins, fitted on the train rows; host bins under ${s.scheme === 'none' ? 'plaintext labels (INSECURE)' : 'CKKS-encrypted labels'}, host WOE released to each host; min IV ${s.minIv} (${woeDone.seconds.toFixed(1)} s)`,
      );
      for (const p of woeDone.parties) {
        const ivs = p.selected.map((m) => `${m.name} (IV ${m.iv.toFixed(3)})`).join(', ');
        ctx.print(
          `  ${p.party}: ${p.selected.length} of ${p.models.length} selected${p.fallback ? ' (none reached the minimum IV: strongest kept)' : ''}: ${ivs}`,
        );
      }
    }
    ctx.print(
      `epochs ${result.epochs} (kept ${result.keptEpoch}), ${result.secondsPerEpoch.toFixed(2)} s per epoch, ${result.secondsTotal.toFixed(1)} s training`,
    );
    ctx.print(`          AUC     KS`);
    ctx.print(`  train   ${result.train.auc.toFixed(4)}  ${result.train.ks.toFixed(4)}`);
    ctx.print(`  test    ${result.test.auc.toFixed(4)}  ${result.test.ks.toFixed(4)}`);
    ctx.print(
      `bytes sent: ${Object.entries(result.bytesSent)
        .map(([p, b]) => `${p} ${formatBytes(b)}`)
        .join(', ')}`,
    );
    if (written !== undefined) ctx.print(`models written to ${written}`);
    return {
      he: heSettings.scheme,
      mode,
      security: result.security,
      insecure: result.insecure,
      ...(heSettings.scheme === 'paillier' && { baseline: true }),
      test: result.test,
      train: result.train,
      epochs: result.epochs,
      kept_epoch: result.keptEpoch,
      batch_size: batch.batchSize,
      learning_rate: batch.learningRate,
      seconds_per_epoch: result.secondsPerEpoch,
      seconds_total: result.secondsTotal,
      wall_seconds: (performance.now() - t0) / 1000,
      bytes_sent: result.bytesSent,
      evaluation_bytes: result.evaluationBytes,
      psi: {
        id_kind: result.psi[0]?.idKind,
        seconds: result.psiSeconds,
        runs: result.psi.map((p) => ({
          host: p.host,
          guest_ids: p.guestIds,
          host_ids: p.hostIds,
          intersection: p.intersection,
          seconds: p.seconds,
          bytes_guest_to_host: p.bytes.guestToHost,
          bytes_host_to_guest: p.bytes.hostToGuest,
        })),
      },
      rows: {
        guest: guestTable.nRows,
        hosts: Object.fromEntries(hosts.map((h) => [h.id, h.table.nRows])),
        aligned: result.aligned,
        train: trainRows.length,
        test: testRows.length,
      },
      features: {
        guest: featureCount(0),
        hosts: Object.fromEntries(hosts.map((h, k) => [h.id, featureCount(k + 1)])),
      },
      split: splitHow,
      model_id: result.descriptor.modelId,
      ...(woeDone !== undefined && {
        woe: {
          method: woeDone.settings.method,
          bins: woeDone.settings.bins,
          min_iv: woeDone.settings.minIv,
          labels: woeDone.settings.scheme,
          seconds: woeDone.seconds,
          selected: Object.fromEntries(woeDone.parties.map((p) => [p.party, p.features.names])),
          fallback: woeDone.parties.filter((p) => p.fallback).map((p) => p.party),
          selection: woeDone.lineage,
        },
      }),
      ...(written !== undefined && { out: written }),
    };
  },
};

/** --woe settings, or undefined without --woe (the WOE flags are then refused, not ignored). */
function woeSettingsFrom(
  options: Parameters<Command['run']>[0],
  scheme: HeteroLrScheme,
): Parameters<typeof woeFeatures>[0]['settings'] | undefined {
  const minIv = optNum(options, 'min-iv');
  if (!bool(options, 'woe')) {
    if (minIv !== undefined) {
      throw new FedscoreError('invalid_argument', '--min-iv selects WOE features: it needs --woe', {
        field: '--min-iv',
      });
    }
    return undefined;
  }
  checkFlagRange(num(options, 'woe-bins'), '--woe-bins', 1, 1000);
  checkFlagRange(minIv, '--min-iv', 0);
  return {
    method: str(options, 'woe-method') as BinningMethod,
    bins: num(options, 'woe-bins'),
    minIv: minIv ?? 0,
    // Paillier bin sums cost one encryption per row (~43 ms): the hosts' bins use CKKS unless the whole
    // run is the plaintext debug mode.
    scheme: scheme === 'none' ? 'none' : 'ckks',
  };
}

/** A party's WOE features on its aligned rows as a table (numeric columns; the guest's with its labels). */
function woeTable(ids: string[], f: PartyFeatures, label: Float64Array | undefined): Table {
  return createTable({
    ids,
    ...(label !== undefined && { label }),
    columns: f.names.map((name, j) => {
      const values = f.columns[j]!;
      let missing = 0;
      for (const v of values) if (Number.isNaN(v)) missing++;
      return { kind: 'numeric' as const, name, values, missing };
    }),
  });
}

/** Each party's WOE file and the combined WOE-LR model that `fedscore scorecard --model` reads. */
function writeWoeFiles(
  dir: string,
  woe: WoeEngineering,
  models: readonly PartyModel[],
  guestId: string,
): void {
  try {
    for (const p of woe.parties) writeFileSync(join(dir, `${p.party}.woe.json`), partyWoeFile(p));
    writeFileSync(join(dir, 'woe-lr.json'), `${JSON.stringify(woeLrModel(models, woe, guestId), null, 2)}\n`);
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    throw new FedscoreError('io', `cannot write the WOE files: ${(e as Error).message}`, {
      file: dir,
      cause: e,
    });
  }
}

/** A training error about a hyperparameter (e.g. `diverged` names learningRate) names its flag. */
function asFlagError(e: unknown): unknown {
  if (!(e instanceof FedscoreError) || e.field === undefined) return e;
  const flag = HYPERPARAM_FLAGS[e.field];
  if (flag === undefined) return e;
  const message = e.message
    .replace(/^field '[^']*': /, '')
    .replace('the learning rate', `the learning rate (${flag})`);
  return new FedscoreError(e.code, message, {
    field: flag,
    cause: e,
    ...(e.details !== undefined && { details: e.details }),
  });
}

/** The training flags and the hyperparameter each sets (errors name the flag, not the field). */
const HYPERPARAM_FLAGS: Readonly<Record<string, string>> = {
  maxEpochs: '--epochs',
  batchSize: '--batch-size',
  learningRate: '--learning-rate',
  lrSchedule: '--lr-schedule',
  lrDecay: '--lr-decay',
  l2: '--l2',
  validationFraction: '--validation-fraction',
  patience: '--patience',
  seed: '--seed',
};

/** Every hyperparameter the flags set (epochs and seed always). */
type Hyperparams = HeteroLrHyperparams & { readonly maxEpochs: number; readonly seed: number };

/**
 * The hyperparameters from the flags, validated by the same rules the training roles apply (so that a
 * bad flag is refused before PSI runs), with errors naming the flag.
 */
function hyperparamsFrom(options: Parameters<Command['run']>[0]): Hyperparams {
  const h = hyperparamsOf(options);
  try {
    resolveHyperparams(h);
  } catch (e) {
    const flag = e instanceof FedscoreError && e.field !== undefined ? HYPERPARAM_FLAGS[e.field] : undefined;
    if (flag === undefined || !(e instanceof FedscoreError)) throw e;
    const message = e.message
      .replace(/^field '[^']*': /, '')
      .replace('[5e-324, Infinity]', '(0, inf)')
      .replace(', Infinity]', ', inf)');
    throw new FedscoreError(e.code, message, { field: flag, cause: e });
  }
  return h;
}

function hyperparamsOf(options: Parameters<Command['run']>[0]): Hyperparams {
  const vf = optNum(options, 'validation-fraction') ?? 0;
  return {
    maxEpochs: num(options, 'epochs'),
    ...(optNum(options, 'batch-size') !== undefined && { batchSize: num(options, 'batch-size') }),
    ...(optNum(options, 'learning-rate') !== undefined && { learningRate: num(options, 'learning-rate') }),
    lrSchedule: str(options, 'lr-schedule') as LrScheduleName,
    lrDecay: num(options, 'lr-decay'),
    l2: num(options, 'l2'),
    ...(str(options, 'class-weight') === 'balanced' && { classWeight: 'balanced' as const }),
    validationFraction: vf,
    patience: num(options, 'patience'),
    seed: num(options, 'seed'),
  };
}
