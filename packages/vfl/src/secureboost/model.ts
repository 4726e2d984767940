/**
 * SecureBoost models: each party keeps only its own splits. The guest's model holds the tree structure,
 * the leaf weights and its own (feature, bin) splits; a host split appears there only as (host index,
 * opaque split id). A host's model maps its split ids to its own feature and bin and keeps its bin
 * edges: its thresholds never leave it. Both are versioned JSON documents.
 */
import { FedscoreError } from '@fedscore/core';
import { assignBins, binCount, type FeatureBins, fitBins } from '../binning/bins.ts';
import type { PartyFeatures } from '../hetero-lr/features.ts';

export const SECUREBOOST_GUEST_FORMAT = 'fedscore.secureboost.guest';
export const SECUREBOOST_HOST_FORMAT = 'fedscore.secureboost.host';
export const SECUREBOOST_MODEL_VERSION = 1;

export type SecureBoostNode =
  | { readonly kind: 'leaf'; readonly weight: number }
  | {
      readonly kind: 'guest-split';
      readonly feature: number;
      readonly bin: number;
      readonly gain: number;
      readonly left: number;
      readonly right: number;
    }
  | {
      readonly kind: 'host-split';
      /** Index of the host in `hosts`. */
      readonly host: number;
      readonly splitId: number;
      readonly gain: number;
      readonly left: number;
      readonly right: number;
    };

export interface SecureBoostGuestModel {
  readonly format: typeof SECUREBOOST_GUEST_FORMAT;
  readonly version: typeof SECUREBOOST_MODEL_VERSION;
  readonly modelId: string;
  /** Initial score (log-odds of the training labels). */
  readonly baseScore: number;
  readonly learningRate: number;
  /** The host party ids, in the order host-split nodes index them. */
  readonly hosts: readonly string[];
  readonly features: readonly string[];
  readonly bins: readonly FeatureBins[];
  /** Node 0 of each tree is its root; leaf weights already include the learning rate. */
  readonly trees: readonly (readonly SecureBoostNode[])[];
}

export interface HostSplit {
  readonly splitId: number;
  readonly feature: number;
  /** Rows whose bin is <= bin go left (missing values are in the last bin: right). */
  readonly bin: number;
}

export interface SecureBoostHostModel {
  readonly format: typeof SECUREBOOST_HOST_FORMAT;
  readonly version: typeof SECUREBOOST_MODEL_VERSION;
  readonly modelId: string;
  readonly features: readonly string[];
  readonly bins: readonly FeatureBins[];
  readonly splits: readonly HostSplit[];
}

/** A party's features put in quantile bins (binning's `fitBins`): edges, row bins, bins per feature. */
export interface BinnedFeatures {
  readonly bins: readonly FeatureBins[];
  readonly index: readonly Uint16Array[];
  readonly counts: readonly number[];
}

export function binFeatures(features: PartyFeatures, bins: number): BinnedFeatures {
  const fitted = features.columns.map((values, j) =>
    fitBins(numericColumn(features.names[j]!, values), { method: 'quantile', bins }),
  );
  return applyBins(features, fitted);
}

export function applyBins(features: PartyFeatures, bins: readonly FeatureBins[]): BinnedFeatures {
  if (features.columns.length !== bins.length) {
    throw new FedscoreError(
      'invalid_argument',
      `expected ${bins.length} features, got ${features.columns.length}`,
      {
        field: 'features',
      },
    );
  }
  return {
    bins,
    index: features.columns.map((values, j) =>
      assignBins(numericColumn(features.names[j]!, values), bins[j]!),
    ),
    counts: bins.map(binCount),
  };
}

function numericColumn(name: string, values: Float64Array) {
  let missing = 0;
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) missing++;
  return { kind: 'numeric' as const, name, values, missing };
}

export function serializeGuestModel(m: SecureBoostGuestModel): string {
  return JSON.stringify(m);
}

export function serializeHostModel(m: SecureBoostHostModel): string {
  return JSON.stringify(m);
}

