/**
 * `fedscore stability`: population stability index per feature and per score between a training
 * population and a new scoring population (two CSV files with the same columns).
 */
import { resolve } from 'node:path';
import { FedscoreError, type NumericColumn, PSI_SHIFTED_ABOVE } from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
import { stabilityReport } from '@fedscore/scoring';
import { type Command, type CommandContext, num, optStr, str, strs } from '../command.ts';

/**
 * The numeric columns of `file` (all of them, or `columns` declared numeric). A header-only file is
 * "no rows in FILE", one without any numeric column (a wrong --delimiter) "no numeric column in FILE";
 * a column read as categorical (most values not numbers) is said on stderr, since it is not compared.
 */
async function numericColumns(
  ctx: Pick<CommandContext, 'cwd' | 'logger'>,
  file: string,
  columns: readonly string[],
  delimiter: string,
) {
  const roles: Record<string, 'numeric'> = {};
  for (const c of columns) roles[c] = 'numeric';
  const read = await readCsvFileDetailed(resolve(ctx.cwd, file), {
    file,
    roles,
    defaultRole: columns.length > 0 ? 'ignored' : 'infer',
    delimiter,
  });
  if (read.table.nRows === 0) {
    throw new FedscoreError('csv_schema', `no rows in ${file} (the file holds a header only)`, {
      file,
      line: 2,
    });
  }
  for (const c of read.inferredCategorical) {
    ctx.logger.warn(
      `${file}: column '${c.column}' read as categorical (${c.nonNumeric} of ${c.present} values are not numbers): not compared`,
    );
  }
  const out: Record<string, Float64Array> = {};
  for (const c of read.table.columns) if (c.kind === 'numeric') out[c.name] = (c as NumericColumn).values;
  if (columns.length === 0 && Object.keys(out).length === 0) {
    const one = read.header.length === 1 ? read.header[0]! : undefined;
    throw new FedscoreError(
      'csv_schema',
      `no numeric column in ${file}` +
        (one !== undefined && /[;\t|]/.test(one)
          ? ` (its header is one column: is the field separator --delimiter '${delimiter}' right?)`
          : ''),
      { file, line: 1 },
    );
  }
  return out;
}

export const command: Command = {
  path: ['stability'],
  summary: 'population stability index (PSI) per feature and per score, training vs new population',
  description: `
Reads two CSV files with a header (the training population and a new scoring population) and prints
the PSI of each numeric column: sum of (a - e) ln(a / e) over bins made from the training values
(quantile bins by default). < 0.1 stable, 0.1-0.25 moderate, > ${PSI_SHIFTED_ABOVE} shifted. Missing values are
left out and counted. --score names score columns (reported as kind 'score').

Example:
  fedscore stability --expected train.csv --actual new.csv --score score --json`,
  options: {
    expected: { type: 'string', required: true, placeholder: 'FILE', description: 'training population CSV' },
    actual: { type: 'string', required: true, placeholder: 'FILE', description: 'new population CSV' },
    column: {
      type: 'string',
      multiple: true,
      placeholder: 'COL',
      description: 'columns to compare (default: every numeric column of both files)',
    },
    score: { type: 'string', multiple: true, placeholder: 'COL', description: 'score columns' },
    bins: { type: 'integer', default: 10, description: 'PSI bins' },
    strategy: {
      type: 'string',
      default: 'quantile',
      choices: ['quantile', 'uniform'],
      description: 'bin edges',
    },
    delimiter: { type: 'string', default: ',', placeholder: 'CHAR', description: 'field separator' },
  },
  async run(options, _positionals, ctx) {
    const scores = strs(options, 'score');
    const wanted = [...new Set([...strs(options, 'column'), ...scores])];
    const delimiter = optStr(options, 'delimiter') ?? ',';
    const bins = num(options, 'bins');
    if (bins < 1) {
      throw new FedscoreError('out_of_range', `--bins must be at least 1, got ${bins}`, { field: '--bins' });
    }
    const expectedFile = str(options, 'expected');
    const actualFile = str(options, 'actual');
    const expected = await numericColumns(ctx, expectedFile, wanted, delimiter);
    const actual = await numericColumns(ctx, actualFile, wanted, delimiter);
    const columns = wanted.length > 0 ? wanted : Object.keys(expected).filter((c) => c in actual);
    if (wanted.length === 0) {
      // A numeric column of one file only is not compared: say so rather than drop it quietly.
      for (const [file, mine, other] of [
        [expectedFile, expected, actual],
        [actualFile, actual, expected],
      ] as const) {
        for (const c of Object.keys(mine)) {
          if (!(c in other))
            ctx.logger.warn(`${file}: numeric column '${c}' is not in the other file: not compared`);
        }
      }
    }
    if (columns.length === 0) {
      throw new FedscoreError('invalid_argument', 'no numeric column in common', { field: '--column' });
    }
    const report = stabilityReport(expected, actual, columns, {
      bins,
      strategy: str(options, 'strategy') as 'quantile' | 'uniform',
      scoreColumns: scores,
    });
    for (const r of report.rows) {
      ctx.print(`${r.kind.padEnd(8)} ${r.name.padEnd(32)} PSI ${r.psi.toFixed(4)}  ${r.band}`);
    }
    return {
      rows: report.rows.map((r) => ({
        name: r.name,
        kind: r.kind,
        psi: r.psi,
        band: r.band,
        expectedRows: r.expectedRows,
        actualRows: r.actualRows,
        expectedMissing: r.expectedMissing,
        actualMissing: r.actualMissing,
      })),
      shifted: report.shifted,
    };
  },
};
