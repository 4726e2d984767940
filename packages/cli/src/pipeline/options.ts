/** Flags shared by the commands that take a guest file, host files and an id split (one definition each). */
import type { OptionSpec } from '../command.ts';

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