function parseDoc(text: string, format: string, field: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FedscoreError('invalid_config', 'model file is not JSON', { field, cause: e });
  }
  if (typeof doc !== 'object' || doc === null || (doc as { format?: unknown }).format !== format) {
    throw new FedscoreError('invalid_config', `not a ${format} model`, { field: `${field}.format` });
  }
  if ((doc as { version?: unknown }).version !== SECUREBOOST_MODEL_VERSION) {
    throw new FedscoreError('invalid_config', `unsupported model version`, { field: `${field}.version` });
  }
  return doc as Record<string, unknown>;
}

export function parseGuestModel(text: string): SecureBoostGuestModel {
  const doc = parseDoc(text, SECUREBOOST_GUEST_FORMAT, 'guestModel');
  if (!Array.isArray(doc.trees) || !Array.isArray(doc.bins) || !Number.isFinite(doc.baseScore)) {
    throw new FedscoreError('invalid_config', 'trees, bins and baseScore required', {
      field: 'guestModel.trees',
    });
  }
  return doc as unknown as SecureBoostGuestModel;
}

export function parseHostModel(text: string): SecureBoostHostModel {
  const doc = parseDoc(text, SECUREBOOST_HOST_FORMAT, 'hostModel');
  if (!Array.isArray(doc.splits) || !Array.isArray(doc.bins)) {
    throw new FedscoreError('invalid_config', 'splits and bins required', { field: 'hostModel.splits' });
  }
  return doc as unknown as SecureBoostHostModel;
}

/**
 * Scores (log-odds) of rows by walking every tree: guest splits read `guestIndex` (the guest's row bins),
 * host splits read `hostLeft(host, splitId)`, a bitmap over the rows (bit set: left).
 */
export function walkTrees(
  model: SecureBoostGuestModel,
  rows: number,
  guestIndex: readonly Uint16Array[],
  hostLeft: (host: number, splitId: number) => Uint8Array,
): Float64Array {
  const out = new Float64Array(rows).fill(model.baseScore);
  for (const tree of model.trees) addTree(tree, rows, guestIndex, hostLeft, out);
  return out;
}

export function addTree(
  tree: readonly SecureBoostNode[],
  rows: number,
  guestIndex: readonly Uint16Array[],
  hostLeft: (host: number, splitId: number) => Uint8Array,
  out: Float64Array,
): void {
  for (let i = 0; i < rows; i++) {
    let k = 0;
    for (;;) {
      const node = tree[k];
      if (node === undefined)
        throw new FedscoreError('invalid_config', `tree node ${k} missing`, { field: 'trees' });
      if (node.kind === 'leaf') {
        out[i]! += node.weight;
        break;
      }
      const left =
        node.kind === 'guest-split'
          ? guestIndex[node.feature]![i]! <= node.bin
          : ((hostLeft(node.host, node.splitId)[i >> 3]! >> (i & 7)) & 1) === 1;
      k = left ? node.left : node.right;
    }
  }
}

/** Split ids of one host that the guest's trees use. */
export function hostSplitIds(model: SecureBoostGuestModel, host: number): number[] {
  const ids = new Set<number>();
  for (const t of model.trees)
    for (const n of t) if (n.kind === 'host-split' && n.host === host) ids.add(n.splitId);
  return [...ids].sort((a, b) => a - b);
}

/** The host's answer for rows: per split id, a bitmap of the rows that go left. */
export function hostSplitBits(
  model: SecureBoostHostModel,
  index: readonly Uint16Array[],
  rows: number,
  splitIds: readonly number[],
): Uint8Array[] {
  const byId = new Map(model.splits.map((s) => [s.splitId, s]));
  return splitIds.map((id) => {
    const s = byId.get(id);
    if (s === undefined)
      throw new FedscoreError('not_found', `unknown split id ${id}`, { field: 'splitIds' });
    const col = index[s.feature]!;
    const bits = new Uint8Array(Math.ceil(rows / 8));
    for (let i = 0; i < rows; i++) if (col[i]! <= s.bin) bits[i >> 3]! |= 1 << (i & 7);
    return bits;
  });
}

