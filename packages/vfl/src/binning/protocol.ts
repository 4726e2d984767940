/**
 * Protocol "vfl.woe-binning" v1: steps and payloads, defined once and shared by `guest.ts` and `host.ts`.
 *
 * Parties: guest (bank: labels, HE key holder) and host (government node: features).
 * Messages in order:
 *   1. host -> guest  host-layout   per host feature: name, kind, per-bin row counts (no edge, no row's bin)
 *   2. guest -> host  label-keys    HE scheme, public context (CKKS: Galois keys of the layout's rotations)
 *   3. guest -> host  label-batch*  encrypted labels in the aligned row order
 *   4. host -> guest  bin-sums      encrypted per-bin label sums, re-randomized and flooded
 *   5. guest -> host  host-result   per host feature: IV, merge plan (fine bins), WOE if released
 * What each party learns: the guest learns the host's per-bin row and bad counts (hence goods, WOE, IV)
 * and nothing about which row is in which host bin; the host learns nothing about any label beyond
 * what step 5 returns (IV, the merge plan of its fine bins, and -- only if the guest releases it -- the
 * WOE of its bins). Threat model: semi-honest parties; CKKS ciphertexts are IND-CPA under RLWE; the
 * sums are flooded so the guest's decryption does not expose the evaluation noise. Details and the
 * who-learns-what table: docs/protocols/woe-binning.md. Follows FATE's hetero feature binning (Yang et al.
 * 2019, "Federated machine learning: concept and applications"), with CKKS packing (packing.ts).
 */
import { FedscoreError, type StepDef } from '@fedscore/core';
import { fedscore, HE_SCHEMES, type HeScheme, mappedProtoStep } from '@fedscore/wire';

export const WOE_BINNING_PROTOCOL = 'vfl.woe-binning';
export const WOE_BINNING_VERSION = 1;

export interface HostFeatureLayout {
  readonly name: string;
  readonly categorical: boolean;
  readonly missingBin: boolean;
  readonly counts: readonly number[];
  readonly fine: boolean;
}

export interface HostLayout {
  readonly rows: number;
  readonly features: readonly HostFeatureLayout[];
}

export interface LabelKeys {
  readonly scheme: HeScheme;
  readonly publicContext: Uint8Array;
  readonly maxDigitBits: number;
  readonly labelItems: number;
}

export interface HostFeatureResult {
  readonly iv: number;
  readonly mergePlan: readonly number[];
  readonly woe: readonly number[];
}

const wb = fedscore.woebinning;
const SCHEME_TO_WIRE: Record<HeScheme, number> = {
  ckks: fedscore.he.Scheme.SCHEME_CKKS,
  paillier: fedscore.he.Scheme.SCHEME_PAILLIER,
  none: fedscore.he.Scheme.SCHEME_NONE,
};

function checkLayout(m: fedscore.woebinning.IHostLayout): string | null {
  const features = m.features ?? [];
  for (const [i, f] of features.entries()) {
    if (!f.name) return `features[${i}].name: required`;
    const counts = f.counts ?? [];
    if (counts.length === 0) return `features[${i}].counts: at least one bin`;
    if (counts.length > 65535) return `features[${i}].counts: more than 65535 bins`;
    const total = counts.reduce((a: number, c) => a + Number(c), 0);
    if (total !== Number(m.rows ?? 0))
      return `features[${i}].counts: sum ${total} differs from rows ${m.rows}`;
  }
  return null;
}

export const HOST_LAYOUT_STEP: StepDef<HostLayout> = mappedProtoStep('host-layout', wb.HostLayout, {
  check: checkLayout,
  toWire: (v) => ({
    rows: v.rows,
    features: v.features.map((f) => ({
      name: f.name,
      categorical: f.categorical,
      missingBin: f.missingBin,
      counts: [...f.counts],
      fine: f.fine,
    })),
  }),
  fromWire: (m) => ({
    rows: m.rows,
    features: m.features.map((f) => ({
      name: f.name ?? '',
      categorical: f.categorical === true,
      missingBin: f.missingBin === true,
      counts: (f.counts ?? []).map(Number),
      fine: f.fine === true,
    })),
  }),
});

