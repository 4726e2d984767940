/**
 * `fedscore score <batch|online|self-estimate>`: the three scoring flows under encryption, both roles in
 * this process over the in-memory channel with the real wire format (docs/protocols/*-scoring.md,
 * docs/protocols/self-estimate.md). Party nodes run the roles apart.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  createInMemoryNetwork,
  FedscoreError,
  featureColumns,
  formatCsvRows,
  type NumericColumn,
  nearestRankPercentile,
  ProtocolSession,
  runParties,
  summarizeBinary,
  type Table,
} from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
import type { LinearCombinationsRequest } from '@fedscore/he';
import type { QueueExecutor } from '@fedscore/queue';
import {
  bandFromThresholdIndex,
  bandThresholds,
  buildSelfEstimateModel,
  type CreditRules,
  decideCredit,
  decisionForBand,
  type LinearScoreModel,
  linearFromScorecard,
  linearScores,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  OnlineScoringBank,
  OnlineScoringGovernment,
  parseCreditRules,
  parseScorecard,
  partialScore,
  runBatchScoring,
  runTreeScoring,
  SCORING_VERSION,
  type Scorecard,
  SELF_ESTIMATE_PROTOCOL,
  SelfEstimateBank,
  SelfEstimateClient,
  type TreeScoringFlow,
  treeScores,
  woeColumns,
} from '@fedscore/scoring';
import {
  type PartyFeatures,
  parseGuestModel,
  parseHostModel,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { bool, type Command, num, optStr, str, strs } from '../command.ts';
import { readJsonFile } from '../json-file.ts';
import { readPartyCsvDetailed } from '../pipeline/load.ts';
import { connectionStringOf } from '../postgres-url.ts';
import { checkStoreOptions, STORE_OPTIONS } from './audit-helpers.ts';
import { runScoreHfl } from './score-hfl.ts';

async function readText(cwd: string, file: string, field: string): Promise<string> {
  try {
    return await readFile(resolve(cwd, file), 'utf8');
  } catch (e) {
    throw new FedscoreError('io', `cannot read ${file}: ${(e as Error).message}`, { field, file, cause: e });
  }
}

async function readScorecard(cwd: string, file: string): Promise<Scorecard> {
  return parseScorecard(await readText(cwd, file, '--scorecard'), file);
}

async function readRules(cwd: string, file: string | undefined): Promise<CreditRules | undefined> {
  return file === undefined ? undefined : parseCreditRules(await readText(cwd, file, '--rules'), file);
}

/** Numeric columns by name plus ids and (optionally) the label of a CSV file. */
async function readTable(cwd: string, file: string, idColumn: string, label?: string) {
  const read = await readCsvFileDetailed(resolve(cwd, file), {
    file,
    idColumn,
    ...(label !== undefined && { labelColumn: label }),
    defaultRole: 'numeric',
  });
  const table = read.table;
  if (table.nRows === 0) {
    throw new FedscoreError('csv_schema', `no rows in ${file} (the file holds a header only)`, {
      file,
      line: 2,
    });
  }
  const columns: Record<string, Float64Array> = {};
  for (const c of table.columns) columns[c.name] = (c as NumericColumn).values;
  return { ids: table.ids, columns, label: table.label, lines: read.lines };
}

/**
 * A library error about row `details.row` of a column of `file` (scoring checks rows, not files): the
 * same error with the file and the row's file line, so that the user can open the cell.
 */
function atFileLine(e: unknown, file: string, lines: Int32Array, columns: readonly string[]): unknown {
  if (!(e instanceof FedscoreError) || e.field === undefined || !columns.includes(e.field)) return e;
  const row = e.details?.['row'];
  if (typeof row !== 'number') return e;
  const message = e.message.replace(/^field '[^']*': /, '');
  return new FedscoreError(e.code, message, {
    file,
    line: lines[row] ?? row + 2,
    field: e.field,
    cause: e,
    ...(e.details !== undefined && { details: e.details }),
  });
}

