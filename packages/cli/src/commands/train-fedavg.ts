/**
 * `fedscore train fedavg`: horizontal federated learning in one process: the pipeline's `hfl` model
 * (packages/pipeline/src/stages/hfl.ts), every party's stage role over the in-memory network, as a node
 * job of kind 'hfl' runs them across party nodes (same rows and seed: same model). Each `--client` file is one
 * bank's own rows (same columns in every file); the banks train a TensorFlow.js model (logistic
 * regression or an MLP) locally and the coordinator averages their weights by sample count (FedAvg,
 * McMahan et al. 2017; FedProx with `--proximal-mu`). With `--secure-agg` the averaging goes through the
 * secure-aggregation protocol (packages/hfl, docs/protocols/secure-aggregation.md), so the coordinator
 * sees only the sum; with `--dp-epsilon` each bank clips its update and adds its share of Gaussian noise
 * sized by the RDP accountant for that (ε, δ) budget. The model is scored on `--test`.
 *
 * With `--out DIR` the trained model is saved in TensorFlow.js LayersModel format (DIR/model.json +
 * DIR/weights.bin, loadable by `tf.loadLayersModel` in Node or a browser): the library hands the
 * artifacts to the save handler below, which is the only code that writes files. The files are then read
 * back and the test set is scored again with the loaded model (the JSON reports both AUCs).
 *
 * Features are used as they are in the files (no standardization here: fitting a scaler on the pooled
 * rows would need a federated statistics step; the shared benchmark files are already standardized).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { auc, FedscoreError, ks, numericMatrix, type Table } from '@fedscore/core';
import {
  initTfjsBackend,
  type LocalRows,
  layersModelFiles,
  loadTfjsModel,
  type ModelSaveHandler,
  type ModelSpec,
  predictTfjs,
  readLayersModelFiles,
  saveTfjsModel,
  WEIGHTS_FILE,
} from '@fedscore/hfl';
import {
  HFL_DEFAULTS,
  type HflPlan,
  type HflSecAggStep,
  type HflSimulatedDropout,
  runHflInProcess,
} from '@fedscore/pipeline';
import { creditLines, parseCreditRules, resolveScaling } from '@fedscore/scoring';
import { bool, type Command, num, optNum, optStr, str, strs } from '../command.ts';
import { readPartyCsv } from '../pipeline/load.ts';

function rowsOf(table: Table, file: string, names?: readonly string[]): LocalRows & { names: string[] } {
  if (table.label === undefined)
    throw new FedscoreError('not_found', 'the file has no label column', { file });
  let m: ReturnType<typeof numericMatrix>;
  try {
    m = numericMatrix(table, names, { categorical: 'one-hot' });
  } catch (e) {
    throw new FedscoreError(
      'csv_schema',
      'the file does not have the same feature columns as the first client',
      {
        file,
        cause: e,
      },
    );
  }
  if (m.nRows === 0) throw new FedscoreError('invalid_argument', 'the file has no data rows', { file });
  return { x: m.data, y: table.label, rows: m.nRows, features: m.nCols, names: m.names };
}

/**
 * The training flags' ranges, checked before any file is read, each error naming its flag (the training
 * code named its own fields: learningRate, batchSize, targetEpsilon, ...; a negative --proximal-mu was
 * taken, pushing the local models away from the global one).
 */
function checkFlagRanges(options: Parameters<Command['run']>[0]): void {
  const range = (flag: string, v: number, ok: boolean, interval: string): void => {
    if (!ok) throw new FedscoreError('out_of_range', `${v} is outside ${interval}`, { field: flag });
  };
  const lr = num(options, 'learning-rate');
  range('--learning-rate', lr, lr > 0, '(0, inf)');
  const batch = num(options, 'batch-size');
  range('--batch-size', batch, batch >= 1, '[1, inf)');
  const epochs = num(options, 'local-epochs');
  range('--local-epochs', epochs, epochs >= 1, '[1, inf)');
  const mu = num(options, 'proximal-mu');
  range('--proximal-mu', mu, mu >= 0, '[0, inf)');
  const epsilon = optNum(options, 'dp-epsilon');
  if (epsilon !== undefined) range('--dp-epsilon', epsilon, epsilon > 0, '(0, inf)');
  const delta = num(options, 'dp-delta');
  range('--dp-delta', delta, delta > 0 && delta < 1, '(0, 1)');
  const clip = num(options, 'clip-norm');
  range('--clip-norm', clip, clip > 0, '(0, inf)');
  const decay = num(options, 'lr-decay');
  range('--lr-decay', decay, decay >= 0, '[0, inf)');
  for (const flag of ['round-deadline-ms', 'phase-deadline-ms']) {
    const ms = optNum(options, flag);
    if (ms !== undefined) range(`--${flag}`, ms, ms >= 1, '[1, inf)');
  }
}