export const LABEL_KEYS_STEP: StepDef<LabelKeys> = mappedProtoStep('label-keys', wb.LabelKeys, {
  check: (m) =>
    m.publicContext === undefined || m.publicContext === null || m.publicContext.length === 0
      ? 'publicContext: required'
      : null,
  toWire: (v) => {
    const scheme = SCHEME_TO_WIRE[v.scheme];
    if (scheme === undefined) {
      throw new FedscoreError('invalid_argument', `unknown scheme '${String(v.scheme)}'`, {
        field: 'scheme',
      });
    }
    return { scheme, publicContext: v.publicContext, maxDigitBits: v.maxDigitBits, labelItems: v.labelItems };
  },
  fromWire: (m) => {
    const scheme = HE_SCHEMES.find((s) => SCHEME_TO_WIRE[s] === m.scheme);
    if (scheme === undefined) {
      throw new FedscoreError('wire_decode', `unknown HE scheme ${m.scheme}`, { field: 'LabelKeys.scheme' });
    }
    return { scheme, publicContext: m.publicContext, maxDigitBits: m.maxDigitBits, labelItems: m.labelItems };
  },
});

export const LABEL_BATCH_STEP: StepDef<readonly Uint8Array[]> = mappedProtoStep(
  'label-batch',
  wb.LabelBatch,
  {
    toWire: (v) => ({ items: [...v] }),
    fromWire: (m) => m.items,
    sizeHint: (m) => (m.items ?? []).reduce((a, b) => a + b.length + 6, 16),
  },
);

export const BIN_SUMS_STEP: StepDef<readonly Uint8Array[]> = mappedProtoStep('bin-sums', wb.BinSums, {
  toWire: (v) => ({ items: [...v] }),
  fromWire: (m) => m.items,
  sizeHint: (m) => (m.items ?? []).reduce((a, b) => a + b.length + 6, 16),
});

export const HOST_RESULT_STEP: StepDef<readonly HostFeatureResult[]> = mappedProtoStep(
  'host-result',
  wb.HostResult,
  {
    toWire: (v) => ({ features: v.map((f) => ({ iv: f.iv, mergePlan: [...f.mergePlan], woe: [...f.woe] })) }),
    fromWire: (m) =>
      m.features.map((f) => ({
        iv: f.iv ?? 0,
        mergePlan: (f.mergePlan ?? []).map(Number),
        woe: (f.woe ?? []).map(Number),
      })),
  },
);

/** The cells whose bad counts travel encrypted: every non-empty bin but each feature's largest. */
export interface LayoutCells {
  readonly cells: { feature: number; bin: number }[];
  readonly counts: number[];
  /** Per feature, the bin derived by subtraction from the total (-1 when the feature has no rows). */
  readonly derivedBin: number[];
}

/** Deterministic: both parties compute the same cells from the same layout. */
export function layoutCells(layout: HostLayout): LayoutCells {
  const cells: { feature: number; bin: number }[] = [];
  const counts: number[] = [];
  const derivedBin: number[] = [];
  layout.features.forEach((f, fi) => {
    let largest = -1;
    f.counts.forEach((c, b) => {
      if (c > 0 && (largest < 0 || c > f.counts[largest]!)) largest = b;
    });
    derivedBin.push(largest);
    f.counts.forEach((c, b) => {
      if (c > 0 && b !== largest) {
        cells.push({ feature: fi, bin: b });
        counts.push(c);
      }
    });
  });
  return { cells, counts, derivedBin };
}

/** Items per label-batch / bin-sums message: keeps messages well under the 64 MiB wire limit. */
export const CKKS_ITEMS_PER_MESSAGE = 64;
export const SCALAR_ITEMS_PER_MESSAGE = 16384;
