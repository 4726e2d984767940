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
  floorMergePlan,
  minReleasedBinRows,
} from './bins.ts';
import { BINNING_CKKS_PARAMS } from './ckks-sums.ts';
import { planBinSums } from './packing.ts';
import { type BinSumOffload, evaluateBinSumsParallel } from './parallel.ts';
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
  /** Schemes the host accepts. Default ['ckks', 'paillier']; 'none' also needs `allowPlaintextScheme`. */
  readonly allowSchemes?: readonly ('ckks' | 'paillier' | 'none')[];
  /** Accept the guest's scheme 'none' (its labels in the clear). Default false. Always warned. */
  readonly allowPlaintextScheme?: boolean;
  /** Accept the guest's keys below 128-bit security (e.g. Paillier-1024). Default false. Always warned. */
  readonly allowWeakParameters?: boolean;
  /** @deprecated Both opt-ins at once (the old single flag). */
  readonly insecure?: boolean;
  /** Worker threads for the CKKS sums (default 2). */
  readonly workers?: number;
  /** The CKKS sums on a task executor (a node's `queue: pgboss`) instead of the threads. */
  readonly offload?: BinSumOffload;
  /** Flooding noise: cryptographic only (default `cryptoRng()`; a seeded one is `insecure_rng`). */
  readonly rng?: CryptoRng;
  readonly floodingStdDev?: number;
  /**
   * Publish bins below the floor `minReleasedBinRows` as fitted. Only for the attack test that shows what
   * the floor prevents: a row alone in a bin has its label revealed by the bin's WOE.
   */
  readonly unsafeAllowSmallBins?: boolean;
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
  /** Per column, the value bin its (too few) missing rows are published with, or -1. */
  const folded: number[] = columns.map(() => -1);
  /** Per column, the bin counts the guest sees (after folding). */
  const published: number[][] = [];
  const counts: number[][] = [];
  const minRows = minReleasedBinRows(rows);
  columns.forEach((c, i) => {
    let bins = fitBins(c, options.binning);
    let idx = assignBins(c, bins);
    if (idx.length !== rows) {
      throw new FedscoreError(
        'invalid_argument',
        `column '${c.name}' has ${idx.length} rows, expected ${rows}`,
        {
          field: c.name,
        },
      );
    }
    let count = [...binTotals(idx, binCount(bins)).count];
    if (options.unsafeAllowSmallBins !== true) {
      // Before anything about this column leaves: no bin whose label sum will be released is small.
      const plan = floorMergePlan(count, bins.missing, minRows);
      if (plan.some((g, b) => g !== b)) {
        bins = applyMergePlan(bins, plan);
        idx = assignBins(c, bins);
        count = [...binTotals(idx, binCount(bins)).count];
      }
      const valueBins = bins.missing ? count.length - 1 : count.length;
      const small = count.slice(0, valueBins).findIndex((k) => k > 0 && k < minRows);
      if (small >= 0) {
        throw new FedscoreError(
          'out_of_range',
          `column '${c.name}': its ${count[small]} non-missing rows are below the floor of ${minRows} rows (max(50, 1% of ${rows})) under which a released WOE reveals labels; drop the column`,
          { field: c.name, details: { rows: count[small]!, minimum: minRows } },
        );
      }
      const missingRows = bins.missing ? count[valueBins]! : 0;
      if (missingRows > 0 && missingRows < minRows && valueBins > 0) {
        // Missing rows cannot join an interval in the bins, but their label sum can join a bin's in
        // the protocol: they are counted, summed and released with the largest value bin, which is
        // then also their WOE here (the guest sees a feature without a missing bin).
        let largest = 0;
        for (let b = 1; b < valueBins; b++) if (count[b]! > count[largest]!) largest = b;
        folded[i] = largest;
      }
    }
    fine.push(bins);
    counts.push(count);
    const into = folded[i]!;
    if (into < 0) {
      binIndex.push(idx);
      published.push(count);
    } else {
      const missing = count.length - 1;
      binIndex.push(idx.map((b) => (b === missing ? into : b)));
      published.push(count.slice(0, missing).map((k, b) => (b === into ? k + count[missing]! : k)));
    }
    progress({ stage: 'binning: host bins', done: i + 1, total: columns.length, unit: 'features' });
  });
  const layout: HostLayout = {
    rows,
    features: columns.map((c, i) => ({
      name: names[i]!,
      categorical: c.kind === 'categorical',
      missingBin: fine[i]!.missing && folded[i]! < 0,
      counts: published[i]!,
      fine: supervised,
    })),
  };
  await session.send(guest, HOST_LAYOUT_STEP, layout);
  const keys = await session.receive(guest, LABEL_KEYS_STEP);
  const allowed = options.allowSchemes ?? ['ckks', 'paillier'];
  const allowPlaintextScheme = options.allowPlaintextScheme === true || options.insecure === true;
  const allowWeakParameters = options.allowWeakParameters === true || options.insecure === true;
  if (!allowed.includes(keys.scheme) || (keys.scheme === 'none' && !allowPlaintextScheme)) {
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
    const ctx = await loadCkksPublicContext(keys.publicContext, {
      allowWeakParameters,
      expected: { scheme: 'ckks' },
      // Not the no-op default: without a logger the HE package warns through process.emitWarning.
      ...(options.logger !== undefined && { logger: options.logger }),
    });
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
        ...(options.offload !== undefined && { offload: options.offload }),
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
    // The blob must be of the scheme the guest announced (and this host accepted): never believed alone.
    const he = await loadAdditiveHePublic(keys.publicContext, {
      allowWeakParameters,
      allowPlaintextScheme,
      expected: { scheme: keys.scheme },
      ...(options.logger !== undefined && { logger: options.logger }),
    });
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
    const into = folded[i]!;
    // A folded missing bin stays a bin of its own here (the last), with the WOE of the bin it was
    // published with.
    const plan = supervised && into >= 0 ? [...r.mergePlan, Math.max(-1, ...r.mergePlan) + 1] : r.mergePlan;
    const bins = supervised ? applyMergePlan(fine[i]!, plan) : fine[i]!;
    const idxCount = supervised
      ? (() => {
          const k = new Array<number>(binCount(bins)).fill(0);
          plan.forEach((g, b) => {
            k[g]! += counts[i]![b]!;
          });
          return k;
        })()
      : counts[i]!;
    const releasedBins = binCount(bins) - (into >= 0 ? 1 : 0);
    if (r.woe.length > 0 && r.woe.length !== releasedBins) {
      throw new FedscoreError(
        'wire_decode',
        `feature ${i}: ${r.woe.length} WOE values for ${releasedBins} bins`,
        {
          field: 'HostResult.features.woe',
        },
      );
    }
    const woe =
      into >= 0 && r.woe.length > 0 ? [...r.woe, r.woe[supervised ? r.mergePlan[into]! : into]!] : r.woe;
    return {
      name: c.name,
      bins,
      count: idxCount,
      iv: r.iv,
      ...(woe.length > 0 && {
        model: { party: session.party, name: c.name, bins, woe, iv: r.iv },
      }),
    };
  });
  return { features, scheme: keys.scheme, ...(cost !== undefined && { cost }) };
}