function rowOf(columns: Record<string, Float64Array>, i: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(columns)) out[k] = v[i]!;
  return out;
}

export const command: Command = {
  path: ['score'],
  summary: 'score under encryption: batch portfolio, online joint score, enterprise self-estimate',
  description: `
Flows (both parties in this process, real wire encoding):

  batch          the data owner's --input columns are encrypted (CKKS, column-packed, its own key)
                 and scored by the model owner's --model (JSON { features, weights, intercept }) or
                 by --scorecard's --party part on WOE columns. --result-to model-owner masks the
                 scores so that the data owner learns nothing (keys ckks-16384-release, inputs
                 within +-8, release flooding sized for the key: sd ~2e-5). Prints the max deviation from the
                 plaintext scores and, with --label, AUC/KS of both. --queue postgres://... puts the
                 model owner's per-block scores on that database's work queue (--queue-name, served
                 by 'fedscore worker' processes with the data owner's public context only); no
                 password in the URL (PGPASSWORD, ~/.pgpass), or --queue-env VAR naming a variable
                 that holds it.
  online         the bank (--bank CSV with its features) and the government (--government CSV)
                 compute the joint --scorecard score of every enterprise in both files, one request
                 each. --mode exact: the bank learns the score (and so the government's part);
                 --mode band: the bank learns the rating band of --rules only. With --rules, each
                 enterprise's band, pre-approved line and rate (figures from the bank's file).
  self-estimate  the enterprise encrypts its figures (--value name=number, repeated, or --input JSON)
                 under its own key; the bank evaluates --scorecard and --rules and returns a result
                 only the enterprise decrypts: band, line, rate (and the score with --reveal-score).

  trees          a SecureBoost model (--guest-model, --host-model from 'train secureboost --out'):
                 the bank (--bank CSV) and the government (--government CSV) score every enterprise
                 in both files. --tree-flow private-path (default, protocol scoring.tree): the bank
                 learns each score and none of the government's split outcomes; plain: it learns
                 them (vfl.secureboost-predict). Scores as P(default) and scorecard points; with
                 --rules, each enterprise's band, pre-approved line and rate. A model of several
                 hosts (up to 3 on the private path): --host-model and --government once per host,
                 in the model's host order (host-1, host-2, ...); enterprises in every file are scored.

  hfl            a registered HFL model (TensorFlow.js LayersModel; --store DIR|URL --ref NAME[@V])
                 scores --input at a party that holds it, in the clear (a bank scoring its own
                 customers with the published federated model): P(default), scorecard points and,
                 with --rules, band, line and rate; --out CSV (id, label, p_default, score, ...)
                 for 'fedscore report --scores FILE --label label --score p_default'.

Examples:
  fedscore score hfl --store ./state/bank-1 --ref sme-hfl@production --input new.csv --label y --out s.csv
  fedscore score batch --model model.json --input portfolio.csv --label y --json
  fedscore score online --scorecard card.json --rules rules.yaml --bank bank.csv --government gov.csv --mode band --out lines.csv
  fedscore score self-estimate --scorecard card.json --rules rules.yaml --value turnover=8000000 --value overdue=0`,
  positionals: [
    { name: 'flow', description: 'batch | online | self-estimate | trees | hfl', required: true },
  ],
  options: {
    model: { type: 'string', placeholder: 'FILE', description: 'batch: linear model JSON' },
    // hfl: the node's store whose model registry holds --ref (a state directory or PostgreSQL).
    ...STORE_OPTIONS,
    ref: { type: 'string', placeholder: 'REF', description: 'hfl: the model, name[@VERSION|@production]' },
    scorecard: {
      type: 'string',
      placeholder: 'FILE',
      description: 'scorecard JSON (fedscore scorecard --out)',
    },
    party: { type: 'string', placeholder: 'ID', description: "batch: score this party's scorecard part" },
    rules: { type: 'string', placeholder: 'FILE', description: 'credit rules (YAML or JSON)' },
    input: { type: 'string', placeholder: 'FILE', description: 'batch: CSV; self-estimate: JSON of figures' },
    label: { type: 'string', placeholder: 'COL', description: 'batch: 0/1 label column for AUC/KS' },
    'result-to': {
      type: 'string',
      default: 'data-owner',
      choices: ['data-owner', 'model-owner'],
      description: 'batch: who learns the scores',
    },
    workers: {
      type: 'integer',
      default: 2,
      description: 'batch: worker threads per party (0 = main thread)',
    },
    queue: {
      type: 'string',
      placeholder: 'URL',
      description:
        "batch: the model owner's per-block scores as tasks on this PostgreSQL work queue (postgres://user@host:port/db, no password: PGPASSWORD, ~/.pgpass or --queue-env)",
    },
    'queue-env': {
      type: 'string',
      placeholder: 'VAR',
      description:
        'batch: the environment variable holding the queue connection string (a password may be in it)',
    },
    'queue-name': {
      type: 'string',
      default: 'he-packed-product',
      placeholder: 'QUEUE',
      description: "batch: the queue 'fedscore worker --name' serves",
    },
    bank: { type: 'string', placeholder: 'FILE', description: "online: the bank's CSV (id + its features)" },
    government: {
      type: 'string',
      multiple: true,
      placeholder: 'FILE',
      description: "online, trees: the government's CSV (trees: once per host, with --host-model)",
    },
    'bank-party': {
      type: 'string',
      default: 'bank',
      description: "online: the bank's party id in the scorecard",
    },
    'government-party': { type: 'string', default: 'gov', description: "online: the government's party id" },
    'id-column': { type: 'string', default: 'id', description: 'id column of the CSV files' },
    mode: {
      type: 'string',
      default: 'exact',
      choices: ['exact', 'band'],
      description: 'online: what the bank learns',
    },
    value: {
      type: 'string',
      multiple: true,
      placeholder: 'NAME=NUMBER',
      description: 'self-estimate: a figure',
    },
    'reveal-score': { type: 'boolean', description: 'self-estimate: the result carries the score' },
    out: { type: 'string', placeholder: 'FILE', description: 'write per-row results as CSV' },
    'guest-model': {
      type: 'string',
      placeholder: 'FILE',
      description:
        "trees: the bank's SecureBoost model (<guest>.secureboost.json of train secureboost --out)",
    },
    'host-model': {
      type: 'string',
      multiple: true,
      placeholder: 'FILE',
      description:
        "trees: the government's SecureBoost model (<host>.secureboost.json; once per host, in the model's order)",
    },
    'tree-flow': {
      type: 'string',
      default: 'private-path',
      choices: ['private-path', 'plain'],
      description:
        "trees: private-path (the bank learns the score only) or plain (it learns the government's split outcomes)",
    },
  },
  check(o) {
    connectionStringOf(o, 'queue', process.env, false);
    if (o['store'] !== undefined || o['store-env'] !== undefined || o['store-schema'] !== undefined)
      checkStoreOptions(o);
  },
  async run(options, positionals, ctx) {
    const flow = positionals[0];
    if (flow === 'batch') return runBatch(options, ctx);
    if (flow === 'online') return runOnline(options, ctx);
    if (flow === 'self-estimate') return runSelfEstimate(options, ctx);
    if (flow === 'trees') return runTrees(options, ctx);
    if (flow === 'hfl') return runScoreHfl(options, ctx);
    throw new FedscoreError(
      'invalid_argument',
      `unknown flow '${flow}'; expected batch, online, self-estimate, trees or hfl`,
      {
        field: 'flow',
      },
    );
  },
};

