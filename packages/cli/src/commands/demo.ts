/**
 * `fedscore demo`: the government-bank story end to end on a generated SME population, every party in
 * this process over the in-memory network with the real wire codec.
 *
 *   1. generate: the government credit node's table (tax, social insurance, utilities, penalties, court
 *      records per enterprise) and the bank's table (financial features and the default label);
 *   2. what each party holds: rows, feature counts and names -- never values;
 *   3. PSI: the bank and the government align their enterprises on USCC;
 *   4. the bank alone: LR on its own columns (centralized on its own data, which it may do);
 *   5. joint: hetero-LR under CKKS, arbiter mode: bank (guest), government (host), arbiter (key holder);
 *   6. bank-only vs joint AUC/KS on the same held-out rows, and what crossed the wire;
 *   7. pre-approved credit lines for the held-out enterprises: the joint score, calibrated on the training
 *      rows and scaled to scorecard points, and the bank's line rules (the CLI's own
 *      src/rules/credit-lines.yaml by default) through scoring's `creditLines`.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  FedscoreError,
  fitLogisticRegression,
  formatCsvRows,
  type NumericColumn,
  type Table,
} from '@fedscore/core';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import {
  guestOnlyLr,
  HETERO_LR_DEFAULTS,
  partyFeatures,
  runHeteroLrInProcess,
  subsetFeatures,
} from '@fedscore/pipeline';
import {
  creditLines,
  type EnterpriseCreditLine,
  parseCreditRules,
  resolveScaling,
  ruleFigures,
} from '@fedscore/scoring';
import {
  type HeteroLrMode,
  type PartyFeatures,
  type PartyModel,
  partyPartialScores,
  serializeJointModel,
} from '@fedscore/vfl';
import { type Command, num, optNum, optStr, str } from '../command.ts';
import { checkLabels, readPartyCsv } from '../pipeline/load.ts';
import { formatBytes, writeModels } from '../pipeline/output.ts';

const BANK = 'bank';
const GOVERNMENT = 'government';

export const command: Command = {
  path: ['demo'],
  summary: 'the government-bank story: generated SMEs, PSI, hetero-LR under CKKS, bank-only vs joint AUC/KS',
  description: `
Generates a seeded synthetic population of small enterprises: the government credit node holds
public-credit features for every enterprise (keyed by USCC), the bank holds financial features
and loan outcomes for its customers. Then, with every party in this process:
  - PSI aligns the bank's customers with the government's enterprises;
  - the bank trains LR on its own columns alone (allowed: its own data);
  - bank and government train one joint LR under CKKS (hetero-LR, arbiter mode), each keeping
    its rows and its part of the model;
  - both models are scored on the same held-out customers.
It prints what each party held (counts and names, never values), what crossed the wire, and
bank-only vs joint AUC/KS, and closes with pre-approved credit lines for the held-out
enterprises it scored (the joint score as scorecard points and the bank's line rules, --rules,
default: the CLI's own rules/credit-lines.yaml). Files (the generated CSVs, each party's model,
credit-lines.csv, demo-result.json) go to --out (default: a new temporary directory).`,
  options: {
    enterprises: { type: 'integer', default: 20000, description: 'enterprises in the government table' },
    'bank-customers': {
      type: 'integer',
      default: 8000,
      description: 'bank customers in the government table',
    },
    seed: { type: 'integer', default: 20250101, description: 'seed of the population and the split' },
    epochs: { type: 'integer', default: 8, description: 'hetero-LR epochs' },
    'batch-size': {
      type: 'integer',
      description: 'rows per mini-batch (default: the pipeline default for the training rows)',
    },
    mode: {
      type: 'string',
      default: 'arbiter',
      choices: ['arbiter', 'two-party'],
      description: 'arbiter: a coordinator holds the CKKS key; two-party: no third party',
    },
    'test-fraction': {
      type: 'number',
      default: 0.25,
      description: 'share of each class held out for testing',
    },
    out: { type: 'string', placeholder: 'DIR', description: 'output directory (default: a new temp dir)' },
    rules: {
      type: 'string',
      placeholder: 'FILE',
      description: 'credit-line rules, YAML/JSON (default: rules/credit-lines.yaml shipped with the CLI)',
    },
  },
  async run(options, _positionals, ctx) {
    const t0 = performance.now();
    const enterprises = num(options, 'enterprises');
    const bankCustomers = num(options, 'bank-customers');
    const seed = num(options, 'seed');
    const mode = str(options, 'mode') as HeteroLrMode;
    const testFraction = num(options, 'test-fraction');
    if (!(testFraction > 0 && testFraction < 1)) {
      throw new FedscoreError('out_of_range', `--test-fraction must be in (0, 1), got ${testFraction}`, {
        field: '--test-fraction',
      });
    }
    const outOpt = optStr(options, 'out');
    const out =
      outOpt === undefined ? mkdtempSync(join(tmpdir(), 'fedscore-demo-')) : resolve(ctx.cwd, outOpt);
    const dataDir = join(out, 'data');
    mkdirSync(dataDir, { recursive: true });

    // 1. the population, as the two parties' files
    const tGen = performance.now();
    const written = await writePopulation({ enterprises, bankCustomers, seed }, dataDir, {
      logger: ctx.logger,
      progress: ctx.progress,
    });
    const generateSeconds = (performance.now() - tGen) / 1000;
    const govTable = await readPartyCsv(ctx, written.government.path, ID_COLUMN, undefined, 'keep');
    const bankTable = await readPartyCsv(ctx, written.bank.path, ID_COLUMN, DEFAULT_LABEL_COLUMN, 'keep');
    const labels = checkLabels(bankTable, DEFAULT_LABEL_COLUMN, written.bank.path);
    // the line rules are checked before any training: readable, valid, figures among the bank's columns
    const rulesOpt = optStr(options, 'rules');
    const lineRules = readDemoRules(
      rulesOpt === undefined ? DEFAULT_RULES : resolve(ctx.cwd, rulesOpt),
      bankTable,
    );
    const missing = (t: typeof govTable) => t.columns.reduce((a, c) => a + c.missing, 0);

    ctx.print('fedscore demo: a bank and the government credit node train one credit model');
    ctx.print(`(generated population, seed ${seed}; files in ${dataDir})`);
    ctx.print('');
    ctx.print('1. What each party holds (counts and names only; no party sees the other values)');
    ctx.print(
      `   government (host): ${govTable.nRows} enterprises x ${govTable.columns.length} public-credit features, ${missing(govTable)} missing values`,
    );
    ctx.print(`      ${govTable.columns.map((c) => c.name).join(', ')}`);
    ctx.print(
      `   bank (guest): ${bankTable.nRows} customers x ${bankTable.columns.length} financial features + label '${DEFAULT_LABEL_COLUMN}' (default within 12 months), ${missing(bankTable)} missing values`,
    );
    ctx.print(`      ${bankTable.columns.map((c) => c.name).join(', ')}`);
    ctx.print('   arbiter: nothing but the CKKS secret key it generates');

    // 2-5. PSI, the bank's stratified split, joint hetero-LR under CKKS and its evaluation: the job's
    // stages with both parties (and the arbiter) in this process.
    const bank = { id: BANK, table: bankTable, idSource: { file: written.bank.path, field: ID_COLUMN } };
    const gov = {
      id: GOVERNMENT,
      table: govTable,
      idSource: { file: written.government.path, field: ID_COLUMN },
    };
    const joint = await runHeteroLrInProcess({
      guest: bank,
      hosts: [gov],
      mode,
      he: { scheme: 'ckks' },
      hyperparams: {
        maxEpochs: num(options, 'epochs'),
        ...(optNum(options, 'batch-size') !== undefined && { batchSize: num(options, 'batch-size') }),
        seed,
      },
      testFraction,
      // the generated population is keyed by USCC on both sides
      idKind: 'uscc',
      runtime: { workers: HETERO_LR_DEFAULTS.workers },
      logger: ctx.logger,
      progress: ctx.progress,
    });
    const psi = joint.psi[0]!;
    const psiBytes = psi.bytes.guestToHost + psi.bytes.hostToGuest;
    ctx.print('');
    ctx.print('2. PSI (ECDH over ristretto255): align the enterprises without revealing the others');
    ctx.print(
      `   bank ${psi.guestIds} ids, government ${psi.hostIds} ids -> ${psi.intersection} shared enterprises; ${formatBytes(psiBytes)} in ${psi.seconds.toFixed(1)} s`,
    );
    ctx.print(
      `   the bank's ${psi.guestIds - psi.intersection} customers outside the government table stay hidden from it, and the government's ${psi.hostIds - psi.intersection} non-customers from the bank`,
    );

    // the split (the bank's decision, by its labels), as the align stage drew it
    const guestRows = joint.rows.get(BANK)!;
    const alignedIds = guestRows.map((r) => bankTable.ids[r]!);
    const trainRows = Uint32Array.from(joint.trainPositions);
    const testRows = Uint32Array.from(joint.testPositions);
    const split = { how: `stratified ${Math.round(testFraction * 100)}% test, seed ${seed}` };
    const bankFeatures = partyFeatures(bankTable, guestRows);
    const govFeatures = partyFeatures(govTable, joint.rows.get(GOVERNMENT)!);
    const alignedLabels = Float64Array.from(guestRows, (r) => labels[r]!);

    // 4. the bank alone
    const bankOnly = guestOnlyLr(bankFeatures, alignedLabels, trainRows, testRows);
    const run = joint;
    const modelDir = join(out, 'models');
    writeModels(modelDir, joint.models, serializeJointModel(run.descriptor));

    ctx.print('');
    ctx.print(`3. Hetero-LR under ${joint.security}, ${mode} mode`);
    ctx.print(
      `   ${trainRows.length} training rows, ${bankFeatures.names.length} bank + ${govFeatures.names.length} government features (categories one-hot); each party imputes and standardizes its own columns`,
    );
    ctx.print(
      `   ${run.epochs} epochs, ${run.secondsPerEpoch.toFixed(2)} s per epoch, ${run.secondsTotal.toFixed(1)} s including key generation`,
    );
    ctx.print('   bytes sent during training:');
    for (const [party, b] of Object.entries(run.bytesSent))
      ctx.print(`     ${party.padEnd(11)} ${formatBytes(b)}`);

    ctx.print('');
    ctx.print(`4. Evaluation on ${testRows.length} held-out shared customers (${split.how})`);
    ctx.print('   model                      features   test AUC   test KS   train AUC');
    const row = (name: string, f: number, r: { train: { auc: number }; test: { auc: number; ks: number } }) =>
      `   ${name.padEnd(26)} ${String(f).padStart(8)}   ${r.test.auc.toFixed(4)}     ${r.test.ks.toFixed(4)}    ${r.train.auc.toFixed(4)}`;
    ctx.print(row('bank only (centralized)', bankOnly.features, bankOnly));
    ctx.print(row('bank + government (joint)', bankFeatures.names.length + govFeatures.names.length, joint));
    const gain = joint.test.auc - bankOnly.test.auc;
    ctx.print(
      `   the government's data adds ${gain >= 0 ? '+' : ''}${gain.toFixed(4)} AUC, and the bank never read it`,
    );

    ctx.print('');
    ctx.print('5. What crossed the wire');
    ctx.print(`   PSI: blinded points only, ${formatBytes(psiBytes)}`);
    ctx.print(
      '   training: CKKS ciphertexts (encrypted residuals and gradients), masked gradients decrypted by the arbiter, the public CKKS context',
    );
    ctx.print(
      `   evaluation: the government's partial predictions x.w for the ${trainRows.length + testRows.length} shared rows, ${formatBytes(joint.evaluationBytes)}`,
    );
    ctx.print("   never: a raw feature value, a label, or a party's weights");

    // 6. credit lines for the enterprises the joint model scored (the held-out customers)
    const lines = demoCreditLines(
      lineRules,
      Array.from(testRows, (r) => alignedIds[r]!),
      joint.models,
      [bankFeatures, govFeatures],
      {
        train: trainRows,
        trainLabels: Float64Array.from(trainRows, (r) => alignedLabels[r]!),
        test: testRows,
      },
      Array.from(testRows, (r) => guestRows[r]!),
    );
    const linesFile = join(out, 'credit-lines.csv');
    writeFileSync(
      linesFile,
      [
        ...formatCsvRows(
          ['uscc', 'score', 'band', 'line', 'rate_bp', 'binding_cap'],
          lines.lines.map((l) => [
            l.id,
            Math.round(l.score * 100) / 100,
            l.band ?? '',
            l.line,
            l.rateBp,
            l.bindingCap ?? '',
          ]),
        ),
      ].join(''),
    );
    ctx.print('');
    ctx.print(
      `6. Pre-approved credit lines for the ${lines.lines.length} held-out enterprises the joint model scored`,
    );
    ctx.print(
      `   the joint score, calibrated on the ${trainRows.length} training rows (Platt scaling), as points: ${lines.scaling}`,
    );
    ctx.print(
      `   rules ${lines.rulesFile}; line figures from the bank's own columns only (${lines.figures.join(', ')})`,
    );
    ctx.print('   band  min score  enterprises  approved   total line (CNY)  rate');
    for (const b of lines.bands) {
      ctx.print(
        `   ${b.band.padEnd(4)}  ${(b.minScore === null ? '-' : String(b.minScore)).padStart(9)}  ${String(b.enterprises).padStart(11)}  ${String(b.approved).padStart(8)}  ${b.totalLine.toLocaleString('en-US').padStart(17)}  ${(b.rateBp / 100).toFixed(2)}%`,
      );
    }
    ctx.print(
      `   ${lines.totalLine.toLocaleString('en-US')} ${lines.currency} pre-approved for ${lines.approved} of ${lines.lines.length} enterprises; per enterprise: ${linesFile}`,
    );
    ctx.print('');
    ctx.print(`Models (each party's own file) and the joint descriptor: ${modelDir}`);

    const result = {
      out,
      population: {
        seed,
        enterprises: govTable.nRows,
        bank_customers: bankTable.nRows,
        realized_default_rate: written.realizedDefaultRate,
        generate_seconds: generateSeconds,
        files: { government: written.government.path, bank: written.bank.path },
      },
      parties: {
        government: {
          role: 'host',
          rows: govTable.nRows,
          features: govTable.columns.map((c) => c.name),
        },
        bank: {
          role: 'guest',
          rows: bankTable.nRows,
          features: bankTable.columns.map((c) => c.name),
          label: DEFAULT_LABEL_COLUMN,
        },
        ...(mode === 'arbiter' && { arbiter: { role: 'arbiter', holds: 'the CKKS secret key only' } }),
      },
      psi: {
        bank_ids: psi.guestIds,
        government_ids: psi.hostIds,
        intersection: psi.intersection,
        bytes: psiBytes,
        seconds: psi.seconds,
      },
      split: { how: split.how, train: trainRows.length, test: testRows.length },
      bank_only: { features: bankOnly.features, train: bankOnly.train, test: bankOnly.test },
      joint: {
        he: 'ckks',
        mode,
        security: joint.security,
        features: bankFeatures.names.length + govFeatures.names.length,
        train: joint.train,
        test: joint.test,
        epochs: run.epochs,
        seconds_per_epoch: run.secondsPerEpoch,
        seconds_total: run.secondsTotal,
        bytes_sent: run.bytesSent,
      },
      auc_gain: gain,
      credit_lines: {
        rules: lines.rulesFile,
        file: linesFile,
        enterprises: lines.lines.length,
        approved: lines.approved,
        total_line: lines.totalLine,
        currency: lines.currency,
        bands: lines.bands.map((b) => ({
          band: b.band,
          min_score: b.minScore,
          enterprises: b.enterprises,
          approved: b.approved,
          total_line: b.totalLine,
          rate_bp: b.rateBp,
        })),
      },
      evaluation_bytes: joint.evaluationBytes,
      models: modelDir,
      wall_seconds: (performance.now() - t0) / 1000,
    };
    writeFileSync(join(out, 'demo-result.json'), `${JSON.stringify(result, null, 2)}\n`);
    ctx.print(`Summary: ${join(out, 'demo-result.json')}`);
    return result;
  },
};

/** The demo's default line rules, shipped in the package (src/rules, copied to dist/rules by the build). */
const DEFAULT_RULES = new URL('../rules/credit-lines.yaml', import.meta.url).pathname;

