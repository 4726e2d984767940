/**
 * `fedscore report`: a model-validation report as one self-contained HTML file (docs/report.md): ROC and
 * KS curves, score distributions by class, calibration, lift table, population stability, IV table and
 * scorecard; charts by uPlot, inlined; no network access.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FedscoreError, type NumericColumn, type Table } from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
import { parseScorecard, partyScorecard, type Scorecard, scoreToOdds } from '@fedscore/scoring';
import { bool, type Command, num, optStr, str, strs } from '../command.ts';
import { readJsonFile } from '../json-file.ts';
import { headerError } from '../pipeline/load.ts';
import { buildReportData, type ImportanceRow, type ReportInput } from '../report/data.ts';
import { loadReportAssets, renderReportHtml } from '../report/html.ts';
import { parseImportance, parseIvTable } from '../report/inputs.ts';

/** The file line of each row of a table read by `readScoredCsv` (blank lines and quoted breaks counted). */
const fileLines = new WeakMap<Table, Int32Array>();

async function readScoredCsv(
  cwd: string,
  file: string,
  flag: string,
  columns: { label?: string; score: string; scoreFlag: string; numeric: readonly string[] },
  delimiter: string,
  progress: Parameters<Command['run']>[2]['progress'],
): Promise<Table> {
  const roles: Record<string, 'numeric'> = { [columns.score]: 'numeric' };
  for (const c of columns.numeric) roles[c] = 'numeric';
  const fields: Record<string, readonly [string, string]> = {
    [`roles.${columns.score}`]: [columns.score, columns.scoreFlag],
  };
  for (const c of columns.numeric) fields[`roles.${c}`] = [c, flag];
  if (columns.label !== undefined) fields['labelColumn'] = [columns.label, '--label'];
  const read = await readCsvFileDetailed(resolve(cwd, file), {
    file,
    ...(columns.label !== undefined && { labelColumn: columns.label }),
    roles,
    defaultRole: 'ignored',
    impute: { [columns.score]: 'error' },
    duplicateIds: 'report',
    delimiter,
    onProgress: progress,
  }).catch((e: unknown) => {
    throw headerError(e, file, fields);
  });
  if (read.table.nRows === 0) {
    throw new FedscoreError('csv_schema', `no rows in ${file} (the file holds a header only)`, {
      file,
      line: 2,
      field: flag,
    });
  }
  fileLines.set(read.table, read.lines);
  return read.table;
}

function numericOf(table: Table, name: string, file: string): Float64Array {
  const c = table.columns.find((x) => x.name === name) as NumericColumn | undefined;
  if (c === undefined || c.kind !== 'numeric') {
    throw new FedscoreError('internal', `the CSV reader did not return column '${name}'`, { file });
  }
  return c.values;
}

