/**
 * Reading one party's CSV for the commands that train: the id column, the label column (the guest
 * only), and every other column as a feature (numbers, or categories when a column is not numeric).
 */
import { resolve } from 'node:path';
import type { Table } from '@fedscore/core';
import { readCsvFileDetailed } from '@fedscore/core/node';
import type { CommandContext } from '../command.ts';
import { headerError } from '../commands/evaluate.ts';

/**
 * Read `file` (relative to the command's working directory). `missing: 'error'` reports a missing value
 * with its file, line and column; `'keep'` keeps it (NaN, or code -1 for categories) for later
 * imputation. A missing `--id` or `--label` column is a `not_found` error naming the flag.
 */
export async function readPartyCsv(
  ctx: Pick<CommandContext, 'cwd' | 'progress'>,
  file: string,
  idName: string,
  labelName: string | undefined,
  missing: 'error' | 'keep',
): Promise<Table> {
  const fields: Record<string, readonly [string, string]> = { idColumn: [idName, '--id'] };
  if (labelName !== undefined) fields['labelColumn'] = [labelName, '--label'];
  const read = await readCsvFileDetailed(resolve(ctx.cwd, file), {
    file,
    idColumn: idName,
    ...(labelName !== undefined && { labelColumn: labelName }),
    impute: missing,
    onProgress: ctx.progress,
  }).catch((e: unknown) => {
    throw headerError(e, file, fields);
  });
  return read.table;
}
