/**
 * `fedscore stability`: population stability index per feature and per score between a training
 * population and a new scoring population (two CSV files with the same columns).
 */
import { resolve } from 'node:path';
import { FedscoreError, type NumericColumn, PSI_SHIFTED_ABOVE } from '@fedscore/core';
import { readCsvFile } from '@fedscore/core/node';
import { stabilityReport } from '@fedscore/scoring';
import { type Command, num, optStr, str, strs } from '../command.ts';

async function numericColumns(cwd: string, file: string, columns: readonly string[], delimiter: string) {
  const roles: Record<string, 'numeric'> = {};
  for (const c of columns) roles[c] = 'numeric';
  const table = await readCsvFile(resolve(cwd, file), {
    file,
    roles,
    defaultRole: columns.length > 0 ? 'ignored' : 'infer',
    delimiter,
  });
  const out: Record<string, Float64Array> = {};
  for (const c of table.columns) if (c.kind === 'numeric') out[c.name] = (c as NumericColumn).values;
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
    const expected = await numericColumns(ctx.cwd, str(options, 'expected'), wanted, delimiter);
    const actual = await numericColumns(ctx.cwd, str(options, 'actual'), wanted, delimiter);
    const columns = wanted.length > 0 ? wanted : Object.keys(expected).filter((c) => c in actual);
    if (columns.length === 0) {
      throw new FedscoreError('invalid_argument', 'no numeric column in common', { field: '--column' });
    }
    const report = stabilityReport(expected, actual, columns, {
      bins: num(options, 'bins'),
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
