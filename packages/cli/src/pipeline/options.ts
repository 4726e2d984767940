/** Flags shared by the commands that take a guest file, host files and an id split (one definition each). */
import { FedscoreError } from '@fedscore/core';
import type { OptionSpec } from '../command.ts';

export const GUEST_FILE_OPTION: OptionSpec = {
  type: 'string',
  required: true,
  placeholder: 'FILE',
  description: "guest (label owner) CSV: id, label, the bank's features",
};

export const HOST_FILES_OPTION: OptionSpec = {
  type: 'string',
  required: true,
  multiple: true,
  placeholder: 'FILE',
  description: 'host CSV: id and its features (repeat for several hosts)',
};

export const ID_COLUMN_OPTION: OptionSpec = {
  type: 'string',
  required: true,
  placeholder: 'COL',
  description: 'id column, in every file',
};

export const ID_KIND_OPTION: OptionSpec = {
  type: 'string',
  default: 'auto',
  choices: ['auto', 'uscc', 'opaque'],
  description: 'PSI ids: USCCs, opaque (any other form), or auto (per party, from its own file)',
};

export const LABEL_OPTION: OptionSpec = {
  type: 'string',
  required: true,
  placeholder: 'COL',
  description: '0/1 label column of the guest',
};

export const TRAIN_IDS_OPTION: OptionSpec = {
  type: 'string',
  placeholder: 'FILE',
  description: 'train ids, one a line (with --test-ids)',
};

export const TEST_IDS_OPTION: OptionSpec = {
  type: 'string',
  placeholder: 'FILE',
  description: 'test ids, one a line (with --train-ids)',
};

export const CATEGORICAL_OPTION: OptionSpec = {
  type: 'string',
  multiple: true,
  placeholder: 'COL',
  description:
    'declare a column categorical, in whichever file holds it (repeatable); otherwise a column is categorical only when most of its values are not numbers',
};

/**
 * A numeric flag inside [min, max] (integers and numbers alike): refused before any file is read or any
 * protocol runs, naming the flag.
 */
export function checkFlagRange(
  value: number | undefined,
  flag: string,
  min: number,
  max: number = Number.POSITIVE_INFINITY,
  options: { exclusiveMin?: boolean } = {},
): void {
  if (value === undefined) return;
  const low = options.exclusiveMin ? value > min : value >= min;
  if (!Number.isFinite(value) || !low || value > max) {
    const range = `${options.exclusiveMin ? '(' : '['}${min}, ${Number.isFinite(max) ? `${max}]` : 'inf)'}`;
    throw new FedscoreError('out_of_range', `${flag} must be in ${range}, got ${value}`, { field: flag });
  }
}