type Ctx = Parameters<Command['run']>[2];
type Opts = Parameters<Command['run']>[0];

async function runBatch(options: Opts, ctx: Ctx): Promise<Record<string, unknown>> {
  const input = optStr(options, 'input');
  if (input === undefined)
    throw new FedscoreError('invalid_argument', 'batch needs --input', { field: '--input' });
  const label = optStr(options, 'label');
  const data = await readTable(ctx.cwd, input, str(options, 'id-column'), label);
  let model: LinearScoreModel;
  let columns: Float64Array[];
  const modelFile = optStr(options, 'model');
  const cardFile = optStr(options, 'scorecard');
  if (modelFile !== undefined) {
    model = (await readJsonFile(ctx.cwd, modelFile, '--model')) as LinearScoreModel;
    columns = (model.features ?? []).map((f) => {
      const c = data.columns[f];
      if (c === undefined)
        throw new FedscoreError('not_found', `no column '${f}'`, { field: f, file: input });
      return c;
    });
  } else if (cardFile !== undefined) {
    const party = optStr(options, 'party');
    if (party === undefined)
      throw new FedscoreError('invalid_argument', '--scorecard needs --party', { field: '--party' });
    const card = await readScorecard(ctx.cwd, cardFile);
    model = linearFromScorecard(card, party);
    columns = woeColumns(card, party, data.columns);
  } else {
    throw new FedscoreError('invalid_argument', 'batch needs --model or --scorecard', { field: '--model' });
  }
  const names = model.features ?? [];
  // As `fedscore worker`: --queue without a password, or --queue-env (src/postgres-url.ts; checked in `check`).
  const queueUrl = connectionStringOf(options, 'queue', process.env, false);
  // Loaded only with --queue: every other run would pay for pg and pg-boss otherwise.
  let executor: QueueExecutor<LinearCombinationsRequest, Uint8Array[]> | undefined;
  if (queueUrl !== undefined) {
    const { HE_TASK_SHARED_FIELDS, QueueExecutor } = await import('@fedscore/queue');
    executor = await QueueExecutor.create<LinearCombinationsRequest, Uint8Array[]>({
      connectionString: queueUrl,
      queue: str(options, 'queue-name'),
      sharedFields: HE_TASK_SHARED_FIELDS,
    });
  }
  let reference: Float64Array;
  let r: Awaited<ReturnType<typeof runBatchScoring>>;
  try {
    reference = linearScores(model, columns);
    r = await runBatchScoring({
      model,
      columns,
      resultTo: str(options, 'result-to') as 'data-owner' | 'model-owner',
      poolSize: num(options, 'workers'),
      // Both roles run here, so the scores' bound is known: the blocks go at the lowest level that holds
      // it (2/3 of the bytes at ckks-8192; docs/protocols/batch-scoring.md, "Levels").
      inputLevel: 'lowest',
      logger: ctx.logger,
      progress: ctx.progress,
      ...(executor !== undefined && {
        offload: { executor, taskIdPrefix: `score-batch.${Date.now().toString(36)}` },
      }),
    });
  } catch (e) {
    throw atFileLine(e, input, data.lines, names);
  } finally {
    await executor?.close();
  }
  let maxAbs = 0;
  for (let i = 0; i < reference.length; i++)
    maxAbs = Math.max(maxAbs, Math.abs(r.scores[i]! - reference[i]!));
  const out = optStr(options, 'out');
  if (out !== undefined) {
    await writeFile(
      resolve(ctx.cwd, out),
      [
        ...formatCsvRows(
          ['id', 'score'],
          data.ids.map((id, i) => [id, r.scores[i]!]),
        ),
      ].join(''),
    );
  }
  const quality =
    data.label !== undefined
      ? (() => {
          const enc = summarizeBinary(data.label, r.scores);
          const plain = summarizeBinary(data.label, reference);
          return { aucEncrypted: enc.auc, aucPlain: plain.auc, ksEncrypted: enc.ks, ksPlain: plain.ks };
        })()
      : {};
  ctx.print(
    `scored ${reference.length} records x ${columns.length} features in ${r.runSeconds.toFixed(3)} s`,
  );
  ctx.print(`max |encrypted - plaintext| = ${maxAbs.toExponential(2)}`);
  return {
    flow: 'batch',
    records: reference.length,
    features: columns.length,
    resultTo: str(options, 'result-to'),
    seconds: r.runSeconds,
    setupSeconds: r.setupSeconds,
    maxAbsError: maxAbs,
    bytesToModelOwner: r.bytesToModelOwner,
    bytesToDataOwner: r.bytesToDataOwner,
    ...quality,
    ...(out !== undefined && { out }),
  };
}

