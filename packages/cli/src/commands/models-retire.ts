/** `fedscore models retire`: retire a version for good (never served again). */
import type { Command } from '../command.ts';
import { modelStatusCommand } from './audit-helpers.ts';

export const command: Command = modelStatusCommand(
  'retire',
  'retire a version for good (never served again)',
);
