/**
 * Scoring with a SecureBoost tree model (vfl's `SecureBoostGuestModel` / `SecureBoostHostModel`): the
 * guest (the bank: the trees, the leaf weights and the CKKS key) learns each applicant's score and not
 * the outcome of any host split; the host (the government node: its own split thresholds and
 * features) learns nothing of the guest's splits, weights or scores. Protocol `scoring.tree`, version 1;
 * docs/protocols/tree-scoring.md has it at length.
 *
 * Idea (the reachable-leaf product of Cheng et al. 2019, SecureBoost, section 5's prediction turned so
 * that the label holder does not see the host's branch; the same shape as EINI, Chen et al. 2021,
 * "EINI: Efficient and Interpretable Inference for Vertical Federated Learning", and FATE's
 * SecureBoost "fast" prediction mode): an applicant reaches exactly one leaf of each tree. A leaf is
 * reached iff it is consistent with the guest's split outcomes (a_l = 1) AND with the host's (b_l = 1),
 * so the tree's contribution is sum_l w_l a_l b_l. The guest knows a and w, the host knows b.
 *
 * Parties: guest G, one host H (a model with splits of several hosts is refused: the product of two
 * hosts' indicators would need the hosts to talk to each other or the guest to see one of them).
 *
 * Messages, in order:
 *   1. G -> H  tree-layout: records, trees, slots per tree L (the model's largest leaf count; each
 *              tree's leaves in a random order, drawn by G from a cryptographic generator, padded to L),
 *              block B (next power of two >= trees x L), and for every host split node: its tree, its
 *              split id, the slots under its left child and under its right child. No weight, no guest
 *              split, no feature name.
 *   2. G -> H  tree-context x k: G's public CKKS context (`ckks-16384-release`; Galois keys of the
 *              steps 1, 2, ..., B/2), in chunks of <= 16 MiB.
 *   per group of floor(8192 / B) applicants:
 *   3. G -> H  tree-leaf-weights: Enc(c), c[t L + s] = w(t, s) a(t, s) for each applicant's block.
 *   4. H -> G  tree-scores: Enc(sum over each block of c . b + e): H multiplies by its 0/1 vector b
 *              (b(t, s) = 0 iff one of its splits on the path to slot s goes the other way for this
 *              applicant), sums each block by rotations (slot i B gets block i's sum), multiplies by the
 *              0/1 selector of the block starts (every other slot, which held partial sums, becomes
 *              0), and adds a fresh encryption of Gaussian flooding noise on every slot (re-randomizes
 *              the ciphertext and hides the CKKS error, which depends on b).
 *   G decrypts slot i B of each group: the applicant's tree sum (+ noise); adds the base score.
 *
 * Who learns what:
 *   - G: each applicant's score (log-odds) plus flooding noise of sd `floodingStdDev(2^-28, groups)`
 *     (~4e-4 for one applicant, ~2e-3 for 1,000 applicants in 32 groups). Nothing else: each slot other
 *     than a block start decrypts to noise, and the ciphertext is re-randomized. What the score itself
 *     implies is not hidden (inherent to G learning the score): with one tree, or a few trees whose
 *     reachable leaves have distinct weight sums, G can tell which leaves were reached, hence the
 *     outcome of the host splits on that path. With 30 trees the candidate combinations are many and the
 *     noise blurs close sums, but this flow gives no formal bound on that inference.
 *   - H: the number of applicants, trees and leaf slots, and for each of its own split nodes the
 *     (permuted) leaf slots under each side: the size of each side and how its own splits nest within a
 *     tree (which it partly knew: predict.ts tells it the split ids in use). Never a leaf weight, a guest
 *     split outcome or a score: every value it receives is a CKKS ciphertext under G's key (IND-CPA,
 *     RLWE).
 *   Compare the plain federated flow (vfl's `SecureBoostPredictGuest`/`...Host`, `vfl.secureboost-predict`):
 *   G learns every host split outcome of every scored row.
 *
 * Threat model: semi-honest G and H, no collusion. A malicious G is not defended against: it chooses the
 * encrypted c, so it could put distinct powers of two on the slots and read b off the sum; a malicious H
 * can return any score (no integrity). The flooding is sized for the number of ciphertexts released
 * under one key: G makes a fresh key per run.
 */
