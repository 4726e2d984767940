/** Readers for ../shared/data (FATE layout: guest `id,y,x...`, host `id,x...`, id lists). Tests only. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PartyFeatures } from '@fedscore/vfl';

export const SHARED_DATA = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  'shared',
  'data',
);

export interface HeteroSplit {
  readonly train: { guest: PartyFeatures; labels: Float64Array; host: PartyFeatures };
  readonly test: { guest: PartyFeatures; labels: Float64Array; host: PartyFeatures };
}

function readTable(path: string): { header: string[]; rows: Map<string, number[]> } {
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const rows = new Map<string, number[]>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    rows.set(cells[0]!, cells.slice(1).map(Number));
  }
  return { header: header.slice(1), rows };
}

export function hasDataset(folder: string): boolean {
  return existsSync(join(SHARED_DATA, folder));
}

/** Load `<folder>/<prefix>_hetero_{guest,host}.csv` split by `<idPrefix>_{train,test}_ids.txt`. */
export function loadHetero(folder: string, prefix: string, idPrefix = prefix): HeteroSplit {
  const dir = join(SHARED_DATA, folder);
  const g = readTable(join(dir, `${prefix}_hetero_guest.csv`));
  const h = readTable(join(dir, `${prefix}_hetero_host.csv`));
  const ids = (name: string) =>
    readFileSync(join(dir, `${idPrefix}_${name}_ids.txt`), 'utf8')
      .trim()
      .split(/\r?\n/);
  const part = (list: string[]) => {
    const gRows = list.map((id) => g.rows.get(id)!);
    const hRows = list.map((id) => h.rows.get(id)!);
    const cols = (rows: number[][], from: number, names: string[]) =>
      names.map((_, j) => Float64Array.from(rows, (r) => r[from + j]!));
    return {
      labels: Float64Array.from(gRows, (r) => r[0]!),
      guest: { names: g.header.slice(1), columns: cols(gRows, 1, g.header.slice(1)) },
      host: { names: h.header, columns: cols(hRows, 0, h.header) },
    };
  };
  return { train: part(ids('train')), test: part(ids('test')) };
}
