/** `fedscore models promote`: make a version the serving one (the previous production version is archived). */
import type { Command } from '../command.ts';
import { modelStatusCommand } from './audit-helpers.ts';

export const command: Command = modelStatusCommand(
  'promote',
  'make a version the serving one (the previous production version is archived)',
);
