/**
 * A centralized plaintext histogram GBDT (binary log loss), written for the tests independently of the
 * protocol code: the pooled columns of every party, given bin edges (the same quantile edges the parties
 * fit), second-order gain and leaf weight as in Chen & Guestrin 2016 (XGBoost, eqs. 5-7), grown level by
 * level with the rules the SecureBoost doc states (row floor on both children, min child weight, gain
 * > 0, ties keep the earlier feature and bin). Tests only.
 * Options, each written here from its paper, not from the protocol code: a training subset (the rest
 * is validation), GOSS (Ke et al. 2017, LightGBM, Algorithm 2), and a per-tree set of usable features
 * (colsample_bytree, guest-only trees), and the hosts' per-bin floor (cuts of a host feature only
 * between groups of adjacent bins holding the floor in both children of every split: `groupCuts`).
 */
import { type Rng, uniformInt } from '@fedscore/core';

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
  /** Rows the trees are grown on and the base score is fitted to (default all). */
  readonly trainRows?: readonly number[];
  /**
   * GOSS: keep the round(top * m) rows of largest |g| (ties: lower row first), draw round(other * m)
   * of the rest (ascending) by a partial Fisher-Yates with `rng`, multiply their g and h by
   * (1 - top) / other.
   */
  readonly goss?: { readonly top: number; readonly other: number; readonly rng: Rng };
  /** Pooled feature indices tree t may split on (default all); called once per tree, after GOSS. */
  readonly features?: (tree: number) => readonly number[];
  /**
   * The hosts' per-bin floor on the pooled features in `features`: at the root, cuts only after a run of
   * bins holding `rows` rows of the node; at each split, the children's cuts are the parent's that keep
   * `rows` rows of each child on both sides of every kept cut (`groupCuts`).
   */
  readonly binFloor?: { readonly rows: number; readonly features: ReadonlySet<number> };
  /** Layered trees: nodes above `hostDepth` split on `hostFeatures` only, the others on the rest only. */
  readonly layered?: { readonly hostDepth: number; readonly hostFeatures: ReadonlySet<number> };
}

/**
 * The cuts (bin b: "b and below go left") the per-bin floor allows, from the cuts allowed before
 * (`parent`; undefined: all), a node's counts per bin `a` and its sibling's `b` (none at the root):
 * greedily keep a cut once both runs since the last kept cut hold `floor` rows; the run after the last
 * kept cut must hold them too, else that cut is dropped.
 */
export function groupCuts(
  parent: ReadonlySet<number> | undefined,
  a: Float64Array,
  b: Float64Array | undefined,
  floor: number,
): Set<number> {
  const cuts: number[] = [];
  let ca = 0;
  let cb = 0;
  for (let k = 0; k + 1 < a.length; k++) {
    ca += a[k]!;
    cb += b === undefined ? floor : b[k]!;
    if ((parent === undefined || parent.has(k)) && ca >= floor && cb >= floor) {
      cuts.push(k);
      ca = 0;
      cb = 0;
    }
  }
  ca += a[a.length - 1]!;
  cb += b === undefined ? floor : b[a.length - 1]!;
  if (cuts.length > 0 && (ca < floor || cb < floor)) cuts.pop();
  return new Set(cuts);
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
  const trainRows = o.trainRows ?? [...Array(n).keys()];
  let pos = 0;
  for (const i of trainRows) pos += y[i]!;
  const base = Math.log(pos / (trainRows.length - pos));
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
    let rootRows = trainRows;
    if (o.goss !== undefined) {
      const m = trainRows.length;
      const sorted = [...trainRows].sort((a, b) => {
        const d = Math.abs(g[b]!) - Math.abs(g[a]!);
        return d !== 0 ? d : a - b;
      });
      const top = sorted.slice(0, Math.round(o.goss.top * m));
      const rest = trainRows.filter((i) => !top.includes(i));
      const k = Math.min(rest.length, Math.round(o.goss.other * m));
      for (let i = 0; i < k; i++) {
        const j = i + uniformInt(o.goss.rng, rest.length - i);
        [rest[i], rest[j]] = [rest[j]!, rest[i]!];
      }
      const picked = rest.slice(0, k);
      for (const i of picked) {
        g[i]! *= (1 - o.goss.top) / o.goss.other;
        h[i]! *= (1 - o.goss.top) / o.goss.other;
      }
      rootRows = [...top, ...picked].sort((a, b) => a - b);
    }
    const usable = new Set(o.features?.(t) ?? columns.keys());
    const counts = (rows: readonly number[], f: number): Float64Array => {
      const c = new Float64Array(nBins[f]!);
      for (const i of rows) c[bins[f]![i]!]!++;
      return c;
    };
    const floored = (f: number) => o.binFloor?.features.has(f) === true;
    // allowed[f]: the cuts of feature f the per-bin floor leaves this node (undefined: every cut).
    const grow = (rows: number[], depth: number, allowedIn?: (Set<number> | undefined)[]): RefNode => {
      let G = 0;
      let H = 0;
      for (const i of rows) {
        G += g[i]!;
        H += h[i]!;
      }
      const leaf: RefNode = { leaf: true, weight: (o.learningRate * -G) / (H + o.l2) };
      if (depth >= o.depth || rows.length < 2 * o.childRows || rows.length < o.minNodeRows) return leaf;
      const allowed =
        allowedIn ??
        columns.map((_, f) =>
          floored(f) ? groupCuts(undefined, counts(rows, f), undefined, o.binFloor!.rows) : undefined,
        );
      let best = 0;
      let pick: { feature: number; bin: number } | undefined;
      for (let f = 0; f < columns.length; f++) {
        if (!usable.has(f)) continue;
        if (o.layered !== undefined && o.layered.hostFeatures.has(f) !== depth < o.layered.hostDepth)
          continue;
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
          if (allowed[f] !== undefined && !allowed[f]!.has(b)) continue;
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
      const childAllowed = columns.map((_, f) =>
        floored(f) ? groupCuts(allowed[f], counts(l, f), counts(r, f), o.binFloor!.rows) : undefined,
      );
      return {
        leaf: false,
        ...pick,
        left: grow(l, depth + 1, childAllowed),
        right: grow(r, depth + 1, childAllowed),
      };
    };
    const tree = grow([...rootRows], 0);
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
