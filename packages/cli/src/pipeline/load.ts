/**
 * Reading one party's CSV for the commands that train: the id column, the label column (the guest
 * only), and every other column as a feature (numbers, or categories when most of a column's values are
 * not numbers -- said on stderr -- or when declared with --categorical).
 */
import { resolve } from 'node:path';
import { FedscoreError, type Table } from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
import type { CommandContext } from '../command.ts';

/** A party's table with where it came from: the file as the user named it and each row's file line. */
export interface PartyCsv {
  readonly table: Table;
  readonly file: string;
  /** The file line (header = 1) of each table row. */
  readonly lines: Int32Array;
}

export interface PartyCsvOptions {
  /** Columns declared categorical (names absent from this file are skipped: flags cover every party). */
  readonly categorical?: readonly string[];
  /** The file must hold a feature besides the id and the label. Default true. */
  readonly needFeatures?: boolean;
  /**
   * Every numeric column's mean and variance over all rows must be finite doubles (training
   * standardizes; a value near ±1.8e308 would overflow them, or the scores of a test row). Default false.
   */
  readonly finiteMoments?: boolean;
}

/**
 * Read `file` (relative to the command's working directory). `missing: 'error'` reports a missing value
 * with its file, line and column; `'keep'` keeps it (NaN, or code -1 for categories) for later
 * imputation. A missing `--id` or `--label` column is a `not_found` error naming the flag; a file with
 * a header and no row is a `csv_schema` error "no rows in FILE"; one with no feature column names it too.
 */
export async function readPartyCsvDetailed(
  ctx: Pick<CommandContext, 'cwd' | 'progress' | 'logger'>,
  file: string,
  idName: string,
  labelName: string | undefined,
  missing: 'error' | 'keep',
  options: PartyCsvOptions = {},
): Promise<PartyCsv> {
  const fields: Record<string, readonly [string, string]> = { idColumn: [idName, '--id'] };
  if (labelName !== undefined) fields['labelColumn'] = [labelName, '--label'];
  const path = resolve(ctx.cwd, file);
  const roles: Record<string, 'categorical'> = {};
  if (options.categorical !== undefined && options.categorical.length > 0) {
    const header = await readCsvFileDetailed(path, { file, defaultRole: 'ignored', maxRows: 0 }).catch(
      () => undefined,
    );
    for (const c of options.categorical) if (header?.header.includes(c)) roles[c] = 'categorical';
  }
  const read = await readCsvFileDetailed(path, {
    file,
    idColumn: idName,
    ...(labelName !== undefined && { labelColumn: labelName }),
    roles,
    impute: missing,
    onProgress: ctx.progress,
  }).catch((e: unknown) => {
    throw headerError(e, file, fields);
  });
  if (read.table.nRows === 0) {
    throw new FedscoreError('csv_schema', `no rows in ${file} (the file holds a header only)`, {
      file,
      line: 2,
    });
  }
  if (options.needFeatures !== false && read.table.columns.length === 0) {
    throw new FedscoreError(
      'csv_schema',
      `no feature columns in ${file}: it holds only ${labelName === undefined ? '--id' : '--id and --label'}`,
      { file, line: 1 },
    );
  }
  if (options.finiteMoments === true) checkMoments(read.table, file, read.lines, read.header);
  for (const c of read.inferredCategorical) {
    ctx.logger.warn(
      `${file}: column '${c.column}' read as categorical (${c.nonNumeric} of ${c.present} values are not numbers); ` +
        'declare it with --categorical, or fix the values if it should be numeric',
    );
  }
  return { table: read.table, file, lines: read.lines };
}

/**
 * Each numeric column's mean and variance over every row are finite (Welford's update, which overflows
 * exactly when they do); otherwise an `out_of_range` error naming the file, the line of the row with the
 * largest magnitude and the column.
 */
function checkMoments(table: Table, file: string, lines: Int32Array, header: readonly string[]): void {
  table.columns.forEach((c) => {
    if (c.kind !== 'numeric') return;
    let n = 0;
    let m = 0;
    let m2 = 0;
    let worst = -1;
    for (let i = 0; i < c.values.length; i++) {
      const v = c.values[i]!;
      if (Number.isNaN(v)) continue;
      if (worst < 0 || Math.abs(v) > Math.abs(c.values[worst]!)) worst = i;
      n++;
      const d = v - m;
      m += d / n;
      m2 += d * (v - m);
    }
    if (Number.isFinite(m) && Number.isFinite(m2)) return;
    throw new FedscoreError(
      'out_of_range',
      "value too large: the column's mean or variance overflows a double; rescale the column",
      { file, line: lines[worst] ?? worst + 2, column: header.indexOf(c.name) + 1, field: c.name },
    );
  });
}

/** `readPartyCsvDetailed`, the table only. */
export async function readPartyCsv(
  ctx: Pick<CommandContext, 'cwd' | 'progress' | 'logger'>,
  file: string,
  idName: string,
  labelName: string | undefined,
  missing: 'error' | 'keep',
  options: PartyCsvOptions = {},
): Promise<Table> {
  return (await readPartyCsvDetailed(ctx, file, idName, labelName, missing, options)).table;
}

/** The guest's labels: present, 0/1, both classes. */
export function checkLabels(table: Table, labelName: string, file: string, lines?: Int32Array): Float64Array {
  const y = table.label;
  if (y === undefined) {
    throw new FedscoreError('not_found', `no label column '${labelName}'`, { file, field: '--label' });
  }
  let ones = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v !== 0 && v !== 1) {
      throw new FedscoreError('csv_schema', 'labels must be 0 or 1', {
        file,
        field: labelName,
        line: lines?.[i] ?? i + 2,
      });
    }
    ones += v;
  }
  if (ones === 0 || ones === y.length) {
    throw new FedscoreError('single_class', 'the labels hold one class only', { file, field: labelName });
  }
  return y;
}

/**
 * The CSV reader reports a column missing from the header under its option name ('labelColumn',
 * 'roles.<name>'); say which column and which flag instead.
 */
export function headerError(
  e: unknown,
  file: string,
  fields: Readonly<Record<string, readonly [column: string, flag: string]>>,
): unknown {
  if (!(e instanceof FedscoreError) || e.code !== 'csv_schema' || e.field === undefined) return e;
  const hit = fields[e.field];
  if (hit === undefined || !e.message.includes('not in the header')) return e;
  return new FedscoreError('not_found', `column '${hit[0]}' (${hit[1]}) is not in the header`, {
    file,
    line: 1,
    field: hit[0],
    cause: e,
  });
}