const DROP_STEPS: readonly HflSecAggStep[] = ['trained', 'shares-sent', 'masked-input-sent'];

/**
 * `--drop-client INDEX@ROUND[:STEP]` (simulation): the INDEX-th --client (1-based) leaves the run in
 * ROUND after STEP (default: 'shares-sent' under --secure-agg, its key shares sent and its masked input
 * not; 'trained' without, its update never sent).
 */
function parseDropClients(
  values: readonly string[],
  clients: number,
  secureAgg: boolean,
): HflSimulatedDropout[] {
  return values.map((v) => {
    const m = /^([1-9][0-9]*)@([1-9][0-9]*)(?::([a-z-]+))?$/.exec(v);
    const step = (m?.[3] ?? (secureAgg ? 'shares-sent' : 'trained')) as HflSecAggStep;
    if (m === null || !DROP_STEPS.includes(step)) {
      throw new FedscoreError(
        'invalid_argument',
        `expected INDEX@ROUND[:${DROP_STEPS.join('|')}], got '${v}'`,
        { field: '--drop-client' },
      );
    }
    if (!secureAgg && step !== 'trained') {
      throw new FedscoreError(
        'invalid_argument',
        `'${step}' is a secure-aggregation step: without --secure-agg a client can leave only after 'trained'`,
        { field: '--drop-client' },
      );
    }
    const index = Number(m[1]);
    if (index > clients) {
      throw new FedscoreError('out_of_range', `client ${index} of ${clients} --client files`, {
        field: '--drop-client',
      });
    }
    return { bank: `client-${index}`, round: Number(m[2]), step };
  });
}

const MODEL_FILE = 'model.json';

/** A tfjs save handler that writes model.json + weights.bin into `dir` (the CLI's --out). */
function directorySaveHandler(dir: string, metadata: Record<string, unknown>): ModelSaveHandler {
  return async (artifacts) => {
    const { modelJson, weightsBin } = layersModelFiles(artifacts, metadata);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, MODEL_FILE), `${JSON.stringify(modelJson, null, 2)}\n`);
      writeFileSync(join(dir, WEIGHTS_FILE), weightsBin);
    } catch (e) {
      throw new FedscoreError('io', 'cannot write the model files', { file: dir, field: '--out', cause: e });
    }
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        weightDataBytes: weightsBin.byteLength,
      },
    };
  };
}

/** Read DIR/model.json + DIR/weights.bin back into a spec and flat weights. */
async function loadFromDirectory(dir: string): Promise<Awaited<ReturnType<typeof loadTfjsModel>>> {
  let json: unknown;
  let bin: Uint8Array;
  try {
    json = JSON.parse(readFileSync(join(dir, MODEL_FILE), 'utf8'));
    bin = new Uint8Array(readFileSync(join(dir, WEIGHTS_FILE)));
  } catch (e) {
    throw new FedscoreError('io', 'cannot read the saved model back', {
      file: dir,
      field: '--out',
      cause: e,
    });
  }
  return loadTfjsModel(readLayersModelFiles(json, bin));
}

/**
 * Score the test rows with the reloaded model and decide their credit lines with the scoring package's
 * rules: probability of default p → points on the demo's scale (600 at odds 50:1 good:bad, 20 points to
 * double the odds: score = offset + factor · ln((1 − p) / p)), then band, line and rate by `decideCredit`
 * (figures read from the --test file's columns named in the rules).
 */
/**
 * The test rows' scores for `fedscore report --scores FILE --label label --score p_default`: id, the 0/1
 * label, the model's probability of default (high = bad).
 */
