/**
 * `fedscore evaluate`: AUC, KS, Gini, Brier score and a lift table for one score column against a 0/1
 * label column of a CSV file. Higher score = more likely label 1 (e.g. a probability of default); pass
 * `--higher-is-better` for a credit score where high means good.
 */
import { resolve } from 'node:path';
import { FedscoreError, liftTable, type NumericColumn, summarizeBinary } from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
import { type Command, num, optStr, str } from '../command.ts';
import { headerError } from '../pipeline/load.ts';

export const command: Command = {
  path: ['evaluate'],
  summary: 'AUC, KS, Gini, Brier and a lift table of a score column against a 0/1 label column',
  description: `
Reads a CSV file with a header, a 0/1 label column and a numeric score column, and prints
n, positives, AUC (ties count one half), KS (max TPR - FPR over the distinct scores) and the
score threshold reaching it, Gini = 2 AUC - 1, the Brier score (null unless every score is in
[0, 1]), and a lift/gain table by score bin, highest scores first (equal scores never split).

Higher score = more likely label 1. A score where high means good (e.g. scorecard points)
needs --higher-is-better, which negates it first.

Errors name the file, line and column: a missing file or column, a non-numeric or missing
score, a label other than 0/1 (true/false and yes/no are read as 1/0).

Example:
  fedscore evaluate --input scores.csv --label y --score p_default --json`,
  options: {
    input: { type: 'string', required: true, placeholder: 'FILE', description: 'CSV file with a header' },
    label: { type: 'string', required: true, placeholder: 'COL', description: 'the 0/1 label column' },
    score: { type: 'string', required: true, placeholder: 'COL', description: 'the score column' },
    bins: { type: 'integer', default: 10, description: 'bins of the lift table' },
    'higher-is-better': {
      type: 'boolean',
      description: 'the score is high for label 0 (e.g. scorecard points): negate it before evaluating',
    },
    delimiter: { type: 'string', default: ',', placeholder: 'CHAR', description: 'field separator' },
  },
  async run(options, _positionals, ctx) {
    const file = str(options, 'input');
    const labelName = str(options, 'label');
    const scoreName = str(options, 'score');
    const bins = num(options, 'bins');
    if (bins < 1) {
      throw new FedscoreError('out_of_range', `--bins must be at least 1, got ${bins}`, { field: '--bins' });
    }
    if (labelName === scoreName) {
      throw new FedscoreError('invalid_argument', 'the label and score columns must differ', {
        field: '--score',
      });
    }
    const path = resolve(ctx.cwd, file);
    const read = await readCsvFileDetailed(path, {
      file,
      labelColumn: labelName,
      roles: { [scoreName]: 'numeric' },
      defaultRole: 'ignored',
      // a non-numeric score is a csv_schema error and a missing one a missing_value error, both naming
      // the file, line and column
      impute: { [scoreName]: 'error' },
      duplicateIds: 'report',
      delimiter: optStr(options, 'delimiter') ?? ',',
      onProgress: ctx.progress,
    }).catch((e: unknown) => {
      throw headerError(e, file, {
        labelColumn: [labelName, '--label'],
        [`roles.${scoreName}`]: [scoreName, '--score'],
      });
    });
    const table = read.table;
    const label = table.label;
    const scoreCol = table.columns.find((c) => c.name === scoreName) as NumericColumn | undefined;
    if (label === undefined || scoreCol === undefined || scoreCol.kind !== 'numeric') {
      throw new FedscoreError('internal', 'the CSV reader did not return the label and score columns', {
        file,
      });
    }
    if (table.nRows === 0) {
      throw new FedscoreError('csv_schema', `no rows in ${file} (the file holds a header only)`, {
        file,
        line: 2,
      });
    }
    let scores = scoreCol.values;
    if (options['higher-is-better'] === true) scores = scores.map((v) => -v);
    let summary: ReturnType<typeof summarizeBinary>;
    let lift: ReturnType<typeof liftTable>;
    try {
      summary = summarizeBinary(label, scores);
      lift = liftTable(label, scores, bins);
    } catch (e) {
      if (e instanceof FedscoreError && e.code === 'single_class') {
        throw new FedscoreError('single_class', `column '${labelName}' holds only one class`, {
          file,
          field: labelName,
        });
      }
      throw e;
    }
    ctx.logger.info('evaluated', { rows: summary.n });

    const fmt = (v: number, d = 4): string => v.toFixed(d);
    ctx.print(`${file}: ${summary.n} rows, ${summary.positives} with ${labelName} = 1`);
    ctx.print('');
    ctx.print(`  AUC    ${fmt(summary.auc)}`);
    ctx.print(
      `  KS     ${fmt(summary.ks)}  at ${scoreName} ${options['higher-is-better'] === true ? '<=' : '>='} ${formatThreshold(summary.ksThreshold, options['higher-is-better'] === true)}`,
    );
    ctx.print(`  Gini   ${fmt(summary.gini)}`);
    ctx.print(
      `  Brier  ${summary.brier === null ? '-  (scores are not probabilities)' : fmt(summary.brier)}`,
    );
    ctx.print('');
    const header = [
      'bin',
      'min score',
      'max score',
      'count',
      'positives',
      'rate',
      'capture',
      'lift',
      'cum lift',
    ];
    const rows = lift.map((r) => {
      const lo = options['higher-is-better'] === true ? -r.maxScore : r.minScore;
      const hi = options['higher-is-better'] === true ? -r.minScore : r.maxScore;
      return [
        String(r.bin),
        formatNumber(lo),
        formatNumber(hi),
        String(r.count),
        String(r.positives),
        fmt(r.rate),
        fmt(r.capture),
        fmt(r.lift, 2),
        fmt(r.cumulativeLift, 2),
      ];
    });
    for (const line of renderTable(header, rows)) ctx.print(line);

    const sign = options['higher-is-better'] === true ? -1 : 1;
    return {
      file,
      label: labelName,
      score: scoreName,
      higher_is_better: options['higher-is-better'] === true,
      n: summary.n,
      positives: summary.positives,
      auc: summary.auc,
      ks: summary.ks,
      // the KS threshold in the file's own score units; null when no threshold beats chance
      ks_threshold: Number.isFinite(summary.ksThreshold) ? sign * summary.ksThreshold : null,
      gini: summary.gini,
      brier: summary.brier,
      lift: lift.map((r) => ({
        bin: r.bin,
        min_score: sign === 1 ? r.minScore : -r.maxScore,
        max_score: sign === 1 ? r.maxScore : -r.minScore,
        count: r.count,
        positives: r.positives,
        rate: r.rate,
        cumulative_share: r.cumulativeShare,
        capture: r.capture,
        lift: r.lift,
        cumulative_lift: r.cumulativeLift,
      })),
    };
  },
};

function formatThreshold(t: number, negated: boolean): string {
  if (!Number.isFinite(t)) return '(none: no threshold beats chance)';
  return formatNumber(negated ? -t : t);
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, '');
}

function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (cells: string[]): string => `  ${cells.map((c, j) => c.padStart(widths[j]!)).join('  ')}`;
  return [line(header), ...rows.map(line)];
}
