/**
 * Host (feature owner) of "vfl.woe-binning". Protocol summary, what each party learns and the threat
 * model: `protocol.ts` and docs/protocols/woe-binning.md.
 *
 * The host bins its own features (edges stay here), publishes per-bin row counts only, sums the guest's
 * encrypted labels per bin and returns the flooded sums; it gets back each feature's IV, the merge plan
 * of fine bins, and the WOE of its bins only if the guest releases it.
 */
import {
  type Column,
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type PartyId,
  type ProgressCallback,
  type ProtocolSession,
  requireCryptoRng,
} from '@fedscore/core';
import { type AdditiveCiphertext, loadAdditiveHePublic, loadCkksPublicContext } from '@fedscore/he';
import {
  applyMergePlan,
  assignBins,
  type BinningOptions,
  binCount,
  binTotals,
  type FeatureBins,
  fitBins,
} from './bins.ts';
import { BINNING_CKKS_PARAMS } from './ckks-sums.ts';
import { planBinSums } from './packing.ts';
import { evaluateBinSumsParallel } from './parallel.ts';
import {
  BIN_SUMS_STEP,
  HOST_LAYOUT_STEP,
  HOST_RESULT_STEP,
  type HostLayout,
  LABEL_BATCH_STEP,
  LABEL_KEYS_STEP,
  layoutCells,
} from './protocol.ts';
import type { WoeFeatureModel } from './woe.ts';