function writeTestScores(
  file: string,
  ids: readonly string[],
  labels: ArrayLike<number>,
  pd: ArrayLike<number>,
): string {
  if (pd.length !== ids.length || labels.length !== ids.length) {
    throw new FedscoreError('internal', `${pd.length} scores for ${ids.length} test rows`, {
      field: '--scores-out',
    });
  }
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = ['id,label,p_default'];
  for (let i = 0; i < ids.length; i++) lines.push(`${quote(ids[i]!)},${labels[i]},${pd[i]}`);
  try {
    writeFileSync(file, `${lines.join('\n')}\n`);
  } catch (e) {
    throw new FedscoreError('io', 'cannot write the scores file', { file, field: '--scores-out', cause: e });
  }
  return file;
}

function writeCreditLines(
  dir: string,
  rules: ReturnType<typeof parseCreditRules>,
  table: Table,
  pd: Float64Array,
): { file: string; rows: number; approved: number; by_band: Record<string, number> } {
  const scaling = resolveScaling();
  const eps = 1e-12;
  const scores = Float64Array.from(pd, (p) => {
    const q = Math.min(1 - eps, Math.max(eps, p));
    return scaling.offset + scaling.factor * Math.log((1 - q) / q);
  });
  const figures: Record<string, Float64Array> = {};
  for (const c of table.columns) if (c.kind === 'numeric') figures[c.name] = c.values;
  const decided = creditLines(rules, table.ids, scores, figures);
  const byBand: Record<string, number> = {};
  const out = ['id,pd,score,band,approved,line,rate_bp'];
  decided.forEach((d, i) => {
    const band = d.band ?? '';
    byBand[band] = (byBand[band] ?? 0) + 1;
    out.push(
      `${d.id},${pd[i]!.toFixed(6)},${d.score.toFixed(1)},${band},${d.approved},${d.line},${d.rateBp}`,
    );
  });
  const file = join(dir, 'credit-lines.csv');
  try {
    writeFileSync(file, `${out.join('\n')}\n`);
  } catch (e) {
    throw new FedscoreError('io', 'cannot write credit-lines.csv', { file, field: '--out', cause: e });
  }
  return { file, rows: decided.length, approved: decided.filter((d) => d.approved).length, by_band: byBand };
}

