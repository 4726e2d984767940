/** Rows and feature columns a party's stages share: its training positions and its selected features. */
import { FedscoreError, featureColumns, type Table } from '@fedscore/core';
import type { PartyFeatures } from '@fedscore/vfl';
import type { BinningCheckpoint, PsiCheckpoint } from '../checkpoints.ts';
import type { StageContext } from '../context.ts';

export function trainPositions(psi: PsiCheckpoint): number[] {
  const test = new Set(psi.test);
  const out: number[] = [];
  for (let i = 0; i < psi.rows.length; i++) if (!test.has(i)) out.push(i);
  return out;
}

export function selectedFeatures(ctx: StageContext, table: Table): string[] {
  if (!ctx.spec.binning.enabled) return table.columns.map((c) => c.name);
  return ctx.store.checkpoint<BinningCheckpoint>('binning').selected;
}

/**
 * A party's feature columns on `rows` (core's `featureColumns`: numeric as is, NaN = missing; categorical
 * one-hot): every column of its table, or only `names` (the features selected for it). A party with no
 * feature column is an `invalid_argument` error.
 */
export function partyFeatures(
  table: Table,
  rows: ArrayLike<number>,
  names?: readonly string[],
): PartyFeatures {
  const out = featureColumns(table, rows, names);
  if (out.columns.length === 0) {
    throw names === undefined
      ? new FedscoreError('invalid_argument', 'a party needs at least one feature column', {
          field: 'columns',
        })
      : new FedscoreError('invalid_argument', 'no feature column selected for this party', {
          field: 'features',
        });
  }
  return out;
}