import {
  assertOneOf,
  type CapturedMessage,
  type CryptoRng,
  createInMemoryNetwork,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  type PartyId,
  ProtocolSession,
  requireCryptoRng,
  runParties,
  shuffleInPlace,
} from '@fedscore/core';
import {
  CKKS_PRESETS,
  type CkksPublicContext,
  type CkksVector,
  createCkksContext,
  floodingStdDev,
  floodNoise,
  loadCkksPublicContext,
  sumRotationSteps,
} from '@fedscore/he';
import {
  applyBins,
  hostSplitBits,
  type PartyFeatures,
  SECUREBOOST_PREDICT_PROTOCOL,
  SECUREBOOST_VERSION,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  type SecureBoostNode,
  SecureBoostPredictGuest,
  SecureBoostPredictHost,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { type ProbabilityScores, pdToScore } from './probability.ts';
import { type CreditRules, creditLines } from './rules.ts';
import type { ScorecardScaling } from './scorecard.ts';
import {
  SCORING_VERSION,
  TREE_CONTEXT,
  TREE_LAYOUT,
  TREE_LEAF_WEIGHTS,
  TREE_SCORES,
  TREE_SCORING_PROTOCOL,
  type TreeLayoutMessage,
} from './steps.ts';

/** CKKS parameters of the run: scale 2^55, so the circuit error stays near 2^-34 (he presets). */
export const TREE_SCORING_PRESET = 'ckks-16384-release' as const;
/**
 * Bound of the circuit's CKKS error per released slot (one 0/1 plaintext product, log2 B rotations,
 * one 0/1 selector product) for leaf-weight sums |sum| <= `TREE_WEIGHT_BOUND`; the flooding is sized
 * from it. `tree-scoring.test.ts` measures the unflooded error on every run and checks it is below 1/16
 * of this bound.
 */
export const TREE_ERROR_BOUND = 2 ** -28;
/** Largest |leaf weight| the guest encrypts (the range the error bound was measured for). */
export const TREE_WEIGHT_BOUND = 16;
/** Statistical security of the flooding (bits; Li-Micciancio-Schultz-Sorrell 2022). */
export const TREE_FLOODING_BITS = 30;
export const CONTEXT_CHUNK = 16 * 1024 * 1024;

/** The leaf-slot layout of a model: what the guest keeps and what it sends the host. */
export interface TreeLayout {
  readonly trees: number;
  readonly slotsPerTree: number;
  readonly block: number;
  /** Per tree, per slot: the leaf's node index in the tree, or -1 for padding. */
  readonly slotNode: readonly Int32Array[];
  /** Per host split node: its tree, split id and the slots under each side (bitmaps over the tree's slots). */
  readonly splits: readonly {
    readonly tree: number;
    readonly splitId: number;
    readonly left: Uint8Array;
    readonly right: Uint8Array;
  }[];
}

function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! |= 1 << (i & 7);
}
function getBit(bits: Uint8Array, i: number): boolean {
  return (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1;
}

function node(tree: readonly SecureBoostNode[], k: number): SecureBoostNode {
  const n = tree[k];
  if (n === undefined)
    throw new FedscoreError('invalid_config', `tree node ${k} missing`, { field: 'trees' });
  return n;
}

/** Leaves under node k, in tree order (depth-first, left first). */
function leavesUnder(tree: readonly SecureBoostNode[], k: number, out: number[] = [], depth = 0): number[] {
  if (depth > 64)
    throw new FedscoreError('invalid_config', 'tree deeper than 64 or cyclic', { field: 'trees' });
  const n = node(tree, k);
  if (n.kind === 'leaf') out.push(k);
  else {
    leavesUnder(tree, n.left, out, depth + 1);
    leavesUnder(tree, n.right, out, depth + 1);
  }
  return out;
}

/**
 * The layout of `model`: each tree's leaves in a random order (Fisher-Yates from `rng`) over L slots
 * (L = the largest leaf count), and the slots under each side of every host split node.
 */
export function treeLayout(model: SecureBoostGuestModel, rng: CryptoRng): TreeLayout {
  const trees = model.trees.length;
  if (trees === 0) throw new FedscoreError('invalid_config', 'the model has no tree', { field: 'trees' });
  const leaves = model.trees.map((t) => leavesUnder(t, 0));
  const L = Math.max(...leaves.map((l) => l.length));
  let block = 1;
  while (block < trees * L) block *= 2;
  const slotNode: Int32Array[] = [];
  const splits: TreeLayout['splits'][number][] = [];
  model.trees.forEach((tree, t) => {
    const slots = new Int32Array(L).fill(-1);
    leaves[t]!.forEach((leaf, j) => {
      slots[j] = leaf;
    });
    shuffleInPlace(rng, slots);
    slotNode.push(slots);
    const slotOf = new Map<number, number>();
    slots.forEach((leaf, s) => {
      if (leaf >= 0) slotOf.set(leaf, s);
    });
    const bytes = Math.ceil(L / 8);
    tree.forEach((n) => {
      if (n.kind !== 'host-split') return;
      if (n.host !== 0) {
        throw new FedscoreError('unsupported', 'private-path tree scoring takes a model of one host', {
          field: 'hosts',
        });
      }
      const left = new Uint8Array(bytes);
      const right = new Uint8Array(bytes);
      for (const leaf of leavesUnder(tree, n.left)) setBit(left, slotOf.get(leaf)!);
      for (const leaf of leavesUnder(tree, n.right)) setBit(right, slotOf.get(leaf)!);
      splits.push({ tree: t, splitId: n.splitId, left, right });
    });
  });
  return { trees, slotsPerTree: L, block, slotNode, splits };
}

/**
 * The guest's vector of one applicant: w(t, s) where the leaf in slot s of tree t is consistent with
 * every guest split outcome of row `i` (host splits allow both sides), else 0. Written into `out` at
 * `offset`.
 */
export function guestLeafWeights(
  model: SecureBoostGuestModel,
  layout: TreeLayout,
  guestIndex: readonly Uint16Array[],
  i: number,
  out: Float64Array,
  offset: number,
): void {
  model.trees.forEach((tree, t) => {
    const reachable = new Set<number>();
    const walk = (k: number, depth: number): void => {
      if (depth > 64) throw new FedscoreError('invalid_config', 'tree deeper than 64', { field: 'trees' });
      const n = node(tree, k);
      if (n.kind === 'leaf') reachable.add(k);
      else if (n.kind === 'host-split') {
        walk(n.left, depth + 1);
        walk(n.right, depth + 1);
      } else walk(guestIndex[n.feature]![i]! <= n.bin ? n.left : n.right, depth + 1);
    };
    walk(0, 0);
    const slots = layout.slotNode[t]!;
    for (let s = 0; s < layout.slotsPerTree; s++) {
      const leaf = slots[s]!;
      const n = leaf >= 0 && reachable.has(leaf) ? tree[leaf] : undefined;
      out[offset + t * layout.slotsPerTree + s] = n?.kind === 'leaf' ? n.weight : 0;
    }
  });
}

/**
 * The host's 0/1 vector of one applicant: 1 at slot s of tree t unless one of its split nodes in tree t
 * has s under the side row `i` does not take. `left[k]`: the left bitmap over rows of `layout.splits[k]`.
 */
export function hostLeafMask(
  layout: Pick<TreeLayout, 'trees' | 'slotsPerTree' | 'splits'>,
  left: readonly Uint8Array[],
  i: number,
  out: Float64Array,
  offset: number,
): void {
  out.fill(1, offset, offset + layout.trees * layout.slotsPerTree);
  layout.splits.forEach((sp, k) => {
    const goesLeft = getBit(left[k]!, i);
    const blocked = goesLeft ? sp.right : sp.left;
    for (let s = 0; s < layout.slotsPerTree; s++) {
      if (getBit(blocked, s)) out[offset + sp.tree * layout.slotsPerTree + s] = 0;
    }
  });
}

export interface TreeScoringGuestOptions {
  readonly session: ProtocolSession;
  readonly host: PartyId;
  readonly model: SecureBoostGuestModel;
  /** Applicants to score (the host scores the same rows, in the same order). */
  readonly rows: number;
  /** The guest's own features of those rows (absent: a model without guest features). */
  readonly features?: PartyFeatures;
  /** Slot order and key randomness (cryptographic only). Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  readonly logger?: Logger;
}

export interface TreeScoringGuestResult {
  /** Log-odds of each applicant (base score + tree sum + flooding noise). */
  readonly margins: Float64Array;
  /** The flooding sd the host applied (as the guest computes it from the run's shape). */
  readonly floodingStdDev: number;
}

/** A model the private path can score: one host, every |leaf weight| within `TREE_WEIGHT_BOUND`. */
export function checkTreeModel(model: SecureBoostGuestModel): void {
  if (model.hosts.length !== 1) {
    throw new FedscoreError('unsupported', 'private-path tree scoring takes a model of one host', {
      field: 'hosts',
    });
  }
  for (const tree of model.trees) {
    for (const n of tree) {
      if (n.kind === 'leaf' && !(Math.abs(n.weight) <= TREE_WEIGHT_BOUND)) {
        throw new FedscoreError('out_of_range', `a leaf weight beyond +-${TREE_WEIGHT_BOUND}`, {
          field: 'trees',
        });
      }
    }
  }
}

/** The guest (model owner) of `scoring.tree`: learns each applicant's score, no host split outcome. */
export class TreeScoringGuest {
  readonly #o: TreeScoringGuestOptions;
  constructor(options: TreeScoringGuestOptions) {
    this.#o = options;
  }

  async run(): Promise<TreeScoringGuestResult> {
    const { session: s, host, model, rows } = this.#o;
    const rng = this.#o.rng === undefined ? cryptoRng() : requireCryptoRng(this.#o.rng, 'rng');
    if (!Number.isInteger(rows) || rows < 1) {
      throw new FedscoreError('out_of_range', 'rows must be a positive integer', { field: 'rows' });
    }
    checkTreeModel(model);
    const guestIndex =
      model.bins.length === 0
        ? []
        : (() => {
            if (this.#o.features === undefined) {
              throw new FedscoreError(
                'invalid_argument',
                "the model has guest splits: the guest's features are required",
                {
                  field: 'features',
                },
              );
            }
            return applyBins(this.#o.features, model.bins).index;
          })();
    const layout = treeLayout(model, rng);
    const ctx = await createCkksContext({
      params: TREE_SCORING_PRESET,
      rotations: sumRotationSteps(layout.block),
      ...(this.#o.logger !== undefined && { logger: this.#o.logger }),
    });
    try {
      const perGroup = Math.floor(ctx.slotCount / layout.block);
      if (perGroup < 1) {
        throw new FedscoreError(
          'unsupported',
          `trees x leaves (${layout.trees * layout.slotsPerTree}) exceed ${ctx.slotCount} slots`,
          {
            field: 'trees',
          },
        );
      }
      const groups = Math.ceil(rows / perGroup);
      const context = ctx.serialize();
      const chunks = Math.max(1, Math.ceil(context.length / CONTEXT_CHUNK));
      const wire: TreeLayoutMessage = {
        modelId: model.modelId,
        records: rows,
        trees: layout.trees,
        slotsPerTree: layout.slotsPerTree,
        block: layout.block,
        splits: layout.splits.map((x) => ({ ...x })),
        contextChunks: chunks,
      } as TreeLayoutMessage;
      await s.send(host, TREE_LAYOUT, wire);
      for (let k = 0; k < chunks; k++) {
        await s.send(host, TREE_CONTEXT, context.subarray(k * CONTEXT_CHUNK, (k + 1) * CONTEXT_CHUNK));
      }
      const margins = new Float64Array(rows);
      for (let g = 0; g < groups; g++) {
        const first = g * perGroup;
        const n = Math.min(rows, first + perGroup) - first;
        const c = new Float64Array(n * layout.block);
        for (let j = 0; j < n; j++)
          guestLeafWeights(model, layout, guestIndex, first + j, c, j * layout.block);
        const ct = ctx.encrypt(c);
        let bytes: Uint8Array;
        try {
          bytes = ct.serialize();
        } finally {
          ct.dispose();
        }
        await s.send(host, TREE_LEAF_WEIGHTS, [bytes]);
        const reply = await s.receive(host, TREE_SCORES);
        if (reply.length !== 1) {
          throw new FedscoreError('protocol_step', `expected one ciphertext, got ${reply.length}`, {
            field: 'tree-scores.items',
          });
        }
        // Only the block starts are read; the scope frees the loaded vector and its copy.
        const out = ctx.scope(() =>
          ctx.decrypt(ctx.deserializeVector(reply[0]!).withLength(n * layout.block)),
        );
        for (let j = 0; j < n; j++) margins[first + j] = model.baseScore + out[j * layout.block]!;
      }
      return { margins, floodingStdDev: treeFloodingStdDev(groups) };
    } finally {
      ctx.dispose();
    }
  }
}

/** The flooding sd of a run releasing `groups` ciphertexts under one key. */
export function treeFloodingStdDev(groups: number): number {
  return floodingStdDev(TREE_ERROR_BOUND, groups, TREE_FLOODING_BITS);
}

export interface TreeScoringHostOptions {
  readonly session: ProtocolSession;
  readonly guest: PartyId;
  readonly model: SecureBoostHostModel;
  /** The host's own features of the rows the guest scores, in the same order. */
  readonly features: PartyFeatures;
  /** Flooding noise (cryptographic only). Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  /** Skip the flooding (the error-measurement test only: the guest would see the CKKS error). */
  readonly unsafeNoFlooding?: boolean;
  /**
   * Skip the block-start selector (the attack test only): every other slot then holds a partial sum,
   * from which the guest peels each c_l b_l (attacks/tree-path.attack.test.ts).
   */
  readonly unsafeNoSelector?: boolean;
  readonly logger?: Logger;
}

/** The host (data owner of its splits) of `scoring.tree`: learns no weight, guest split or score. */
export class TreeScoringHost {
  readonly #o: TreeScoringHostOptions;
  constructor(options: TreeScoringHostOptions) {
    this.#o = options;
  }

  async run(): Promise<{ readonly records: number; readonly floodingStdDev: number }> {
    const { session: s, guest, model, features } = this.#o;
    const logger = this.#o.logger ?? noopLogger;
    const rng = this.#o.rng === undefined ? cryptoRng() : requireCryptoRng(this.#o.rng, 'rng');
    const wire = await s.receive(guest, TREE_LAYOUT);
    const empty = new Uint8Array(0);
    const plan = {
      records: wire.records ?? 0,
      trees: wire.trees ?? 0,
      slotsPerTree: wire.slotsPerTree ?? 0,
      block: wire.block ?? 0,
      contextChunks: wire.contextChunks ?? 0,
      splits: (wire.splits ?? []).map((x) => ({
        tree: x.tree ?? 0,
        splitId: x.splitId ?? 0,
        left: x.left ?? empty,
        right: x.right ?? empty,
      })),
    };
    const rows = plan.records;
    if (features.columns[0] !== undefined && features.columns[0].length !== rows) {
      throw new FedscoreError(
        'invalid_argument',
        `the guest scores ${rows} rows, the host holds ${features.columns[0].length}`,
        { field: 'tree-layout.records' },
      );
    }
    const known = new Set(model.splits.map((x) => x.splitId));
    for (const [k, sp] of plan.splits.entries()) {
      if (!known.has(sp.splitId)) {
        throw new FedscoreError('protocol_step', `unknown split id ${sp.splitId}`, {
          field: `tree-layout.splits[${k}].splitId`,
        });
      }
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (let k = 0; k < plan.contextChunks; k++) {
      const c = await s.receive(guest, TREE_CONTEXT);
      chunks.push(c);
      size += c.length;
    }
    const bytes = new Uint8Array(size);
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    const ctx: CkksPublicContext = await loadCkksPublicContext(bytes, { logger });
    try {
      checkContext(ctx, plan.block);
      const layout = plan;
      const index = applyBins(features, model.bins).index;
      const left = hostSplitBits(
        model,
        index,
        rows,
        layout.splits.map((x) => x.splitId),
      );
      const perGroup = Math.floor(ctx.slotCount / plan.block);
      const groups = Math.ceil(rows / perGroup);
      const sd = this.#o.unsafeNoFlooding === true ? 0 : treeFloodingStdDev(groups);
      for (let g = 0; g < groups; g++) {
        const first = g * perGroup;
        const n = Math.min(rows, first + perGroup) - first;
        const items = await s.receive(guest, TREE_LEAF_WEIGHTS);
        if (items.length !== 1) {
          throw new FedscoreError('protocol_step', `expected one ciphertext, got ${items.length}`, {
            field: 'tree-leaf-weights.items',
          });
        }
        const mask = new Float64Array(n * plan.block);
        const select = new Float64Array(n * plan.block);
        for (let j = 0; j < n; j++) {
          hostLeafMask(layout, left, first + j, mask, j * plan.block);
          select[j * plan.block] = 1;
        }
        const reply = maskSumFlood(ctx, items[0]!, mask, plan.block, {
          select: this.#o.unsafeNoSelector === true ? undefined : select,
          sd,
          rng,
        });
        await s.send(guest, TREE_SCORES, [reply]);
      }
      return { records: rows, floodingStdDev: sd };
    } finally {
      ctx.dispose();
    }
  }
}

/**
 * The host's evaluation of one ciphertext of `mask.length / block` applicant blocks: Enc(c) * mask, each
 * block summed into its first slot by log2 B rotations, times the block-start `select` (absent: the
 * attack test's weakened host), plus a fresh encryption of N(0, sd^2) on every slot.
 */
export function maskSumFlood(
  ctx: CkksPublicContext,
  item: Uint8Array,
  mask: Float64Array,
  block: number,
  o: { readonly select: Float64Array | undefined; readonly sd: number; readonly rng: CryptoRng },
): Uint8Array {
  return ctx.scope(() => {
    let acc: CkksVector = ctx.deserializeVector(item).withLength(mask.length).mul(mask);
    for (let step = 1; step < block; step *= 2) acc = acc.add(acc.rotate(step));
    if (o.select !== undefined) acc = acc.mul(o.select);
    // A fresh encryption on every slot: re-randomizes the result and floods the CKKS error.
    const noise = new Float64Array(mask.length);
    const flooded = o.sd > 0 ? floodNoise(noise, o.sd, { rng: o.rng }) : noise;
    return acc.add(ctx.encrypt(flooded)).serialize();
  });
}

/** The guest's context must be the preset the flooding was sized for and carry the block's rotations. */
export function checkContext(ctx: CkksPublicContext, block: number): void {
  const p = ctx.params;
  const want = CKKS_PRESETS[TREE_SCORING_PRESET];
  if (
    p.polyModulusDegree !== want.polyModulusDegree ||
    p.scaleBits !== want.scaleBits ||
    p.coeffModulusBits.join(',') !== want.coeffModulusBits.join(',') ||
    ctx.slotCount < block
  ) {
    throw new FedscoreError('he_context_mismatch', `the guest's context is not ${TREE_SCORING_PRESET}`, {
      field: 'tree-context',
    });
  }
  for (const step of sumRotationSteps(block)) {
    if (!ctx.rotations.includes(step)) {
      throw new FedscoreError('he_context_mismatch', `no Galois key for rotation ${step}`, {
        field: 'tree-context',
      });
    }
  }
}

/** How a tree model is scored jointly: who learns the host's split outcomes. */
export const TREE_SCORING_FLOWS = ['private-path', 'plain'] as const;
export type TreeScoringFlow = (typeof TREE_SCORING_FLOWS)[number];

/**
 * Tree scores as decisions: P(default) = sigmoid(margin) (the model's log-odds of the label 1 =
 * default), points on the scorecard scale (`pdToScore`), and with `rules` each enterprise's rating band
 * and credit line (`creditLines`, the same rules as for a scorecard; figures from `figures`).
 */
export function treeScores(
  margins: ArrayLike<number>,
  options: {
    readonly ids?: readonly string[];
    readonly rules?: CreditRules;
    readonly scaling?: ScorecardScaling;
    readonly figures?: Readonly<Record<string, ArrayLike<number>>>;
  } = {},
): ProbabilityScores {
  const pd = Float64Array.from(margins, (z, i) => {
    if (!Number.isFinite(z)) {
      throw new FedscoreError('invalid_argument', 'not a finite tree score', { field: `margins[${i}]` });
    }
    return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  });
  const scores = pdToScore(pd, options.scaling);
  if (options.rules === undefined) return { pd, scores };
  if (options.ids === undefined || options.ids.length !== pd.length) {
    throw new FedscoreError('invalid_argument', 'credit lines need one id per score', { field: 'ids' });
  }
  return { pd, scores, lines: creditLines(options.rules, options.ids, scores, options.figures ?? {}) };
}

export interface RunTreeScoringInput {
  readonly flow: TreeScoringFlow;
  readonly guest: { readonly model: SecureBoostGuestModel; readonly features?: PartyFeatures };
  readonly host: { readonly model: SecureBoostHostModel; readonly features: PartyFeatures };
  readonly capture?: boolean;
  /** Attack and error-measurement tests only. */
  readonly unsafeNoFlooding?: boolean;
  readonly logger?: Logger;
}

export interface RunTreeScoringResult {
  readonly margins: Float64Array;
  readonly bytesToHost: number;
  readonly bytesToGuest: number;
  readonly captured: readonly CapturedMessage[];
}

export const TREE_GUEST_ID = 'guest';
export const TREE_HOST_ID = 'host-1';

/**
 * Both roles of a joint tree scoring over an in-memory network with the real wire codec: `private-path`
 * (`scoring.tree`, the guest learns the scores only) or `plain` (vfl's `vfl.secureboost-predict`: the
 * guest learns every host split outcome of every scored row).
 */
export async function runTreeScoring(input: RunTreeScoringInput): Promise<RunTreeScoringResult> {
  assertOneOf(input.flow, TREE_SCORING_FLOWS, 'flow');
  const rows = input.host.features.columns[0]?.length ?? 0;
  const network = createInMemoryNetwork([TREE_GUEST_ID, TREE_HOST_ID], envelopeCodec, {
    capture: input.capture === true,
  });
  const logger = input.logger ?? noopLogger;
  const spec =
    input.flow === 'private-path'
      ? { protocol: TREE_SCORING_PROTOCOL, version: SCORING_VERSION, session: 'tree' }
      : { protocol: SECUREBOOST_PREDICT_PROTOCOL, version: SECUREBOOST_VERSION, session: 'tree-plain' };
  const session = (p: string) => new ProtocolSession(network.channel(p), spec);
  const gf = input.guest.features;
  const out = await runParties(network, {
    [TREE_GUEST_ID]: async () =>
      input.flow === 'private-path'
        ? (
            await new TreeScoringGuest({
              session: session(TREE_GUEST_ID),
              host: TREE_HOST_ID,
              model: input.guest.model,
              rows,
              ...(gf !== undefined && { features: gf }),
              logger,
            }).run()
          ).margins
        : new SecureBoostPredictGuest({
            session: session(TREE_GUEST_ID),
            hosts: [TREE_HOST_ID],
            model: input.guest.model,
            rows,
            ...(gf !== undefined && { features: gf }),
          }).run(),
    [TREE_HOST_ID]: () =>
      input.flow === 'private-path'
        ? new TreeScoringHost({
            session: session(TREE_HOST_ID),
            guest: TREE_GUEST_ID,
            model: input.host.model,
            features: input.host.features,
            ...(input.unsafeNoFlooding === true && { unsafeNoFlooding: true }),
            logger,
          }).run()
        : new SecureBoostPredictHost({
            session: session(TREE_HOST_ID),
            guest: TREE_GUEST_ID,
            model: input.host.model,
            features: input.host.features,
          }).run(),
  });
  const stats = network.channel(TREE_GUEST_ID).stats();
  return {
    margins: out[TREE_GUEST_ID] as Float64Array,
    bytesToHost: stats.bytesSent[TREE_HOST_ID] ?? 0,
    bytesToGuest: stats.bytesReceived[TREE_HOST_ID] ?? 0,
    captured: network.captured,
  };
}
