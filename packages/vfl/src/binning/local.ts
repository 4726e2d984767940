/**
 * WOE binning of the label owner's own features: everything is local, nothing is sent.
 */
import { type Column, FedscoreError } from '@fedscore/core';
import {
  applyMergePlan,
  assignBins,
  type BinningOptions,
  binCount,
  binTotals,
  type FeatureBins,
  fitBins,
  planMerge,
} from './bins.ts';
import { type WoeFeatureModel, type WoeTable, woeTable } from './woe.ts';

export interface LocalFeatureBinning {
  readonly model: WoeFeatureModel;
  readonly table: WoeTable;
  readonly count: readonly number[];
  readonly bad: readonly number[];
}

/** Bin, merge (ChiMerge / monotone) and compute WOE and IV of `columns` against `labels` (1 = bad). */
export function woeBinningLocal(
  party: string,
  columns: readonly Column[],
  labels: ArrayLike<number>,
  options: BinningOptions = {},
): LocalFeatureBinning[] {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) {
      throw new FedscoreError('invalid_argument', `label at row ${i} is ${labels[i]}, expected 0 or 1`, {
        field: 'labels',
      });
    }
  }
  const supervised = options.method === 'chimerge' || options.monotone === true;
  return columns.map((column) => {
    let bins: FeatureBins = fitBins(column, options);
    let idx = assignBins(column, bins);
    if (idx.length !== labels.length) {
      throw new FedscoreError(
        'invalid_argument',
        `column '${column.name}' has ${idx.length} rows, labels ${labels.length}`,
        {
          field: column.name,
        },
      );
    }
    let totals = binTotals(idx, binCount(bins), labels);
    if (supervised) {
      const plan = planMerge(totals.count, totals.bad, bins.missing, column.kind === 'numeric', {
        ...(options.bins !== undefined && { bins: options.bins }),
        ...(options.chiThreshold !== undefined && { chiThreshold: options.chiThreshold }),
        ...(options.minBinFraction !== undefined && { minBinFraction: options.minBinFraction }),
        monotone: options.monotone === true,
        chimerge: options.method === 'chimerge',
      });
      bins = applyMergePlan(bins, plan);
      idx = assignBins(column, bins);
      totals = binTotals(idx, binCount(bins), labels);
    }
    const good = totals.count.map((c, i) => c - totals.bad[i]!);
    const table = woeTable(good, totals.bad);
    return {
      model: { party, name: column.name, bins, woe: table.bins.map((b) => b.woe), iv: table.iv },
      table,
      count: [...totals.count],
      bad: [...totals.bad],
    };
  });
}
