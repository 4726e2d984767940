/** What the training commands write and print: the party models, the joint descriptor, byte counts. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { type PartyModel, serializePartyModel } from '@fedscore/vfl';

/** Each party's model in its own file, and the joint descriptor every party may hold. */
export function writeModels(dir: string, models: readonly PartyModel[], descriptor: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    for (const m of models) {
      writeFileSync(join(dir, `${m.party}.model.json`), serializePartyModel(m));
    }
    writeFileSync(join(dir, 'joint-model.json'), descriptor);
  } catch (e) {
    if (e instanceof FedscoreError) throw e;
    throw new FedscoreError('io', `cannot write the models: ${(e as Error).message}`, {
      file: dir,
      cause: e,
    });
  }
}

export function formatBytes(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (b >= 2 ** 10) return `${(b / 2 ** 10).toFixed(1)} KiB`;
  return `${b} B`;
}
