/** Reading a JSON input file of a command (a model, a scorecard), with errors naming the flag. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';

/** The parsed JSON of `file` (relative to `cwd`); `io` or `invalid_config` errors name `field`. */
export async function readJsonFile(cwd: string, file: string, field: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, file), 'utf8');
  } catch (e) {
    throw new FedscoreError('io', `cannot read ${file}: ${(e as Error).message}`, { field, file, cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FedscoreError('invalid_config', `not JSON: ${(e as Error).message}`, { field, file, cause: e });
  }
}
