/** A small vertically split logistic population for tests (generated, so tests never need ../shared). */
import { normal, seededRng, uniform } from '@fedscore/core';
import type { PartyFeatures } from '@fedscore/vfl';

export interface SplitData {
  readonly guest: PartyFeatures;
  readonly labels: Float64Array;
  readonly hosts: PartyFeatures[];
}

/** n rows; guest gets `pg` features, host h gets `ph[h]`; y ~ Bernoulli(sigmoid(x . beta)). Raw scales differ. */
export function syntheticSplit(
  n: number,
  pg: number,
  ph: readonly number[],
  seed = 7,
  missing = 0,
): SplitData {
  const rng = seededRng(seed);
  const total = pg + ph.reduce((a, b) => a + b, 0);
  const beta = Array.from({ length: total }, () => normal(rng, 0, 1.2));
  const cols = Array.from({ length: total }, () => new Float64Array(n));
  const scale = Array.from({ length: total }, (_, j) => 1 + 10 * j);
  const labels = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = -0.5;
    for (let j = 0; j < total; j++) {
      const x = normal(rng);
      z += beta[j]! * x;
      cols[j]![i] = x * scale[j]! + 3 * j;
    }
    labels[i] = uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  if (missing > 0) {
    for (const c of cols) for (let i = 0; i < n; i++) if (uniform(rng) < missing) c[i] = Number.NaN;
  }
  const names = (prefix: string, k: number) => Array.from({ length: k }, (_, j) => `${prefix}${j}`);
  let off = pg;
  const hosts = ph.map((k, h) => {
    const f = { names: names(`h${h}_`, k), columns: cols.slice(off, off + k) };
    off += k;
    return f;
  });
  return { guest: { names: names('g', pg), columns: cols.slice(0, pg) }, labels, hosts };
}

/**
 * The centralized reference: the same first-order-Taylor mini-batch gradient descent on the pooled,
 * standardized columns (intercept last), written independently of the protocol code.
 */
export function pooledTaylorSgd(
  columns: readonly Float64Array[],
  y: Float64Array,
  batches: (epoch: number) => Uint32Array[],
  epochs: number,
  lrAt: (epoch: number) => number,
  l2: number,
): Float64Array {
  const p = columns.length;
  const w = new Float64Array(p + 1);
  for (let e = 0; e < epochs; e++) {
    const lr = lrAt(e);
    for (const b of batches(e)) {
      const g = new Float64Array(p + 1);
      for (const r of b) {
        let z = w[p]!;
        for (let j = 0; j < p; j++) z += w[j]! * columns[j]![r]!;
        const d = 0.25 * z + 0.5 - y[r]!;
        for (let j = 0; j < p; j++) g[j]! += (d * columns[j]![r]!) / b.length;
        g[p]! += d / b.length;
      }
      for (let j = 0; j <= p; j++) w[j]! -= lr * (g[j]! + (j < p ? l2 * w[j]! : 0));
    }
  }
  return w;
}

/** Standardize on all rows given (mean/population sd, NaN -> mean) -- independent of the package. */
export function standardizeOn(col: Float64Array, rows: ArrayLike<number>): Float64Array {
  let n = 0;
  let s = 0;
  for (let k = 0; k < rows.length; k++) {
    const v = col[rows[k]!]!;
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  const mean = s / n;
  let ss = 0;
  for (let k = 0; k < rows.length; k++) {
    const v = col[rows[k]!]!;
    if (!Number.isNaN(v)) ss += (v - mean) ** 2;
  }
  const sd = Math.sqrt(ss / n) || 1;
  return col.map((v) => (Number.isNaN(v) ? 0 : (v - mean) / sd));
}
