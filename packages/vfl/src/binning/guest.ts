/**
 * Guest (label owner, HE key holder) of "vfl.woe-binning". Protocol summary, what each party learns and
 * the threat model: `protocol.ts` and docs/protocols/woe-binning.md.
 *
 * The guest encrypts its labels, the host sums them per bin, the guest decrypts the per-bin bad counts
 * of the host's bins, checks they are exact integers, and computes WOE and IV. For fine host bins it
 * plans the ChiMerge / monotone merge from those counts and returns the plan.
 */
import {
  FedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  type PartyId,
  type ProgressCallback,
  type ProtocolSession,
} from '@fedscore/core';
import {
  type AdditiveHeSecret,
  type CkksSecretContext,
  createAdditiveHe,
  createCkksContext,
} from '@fedscore/he';
import { type MergeOptions, minReleasedBinRows, planMerge } from './bins.ts';
import { BINNING_CKKS_PARAMS } from './ckks-sums.ts';
import { binSumRotations, DEFAULT_MAX_DIGIT_BITS, decodeBinSums, planBinSums } from './packing.ts';
import {
  BIN_SUMS_STEP,
  CKKS_ITEMS_PER_MESSAGE,
  HOST_LAYOUT_STEP,
  HOST_RESULT_STEP,
  type HostFeatureResult,
  type HostLayout,
  LABEL_BATCH_STEP,
  LABEL_KEYS_STEP,
  layoutCells,
  SCALAR_ITEMS_PER_MESSAGE,
} from './protocol.ts';
import { type WoeTable, woeTable } from './woe.ts';

export type BinningScheme = 'ckks' | 'paillier' | 'none';

export interface WoeBinningGuestOptions {
  /** 0/1 per aligned row, 1 = bad. */
  readonly labels: ArrayLike<number>;
  readonly scheme?: BinningScheme;
  /** Merge options for the host's fine bins (ChiMerge / monotone). */
  readonly merge?: MergeOptions;
  /** Send the WOE of the host's bins back to the host (needed for its WOE transform). Default false. */
  readonly releaseWoe?: boolean;
  /** Paillier modulus bits (default 2048; below needs `allowWeakParameters`). */
  readonly paillierBits?: number;
  /** Allow scheme `none` (labels in the clear). Never with real data. Always warned. */
  readonly allowPlaintextScheme?: boolean;
  /** Allow parameters below 128-bit security (Paillier below 2048 bits). Always warned. */
  readonly allowWeakParameters?: boolean;
  /** @deprecated Both opt-ins at once (the old single flag). */
  readonly insecure?: boolean;
  /** Accept host bins below the floor `minReleasedBinRows`. Only for the attack test (see the host's). */
  readonly unsafeAllowSmallBins?: boolean;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

/** What the guest learns about one host feature. */
export interface HostFeatureView {
  readonly name: string;
  readonly categorical: boolean;
  /** Per final bin (missing bin last when `missingBin`). */
  readonly count: readonly number[];
  readonly bad: readonly number[];
  readonly good: readonly number[];
  readonly missingBin: boolean;
  readonly table: WoeTable;
  /** For fine features: fine bin -> final bin. */
  readonly mergePlan: readonly number[];
}

export interface WoeBinningGuestResult {
  readonly features: readonly HostFeatureView[];
  readonly scheme: BinningScheme;
}

function checkLabels(labels: ArrayLike<number>): Float64Array {
  const y = Float64Array.from(labels);
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) {
      throw new FedscoreError('invalid_argument', `label at row ${i} is ${y[i]}, expected 0 or 1`, {
        field: 'labels',
      });
    }
  }
  return y;
}

/**
 * Refuse a layout with a non-empty bin below the floor, before any label is encrypted or any sum
 * decrypted: the guest does not rely on the host having merged small bins.
 */
