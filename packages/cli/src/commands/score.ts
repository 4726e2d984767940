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
  formatCsvRows,
  type NumericColumn,
  nearestRankPercentile,
  ProtocolSession,
  runParties,
  summarizeBinary,
} from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
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
  SCORING_VERSION,
  type Scorecard,
  SELF_ESTIMATE_PROTOCOL,
  SelfEstimateBank,
  SelfEstimateClient,
  woeColumns,
} from '@fedscore/scoring';
import { envelopeCodec } from '@fedscore/wire';
import { bool, type Command, num, optStr, str, strs } from '../command.ts';
import { readJsonFile } from '../json-file.ts';

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
                 plaintext scores and, with --label, AUC/KS of both.
  online         the bank (--bank CSV with its features) and the government (--government CSV)
                 compute the joint --scorecard score of every enterprise in both files, one request
                 each. --mode exact: the bank learns the score (and so the government's part);
                 --mode band: the bank learns the rating band of --rules only. With --rules, each
                 enterprise's band, pre-approved line and rate (figures from the bank's file).
  self-estimate  the enterprise encrypts its figures (--value name=number, repeated, or --input JSON)
                 under its own key; the bank evaluates --scorecard and --rules and returns a result
                 only the enterprise decrypts: band, line, rate (and the score with --reveal-score).

Examples:
  fedscore score batch --model model.json --input portfolio.csv --label y --json
  fedscore score online --scorecard card.json --rules rules.yaml --bank bank.csv --government gov.csv --mode band --out lines.csv
  fedscore score self-estimate --scorecard card.json --rules rules.yaml --value turnover=8000000 --value overdue=0`,
  positionals: [{ name: 'flow', description: 'batch | online | self-estimate', required: true }],
  options: {
    model: { type: 'string', placeholder: 'FILE', description: 'batch: linear model JSON' },
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
    bank: { type: 'string', placeholder: 'FILE', description: "online: the bank's CSV (id + its features)" },
    government: { type: 'string', placeholder: 'FILE', description: "online: the government's CSV" },
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
  },
  async run(options, positionals, ctx) {
    const flow = positionals[0];
    if (flow === 'batch') return runBatch(options, ctx);
    if (flow === 'online') return runOnline(options, ctx);
    if (flow === 'self-estimate') return runSelfEstimate(options, ctx);
    throw new FedscoreError(
      'invalid_argument',
      `unknown flow '${flow}'; expected batch, online or self-estimate`,
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
  let reference: Float64Array;
  let r: Awaited<ReturnType<typeof runBatchScoring>>;
  try {
    reference = linearScores(model, columns);
    r = await runBatchScoring({
      model,
      columns,
      resultTo: str(options, 'result-to') as 'data-owner' | 'model-owner',
      poolSize: num(options, 'workers'),
      logger: ctx.logger,
      progress: ctx.progress,
    });
  } catch (e) {
    throw atFileLine(e, input, data.lines, names);
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
  const govFile = optStr(options, 'government');
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
