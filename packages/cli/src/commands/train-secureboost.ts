/**
 * `fedscore train secureboost`: vertical gradient-boosted trees (SecureBoost, Cheng et al. 2019;
 * docs/protocols/secureboost.md) between a guest (the label owner, a bank) and one or more hosts (e.g.
 * the government credit node), every party in this process over the in-memory network with the real
 * wire codec: the `secureboost` pipeline's own stages (PSI alignment and the hold-out, training under
 * CKKS, Paillier or the insecure plaintext debug mode, federated evaluation, each party's model).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import {
  SECUREBOOST_DEFAULTS as D,
  type HeSettings,
  type InProcessDataParty,
  runSecureBoostInProcess,
} from '@fedscore/pipeline';
import type { PsiIdKindChoice } from '@fedscore/psi';
import { resolveSecureBoost, type SecureBoostHyperparams, type SecureBoostScheme } from '@fedscore/vfl';
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
import { formatBytes } from '../pipeline/output.ts';
import { checkListPair, checkTestFraction, readSplitLists } from '../pipeline/split.ts';

/** The hyperparameter flags: each sets the vfl hyperparameter of the same name in camelCase. */
const HYPERPARAM_FLAGS = [
  'trees',
  'depth',
  'bins',
  'learning-rate',
  'l2',
  'min-child-weight',
  'min-leaf-rows',
  'subsample',
  'min-node-rows',
  'goss-top-rate',
  'goss-other-rate',
  'colsample-by-tree',
  'early-stopping-rounds',
  'validation-fraction',
  'guest-only-trees',
] as const;

/** The on/off hyperparameter flags (vfl booleans of the same name in camelCase). */
const BOOLEAN_FLAGS = ['accept-goss-label-leakage', 'share-split-gains'] as const;

/** The choice flags (vfl enumerations of the same name in camelCase). */
const CHOICE_FLAGS = ['early-stopping-metric'] as const;

/** Flags named other than their hyperparameter: `--layered H` sets `hostDepth` (FATE's layered mode). */
const RENAMED_FLAGS: Readonly<Record<string, string>> = { layered: 'hostDepth' };