function checkBinFloor(layout: HostLayout): void {
  const minRows = minReleasedBinRows(layout.rows);
  layout.features.forEach((f, i) => {
    const small = f.counts.findIndex((k) => k > 0 && k < minRows);
    if (small >= 0) {
      throw new FedscoreError(
        'out_of_range',
        `host feature '${f.name}' has a bin of ${f.counts[small]} rows, below the floor of ${minRows} (max(50, 1% of ${layout.rows} rows)): its released WOE and sums would reveal labels`,
        { field: `features[${i}].counts`, details: { rows: f.counts[small]!, minimum: minRows } },
      );
    }
  });
}

export async function runWoeBinningGuest(
  session: ProtocolSession,
  host: PartyId,
  options: WoeBinningGuestOptions,
): Promise<WoeBinningGuestResult> {
  const y = checkLabels(options.labels);
  const scheme = options.scheme ?? 'ckks';
  const logger = options.logger ?? noopLogger;
  // HE warnings go to the caller's logger, else process.emitWarning (never to the no-op default).
  const heLogger = options.logger === undefined ? {} : { logger: options.logger };
  const progress = options.progress ?? noProgress;
  if (scheme === 'none' && options.allowPlaintextScheme !== true && options.insecure !== true) {
    throw new FedscoreError(
      'he_insecure_params',
      "scheme 'none' sends labels in the clear; pass allowPlaintextScheme: true",
      {
        field: 'scheme',
      },
    );
  }
  const layout: HostLayout = await session.receive(host, HOST_LAYOUT_STEP);
  if (layout.rows !== y.length) {
    throw new FedscoreError('protocol_abort', `host has ${layout.rows} aligned rows, guest ${y.length}`, {
      field: 'rows',
    });
  }
  if (options.unsafeAllowSmallBins !== true) checkBinFloor(layout);
  const { cells, counts, derivedBin } = layoutCells(layout);
  let badOfCell: Float64Array;
  if (scheme === 'ckks') {
    const plan = planBinSums(
      counts,
      layout.rows,
      BINNING_CKKS_PARAMS.polyModulusDegree / 2,
      DEFAULT_MAX_DIGIT_BITS,
    );
    const ctx: CkksSecretContext = await createCkksContext({
      params: BINNING_CKKS_PARAMS,
      rotations: binSumRotations(plan),
      relinearization: false,
      logger,
    });
    try {
      const S = ctx.slotCount;
      await session.send(host, LABEL_KEYS_STEP, {
        scheme,
        publicContext: ctx.serialize(),
        maxDigitBits: DEFAULT_MAX_DIGIT_BITS,
        labelItems: plan.batches,
      });
      let batch: Uint8Array[] = [];
      for (let k = 0; k < plan.batches; k++) {
        // Symmetric (seeded) encryption: half the bytes; the guest holds the secret key anyway.
        const v = ctx.encryptSymmetric(y.subarray(k * S, Math.min(y.length, (k + 1) * S)));
        batch.push(v.serialize());
        v.dispose();
        if (batch.length === CKKS_ITEMS_PER_MESSAGE || k === plan.batches - 1) {
          await session.send(host, LABEL_BATCH_STEP, batch);
          batch = [];
        }
        progress({ stage: 'binning: encrypt labels', done: k + 1, total: plan.batches, unit: 'batches' });
      }
      logger.info('labels sent', { scheme, batches: plan.batches, cells: cells.length, blocks: plan.blocks });
      const sums = await session.receive(host, BIN_SUMS_STEP);
      if (sums.length !== plan.blocks) {
        throw new FedscoreError('wire_decode', `expected ${plan.blocks} sum blocks, got ${sums.length}`, {
          field: 'BinSums.items',
        });
      }
      const decrypted = sums.map((b) => {
        const v = ctx.deserializeVector(b);
        try {
          return ctx.decrypt(v);
        } finally {
          v.dispose();
        }
      });
      badOfCell = decodeBinSums(plan, counts, decrypted);
    } finally {
      ctx.dispose();
    }
  } else {
    const he: AdditiveHeSecret = await createAdditiveHe(
      scheme === 'paillier'
        ? {
            scheme,
            bits: options.paillierBits ?? 2048,
            allowWeakParameters: options.allowWeakParameters === true || options.insecure === true,
            ...heLogger,
          }
        : { scheme: 'none', ...heLogger },
    );
    try {
      await session.send(host, LABEL_KEYS_STEP, {
        scheme,
        publicContext: he.serializePublic(),
        maxDigitBits: 0,
        labelItems: y.length,
      });
      let batch: Uint8Array[] = [];
      for (let i = 0; i < y.length; i++) {
        const c = he.encrypt([y[i]!]);
        batch.push(he.serializeCiphertext(c));
        c.dispose();
        if (batch.length === SCALAR_ITEMS_PER_MESSAGE || i === y.length - 1) {
          await session.send(host, LABEL_BATCH_STEP, batch);
          progress({ stage: 'binning: encrypt labels', done: i + 1, total: y.length, unit: 'rows' });
          batch = [];
        }
      }
      const sums = await session.receive(host, BIN_SUMS_STEP);
      if (sums.length !== cells.length) {
        throw new FedscoreError('wire_decode', `expected ${cells.length} sums, got ${sums.length}`, {
          field: 'BinSums.items',
        });
      }
      badOfCell = new Float64Array(cells.length);
      sums.forEach((b, c) => {
        const ct = he.deserializeCiphertext(b);
        const raw = he.decrypt(ct)[0]!;
        ct.dispose();
        const v = Math.round(raw);
        if (!(Math.abs(raw - v) <= 1e-6) || v < 0 || v > counts[c]!) {
          throw new FedscoreError('he_precision', `cell ${c} decrypts to ${raw}, not a count`, {
            field: 'sums',
          });
        }
        badOfCell[c] = v;
      });
    } finally {
      he.dispose();
    }
  }

  // Per-bin bads of every host feature: the derived bin gets the rest of the guest's total.
  const totalBad = y.reduce((a, b) => a + b, 0);
  const bad = layout.features.map((f) => new Float64Array(f.counts.length));
  cells.forEach((cell, c) => {
    bad[cell.feature]![cell.bin] = badOfCell[c]!;
  });
  const views: HostFeatureView[] = [];
  const results: HostFeatureResult[] = [];
  layout.features.forEach((f, fi) => {
    const b = bad[fi]!;
    const d = derivedBin[fi]!;
    if (d >= 0) {
      const rest = totalBad - b.reduce((a, x) => a + x, 0);
      if (rest < 0 || rest > f.counts[d]!) {
        throw new FedscoreError('he_precision', `feature ${fi}: derived bin count ${rest} is impossible`, {
          field: 'sums',
        });
      }
      b[d] = rest;
    }
    let count = [...f.counts];
    let badF = [...b];
    let mergePlan: number[] = [];
    if (f.fine) {
      mergePlan = planMerge(count, badF, f.missingBin, !f.categorical, options.merge);
      const final = Math.max(...mergePlan) + 1;
      const c2 = new Array<number>(final).fill(0);
      const b2 = new Array<number>(final).fill(0);
      mergePlan.forEach((g, i) => {
        c2[g]! += count[i]!;
        b2[g]! += badF[i]!;
      });
      count = c2;
      badF = b2;
    }
    const good = count.map((c, i) => c - badF[i]!);
    const table = woeTable(good, badF);
    views.push({
      name: f.name,
      categorical: f.categorical,
      count,
      bad: badF,
      good,
      missingBin: f.missingBin,
      table,
      mergePlan,
    });
    results.push({
      iv: table.iv,
      mergePlan,
      woe: options.releaseWoe === true ? table.bins.map((x) => x.woe) : [],
    });
  });
  await session.send(host, HOST_RESULT_STEP, results);
  logger.info('woe binning done', { scheme, hostFeatures: views.length });
  return { features: views, scheme };
}
