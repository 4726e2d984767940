/**
 * Shared fixtures of the WOE-binning tests: a synthetic vertically split data set, the two roles run over
 * the in-memory network, and an independent centralized reference (plain loops, no library binning code
 * beyond the fitted edges) for counts, WOE and IV.
 */
import {
  type Column,
  createInMemoryNetwork,
  ProtocolSession,
  runParties,
  seededRng,
  uniform,
} from '@fedscore/core';
import {
  type BinningOptions,
  type FeatureBins,
  runWoeBinningGuest,
  runWoeBinningHost,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
  type WoeBinningGuestOptions,
  type WoeBinningHostOptions,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';

export interface Synthetic {
  readonly labels: Float64Array;
  readonly host: Column[];
}

/** n rows; host: 3 numeric features (one with 10% missing) and one categorical with 5 categories. */
export function synthetic(n: number, seed = 7): Synthetic {
  const rng = seededRng(seed);
  const labels = new Float64Array(n);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const c = new Float64Array(n);
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const risk = uniform(rng);
    labels[i] = uniform(rng) < 0.1 + 0.5 * risk * risk ? 1 : 0;
    a[i] = risk * 10 + uniform(rng) * 3;
    b[i] = uniform(rng) < 0.1 ? Number.NaN : Math.round(uniform(rng) * 50 - risk * 20);
    c[i] = uniform(rng);
    codes[i] = uniform(rng) < 0.05 ? -1 : Math.min(4, Math.floor(risk * 3 + uniform(rng) * 2.5));
  }
  const missing = (v: Float64Array): number => v.reduce((k, x) => k + (Number.isNaN(x) ? 1 : 0), 0);
  return {
    labels,
    host: [
      { kind: 'numeric', name: 'tax_paid', values: a, missing: 0 },
      { kind: 'numeric', name: 'staff_change', values: b, missing: missing(b) },
      { kind: 'numeric', name: 'noise', values: c, missing: 0 },
      {
        kind: 'categorical',
        name: 'sector',
        codes,
        categories: ['agri', 'build', 'trade', 'tech', 'logistics'],
        missing: codes.reduce((k, x) => k + (x < 0 ? 1 : 0), 0),
      },
    ],
  };
}

export async function runBoth(
  guest: Omit<WoeBinningGuestOptions, 'labels'> & { labels: ArrayLike<number> },
  host: WoeBinningHostOptions,
  capture = false,
) {
  const network = createInMemoryNetwork(['guest', 'host'], envelopeCodec, { capture });
  const spec = { protocol: WOE_BINNING_PROTOCOL, version: WOE_BINNING_VERSION, session: 'woe-test' };
  const result = await runParties(network, {
    guest: () => runWoeBinningGuest(new ProtocolSession(network.channel('guest'), spec), 'host', guest),
    host: () => runWoeBinningHost(new ProtocolSession(network.channel('host'), spec), 'guest', host),
  });
  return { ...result, network };
}

/** Bin of one value by a linear scan (independent of assignBins' binary search). */
function referenceBin(column: Column, row: number, bins: FeatureBins): number {
  const valueBins = bins.kind === 'numeric' ? bins.edges.length + 1 : bins.groups.length;
  if (column.kind === 'numeric' && bins.kind === 'numeric') {
    const v = column.values[row]!;
    if (Number.isNaN(v)) return valueBins;
    let b = 0;
    while (b < bins.edges.length && v > bins.edges[b]!) b++;
    return b;
  }
  if (column.kind === 'categorical' && bins.kind === 'categorical') {
    const code = column.codes[row]!;
    if (code < 0) return valueBins;
    const name = column.categories[code]!;
    const g = bins.groups.findIndex((grp) => grp.includes(name));
    return g >= 0 ? g : bins.otherGroup;
  }
  throw new Error('kind mismatch');
}

/** Centralized (pooled) counts, WOE and IV of `column` under `bins`, FATE's 0.5 adjustment. */
export function centralized(column: Column, bins: FeatureBins, labels: ArrayLike<number>) {
  const nb = (bins.kind === 'numeric' ? bins.edges.length + 1 : bins.groups.length) + (bins.missing ? 1 : 0);
  const good = new Array<number>(nb).fill(0);
  const bad = new Array<number>(nb).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const b = referenceBin(column, i, bins);
    if (labels[i] === 1) bad[b]!++;
    else good[b]!++;
  }
  const G = good.reduce((x, y) => x + y, 0);
  const B = bad.reduce((x, y) => x + y, 0);
  let iv = 0;
  const woe = good.map((g, i) => {
    const k = bad[i]!;
    if (g + k === 0) return 0;
    const pg = (g === 0 ? 0.5 : g) / G;
    const pb = (k === 0 ? 0.5 : k) / B;
    const w = Math.log(pg / pb);
    iv += (pg - pb) * w;
    return w;
  });
  return { good, bad, woe, iv };
}

export const QUANTILE_10: BinningOptions = { method: 'quantile', bins: 10 };