async function runOnline(options: Opts, ctx: Ctx): Promise<Record<string, unknown>> {
  const cardFile = optStr(options, 'scorecard');
  const bankFile = optStr(options, 'bank');
  const govFiles = strs(options, 'government');
  if (govFiles.length > 1) {
    throw new FedscoreError('invalid_argument', 'online takes one --government', { field: '--government' });
  }
  const govFile = govFiles[0];
  if (cardFile === undefined)
    throw new FedscoreError('invalid_argument', 'online needs --scorecard', { field: '--scorecard' });
  if (bankFile === undefined)
    throw new FedscoreError('invalid_argument', 'online needs --bank', { field: '--bank' });
  if (govFile === undefined)
    throw new FedscoreError('invalid_argument', 'online needs --government', { field: '--government' });
  const card = await readScorecard(ctx.cwd, cardFile);
  const rules = await readRules(ctx.cwd, optStr(options, 'rules'));
  const mode = str(options, 'mode') as 'exact' | 'band';
  if (mode === 'band' && rules === undefined) {
    throw new FedscoreError('invalid_argument', 'band mode needs --rules (the band thresholds)', {
      field: '--rules',
    });
  }
  const bankParty = str(options, 'bank-party');
  const govParty = str(options, 'government-party');
  const idColumn = str(options, 'id-column');
  const bank = await readTable(ctx.cwd, bankFile, idColumn);
  const gov = await readTable(ctx.cwd, govFile, idColumn);
  const govRow = new Map(gov.ids.map((id, i) => [id, i]));
  const thresholds = rules ? bandThresholds(rules) : [];
  const bankRole = await OnlineScoringBank.create({ mode, thresholds, logger: ctx.logger });
  const govRole = new OnlineScoringGovernment({
    logger: ctx.logger,
    // The operator holds both parties' files here (a local run of the protocol), so the government's
    // policy is its choice: the mode asked for, and the band count of the rules given.
    policy: { allowExactMode: mode === 'exact', maxThresholds: Math.max(1, thresholds.length) },
    partialScoreOf: (id) => {
      const i = govRow.get(id);
      return i === undefined ? undefined : partialScore(card, govParty, rowOf(gov.columns, i));
    },
  });
  const network = createInMemoryNetwork(['bank', 'government'], envelopeCodec);
  const spec = { protocol: ONLINE_SCORING_PROTOCOL, version: ONLINE_SCORING_VERSION, session: 'cli' };
  const latencies: number[] = [];
  const rows: (string | number)[][] = [];
  let notFound = 0;
  let lineTotal = 0;
  try {
    await runParties(network, {
      government: () => govRole.serve(new ProtocolSession(network.channel('government'), spec), 'bank'),
      bank: async () => {
        await bankRole.open(new ProtocolSession(network.channel('bank'), spec), 'government', cardFile);
        for (let i = 0; i < bank.ids.length; i++) {
          const id = bank.ids[i]!;
          const values = rowOf(bank.columns, i);
          const t0 = performance.now();
          const r = await bankRole.score(id, partialScore(card, bankParty, values));
          latencies.push(performance.now() - t0);
          ctx.progress({ stage: 'online', done: i + 1, total: bank.ids.length, unit: 'requests' });
          if (!r.found) {
            notFound++;
            continue;
          }
          if (rules === undefined) {
            rows.push([id, r.score!]);
            continue;
          }
          const d =
            mode === 'exact'
              ? decideCredit(rules, r.score!, values)
              : decisionForBand(
                  rules,
                  bandFromThresholdIndex(rules.bands.length, thresholds.length, r.thresholdIndex!),
                  values,
                );
          lineTotal += d.line;
          rows.push([id, mode === 'exact' ? r.score! : '', d.band ?? '', d.line, d.rateBp]);
        }
        await bankRole.close();
      },
    });
  } finally {
    bankRole.dispose();
    govRole.dispose();
  }
  const out = optStr(options, 'out');
  if (out !== undefined) {
    const header = rules === undefined ? ['id', 'score'] : ['id', 'score', 'band', 'line', 'rate_bp'];
    await writeFile(resolve(ctx.cwd, out), [...formatCsvRows(header, rows)].join(''));
  }
  const p50 = latencies.length ? nearestRankPercentile(latencies, 50) : 0;
  const p99 = latencies.length ? nearestRankPercentile(latencies, 99) : 0;
  ctx.print(
    `${rows.length} scored, ${notFound} unknown to the government; p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
  );
  if (rules) ctx.print(`total pre-approved lines: ${lineTotal} ${rules.currency}`);
  return {
    flow: 'online',
    mode,
    scored: rows.length,
    notFound,
    p50Ms: p50,
    p99Ms: p99,
    ...(rules !== undefined && { totalLine: lineTotal, currency: rules.currency }),
    ...(out !== undefined ? { out } : { results: rows.slice(0, 1000) }),
  };
}

async function runSelfEstimate(options: Opts, ctx: Ctx): Promise<Record<string, unknown>> {
  const cardFile = optStr(options, 'scorecard');
  const rules = await readRules(ctx.cwd, optStr(options, 'rules'));
  if (cardFile === undefined)
    throw new FedscoreError('invalid_argument', 'self-estimate needs --scorecard', { field: '--scorecard' });
  if (rules === undefined)
    throw new FedscoreError('invalid_argument', 'self-estimate needs --rules', { field: '--rules' });
  const card = await readScorecard(ctx.cwd, cardFile);
  const inputs: Record<string, number> = {};
  const input = optStr(options, 'input');
  if (input !== undefined) {
    const o = (await readJsonFile(ctx.cwd, input, '--input')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(o ?? {})) {
      if (v !== null && typeof v !== 'number') {
        throw new FedscoreError('invalid_argument', 'expected a number or null', { field: k, file: input });
      }
      inputs[k] = v === null ? Number.NaN : v;
    }
  }
  for (const kv of strs(options, 'value')) {
    const eq = kv.indexOf('=');
    const name = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    const v = value === '' || value === 'NA' ? Number.NaN : Number(value);
    if (
      eq <= 0 ||
      (!Number.isFinite(v) && !Number.isNaN(v)) ||
      (Number.isNaN(v) && value !== '' && value !== 'NA')
    ) {
      throw new FedscoreError('invalid_argument', `expected NAME=NUMBER, got '${kv}'`, { field: '--value' });
    }
    inputs[name] = v;
  }
  const model = buildSelfEstimateModel(card, rules, {
    product: cardFile,
    revealScore: bool(options, 'reveal-score'),
  });
  const network = createInMemoryNetwork(['bank', 'enterprise'], envelopeCodec);
  const spec = { protocol: SELF_ESTIMATE_PROTOCOL, version: SCORING_VERSION, session: 'cli' };
  const t0 = performance.now();
  const out = await runParties(network, {
    bank: () =>
      new SelfEstimateBank({ model, logger: ctx.logger }).serve(
        new ProtocolSession(network.channel('bank'), spec),
        'enterprise',
      ),
    enterprise: () =>
      new SelfEstimateClient({ logger: ctx.logger }).estimate(
        new ProtocolSession(network.channel('enterprise'), spec),
        'bank',
        inputs,
      ),
  });
  const seconds = (performance.now() - t0) / 1000;
  const e = out.enterprise;
  const stats = network.channel('enterprise').stats();
  ctx.print(
    e.band === null
      ? 'no band: below every band of the product'
      : `band ${e.band}: pre-approved line ${e.line} ${rules.currency}${e.rateBp !== null ? ` at ${e.rateBp} bp` : ''}${e.score !== undefined ? `, score ${e.score.toFixed(2)}` : ''}`,
  );
  return {
    flow: 'self-estimate',
    ...e,
    seconds,
    bytesSent: stats.bytesSent['bank'] ?? 0,
    bytesReceived: stats.bytesReceived['bank'] ?? 0,
  };
}

/**
 * The model's feature columns of `table` (as training built them: numeric as is, a categorical
 * column one-hot as `<column>=<category>`; a category the model knows and this file lacks is all 0).
 */
function treeFeatures(
  table: Table,
  rows: readonly number[],
  names: readonly string[],
  file: string,
): PartyFeatures {
  const all = featureColumns(table, rows);
  const byName = new Map(all.names.map((n, j) => [n, all.columns[j]!]));
  const categorical = new Set(table.columns.filter((c) => c.kind === 'categorical').map((c) => c.name));
  const columns = names.map((name) => {
    const c = byName.get(name);
    if (c !== undefined) return c;
    const eq = name.indexOf('=');
    if (eq > 0 && categorical.has(name.slice(0, eq))) return new Float64Array(rows.length);
    throw new FedscoreError('not_found', `the model's feature '${name}' is not a column of ${file}`, {
      field: name,
      file,
    });
  });
  return { names: [...names], columns };
}