/**
 * Feature importance of one party's own features: how many splits of the model use the feature, and
 * their total gain (XGBoost's "weight" and "total_gain"). `gain` is absent when the party does not know
 * its splits' gains (a host without `shareSplitGains`).
 */
export interface FeatureImportance {
  readonly feature: string;
  readonly splits: number;
  readonly gain?: number;
}

/** The guest's importance of its own features (host splits are not among them). */
export function guestFeatureImportance(model: SecureBoostGuestModel): FeatureImportance[] {
  const splits = new Array<number>(model.features.length).fill(0);
  const gain = new Array<number>(model.features.length).fill(0);
  for (const t of model.trees) {
    for (const n of t) {
      if (n.kind !== 'guest-split') continue;
      if (!Number.isInteger(n.feature) || n.feature < 0 || n.feature >= model.features.length) {
        throw new FedscoreError(
          'invalid_config',
          `a split names feature ${n.feature}, not one of the model's`,
          {
            field: 'trees',
          },
        );
      }
      splits[n.feature]!++;
      gain[n.feature]! += n.gain;
    }
  }
  return model.features.map((feature, f) => ({ feature, splits: splits[f]!, gain: gain[f]! }));
}

/** One host's share of the guest's model: how many splits are that host's, and their summed gain. */
export interface HostSplitTotals {
  /** The host's party id (`model.hosts`). */
  readonly host: string;
  readonly splits: number;
  readonly gain: number;
}

/**
 * The guest's view of each host's importance: split count and total gain per host, in `model.hosts`
 * order (the guest knows a host split only by opaque id, so never which host feature it is on).
 */
export function hostSplitTotals(model: SecureBoostGuestModel): HostSplitTotals[] {
  const splits = new Array<number>(model.hosts.length).fill(0);
  const gain = new Array<number>(model.hosts.length).fill(0);
  for (const t of model.trees) {
    for (const n of t) {
      if (n.kind !== 'host-split') continue;
      if (!Number.isInteger(n.host) || n.host < 0 || n.host >= model.hosts.length) {
        throw new FedscoreError('invalid_config', `a split names host ${n.host}, not one of the model's`, {
          field: 'trees',
        });
      }
      splits[n.host]!++;
      gain[n.host]! += n.gain;
    }
  }
  return model.hosts.map((host, h) => ({ host, splits: splits[h]!, gain: gain[h]! }));
}

/** The gain of each of one host's splits in the guest's model, indexed by split id (what the guest sends). */
export function hostSplitGains(model: SecureBoostGuestModel, host: number): Float64Array {
  const ids = hostSplitIds(model, host);
  const out = new Float64Array(ids.length === 0 ? 0 : ids[ids.length - 1]! + 1).fill(Number.NaN);
  for (const t of model.trees)
    for (const n of t) if (n.kind === 'host-split' && n.host === host) out[n.splitId] = n.gain;
  return out;
}

/**
 * A host's importance of its own features: split counts from its own model; total gains when it was
 * given the gain of each of its split ids (`hostSplitGains`, one per split of its model).
 */
export function hostFeatureImportance(
  model: SecureBoostHostModel,
  splitGains?: ArrayLike<number>,
): FeatureImportance[] {
  if (splitGains !== undefined && splitGains.length !== model.splits.length) {
    throw new FedscoreError(
      'invalid_argument',
      `${splitGains.length} split gains for ${model.splits.length} splits`,
      { field: 'splitGains' },
    );
  }
  const splits = new Array<number>(model.features.length).fill(0);
  const gain = new Array<number>(model.features.length).fill(0);
  for (const s of model.splits) {
    if (!Number.isInteger(s.feature) || s.feature < 0 || s.feature >= model.features.length) {
      throw new FedscoreError('invalid_config', `split ${s.splitId} names no feature of the model`, {
        field: 'splits',
      });
    }
    splits[s.feature]!++;
    if (splitGains !== undefined) gain[s.feature]! += splitGains[s.splitId]!;
  }
  return model.features.map((feature, f) => ({
    feature,
    splits: splits[f]!,
    ...(splitGains !== undefined && { gain: gain[f]! }),
  }));
}