/**
 * Lines for the scored enterprises. The joint model's linear score per row (the sum of each party's
 * partial score, as in the evaluation step) ranks well but, after a few epochs of mini-batch training,
 * is not a calibrated log-odds; the bank calibrates it on the training rows with its own labels (Platt
 * scaling: a one-feature logistic regression, Platt 1999), scales the calibrated logit of P(default) to
 * scorecard points on the default scale (600 at odds 50, PDO 20: points = offset - factor * logit), and
 * the rules give band, line and rate. The rule figures must be the bank's own columns: the bank decides
 * the line, and it never reads the government's values.
 */
function demoCreditLines(
  { rules, rulesFile, columns }: ReturnType<typeof readDemoRules>,
  ids: readonly string[],
  models: readonly PartyModel[],
  features: readonly PartyFeatures[],
  rows: { train: Uint32Array; trainLabels: Float64Array; test: Uint32Array },
  bankRows: readonly number[],
) {
  const scaling = resolveScaling({});
  const linear = (idx: Uint32Array): Float64Array => {
    const z = new Float64Array(idx.length);
    models.forEach((m, k) => {
      const part = partyPartialScores(m, subsetFeatures(features[k]!, idx).columns);
      for (let i = 0; i < z.length; i++) z[i]! += part[i]!;
    });
    return z;
  };
  const platt = fitLogisticRegression(linear(rows.train), rows.train.length, 1, rows.trainLabels, { l2: 0 });
  const a = platt.coef[0]!;
  const points = Float64Array.from(
    linear(rows.test),
    (z) => scaling.offset - scaling.factor * (a * z + platt.intercept),
  );
  const figureNames = Object.keys(columns);
  const figures: Record<string, Float64Array> = {};
  for (const name of figureNames) {
    const values = columns[name]!.values;
    figures[name] = Float64Array.from(bankRows, (r) => values[r]!);
  }
  const lines: EnterpriseCreditLine[] = creditLines(rules, ids, points, figures);
  const bands = rules.bands.map((b, i) => {
    const inBand = lines.filter((l) => l.bandIndex === i);
    return {
      band: b.name,
      minScore: b.minScore ?? null,
      enterprises: inBand.length,
      approved: inBand.filter((l) => l.approved).length,
      totalLine: inBand.reduce((a, l) => a + l.line, 0),
      rateBp: Math.max(0, rules.baseRateBp - b.rateDiscountBp),
    };
  });
  return {
    rulesFile,
    lines,
    bands,
    figures: figureNames,
    currency: rules.currency,
    approved: lines.filter((l) => l.approved).length,
    totalLine: lines.reduce((a, l) => a + l.line, 0),
    scaling: `${scaling.baseScore} at odds ${scaling.baseOdds}:1, ${scaling.pdo} points to double the odds`,
  };
}

/** The line rules, read and validated, with the bank's columns their figures name. */
function readDemoRules(rulesFile: string, bankTable: Table) {
  let text: string;
  try {
    text = readFileSync(rulesFile, 'utf8');
  } catch (e) {
    throw new FedscoreError('io', `cannot read ${rulesFile}: ${(e as Error).message}`, {
      field: '--rules',
      file: rulesFile,
      cause: e,
    });
  }
  const rules = parseCreditRules(text, rulesFile);
  const columns: Record<string, NumericColumn> = {};
  for (const name of ruleFigures(rules)) {
    const col = bankTable.columns.find((c) => c.name === name) as NumericColumn | undefined;
    if (col === undefined || col.kind !== 'numeric') {
      throw new FedscoreError(
        'invalid_config',
        `figure '${name}' is not a numeric column of the bank's table`,
        {
          field: name,
          file: rulesFile,
        },
      );
    }
    columns[name] = col;
  }
  return { rules, rulesFile, columns };
}