export interface WoeBinningHostOptions {
  /** The host's feature columns, in the aligned row order. */
  readonly columns: readonly Column[];
  readonly binning?: BinningOptions;
  /** Names the guest sees (default: the column names). Same length as `columns`. */
  readonly publishedNames?: readonly string[];
  /** Schemes the host accepts. Default ['ckks', 'paillier']; 'none' also needs `insecure`. */
  readonly allowSchemes?: readonly ('ckks' | 'paillier' | 'none')[];
  readonly insecure?: boolean;
  /** Worker threads for the CKKS sums (default 2). */
  readonly workers?: number;
  /** Flooding noise: cryptographic only (default `cryptoRng()`; a seeded one is `insecure_rng`). */
  readonly rng?: CryptoRng;
  readonly floodingStdDev?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

/** What the host ends with for one feature. */
export interface HostFeatureOutcome {
  readonly name: string;
  /** Final bins (after the guest's merge plan). Never sent. */
  readonly bins: FeatureBins;
  readonly count: readonly number[];
  readonly iv: number;
  /** Present only when the guest released the WOE: the host's WOE-transform model. */
  readonly model?: WoeFeatureModel;
}

export interface WoeBinningHostResult {
  readonly features: readonly HostFeatureOutcome[];
  readonly scheme: 'ckks' | 'paillier' | 'none';
  readonly cost?: { products: number; encodes: number; rotations: number; additions: number };
}

export async function runWoeBinningHost(
  session: ProtocolSession,
  guest: PartyId,
  options: WoeBinningHostOptions,
): Promise<WoeBinningHostResult> {
  const logger = options.logger ?? noopLogger;
  const progress = options.progress ?? noProgress;
  const columns = options.columns;
  if (columns.length === 0)
    throw new FedscoreError('invalid_argument', 'no host columns', { field: 'columns' });
  const rows = columns[0]!.kind === 'numeric' ? columns[0]!.values.length : columns[0]!.codes.length;
  const names = options.publishedNames ?? columns.map((c) => c.name);
  if (names.length !== columns.length) {
    throw new FedscoreError(
      'invalid_argument',
      `${names.length} published names for ${columns.length} columns`,
      {
        field: 'publishedNames',
      },
    );
  }
  const supervised = options.binning?.method === 'chimerge' || options.binning?.monotone === true;
  const fine: FeatureBins[] = [];
  const binIndex: Uint16Array[] = [];
  const counts: number[][] = [];
  columns.forEach((c, i) => {
    const bins = fitBins(c, options.binning);
    const idx = assignBins(c, bins);
    if (idx.length !== rows) {
      throw new FedscoreError(
        'invalid_argument',
        `column '${c.name}' has ${idx.length} rows, expected ${rows}`,
        {
          field: c.name,
        },
      );
    }
    fine.push(bins);
    binIndex.push(idx);
    counts.push([...binTotals(idx, binCount(bins)).count]);
    progress({ stage: 'binning: host bins', done: i + 1, total: columns.length, unit: 'features' });
  });
  const layout: HostLayout = {
    rows,
    features: columns.map((c, i) => ({
      name: names[i]!,
      categorical: c.kind === 'categorical',
      missingBin: fine[i]!.missing,
      counts: counts[i]!,
      fine: supervised,
    })),
  };
  await session.send(guest, HOST_LAYOUT_STEP, layout);
  const keys = await session.receive(guest, LABEL_KEYS_STEP);
  const allowed = options.allowSchemes ?? ['ckks', 'paillier'];
  if (!allowed.includes(keys.scheme) || (keys.scheme === 'none' && options.insecure !== true)) {
    throw new FedscoreError('protocol_abort', `host does not accept HE scheme '${keys.scheme}'`, {
      field: 'scheme',
    });
  }
  const items: Uint8Array[] = [];
  while (items.length < keys.labelItems) {
    const batch = await session.receive(guest, LABEL_BATCH_STEP);
    if (batch.length === 0 || items.length + batch.length > keys.labelItems) {
      throw new FedscoreError('wire_decode', 'label batches do not add up to label_items', {
        field: 'LabelBatch.items',
      });
    }
    items.push(...batch);
  }
  const { cells, counts: cellCounts } = layoutCells(layout);
  let out: Uint8Array[];
  let cost: WoeBinningHostResult['cost'];
  const rng = options.rng === undefined ? cryptoRng() : requireCryptoRng(options.rng, 'rng');
  if (keys.scheme === 'ckks') {
    const ctx = await loadCkksPublicContext(keys.publicContext, { insecure: options.insecure === true });
    try {
      const p = ctx.params;
      if (
        p.polyModulusDegree !== BINNING_CKKS_PARAMS.polyModulusDegree ||
        p.scaleBits !== BINNING_CKKS_PARAMS.scaleBits ||
        p.coeffModulusBits.join() !== BINNING_CKKS_PARAMS.coeffModulusBits.join()
      ) {
        throw new FedscoreError('he_context_mismatch', `guest sent CKKS parameters ${ctx.description}`, {
          field: 'publicContext',
        });
      }
      const plan = planBinSums(cellCounts, rows, ctx.slotCount, keys.maxDigitBits);
      if (items.length !== plan.batches) {
        throw new FedscoreError(
          'wire_decode',
          `expected ${plan.batches} label ciphertexts, got ${items.length}`,
          {
            field: 'LabelBatch.items',
          },
        );
      }
      const r = await evaluateBinSumsParallel(ctx, items, plan, cells, binIndex, {
        rng,
        workers: options.workers ?? 2,
        progress,
        ...(options.floodingStdDev !== undefined && { floodingStdDev: options.floodingStdDev }),
      });
      out = r.sums.map((v) => {
        try {
          return v.serialize();
        } finally {
          v.dispose();
        }
      });
      cost = r.cost;
      logger.info('bin sums evaluated', { scheme: 'ckks', ...r.cost });
    } finally {
      ctx.dispose();
    }
  } else {
    if (items.length !== rows) {
      throw new FedscoreError('wire_decode', `expected ${rows} label ciphertexts, got ${items.length}`, {
        field: 'LabelBatch.items',
      });
    }
    const he = await loadAdditiveHePublic(keys.publicContext, { insecure: options.insecure === true });
    try {
      const cts = items.map((b) => he.deserializeCiphertext(b));
      // FATE style: add the row ciphertexts of each cell, then re-randomize with an encryption of 0.
      const cellOf = layout.features.map((f) => new Int32Array(f.counts.length).fill(-1));
      cells.forEach((cell, c) => {
        cellOf[cell.feature]![cell.bin] = c;
      });
      const acc: (AdditiveCiphertext | undefined)[] = new Array(cells.length);
      for (let f = 0; f < binIndex.length; f++) {
        const idx = binIndex[f]!;
        const map = cellOf[f]!;
        for (let i = 0; i < rows; i++) {
          const c = map[idx[i]!]!;
          if (c < 0) continue;
          const prev = acc[c];
          acc[c] = prev === undefined ? cts[i]! : he.add(prev, cts[i]!);
        }
        progress({
          stage: 'binning: encrypted bin sums',
          done: f + 1,
          total: binIndex.length,
          unit: 'features',
        });
      }
      out = acc.map((a) => {
        const zero = he.encrypt([0]);
        return he.serializeCiphertext(he.add(a ?? zero, zero));
      });
    } finally {
      he.dispose();
    }
  }
  await session.send(guest, BIN_SUMS_STEP, out);
  const results = await session.receive(guest, HOST_RESULT_STEP);
  if (results.length !== columns.length) {
    throw new FedscoreError(
      'wire_decode',
      `expected ${columns.length} feature results, got ${results.length}`,
      {
        field: 'HostResult.features',
      },
    );
  }
  const features: HostFeatureOutcome[] = columns.map((c, i) => {
    const r = results[i]!;
    const bins = supervised ? applyMergePlan(fine[i]!, r.mergePlan) : fine[i]!;
    const idxCount = supervised
      ? (() => {
          const k = new Array<number>(binCount(bins)).fill(0);
          r.mergePlan.forEach((g, b) => {
            k[g]! += counts[i]![b]!;
          });
          return k;
        })()
      : counts[i]!;
    if (r.woe.length > 0 && r.woe.length !== binCount(bins)) {
      throw new FedscoreError(
        'wire_decode',
        `feature ${i}: ${r.woe.length} WOE values for ${binCount(bins)} bins`,
        {
          field: 'HostResult.features.woe',
        },
      );
    }
    return {
      name: c.name,
      bins,
      count: idxCount,
      iv: r.iv,
      ...(r.woe.length > 0 && {
        model: { party: session.party, name: c.name, bins, woe: r.woe, iv: r.iv },
      }),
    };
  });
  return { features, scheme: keys.scheme, ...(cost !== undefined && { cost }) };
}