export const command: Command = {
  path: ['train', 'fedavg'],
  summary: 'horizontal FL: banks with the same columns train one TensorFlow.js model (FedAvg/FedProx)',
  description: `
Each --client CSV is one bank's rows (an id column, the label, and the same feature columns in
every file). Every round, each bank trains the global model on its own rows for --local-epochs
epochs and the coordinator averages the weights by row count. Prints test AUC and KS, rounds,
seconds per round, bytes each client sent (under --secure-agg), the TensorFlow.js backend that ran
(wasm unless @tensorflow/tfjs-node is installed), and the dropouts.

--secure-agg: the average goes through secure aggregation (Bonawitz et al. 2017): the coordinator
learns only the sum of the banks' updates. --dp-epsilon E: user-level DP (each bank clips its update
to --clip-norm and adds Gaussian noise; noise multiplier from the RDP accountant for E at --dp-delta).

Example:
  fedscore train fedavg --client b1.csv --client b2.csv --client b3.csv --test t.csv --label y \\
    --model mlp --secure-agg --rounds 20 --out model/ --json

--round-deadline-ms MS: a bank whose training and first message of a round take longer drops out
of the run; the round completes with the others (under --secure-agg the sum is unmasked from the
survivors' shares) and later rounds go on without it. --phase-deadline-ms bounds each later
secure-aggregation phase (default: the round deadline). --drop-client I@R[:STEP] is a SIMULATION for
trying this out: the I-th --client stops answering in round R after STEP (trained: before sending its
update; shares-sent: after its key shares, before its masked input (the default under --secure-agg);
masked-input-sent: after its masked input, in that round's sum). Nothing but the deadlines tells the
coordinator; "dropouts" counts the banks that left, "dropped" names them.

--lr-decay D: round r trains at --learning-rate / (1 + D·(r − 1)) (with a decaying step FedAvg
converges to the pooled optimum; Li et al., ICLR 2020).

--out DIR: the model in TensorFlow.js LayersModel format (model.json + weights.bin, for
tf.loadLayersModel), with the feature names and test metrics in its userDefinedMetadata; the files
are read back and the test set scored again with the loaded model.`,
  options: {
    client: {
      type: 'string',
      multiple: true,
      required: true,
      placeholder: 'FILE',
      description: "one bank's CSV",
    },
    test: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: 'held-out CSV for the test metrics',
    },
    label: { type: 'string', default: 'y', placeholder: 'COL', description: 'the 0/1 label column' },
    id: { type: 'string', default: 'id', placeholder: 'COL', description: 'the id column' },
    model: {
      type: 'string',
      default: 'lr',
      choices: ['lr', 'mlp'],
      description: 'logistic regression or MLP (32, 16)',
    },
    rounds: { type: 'integer', default: HFL_DEFAULTS.rounds, description: 'federated rounds' },
    'local-epochs': {
      type: 'integer',
      default: HFL_DEFAULTS.localEpochs,
      description: 'local epochs per round',
    },
    'learning-rate': {
      type: 'number',
      default: HFL_DEFAULTS.learningRate,
      description: 'local SGD learning rate',
    },
    'lr-decay': {
      type: 'number',
      default: 0,
      description: 'inverse-time decay: round r trains at learning-rate / (1 + lr-decay · (r − 1))',
    },
    'batch-size': { type: 'integer', default: HFL_DEFAULTS.batchSize, description: 'local mini-batch size' },
    'proximal-mu': {
      type: 'number',
      default: HFL_DEFAULTS.proximalMu,
      description: 'FedProx μ (0 = FedAvg)',
    },
    'secure-agg': { type: 'boolean', description: 'aggregate with secure aggregation' },
    'round-deadline-ms': {
      type: 'integer',
      placeholder: 'MS',
      description: "a bank whose round's training and first message miss this is a dropout",
    },
    'phase-deadline-ms': {
      type: 'integer',
      placeholder: 'MS',
      description: 'deadline of each later secure-aggregation phase (default: --round-deadline-ms)',
    },
    'drop-client': {
      type: 'string',
      multiple: true,
      placeholder: 'I@R[:STEP]',
      description: 'SIMULATION: the I-th --client leaves the run in round R (needs --round-deadline-ms)',
    },
    'dp-epsilon': { type: 'number', placeholder: 'E', description: 'user-level DP budget ε over all rounds' },
    'dp-delta': { type: 'number', default: HFL_DEFAULTS.dpDelta, description: 'δ of the DP budget' },
    'clip-norm': {
      type: 'number',
      default: HFL_DEFAULTS.clipNorm,
      description: "L2 clip of a bank's update under DP",
    },
    seed: {
      type: 'integer',
      default: HFL_DEFAULTS.seed,
      description: 'seed of the initial weights and batch order',
    },
    rules: {
      type: 'string',
      placeholder: 'FILE',
      description: 'credit rules (YAML/JSON): with --out, DIR/credit-lines.csv for the --test rows',
    },
    out: {
      type: 'string',
      placeholder: 'DIR',
      description: 'save the model as a TensorFlow.js LayersModel (DIR/model.json + DIR/weights.bin)',
    },
    'scores-out': {
      type: 'string',
      placeholder: 'FILE',
      description: "write the test rows' id, label and p_default (CSV) for 'fedscore report'",
    },
  },
  async run(options, _positionals, ctx) {
    const files = strs(options, 'client');
    if (files.length < 2) {
      throw new FedscoreError('invalid_argument', 'at least two --client files', { field: '--client' });
    }
    const rounds = num(options, 'rounds');
    if (rounds < 1) throw new FedscoreError('out_of_range', '--rounds must be >= 1', { field: '--rounds' });
    checkFlagRanges(options);
    const idName = str(options, 'id');
    const labelName = str(options, 'label');
    const clients = new Map<string, LocalRows>();
    const tables = new Map<string, Table>();
    let names: string[] | undefined;
    for (const [i, file] of files.entries()) {
      // Features go into training as they are: a value whose column moments overflow is refused here,
      // naming file, line and column (it used to surface as a wire error on a non-finite update).
      const table = await readPartyCsv(ctx, file, idName, labelName, 'error', { finiteMoments: true });
      const r = rowsOf(table, file, names);
      names ??= r.names;
      clients.set(`client-${i + 1}`, r);
      tables.set(`client-${i + 1}`, table);
    }
    const testFile = str(options, 'test');
    const testTable = await readPartyCsv(ctx, testFile, idName, labelName, 'error', { finiteMoments: true });
    const test = rowsOf(testTable, testFile, names);
    const rulesFile = optStr(options, 'rules');
    if (rulesFile !== undefined && optStr(options, 'out') === undefined) {
      throw new FedscoreError('invalid_argument', '--rules writes credit-lines.csv into --out: give --out', {
        field: '--rules',
      });
    }
    let rulesText: string | undefined;
    if (rulesFile !== undefined) {
      try {
        rulesText = readFileSync(resolve(ctx.cwd, rulesFile), 'utf8');
      } catch (e) {
        throw new FedscoreError('io', 'cannot read the rules file', {
          file: rulesFile,
          field: '--rules',
          cause: e,
        });
      }
    }
    const rules = rulesText === undefined ? undefined : parseCreditRules(rulesText, rulesFile);
    const seed = num(options, 'seed');
    const mu = num(options, 'proximal-mu');
    const epsilon = optNum(options, 'dp-epsilon');
    const delta = num(options, 'dp-delta');
    const clipNorm = num(options, 'clip-norm');
    const secureAgg = bool(options, 'secure-agg');
    const roundDeadline = optNum(options, 'round-deadline-ms');
    const phaseDeadline = optNum(options, 'phase-deadline-ms') ?? roundDeadline;
    if (optNum(options, 'phase-deadline-ms') !== undefined && roundDeadline === undefined) {
      throw new FedscoreError('invalid_argument', '--phase-deadline-ms needs --round-deadline-ms', {
        field: '--phase-deadline-ms',
      });
    }
    const drops = parseDropClients(strs(options, 'drop-client'), files.length, secureAgg);
    if (drops.length > 0 && roundDeadline === undefined) {
      throw new FedscoreError(
        'invalid_argument',
        'a client that stops answering is noticed only by a deadline: give --round-deadline-ms',
        { field: '--drop-client' },
      );
    }
    const plan: HflPlan = {
      // The first client's columns (the --test file may have more: the credit rules' figures).
      columns: tables.get('client-1')!.columns.map((c) => c.name),
      model: str(options, 'model') as 'lr' | 'mlp',
      rounds,
      localEpochs: num(options, 'local-epochs'),
      learningRate: num(options, 'learning-rate'),
      learningRateDecay: num(options, 'lr-decay'),
      batchSize: num(options, 'batch-size'),
      proximalMu: mu,
      secureAgg,
      ...(roundDeadline !== undefined && { fitDeadlineMs: roundDeadline, phaseDeadlineMs: phaseDeadline }),
      ...(epsilon !== undefined && { dp: { epsilon, delta, clipNorm } }),
    };
    ctx.logger.info('hfl training', { clients: files.length, rounds, model: plan.model });
    // The `hfl` pipeline's stages (packages/pipeline), as a node job runs them, over the in-memory network.
    const run = await runHflInProcess({
      coordinator: 'coordinator',
      test: testTable,
      banks: [...clients.keys()].map((id) => ({ id, table: tables.get(id)! })),
      seed,
      plan,
      logger: ctx.logger,
      progress: ctx.progress,
      simulatedDropouts: drops,
    }).catch((e: unknown) => {
      // A bank whose local weights stopped being finite names the plan's learningRate: name the flag.
      if (e instanceof FedscoreError && e.code === 'diverged' && e.field === 'learningRate') {
        throw new FedscoreError('diverged', e.message.replace(/^field '[^']*': /, ''), {
          field: '--learning-rate',
          cause: e,
          ...(e.details !== undefined && { details: e.details }),
        });
      }
      throw e;
    });
    const backend = run.train.backend;
    const spec: ModelSpec = { kind: plan.model, features: run.train.features };
    const strategy = { name: run.train.strategy };
    const result = { weights: Float64Array.from(run.train.weights), privacy: run.train.privacy };
    const noiseMultiplier = run.train.privacy?.noiseMultiplier;
    await initTfjsBackend();
    const scores = predictTfjs(spec, result.weights, test.x);
    const testAuc = auc(test.y, scores);
    const testKs = ks(test.y, scores).ks;
    const seconds = run.train.history.map((h) => h.seconds);
    const bytes: Record<string, number> = {};
    for (const h of run.train.history) {
      for (const [c, b] of Object.entries(h.bytesFrom)) bytes[c] = (bytes[c] ?? 0) + b;
    }
    // Banks that left a round: missed a deadline (out of its sum), or stopped after their masked input
    // (in its sum, out of later rounds).
    const dropouts = run.train.history.reduce(
      (s, h) => s + h.dropouts.length + (h.lateDropped?.length ?? 0),
      0,
    );
    const scoresOut = optStr(options, 'scores-out');
    const scoresFile =
      scoresOut === undefined
        ? null
        : writeTestScores(resolve(ctx.cwd, scoresOut), testTable.ids, test.y, scores);
    const outOption = optStr(options, 'out');
    let lines: ReturnType<typeof writeCreditLines> | null = null;
    let saved: {
      dir: string;
      files: string[];
      reloaded_test_auc: number;
      max_abs_score_diff: number;
    } | null = null;
    if (outOption !== undefined) {
      const dir = resolve(ctx.cwd, outOption);
      const metadata = {
        fedscore: {
          features: names,
          clients: [...clients.keys()],
          label: labelName,
          model: spec.kind,
          strategy: strategy.name,
          rounds,
          backend,
          test: { auc: testAuc, ks: testKs },
        },
      };
      await saveTfjsModel(spec, result.weights, directorySaveHandler(dir, metadata));
      const loaded = await loadFromDirectory(dir);
      const again = predictTfjs(loaded.spec, loaded.weights, test.x);
      let diff = 0;
      for (let i = 0; i < again.length; i++) diff = Math.max(diff, Math.abs(again[i]! - scores[i]!));
      saved = {
        dir,
        files: [MODEL_FILE, WEIGHTS_FILE],
        reloaded_test_auc: auc(test.y, again),
        max_abs_score_diff: diff,
      };
      ctx.print(`  model saved (TensorFlow.js LayersModel): ${join(dir, MODEL_FILE)}, ${WEIGHTS_FILE}`);
      if (rules !== undefined) lines = writeCreditLines(dir, rules, testTable, again);
    }
    ctx.print(`${spec.kind} on ${files.length} clients, ${rounds} rounds, backend ${backend}`);
    ctx.print(`  test AUC ${testAuc.toFixed(4)}  KS ${testKs.toFixed(4)}`);
    if (dropouts > 0) {
      ctx.print(
        `  dropouts: ${dropouts} (${(run.train.dropped ?? []).join(', ')}; the rounds went on without them)`,
      );
    }
    if (result.privacy) ctx.print(`  DP: ε = ${result.privacy.epsilon.toFixed(3)} at δ = ${delta}`);
    return {
      test: { auc: testAuc, ks: testKs, rows: test.rows },
      rounds,
      seconds_per_round: seconds.reduce((s, v) => s + v, 0) / seconds.length,
      bytes_per_client: secureAgg
        ? Object.values(bytes).reduce((s, b) => s + b, 0) / Math.max(1, Object.keys(bytes).length) / rounds
        : null,
      backend,
      dropouts,
      dropped: run.train.dropped ?? [],
      simulated_dropouts: drops.map((d) => ({ client: d.bank, round: d.round, step: d.step })),
      round_deadline_ms: roundDeadline ?? null,
      lr_decay: plan.learningRateDecay,
      saved_model: saved,
      scores_file: scoresFile,
      credit_lines: lines,
      model: spec.kind,
      strategy: strategy.name,
      secure_agg: secureAgg,
      dp:
        result.privacy && noiseMultiplier !== undefined
          ? { epsilon: result.privacy.epsilon, delta, noise_multiplier: noiseMultiplier, clip_norm: clipNorm }
          : null,
    };
  },
};