/** Every flag that sets a hyperparameter: an error naming its field names the flag instead. */
const ALL_HYPERPARAM_FLAGS: readonly string[] = [...HYPERPARAM_FLAGS, ...BOOLEAN_FLAGS, ...CHOICE_FLAGS];

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (field: string): string => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const command: Command = {
  path: ['train', 'secureboost'],
  summary: 'vertical federated boosted trees (SecureBoost): PSI, training under CKKS/Paillier, test AUC/KS',
  description: `
Runs every party in this process, over the in-memory network with the real wire format, by the
'secureboost' pipeline's stages (the ones a node job runs):
  1. PSI (ECDH over ristretto255) aligns the guest with each host on --id;
  2. the aligned rows are split into train and test (--train-ids/--test-ids, one id a line;
     otherwise a stratified split seeded by --seed);
  3. SecureBoost grows --trees trees of --depth levels on the train rows: each party bins its own
     features into --bins quantile bins; the guest sends its gradients and hessians encrypted, each
     host returns encrypted per-bin sums, the guest picks every split and the owning party records it
     (a host's thresholds never leave it). One progress bar advances per tree;
  4. federated prediction scores the train and test rows (each party evaluates only its own splits;
     the guest learns the hosts' split outcomes of the scored rows): AUC, KS.

Raw CSVs with missing values and unscaled columns are fine; categorical columns are one-hot encoded.
--he none is an INSECURE debug mode (hosts see the gradients, hence the labels); --he paillier is the
like-for-like comparison. With --out, each party's model file (its own splits only, versioned format)
and its feature importance (its own feature names only) are written there.

Example:
  fedscore train secureboost --guest bank.csv --host government.csv --id uscc --label y --json`,
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
      default: D.scheme,
      choices: ['ckks', 'paillier', 'none'],
      description: 'encryption of the gradients: ckks, paillier (comparison), none (INSECURE debug)',
    },
    'paillier-bits': {
      type: 'integer',
      default: 2048,
      description: 'Paillier modulus bits (below 2048 is insecure)',
    },
    'ckks-preset': {
      type: 'string',
      default: 'ckks-16384-release',
      choices: ['ckks-16384-release', 'ckks-8192'],
      description: 'CKKS parameters (presets with a measured histogram error bound)',
    },
    trees: { type: 'integer', default: D.trees, description: 'boosting rounds' },
    depth: { type: 'integer', default: D.depth, description: 'maximum depth of each tree' },
    bins: { type: 'integer', default: D.bins, description: 'quantile bins per feature' },
    'learning-rate': { type: 'number', default: D.learningRate, description: 'shrinkage of every leaf' },
    l2: { type: 'number', description: "L2 penalty on leaf weights (default: the protocol's, 1)" },
    'min-child-weight': {
      type: 'number',
      description: "minimum hessian sum of each child (default: the protocol's, 1)",
    },
    'min-leaf-rows': {
      type: 'integer',
      description: "minimum rows of each child (default: the protocol's, 1)",
    },
    subsample: {
      type: 'number',
      description: "share of the train rows each tree is grown on (default: the protocol's, 1)",
    },
    'min-node-rows': {
      type: 'integer',
      description: "row floor of every node (default and minimum: the hosts' own floor, 50)",
    },
    'goss-top-rate': {
      type: 'number',
      description:
        'GOSS: share of rows of largest |gradient| each tree keeps (LightGBM: 0.2; default 0, off)',
    },
    'goss-other-rate': {
      type: 'number',
      description: 'GOSS: share of the other rows drawn, amplified (LightGBM: 0.1; on when top + other < 1)',
    },
    'accept-goss-label-leakage': {
      type: 'boolean',
      description: 'accept that GOSS shows the hosts label-dependent row sets (required for GOSS)',
    },
    'colsample-by-tree': {
      type: 'number',
      description: "share of its own features each party draws per tree (default 1; every party's)",
    },
    'early-stopping-rounds': {
      type: 'integer',
      description: 'stop after this many trees without validation improvement (default 0, off)',
    },
    'validation-fraction': {
      type: 'number',
      description: 'share of the train rows the guest holds out for early stopping (default 0)',
    },
    'early-stopping-metric': {
      type: 'string',
      choices: ['logloss', 'auc'],
      description: 'validation metric of early stopping (default logloss)',
    },
    'guest-only-trees': {
      type: 'integer',
      description: "the first N trees use the guest's features only; hosts learn nothing of them (default 0)",
    },
    layered: {
      type: 'integer',
      placeholder: 'H',
      description:
        'layered trees: the hosts split the top H levels, the guest the rest on its own features alone (default 0, off)',
    },
    'share-split-gains': {
      type: 'boolean',
      description:
        'send each host the gains of its splits for its gain importance (label-derived; default off)',
    },
    seed: { type: 'integer', default: D.seed, description: 'seed of the split' },
    'test-fraction': {
      type: 'number',
      default: D.testFraction,
      description: 'share of each class in test without id lists',
    },
    out: {
      type: 'string',
      placeholder: 'DIR',
      description: "write each party's model and feature importance here",
    },
    'scores-out': {
      type: 'string',
      placeholder: 'FILE',
      description:
        "write the held-out rows' id, label, margin and p_default as CSV (input of 'fedscore report')",
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
    const scheme = str(options, 'he') as SecureBoostScheme;
    const he: HeSettings = {
      scheme,
      ckksPreset: str(options, 'ckks-preset') as NonNullable<HeSettings['ckksPreset']>,
      paillierBits: num(options, 'paillier-bits'),
    };
    // Every flag is checked here, before a file is read or a protocol runs, and errors name the flag.
    checkFlagRange(he.paillierBits, '--paillier-bits', 512, 8192);
    const hyperparams = hyperparamsFrom(options);
    if (scheme === 'none') {
      ctx.logger.warn('--he none: INSECURE debug run, no encryption; never use it on real data');
    }

    const categorical = strs(options, 'categorical');
    const read = { categorical, finiteMoments: true };
    const guestCsv = await readPartyCsvDetailed(ctx, guestFile, idName, labelName, 'keep', read);
    const lineOf = (lines: Int32Array) => (row: number) => lines[row] ?? row + 2;
    const guest: InProcessDataParty = {
      id: 'guest',
      table: guestCsv.table,
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
    checkLabels(guestCsv.table, labelName, guestFile, guestCsv.lines);
    const lists =
      trainIds !== undefined && testIds !== undefined
        ? await readSplitLists(ctx.cwd, trainIds, testIds)
        : undefined;

    const result = await runSecureBoostInProcess({
      guest,
      hosts,
      he,
      hyperparams,
      seed,
      testFraction,
      ...(lists !== undefined && { splitIds: lists }),
      idKind: str(options, 'id-kind') as PsiIdKindChoice,
      logger: ctx.logger,
      progress: ctx.progress,
    }).catch((e: unknown) => {
      throw asFlagError(e);
    });
    const splitHow =
      lists !== undefined
        ? `id lists ${lists.source.train}, ${lists.source.test}`
        : `stratified ${Math.round(testFraction * 100)}% test, seed ${seed}`;

    let written: string | undefined;
    const out = optStr(options, 'out');
    if (out !== undefined) {
      written = resolve(ctx.cwd, out);
      writePartyFiles(written, result.files);
    }

    const guestFeatures = result.guestModel.features.length;
    const hostFeatures = result.hostModels.map((m) => m.features.length);
    const splits = result.guestModel.trees.flat().filter((n) => n.kind !== 'leaf').length;
    // Trees the model keeps (fewer than grown after early stopping) and trees grown (the per-tree records).
    const kept = result.guestModel.trees.length;
    const grown = result.history.length;
    const psiBytes = result.psi.reduce((a, p) => a + p.bytes.guestToHost + p.bytes.hostToGuest, 0);
    ctx.print(`SecureBoost, ${result.security}`);
    ctx.print(
      `rows: guest ${guestCsv.table.nRows}, ${hosts.map((h) => `${h.id} ${h.table.nRows}`).join(', ')}; aligned ${result.aligned} (PSI ${result.psiSeconds.toFixed(1)} s, ${formatBytes(psiBytes)}); train ${result.trainRows}, test ${result.testRows} (${splitHow})`,
    );
    ctx.print(
      `features: guest ${guestFeatures}, ${hosts.map((h, k) => `${h.id} ${hostFeatures[k]}`).join(', ')}`,
    );
    ctx.print(
      `trees ${kept}${grown !== kept ? ` kept of ${grown} grown` : ''} (${splits} splits), ${result.secondsPerTree.toFixed(2)} s per tree, ${result.secondsTotal.toFixed(1)} s training`,
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
    const scoresOut = optStr(options, 'scores-out');
    let scoresFile: string | undefined;
    if (scoresOut !== undefined) {
      scoresFile = resolve(ctx.cwd, scoresOut);
      writeTestScores(scoresFile, result.testScores);
      ctx.print(`held-out scores written to ${scoresFile}`);
    }
    return {
      he: scheme,
      security: result.security,
      insecure: result.insecure,
      test: result.test,
      train: result.train,
      trees: kept,
      trees_grown: grown,
      splits,
      hyperparams: resolveSecureBoost(hyperparams),
      seconds_total: result.secondsTotal,
      seconds_per_tree: result.secondsPerTree,
      wall_seconds: (performance.now() - t0) / 1000,
      bytes_sent: result.bytesSent,
      // One record per tree grown, as the progress bar advanced: the guest's own figures only.
      per_tree: result.history.map((r) => ({
        tree: r.tree,
        train_loss: r.trainLoss,
        ...(r.validation !== undefined && { validation: r.validation }),
        splits: r.splits,
        seconds: r.seconds,
      })),
      psi: {
        id_kind: result.psi[0]?.idKind,
        seconds: result.psiSeconds,
      },
      rows: {
        guest: guestCsv.table.nRows,
        hosts: Object.fromEntries(hosts.map((h) => [h.id, h.table.nRows])),
        aligned: result.aligned,
        train: result.trainRows,
        test: result.testRows,
      },
      features: {
        guest: guestFeatures,
        hosts: Object.fromEntries(hosts.map((h, k) => [h.id, hostFeatures[k]])),
      },
      importance: Object.fromEntries(result.importance.map((i) => [i.party, i])),
      split: splitHow,
      model_id: result.guestModel.modelId,
      ...(written !== undefined && { out: written }),
      ...(scoresFile !== undefined && { scores_out: scoresFile }),
    };
  },
};

/** The hyperparameters the flags set (defaults: `SECUREBOOST_DEFAULTS`, the rest left to vfl). */
function hyperparamsFrom(options: Parameters<Command['run']>[0]): SecureBoostHyperparams {
  const h: Record<string, number | boolean | string> = {};
  for (const flag of HYPERPARAM_FLAGS) {
    const v = optNum(options, flag);
    if (v !== undefined) h[camel(flag)] = v;
  }
  for (const flag of BOOLEAN_FLAGS) if (bool(options, flag)) h[camel(flag)] = true;
  for (const flag of CHOICE_FLAGS) {
    const v = optStr(options, flag);
    if (v !== undefined) h[camel(flag)] = v;
  }
  for (const [flag, field] of Object.entries(RENAMED_FLAGS)) {
    const v = optNum(options, flag);
    if (v !== undefined) h[field] = v;
  }
  // Validated by the rules the training roles apply, so a bad flag is refused before PSI runs.
  try {
    resolveSecureBoost(h);
  } catch (e) {
    throw asFlagError(e);
  }
  return h as SecureBoostHyperparams;
}

/** An error about a hyperparameter names its flag (`learningRate` -> `--learning-rate`). */
function asFlagError(e: unknown): unknown {
  if (!(e instanceof FedscoreError) || e.field === undefined) return e;
  const renamed = Object.entries(RENAMED_FLAGS).find(([, field]) => field === e.field)?.[0];
  if (renamed !== undefined) {
    return new FedscoreError(e.code, e.message.replace(e.field, `--${renamed}`), {
      field: `--${renamed}`,
      cause: e,
      ...(e.details !== undefined && { details: e.details }),
    });
  }
  const flag = kebab(e.field);
  if (!ALL_HYPERPARAM_FLAGS.includes(flag)) return e;
  return new FedscoreError(e.code, e.message.replace(e.field, `--${flag}`), {
    field: `--${flag}`,
    cause: e,
    ...(e.details !== undefined && { details: e.details }),
  });
}

/**
 * The held-out rows as CSV: the guest's id, the label, the trees' log-odds and P(default) (high = bad),
 * what `fedscore report --scores FILE --label label --score p_default` reads.
 */
function writeTestScores(
  file: string,
  s: {
    readonly ids: readonly string[];
    readonly labels: ArrayLike<number>;
    readonly margins: ArrayLike<number>;
  },
): void {
  if (s.margins.length !== s.ids.length) {
    throw new FedscoreError('internal', `${s.margins.length} scores for ${s.ids.length} held-out rows`, {
      field: '--scores-out',
    });
  }
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = ['id,label,margin,p_default'];
  for (let i = 0; i < s.ids.length; i++) {
    const z = s.margins[i]!;
    const p = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    lines.push(`${quote(s.ids[i]!)},${s.labels[i]},${z},${p}`);
  }
  try {
    writeFileSync(file, `${lines.join('\n')}\n`);
  } catch (e) {
    throw new FedscoreError('io', `cannot write the scores: ${(e as Error).message}`, { file, cause: e });
  }
}

/** Each party's published files (its own model and importance; the guest's metrics). */
function writePartyFiles(dir: string, files: ReadonlyMap<string, ReadonlyMap<string, string>>): void {
  try {
    mkdirSync(dir, { recursive: true });
    for (const party of files.values()) {
      for (const [name, text] of party) writeFileSync(join(dir, name), text);
    }
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    throw new FedscoreError('io', `cannot write the models: ${(e as Error).message}`, {
      file: dir,
      cause: e,
    });
  }
}
