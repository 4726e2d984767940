/**
 * A centralized plaintext histogram GBDT (binary log loss), written for the tests independently of the
 * protocol code: the pooled columns of every party, given bin edges (the same quantile edges the parties
 * fit), second-order gain and leaf weight as in Chen & Guestrin 2016 (XGBoost, eqs. 5-7), grown level by
 * level with the rules the SecureBoost doc states (row floor on both children, min child weight, gain
 * > 0, ties keep the earlier feature and bin). Tests only.
 */
export interface ReferenceOptions {
  readonly trees: number;
  readonly depth: number;
  readonly learningRate: number;
  readonly l2: number;
  readonly minChildWeight: number;
  /** Rows each child must keep (max of the leaf minimum and the row floor). */
  readonly childRows: number;
  /** A node needs at least this many rows to be split. */
  readonly minNodeRows: number;
}

export type RefNode =
  | { leaf: true; weight: number }
  | { leaf: false; feature: number; bin: number; left: RefNode; right: RefNode };

export interface RefModel {
  readonly base: number;
  readonly trees: RefNode[];
  readonly edges: readonly (readonly number[])[];
  readonly missingBin: readonly boolean[];
}

/** Bin of v for interior edges (bin b = (edges[b-1], edges[b]]); NaN in the bin after the value bins. */
export function refBin(v: number, edges: readonly number[]): number {
  if (Number.isNaN(v)) return edges.length + 1;
  let b = 0;
  while (b < edges.length && edges[b]! < v) b++;
  return b;
}

export function trainReference(
  columns: readonly Float64Array[],
  edges: readonly (readonly number[])[],
  missingBin: readonly boolean[],
  y: Float64Array,
  o: ReferenceOptions,
): RefModel {
  const n = y.length;
  const bins = columns.map((c, f) => Uint16Array.from(c, (v) => refBin(v, edges[f]!)));
  const nBins = edges.map((e, f) => e.length + 1 + (missingBin[f] ? 1 : 0));
  let pos = 0;
  for (const v of y) pos += v;
  const base = Math.log(pos / (n - pos));
  const score = new Float64Array(n).fill(base);
  const trees: RefNode[] = [];
  for (let t = 0; t < o.trees; t++) {
    const g = new Float64Array(n);
    const h = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-score[i]!));
      g[i] = p - y[i]!;
      h[i] = p * (1 - p);
    }
    const grow = (rows: number[], depth: number): RefNode => {
      let G = 0;
      let H = 0;
      for (const i of rows) {
        G += g[i]!;
        H += h[i]!;
      }
      const leaf: RefNode = { leaf: true, weight: (o.learningRate * -G) / (H + o.l2) };
      if (depth >= o.depth || rows.length < 2 * o.childRows || rows.length < o.minNodeRows) return leaf;
      let best = 0;
      let pick: { feature: number; bin: number } | undefined;
      for (let f = 0; f < columns.length; f++) {
        const gs = new Float64Array(nBins[f]!);
        const hs = new Float64Array(nBins[f]!);
        const cs = new Float64Array(nBins[f]!);
        for (const i of rows) {
          const b = bins[f]![i]!;
          gs[b]! += g[i]!;
          hs[b]! += h[i]!;
          cs[b]!++;
        }
        let gl = 0;
        let hl = 0;
        let cl = 0;
        for (let b = 0; b + 1 < nBins[f]!; b++) {
          gl += gs[b]!;
          hl += hs[b]!;
          cl += cs[b]!;
          if (cl < o.childRows || rows.length - cl < o.childRows) continue;
          if (hl < o.minChildWeight || H - hl < o.minChildWeight) continue;
          const gr = G - gl;
          const hr = H - hl;
          const gain = 0.5 * ((gl * gl) / (hl + o.l2) + (gr * gr) / (hr + o.l2) - (G * G) / (H + o.l2));
          if (gain > best) {
            best = gain;
            pick = { feature: f, bin: b };
          }
        }
      }
      if (pick === undefined) return leaf;
      const l = rows.filter((i) => bins[pick.feature]![i]! <= pick.bin);
      const r = rows.filter((i) => bins[pick.feature]![i]! > pick.bin);
      return { leaf: false, ...pick, left: grow(l, depth + 1), right: grow(r, depth + 1) };
    };
    const tree = grow([...Array(n).keys()], 0);
    trees.push(tree);
    for (let i = 0; i < n; i++) score[i]! += walk(tree, (f) => bins[f]![i]!);
  }
  return { base, trees, edges, missingBin };
}

function walk(node: RefNode, binOf: (f: number) => number): number {
  let k = node;
  while (!k.leaf) k = binOf(k.feature) <= k.bin ? k.left : k.right;
  return k.weight;
}

/** Log-odds of rows of pooled columns. */
export function predictReference(model: RefModel, columns: readonly Float64Array[]): Float64Array {
  const n = columns[0]!.length;
  const out = new Float64Array(n).fill(model.base);
  for (let i = 0; i < n; i++) {
    for (const t of model.trees) out[i]! += walk(t, (f) => refBin(columns[f]![i]!, model.edges[f]!));
  }
  return out;
}