/**
 * The host model files belong to the guest's model, one per host in its `hosts` order: the same model
 * id, and every split id the guest's trees name for host k is one of the k-th file's splits (so two
 * files given in the wrong order are named, not scored wrongly).
 */
function checkTreeHosts(guest: SecureBoostGuestModel, hosts: readonly SecureBoostHostModel[]): void {
  if (hosts.length !== guest.hosts.length) {
    throw new FedscoreError(
      'invalid_argument',
      `the model has ${guest.hosts.length} host(s) (${guest.hosts.join(', ')}): give one --host-model each`,
      { field: '--host-model' },
    );
  }
  hosts.forEach((h, k) => {
    if (h.modelId !== guest.modelId) {
      throw new FedscoreError('invalid_argument', `--host-model ${k + 1} is of another model`, {
        field: '--host-model',
      });
    }
    const own = new Set(h.splits.map((x) => x.splitId));
    for (const tree of guest.trees) {
      for (const n of tree) {
        if (n.kind === 'host-split' && n.host === k && !own.has(n.splitId)) {
          throw new FedscoreError(
            'invalid_argument',
            `--host-model ${k + 1} is not the model's host ${k + 1} (${guest.hosts[k]}): it lacks split ${n.splitId}`,
            { field: '--host-model' },
          );
        }
      }
    }
  });
}

