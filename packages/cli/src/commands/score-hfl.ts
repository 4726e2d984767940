/**
 * `fedscore score hfl`: a registered HFL model (the TensorFlow.js LayersModel of an `hfl` job's publish
 * or of `fedscore models register --tfjs`) scores the rows of a CSV at a party that holds it. Every bank
 * of an HFL job holds the published model and scores its own customers' rows, so nothing here is
 * encrypted: no other party's data is involved (the vertical flows of `score batch|online|trees` are the
 * encrypted ones). The model is read from the node store's model registry (`--store` or `--store-env`,
 * `--ref`) and runs through the scoring package (`scoreWithProbabilityModel`: probability of default →
 * scorecard points → with `--rules`, band, line and rate). `--out` writes `id[,label],p_default,score[,band,approved,line,
 * rate_bp]`, which `fedscore report --scores FILE --label label --score p_default` reads.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FedscoreError, formatCsvRows, summarizeBinary } from '@fedscore/core';
import { initTfjsBackend } from '@fedscore/hfl';
import { ModelRegistry } from '@fedscore/node';
import { hflProbabilityModel } from '@fedscore/pipeline';
import { parseCreditRules, scoreWithProbabilityModel } from '@fedscore/scoring';
import { type Command, optStr, str } from '../command.ts';
import { readPartyCsv } from '../pipeline/load.ts';
import { openStore } from './audit-helpers.ts';

type Ctx = Parameters<Command['run']>[2];
type Opts = Parameters<Command['run']>[0];

/** The registered model's artifact text (`{ modelJson, weightsBase64 }`) and its reference. */
function registeredArtifact(ctx: Ctx, options: Opts, ref: string): { ref: string; artifact: string } {
  const store = openStore(ctx.cwd, options, false);
  try {
    const registry = new ModelRegistry(store);
    const model = registry.get(ref);
    if (model.parameters['format'] !== 'tfjs-layers-model') {
      throw new FedscoreError(
        'invalid_argument',
        `${model.ref} is not an HFL model (format ${String(model.parameters['format'] ?? 'none')}, expected tfjs-layers-model)`,
        { field: '--ref' },
      );
    }
    const { artifact } = registry.artifacts(model.ref);
    if (artifact === undefined) {
      throw new FedscoreError('not_found', `${model.ref} holds no model artifact in this store`, {
        field: '--ref',
      });
    }
    return { ref: model.ref, artifact };
  } finally {
    store.close();
  }
}

async function readRulesFile(cwd: string, file: string) {
  let text: string;
  try {
    text = await readFile(resolve(cwd, file), 'utf8');
  } catch (e) {
    throw new FedscoreError('io', 'cannot read the rules file', { file, field: '--rules', cause: e });
  }
  return parseCreditRules(text, file);
}

export async function runScoreHfl(options: Opts, ctx: Ctx): Promise<Record<string, unknown>> {
  const store = optStr(options, 'store') ?? optStr(options, 'store-env');
  const ref = optStr(options, 'ref');
  const input = optStr(options, 'input');
  for (const [v, flag] of [
    [store, '--store'],
    [ref, '--ref'],
    [input, '--input'],
  ] as const) {
    if (v === undefined) throw new FedscoreError('invalid_argument', `hfl needs ${flag}`, { field: flag });
  }
  const registered = registeredArtifact(ctx, options, ref!);
  const backend = await initTfjsBackend();
  const model = await hflProbabilityModel(registered.artifact);
  const label = optStr(options, 'label');
  const table = await readPartyCsv(ctx, input!, str(options, 'id-column'), label, 'error');
  const rulesFile = optStr(options, 'rules');
  const rules = rulesFile === undefined ? undefined : await readRulesFile(ctx.cwd, rulesFile);
  let scored: Awaited<ReturnType<typeof scoreWithProbabilityModel>>;
  try {
    scored = await scoreWithProbabilityModel(model, table, rules === undefined ? {} : { rules });
  } catch (e) {
    if (e instanceof FedscoreError && e.code === 'csv_schema') {
      throw new FedscoreError('csv_schema', `the file lacks columns of ${registered.ref}`, {
        file: input!,
        field: '--input',
        cause: e,
        details: { features: model.features.join(',') },
      });
    }
    throw e;
  }
  const out = optStr(options, 'out');
  if (out !== undefined) {
    const y = table.label;
    const header = [
      'id',
      ...(y !== undefined ? ['label'] : []),
      'p_default',
      'score',
      ...(scored.lines !== undefined ? ['band', 'approved', 'line', 'rate_bp'] : []),
    ];
    const rows = table.ids.map((id, i) => {
      const l = scored.lines?.[i];
      return [
        id,
        ...(y !== undefined ? [y[i]!] : []),
        scored.pd[i]!,
        scored.scores[i]!,
        ...(l !== undefined ? [l.band ?? '', String(l.approved), l.line, l.rateBp] : []),
      ];
    });
    try {
      await writeFile(resolve(ctx.cwd, out), [...formatCsvRows(header, rows)].join(''));
    } catch (e) {
      throw new FedscoreError('io', 'cannot write the scores file', { file: out, field: '--out', cause: e });
    }
  }
  const quality = table.label === undefined ? null : summarizeBinary(table.label, scored.pd);
  ctx.print(`scored ${table.nRows} rows with ${registered.ref} (TensorFlow.js backend ${backend})`);
  if (quality !== null) ctx.print(`  AUC ${quality.auc.toFixed(4)}  KS ${quality.ks.toFixed(4)}`);
  return {
    flow: 'hfl',
    model: registered.ref,
    backend,
    rows: table.nRows,
    ...(quality !== null && { auc: quality.auc, ks: quality.ks }),
    ...(scored.lines !== undefined && { approved: scored.lines.filter((l) => l.approved).length }),
    out: out === undefined ? null : resolve(ctx.cwd, out),
  };
}