export const command: Command = {
  path: ['report'],
  summary:
    'model report as one self-contained HTML file: ROC, KS, distributions, calibration, lift, PSI, IV, scorecard',
  description: `
Writes one HTML file (--out) that opens offline in any browser: no network access (its
Content-Security-Policy forbids every fetch), charts drawn by uPlot inlined into the file, tables
readable without JavaScript. About 70 KB plus the data.

Inputs (what the other commands write):
  --scores FILE      scored set: CSV with a header, a 0/1 --label column (1 = bad) and a numeric
                     --score column, e.g. 'fedscore score batch --out' joined with the labels.
                     High score = bad (a probability of default); scorecard points, where high
                     means good, need --higher-is-better.
  --baseline FILE    optional: the training (expected) population, scored the same way, for the
                     population stability index of the score (--baseline-score names its score
                     column when it differs) and of any --psi-column present in both files.
  --iv FILE          optional: the JSON of 'fedscore binning --json' (IV per feature, selection).
  --importance FILE  optional, repeatable: a tree model's <party>.importance.json ('fedscore train
                     secureboost --out'): split count and total gain per own feature.
  --scorecard FILE   optional: the JSON of 'fedscore scorecard --out'. Shown as --party sees it
                     (default: the full table, as its base-points holder with every party
                     disclosed); --disclosed-by lists parties that showed --party their points.

Calibration needs a probability of default per row, taken from the first that applies:
--pd COL; the score itself when it is a probability (not --higher-is-better, all in [0, 1]);
the scorecard's scaling, PD = 1 / (1 + exp((score - offset) / factor)), with --scorecard and
--higher-is-better. Otherwise the report says why there is no calibration chart.

Sections: summary (AUC, Gini, KS and its threshold, Brier), ROC curve, KS curve, score
distribution by class, calibration, lift chart and table, population stability, IV table,
scorecard, feature importance.

A tree model: 'fedscore train secureboost --out DIR --scores-out test.csv' writes the held-out
rows (id, label, margin, p_default) and each party's importance.

Examples:
  fedscore report --scores test-scored.csv --label y --score p_default --out report.html
  fedscore report --scores new.csv --baseline train.csv --label y --score points --higher-is-better \\
    --scorecard scorecard.json --iv binning.json --title "SME line model, Q3" --out report.html`,
  options: {
    scores: {
      type: 'string',
      required: true,
      placeholder: 'FILE',
      description: 'scored CSV: a 0/1 label column and a score column',
    },
    label: {
      type: 'string',
      required: true,
      placeholder: 'COL',
      description: 'the 0/1 label column (1 = bad)',
    },
    score: { type: 'string', default: 'score', placeholder: 'COL', description: 'the score column' },
    'higher-is-better': {
      type: 'boolean',
      description: 'high score = good (scorecard points): ranked negated; thresholds stay in file units',
    },
    pd: { type: 'string', placeholder: 'COL', description: 'probability-of-default column for calibration' },
    baseline: {
      type: 'string',
      placeholder: 'FILE',
      description: 'training-population scored CSV (expected) for the stability section',
    },
    'baseline-score': {
      type: 'string',
      placeholder: 'COL',
      description: "the baseline's score column (default: --score)",
    },
    'psi-column': {
      type: 'string',
      multiple: true,
      placeholder: 'COL',
      description: 'further numeric columns of both files to compare by PSI',
    },
    iv: { type: 'string', placeholder: 'FILE', description: "IV table: JSON of 'fedscore binning --json'" },
    importance: {
      type: 'string',
      multiple: true,
      placeholder: 'FILE',
      description: "a tree model's <party>.importance.json (repeat per party)",
    },
    scorecard: {
      type: 'string',
      placeholder: 'FILE',
      description: "scorecard JSON of 'fedscore scorecard --out'",
    },
    party: { type: 'string', placeholder: 'ID', description: 'show the scorecard as this party sees it' },
    'disclosed-by': {
      type: 'string',
      multiple: true,
      placeholder: 'ID',
      description: 'parties that disclosed their points to --party',
    },
    title: { type: 'string', default: 'Credit model report', description: 'report title' },
    bins: { type: 'integer', default: 20, description: 'score-distribution bins' },
    'lift-bins': { type: 'integer', default: 10, description: 'lift-table bins' },
    'psi-bins': { type: 'integer', default: 10, description: 'PSI bins (baseline quantiles)' },
    'calibration-bins': { type: 'integer', default: 10, description: 'calibration bins (PD quantiles)' },
    delimiter: { type: 'string', default: ',', placeholder: 'CHAR', description: 'CSV field separator' },
    out: { type: 'string', required: true, placeholder: 'FILE', description: 'the HTML file to write' },
  },
  async run(options, _positionals, ctx) {
    const scoresFile = str(options, 'scores');
    const label = str(options, 'label');
    const scoreName = str(options, 'score');
    const higherIsBetter = bool(options, 'higher-is-better');
    const pdName = optStr(options, 'pd');
    const psiColumns = strs(options, 'psi-column');
    const delimiter = str(options, 'delimiter');
    if (label === scoreName) {
      throw new FedscoreError('invalid_argument', 'the label and score columns must differ', {
        field: '--score',
      });
    }
    for (const flag of ['bins', 'lift-bins', 'psi-bins', 'calibration-bins']) {
      const v = num(options, flag);
      if (v < 1 || v > 1000) {
        throw new FedscoreError('out_of_range', `--${flag} must be in [1, 1000], got ${v}`, {
          field: `--${flag}`,
        });
      }
    }

    const table = await readScoredCsv(
      ctx.cwd,
      scoresFile,
      '--scores',
      {
        label,
        score: scoreName,
        scoreFlag: '--score',
        numeric: [...(pdName !== undefined ? [pdName] : []), ...psiColumns],
      },
      delimiter,
      ctx.progress,
    );
    const labels = table.label;
    if (labels === undefined) {
      throw new FedscoreError('internal', 'the CSV reader did not return the label column', {
        file: scoresFile,
      });
    }
    const scores = numericOf(table, scoreName, scoresFile);

    let card: Scorecard | undefined;
    const cardFile = optStr(options, 'scorecard');
    if (cardFile !== undefined) {
      let text: string;
      try {
        text = await readFile(resolve(ctx.cwd, cardFile), 'utf8');
      } catch (e) {
        throw new FedscoreError('io', `cannot read ${cardFile}: ${(e as Error).message}`, {
          field: '--scorecard',
          file: cardFile,
          cause: e,
        });
      }
      card = parseScorecard(text, cardFile);
    }

    // Calibration: --pd, else the score when it is a probability, else the scorecard's scaling.
    let pd: ReportInput['pd'];
    let noCalibrationReason: string | undefined;
    if (pdName !== undefined) {
      const values = numericOf(table, pdName, scoresFile);
      const bad = values.findIndex((v) => !(v >= 0 && v <= 1));
      if (bad >= 0) {
        throw new FedscoreError('out_of_range', 'a probability must be in [0, 1]', {
          file: scoresFile,
          line: fileLines.get(table)?.[bad] ?? bad + 2,
          field: pdName,
        });
      }
      pd = { values, source: `column ${pdName}` };
    } else if (!higherIsBetter && scores.every((v) => v >= 0 && v <= 1)) {
      pd = { values: scores, source: `the score ${scoreName}` };
    } else if (card !== undefined && higherIsBetter) {
      pd = {
        values: Float64Array.from(scores, (s) => scoreToOdds(card, s).pd),
        source: `the scorecard's scaling (base ${card.scaling.baseScore} at odds ${card.scaling.baseOdds}, PDO ${card.scaling.pdo})`,
      };
    } else {
      noCalibrationReason =
        'the score is not a probability; give --pd COL, or --scorecard with --higher-is-better';
    }

    let baseline: ReportInput['baseline'];
    const baselineFile = optStr(options, 'baseline');
    if (baselineFile !== undefined) {
      const baselineScore = optStr(options, 'baseline-score') ?? scoreName;
      const bt = await readScoredCsv(
        ctx.cwd,
        baselineFile,
        '--baseline',
        {
          score: baselineScore,
          scoreFlag: optStr(options, 'baseline-score') !== undefined ? '--baseline-score' : '--score',
          numeric: psiColumns,
        },
        delimiter,
        ctx.progress,
      );
      baseline = {
        scores: numericOf(bt, baselineScore, baselineFile),
        columns: Object.fromEntries(
          psiColumns.map((c) => [
            c,
            { expected: numericOf(bt, c, baselineFile), actual: numericOf(table, c, scoresFile) },
          ]),
        ),
      };
    } else if (psiColumns.length > 0) {
      throw new FedscoreError('invalid_argument', '--psi-column needs --baseline', { field: '--psi-column' });
    }

    const ivFile = optStr(options, 'iv');
    const iv =
      ivFile === undefined ? undefined : parseIvTable(await readJsonFile(ctx.cwd, ivFile, '--iv'), ivFile);

    const importanceFiles = strs(options, 'importance');
    const importance: ImportanceRow[] = [];
    for (const f of importanceFiles) {
      importance.push(...parseImportance(await readJsonFile(ctx.cwd, f, '--importance'), f));
    }

    let scorecard: ReportInput['scorecard'];
    if (card !== undefined) {
      const viewer = optStr(options, 'party');
      const view =
        viewer === undefined
          ? partyScorecard(
              card,
              card.basePointsHolder,
              card.features.map((f) => f.party),
            )
          : partyScorecard(card, viewer, strs(options, 'disclosed-by'));
      scorecard = { card, view };
    }

    let data: ReturnType<typeof buildReportData>;
    try {
      data = buildReportData({
        title: str(options, 'title'),
        generatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        sources: {
          scores: scoresFile,
          label,
          score: scoreName,
          baseline: baselineFile,
          iv: ivFile,
          scorecard: cardFile,
          ...(importanceFiles.length > 0 && { importance: importanceFiles }),
        },
        labels,
        scores,
        higherIsBetter,
        pd,
        noCalibrationReason,
        baseline,
        iv,
        ...(importanceFiles.length > 0 && { importance }),
        scorecard,
        histogramBins: num(options, 'bins'),
        liftBins: num(options, 'lift-bins'),
        psiBins: num(options, 'psi-bins'),
        calibrationBins: num(options, 'calibration-bins'),
      });
    } catch (e) {
      if (e instanceof FedscoreError && e.code === 'single_class') {
        throw new FedscoreError('single_class', `column '${label}' holds only one class`, {
          file: scoresFile,
          field: label,
        });
      }
      throw e;
    }
    const html = renderReportHtml(data, loadReportAssets());
    const out = str(options, 'out');
    const outPath = resolve(ctx.cwd, out);
    try {
      await writeFile(outPath, html);
    } catch (e) {
      throw new FedscoreError('io', `cannot write ${out}: ${(e as Error).message}`, {
        field: '--out',
        file: out,
        cause: e,
      });
    }
    const sections = [
      'summary',
      'roc',
      'ks',
      'distribution',
      ...('unavailable' in data.calibration ? [] : ['calibration']),
      'lift',
      ...(data.stability ? ['stability'] : []),
      ...(data.iv ? ['iv'] : []),
      ...(data.importance ? ['importance'] : []),
      ...(data.scorecard ? ['scorecard'] : []),
    ];
    ctx.logger.info('report written', { rows: data.summary.n, bytes: html.length });
    ctx.print(
      `${scoresFile}: ${data.summary.n} rows, AUC ${data.summary.auc.toFixed(4)}, KS ${data.summary.ks.toFixed(4)}, Gini ${data.summary.gini.toFixed(4)}`,
    );
    if (data.stability)
      ctx.print(`score PSI vs ${baselineFile}: ${data.stability.psi.toFixed(4)} (${data.stability.band})`);
    if (noCalibrationReason !== undefined) ctx.print(`no calibration chart: ${noCalibrationReason}`);
    ctx.print(
      `wrote ${out} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB; sections: ${sections.join(', ')})`,
    );
    return {
      out,
      bytes: Buffer.byteLength(html),
      n: data.summary.n,
      positives: data.summary.positives,
      auc: data.summary.auc,
      ks: data.summary.ks,
      gini: data.summary.gini,
      psi: data.stability?.psi ?? null,
      psi_band: data.stability?.band ?? null,
      calibration: 'unavailable' in data.calibration ? null : data.calibration.source,
      sections,
    };
  },
};