async function runTrees(options: Opts, ctx: Ctx): Promise<Record<string, unknown>> {
  const need = (flag: string): string => {
    const v = optStr(options, flag);
    if (v === undefined)
      throw new FedscoreError('invalid_argument', `trees needs --${flag}`, { field: `--${flag}` });
    return v;
  };
  const guestFile = need('guest-model');
  const hostFiles = strs(options, 'host-model');
  if (hostFiles.length === 0) {
    throw new FedscoreError('invalid_argument', 'trees needs --host-model', { field: '--host-model' });
  }
  const bankFile = need('bank');
  const govFiles = strs(options, 'government');
  if (govFiles.length !== hostFiles.length) {
    throw new FedscoreError(
      'invalid_argument',
      `one --government CSV per --host-model (${hostFiles.length}), in the same order; got ${govFiles.length}`,
      { field: '--government' },
    );
  }
  const guestModel = parseGuestModel(await readText(ctx.cwd, guestFile, '--guest-model'));
  const hostModels: SecureBoostHostModel[] = [];
  for (const f of hostFiles) hostModels.push(parseHostModel(await readText(ctx.cwd, f, '--host-model')));
  checkTreeHosts(guestModel, hostModels);
  const rules = await readRules(ctx.cwd, optStr(options, 'rules'));
  const flow = str(options, 'tree-flow') as TreeScoringFlow;
  const idColumn = str(options, 'id-column');
  const bank = (await readPartyCsvDetailed(ctx, bankFile, idColumn, undefined, 'keep')).table;
  const govs: Table[] = [];
  for (const f of govFiles)
    govs.push((await readPartyCsvDetailed(ctx, f, idColumn, undefined, 'keep')).table);
  // The operator holds every file here (a local run), so the enterprises all of them hold are matched by id.
  const govRowMaps = govs.map((gov) => new Map(gov.ids.map((id, i) => [id, i])));
  const bankRows: number[] = [];
  const govRows: number[][] = govs.map(() => []);
  bank.ids.forEach((id, i) => {
    const js = govRowMaps.map((m) => m.get(id));
    if (js.some((j) => j === undefined)) return;
    bankRows.push(i);
    js.forEach((j, k) => {
      govRows[k]!.push(j!);
    });
  });
  if (bankRows.length === 0) {
    throw new FedscoreError('invalid_argument', 'the files share no enterprise id', {
      field: '--id-column',
    });
  }
  const t0 = performance.now();
  const r = await runTreeScoring({
    flow,
    guest: {
      model: guestModel,
      ...(guestModel.features.length > 0 && {
        features: treeFeatures(bank, bankRows, guestModel.features, bankFile),
      }),
    },
    hosts: hostModels.map((model, k) => ({
      model,
      features: treeFeatures(govs[k]!, govRows[k]!, model.features, govFiles[k]!),
    })),
    logger: ctx.logger,
  });
  const seconds = (performance.now() - t0) / 1000;
  const ids = bankRows.map((i) => bank.ids[i]!);
  const figures: Record<string, Float64Array> = {};
  for (const c of bank.columns) {
    if (c.kind === 'numeric') figures[c.name] = Float64Array.from(bankRows, (i) => c.values[i]!);
  }
  const out = treeScores(r.margins, { ids, ...(rules !== undefined && { rules, figures }) });
  const rows: (string | number)[][] = ids.map((id, k) => {
    const l = out.lines?.[k];
    return l === undefined
      ? [id, out.pd[k]!, out.scores[k]!]
      : [id, out.pd[k]!, out.scores[k]!, l.band ?? '', l.line, l.rateBp];
  });
  const outFile = optStr(options, 'out');
  if (outFile !== undefined) {
    const header =
      rules === undefined
        ? ['id', 'p_default', 'score']
        : ['id', 'p_default', 'score', 'band', 'line', 'rate_bp'];
    await writeFile(resolve(ctx.cwd, outFile), [...formatCsvRows(header, rows)].join(''));
  }
  const lineTotal = out.lines?.reduce((a, l) => a + l.line, 0);
  ctx.print(
    `${ids.length} scored (${flow}), ${bank.ids.length - ids.length} unknown to ${govs.length > 1 ? 'a host' : 'the government'}; ${seconds.toFixed(1)} s; ${r.bytesToHost + r.bytesToGuest} bytes`,
  );
  if (rules !== undefined) ctx.print(`total pre-approved lines: ${lineTotal} ${rules.currency}`);
  return {
    flow: 'trees',
    treeFlow: flow,
    scored: ids.length,
    notFound: bank.ids.length - ids.length,
    seconds,
    bytesToGovernment: r.bytesToHost,
    bytesToBank: r.bytesToGuest,
    ...(rules !== undefined && { totalLine: lineTotal, currency: rules.currency }),
    ...(outFile !== undefined ? { out: outFile } : { results: rows.slice(0, 1000) }),
  };
}
