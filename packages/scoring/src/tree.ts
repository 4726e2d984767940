/**
 * Scoring with a SecureBoost tree model (vfl's `SecureBoostGuestModel` / `SecureBoostHostModel`): the
 * guest (the bank: the trees, the leaf weights and the CKKS key) learns each applicant's score and not
 * the outcome of any host split; the host (the government node: its own split thresholds and
 * features) learns nothing of the guest's splits, weights or scores. Protocol `scoring.tree`, version 2
 * (several hosts; the session mode of a node's scoring API is tree-session.ts);
 * docs/protocols/tree-scoring.md has it at length.
 *
 * Idea (the reachable-leaf product of Cheng et al. 2019, SecureBoost, section 5's prediction turned so
 * that the label holder does not see the host's branch; the same shape as EINI, Chen et al. 2021,
 * "EINI: Efficient and Interpretable Inference for Vertical Federated Learning", and FATE's
 * SecureBoost "fast" prediction mode): an applicant reaches exactly one leaf of each tree. A leaf is
 * reached iff it is consistent with the guest's split outcomes (a_l = 1) AND with the host's (b_l = 1),
 * so the tree's contribution is sum_l w_l a_l b_l. The guest knows a and w, the host knows b.
 *
 * Parties: guest G, hosts H_1 ... H_k in the model's order (k <= `TREE_MAX_HOSTS` = 3). With several
 * hosts the leaf is reached iff a_l AND b_1,l AND ... AND b_k,l: the ciphertext passes from G through
 * H_1, ..., H_k, each multiplying in its own b_j (one CKKS level each: `treeScoringParams(k)`), and
 * only H_k sums, selects and floods. Below, H is the one host; with k hosts steps 1-2 go to every host
 * (each layout holding only that host's split nodes, with its `previous` and `next` in the chain), step
 * 3 goes to H_1, H_j sends H_{j+1} Enc(c b_1 ... b_j) as a tree-leaf-weights message, and step 4 comes
 * from H_k.
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
 *   - H (each H_j): the number of applicants, trees, leaf slots and hosts, its neighbours in the chain,
 *     and for each of its own split nodes the
 *     (permuted) leaf slots under each side: the size of each side and how its own splits nest within a
 *     tree (which it partly knew: predict.ts tells it the split ids in use). Never a leaf weight, a guest
 *     split outcome or a score: every value it receives is a CKKS ciphertext under G's key (IND-CPA,
 *     RLWE).
 *     Several hosts: H_j (j > 1) receives Enc(c b_1 ... b_{j-1}), a ciphertext under G's key like any
 *     other: nothing of the other hosts' split outcomes or nodes (their split nodes are not in its layout).
 *   Compare the plain federated flow (vfl's `SecureBoostPredictGuest`/`...Host`, `vfl.secureboost-predict`):
 *   G learns every host split outcome of every scored row.
 *
 * Threat model: semi-honest G and H, no collusion (G colluding with H_{j+1} would decrypt what H_j sends,
 * hence read b_1 ... b_j on the reachable slots). A malicious G is not defended against: it chooses the
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
  type CkksParams,
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
  TREE_CONTEXT,
  TREE_LAYOUT,
  TREE_LEAF_WEIGHTS,
  TREE_SCORES,
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
  type TreeLayoutMessage,
} from './steps.ts';

/** CKKS parameters of the run: scale 2^55, so the circuit error stays near 2^-34 (he presets). */
export const TREE_SCORING_PRESET = 'ckks-16384-release' as const;
/** Most hosts of a model the private path scores (the leaf-weight ciphertext passes through each). */
export const TREE_MAX_HOSTS = 3;

/**
 * CKKS parameters of a run with `hosts` hosts: one host, `ckks-16384-release` (2 levels at scale 2^55:
 * the host's 0/1 product and the selector); h hosts, the same primes with one more 55-bit level per
 * further host (h products and the selector), released at level 1 (q0 q1 = 120 bits) as with one host:
 * log q = 235 + 55 (h + 1) <= 400 for h <= 3, within the 438 bits of the HE standard's 128-bit bound
 * for N = 16384 (HomomorphicEncryption.org, Albrecht et al. 2018, table 1).
 */
export function treeScoringParams(hosts: number): CkksParams {
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > TREE_MAX_HOSTS) {
    throw new FedscoreError('unsupported', `private-path tree scoring takes 1 ... ${TREE_MAX_HOSTS} hosts`, {
      field: 'hosts',
    });
  }
  const p = CKKS_PRESETS[TREE_SCORING_PRESET];
  if (hosts === 1) {
    return {
      polyModulusDegree: p.polyModulusDegree,
      coeffModulusBits: p.coeffModulusBits,
      scaleBits: p.scaleBits,
    };
  }
  return {
    polyModulusDegree: p.polyModulusDegree,
    coeffModulusBits: [60, 60, ...new Array<number>(hosts + 1).fill(p.scaleBits), 60],
    scaleBits: p.scaleBits,
  };
}

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
  /**
   * Per host split node: its host (index into the model's hosts), tree, split id and the slots under
   * each side (bitmaps over the tree's slots).
   */
  readonly splits: readonly {
    readonly host: number;
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
      if (!Number.isInteger(n.host) || n.host < 0 || n.host >= model.hosts.length) {
        throw new FedscoreError('invalid_config', `a split names host ${n.host}, not one of the model's`, {
          field: 'trees',
        });
      }
      const left = new Uint8Array(bytes);
      const right = new Uint8Array(bytes);
      for (const leaf of leavesUnder(tree, n.left)) setBit(left, slotOf.get(leaf)!);
      for (const leaf of leavesUnder(tree, n.right)) setBit(right, slotOf.get(leaf)!);
      splits.push({ host: n.host, tree: t, splitId: n.splitId, left, right });
    });
  });
  return { trees, slotsPerTree: L, block, slotNode, splits };
}

/**
 * The guest's vector of one applicant: w(t, s) where the leaf in slot s of tree t is consistent with
 * every guest split outcome of row `i` (host splits allow both sides), else 0. Written into `out` at
 * `offset`. `shift` is added to every guest-reachable leaf of tree 0 (band mode: exactly one leaf of a
 * tree is reached, so the block sum moves by exactly `shift`).
 */
export function guestLeafWeights(
  model: SecureBoostGuestModel,
  layout: TreeLayout,
  guestIndex: readonly Uint16Array[],
  i: number,
  out: Float64Array,
  offset: number,
  shift = 0,
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
      out[offset + t * layout.slotsPerTree + s] = n?.kind === 'leaf' ? n.weight + (t === 0 ? shift : 0) : 0;
    }
  });
}

/**
 * The host's 0/1 vector of one applicant: 1 at slot s of tree t unless one of its split nodes in tree t
 * has s under the side row `i` does not take. `left[k]`: the left bitmap over rows of `layout.splits[k]`.
 */
export function hostLeafMask(
  layout: {
    readonly trees: number;
    readonly slotsPerTree: number;
    readonly splits: readonly Omit<TreeLayout['splits'][number], 'host'>[];
  },
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
  /** The host of a model of one host (or give `hosts`). */
  readonly host?: PartyId;
  /** The hosts' party ids in the model's `hosts` order (the order the ciphertext passes them). */
  readonly hosts?: readonly PartyId[];
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

/**
 * A model the private path can score: 1 ... `maxHosts` hosts, every |leaf weight| within
 * `TREE_WEIGHT_BOUND`.
 */
export function checkTreeModel(model: SecureBoostGuestModel, maxHosts = TREE_MAX_HOSTS): void {
  if (model.hosts.length < 1 || model.hosts.length > maxHosts) {
    throw new FedscoreError(
      'unsupported',
      maxHosts === 1
        ? 'this flow takes a model of one host'
        : `private-path tree scoring takes a model of 1 ... ${maxHosts} hosts`,
      { field: 'hosts' },
    );
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
    const { session: s, model, rows } = this.#o;
    const rng = this.#o.rng === undefined ? cryptoRng() : requireCryptoRng(this.#o.rng, 'rng');
    if (!Number.isInteger(rows) || rows < 1) {
      throw new FedscoreError('out_of_range', 'rows must be a positive integer', { field: 'rows' });
    }
    checkTreeModel(model);
    const hosts = this.#o.hosts ?? (this.#o.host === undefined ? [] : [this.#o.host]);
    if (hosts.length !== model.hosts.length || new Set(hosts).size !== hosts.length) {
      throw new FedscoreError(
        'invalid_argument',
        `the model has ${model.hosts.length} hosts: name each once`,
        {
          field: 'hosts',
        },
      );
    }
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
      params: hosts.length === 1 ? TREE_SCORING_PRESET : treeScoringParams(hosts.length),
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
      // Each host gets its own split nodes only, and its place in the chain.
      for (const [h, host] of hosts.entries()) {
        const wire: TreeLayoutMessage = {
          modelId: model.modelId,
          records: rows,
          trees: layout.trees,
          slotsPerTree: layout.slotsPerTree,
          block: layout.block,
          splits: layout.splits
            .filter((x) => x.host === h)
            .map((x) => ({ tree: x.tree, splitId: x.splitId, left: x.left, right: x.right })),
          contextChunks: chunks,
          hosts: hosts.length,
          previous: h === 0 ? '' : hosts[h - 1]!,
          next: h === hosts.length - 1 ? '' : hosts[h + 1]!,
        } as TreeLayoutMessage;
        await s.send(host, TREE_LAYOUT, wire);
        for (let k = 0; k < chunks; k++) {
          await s.send(host, TREE_CONTEXT, context.subarray(k * CONTEXT_CHUNK, (k + 1) * CONTEXT_CHUNK));
        }
      }
      const head = hosts[0]!;
      const tail = hosts[hosts.length - 1]!;
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
        await s.send(head, TREE_LEAF_WEIGHTS, [bytes]);
        const reply = await s.receive(tail, TREE_SCORES);
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
      hosts: Math.max(1, wire.hosts ?? 0),
      // The chain (several hosts): whom the leaf-weight ciphertext comes from and goes to next.
      previous: (wire.previous ?? '') === '' ? guest : wire.previous!,
      next: (wire.next ?? '') === '' ? undefined : wire.next!,
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
      checkContext(ctx, plan.block, plan.hosts);
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
        const items = await s.receive(plan.previous, TREE_LEAF_WEIGHTS);
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
        if (plan.next !== undefined) {
          // Not the last host: multiply in this host's 0/1 vector and pass it on (a ciphertext under the
          // guest's key: the next host learns nothing from it; the last one floods the sum).
          const passed = ctx.scope(() =>
            ctx
              .deserializeVector(items[0]!)
              .withLength(n * plan.block)
              .mul(mask)
              .serialize(),
          );
          await s.send(plan.next, TREE_LEAF_WEIGHTS, [passed]);
          continue;
        }
        const reply = maskSumFlood(ctx, items[0]!, mask, plan.block, {
          select: this.#o.unsafeNoSelector === true ? undefined : select,
          sd,
          rng,
        });
        await s.send(guest, TREE_SCORES, [reply]);
      }
      return { records: rows, floodingStdDev: plan.next === undefined ? sd : 0 };
    } finally {
      ctx.dispose();
    }
  }
}

/**
 * The host's evaluation of one ciphertext of `mask.length / block` applicant blocks: Enc(c) * mask, each
 * block summed into its first slot by log2 B rotations, times the block-start `select` (absent: the
 * attack test's weakened host), plus a fresh encryption of N(0, sd^2) on every slot.
 *
 * Band mode (`blinded`): `select` holds a positive blind rho at each block start, and a first fresh
 * encryption of N(0, sd^2) is added before it, so the circuit error of the sums (which depends on the
 * host's vector) is flooded before rho multiplies it: rho (sum + e + n1) is as far from rho (sum + n1)
 * as sum + e + n1 from sum + n1 (statistical distance does not grow under a function applied to both).
 * The second flooding then covers the selector product's own error only.
 */
export function maskSumFlood(
  ctx: CkksPublicContext,
  item: Uint8Array,
  mask: Float64Array,
  block: number,
  o: {
    readonly select: Float64Array | undefined;
    readonly sd: number;
    readonly rng: CryptoRng;
    readonly blinded?: boolean;
  },
): Uint8Array {
  return ctx.scope(() => {
    let acc: CkksVector = ctx.deserializeVector(item).withLength(mask.length).mul(mask);
    for (let step = 1; step < block; step *= 2) acc = acc.add(acc.rotate(step));
    if (o.blinded === true) {
      const first = new Float64Array(mask.length);
      acc = acc.add(ctx.encrypt(o.sd > 0 ? floodNoise(first, o.sd, { rng: o.rng }) : first));
    }
    if (o.select !== undefined) acc = acc.mul(o.select);
    // A fresh encryption on every slot: re-randomizes the result and floods the CKKS error.
    const noise = new Float64Array(mask.length);
    const flooded = o.sd > 0 ? floodNoise(noise, o.sd, { rng: o.rng }) : noise;
    return acc.add(ctx.encrypt(flooded)).serialize();
  });
}

/** The guest's context must be the preset the flooding was sized for and carry the block's rotations. */
export function checkContext(ctx: CkksPublicContext, block: number, hosts = 1): void {
  const p = ctx.params;
  const want = treeScoringParams(hosts);
  if (
    p.polyModulusDegree !== want.polyModulusDegree ||
    p.scaleBits !== want.scaleBits ||
    p.coeffModulusBits.join(',') !== want.coeffModulusBits.join(',') ||
    ctx.slotCount < block
  ) {
    throw new FedscoreError(
      'he_context_mismatch',
      `the guest's context is not the parameters of ${hosts} host(s)`,
      {
        field: 'tree-context',
      },
    );
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

type TreeHostInput = { readonly model: SecureBoostHostModel; readonly features: PartyFeatures };

export interface RunTreeScoringInput {
  readonly flow: TreeScoringFlow;
  readonly guest: { readonly model: SecureBoostGuestModel; readonly features?: PartyFeatures };
  /** The host of a model of one host (or give `hosts`). */
  readonly host?: TreeHostInput;
  /** Every host, in the model's `hosts` order (a model of several hosts). */
  readonly hosts?: readonly TreeHostInput[];
  readonly capture?: boolean;
  /** Attack and error-measurement tests only. */
  readonly unsafeNoFlooding?: boolean;
  readonly logger?: Logger;
}

export interface RunTreeScoringResult {
  readonly margins: Float64Array;
  /** Bytes the guest sent to the hosts (all of them). */
  readonly bytesToHost: number;
  /** Bytes the guest received from the hosts. */
  readonly bytesToGuest: number;
  readonly captured: readonly CapturedMessage[];
}

export const TREE_GUEST_ID = 'guest';
export const TREE_HOST_ID = 'host-1';

/**
 * Every role of a joint tree scoring over an in-memory network with the real wire codec: `private-path`
 * (`scoring.tree`, the guest learns the scores only; several hosts pass the ciphertext along) or `plain`
 * (vfl's `vfl.secureboost-predict`: the guest learns every host split outcome of every scored row).
 * Hosts are `host-1`, `host-2`, ... in the model's order.
 */
export async function runTreeScoring(input: RunTreeScoringInput): Promise<RunTreeScoringResult> {
  assertOneOf(input.flow, TREE_SCORING_FLOWS, 'flow');
  const hosts = input.hosts ?? (input.host === undefined ? [] : [input.host]);
  if (hosts.length === 0 || (input.hosts !== undefined && input.host !== undefined)) {
    throw new FedscoreError('invalid_argument', 'give `host` or `hosts`', { field: 'hosts' });
  }
  const hostIds = hosts.map((_, j) => `host-${j + 1}`);
  const rows = hosts[0]!.features.columns[0]?.length ?? 0;
  const network = createInMemoryNetwork([TREE_GUEST_ID, ...hostIds], envelopeCodec, {
    capture: input.capture === true,
  });
  const logger = input.logger ?? noopLogger;
  const spec =
    input.flow === 'private-path'
      ? { protocol: TREE_SCORING_PROTOCOL, version: TREE_SCORING_VERSION, session: 'tree' }
      : { protocol: SECUREBOOST_PREDICT_PROTOCOL, version: SECUREBOOST_VERSION, session: 'tree-plain' };
  const session = (p: string) => new ProtocolSession(network.channel(p), spec);
  const gf = input.guest.features;
  const roles: Record<string, () => Promise<unknown>> = {
    [TREE_GUEST_ID]: async () =>
      input.flow === 'private-path'
        ? (
            await new TreeScoringGuest({
              session: session(TREE_GUEST_ID),
              hosts: hostIds,
              model: input.guest.model,
              rows,
              ...(gf !== undefined && { features: gf }),
              logger,
            }).run()
          ).margins
        : new SecureBoostPredictGuest({
            session: session(TREE_GUEST_ID),
            hosts: hostIds,
            model: input.guest.model,
            rows,
            ...(gf !== undefined && { features: gf }),
          }).run(),
  };
  hosts.forEach((h, j) => {
    const id = hostIds[j]!;
    roles[id] = () =>
      input.flow === 'private-path'
        ? new TreeScoringHost({
            session: session(id),
            guest: TREE_GUEST_ID,
            model: h.model,
            features: h.features,
            ...(input.unsafeNoFlooding === true && { unsafeNoFlooding: true }),
            logger,
          }).run()
        : new SecureBoostPredictHost({
            session: session(id),
            guest: TREE_GUEST_ID,
            model: h.model,
            features: h.features,
          }).run();
  });
  const out = await runParties(network, roles);
  const stats = network.channel(TREE_GUEST_ID).stats();
  const sum = (m: Readonly<Record<string, number>>) => hostIds.reduce((a, id) => a + (m[id] ?? 0), 0);
  return {
    margins: out[TREE_GUEST_ID] as Float64Array,
    bytesToHost: sum(stats.bytesSent),
    bytesToGuest: sum(stats.bytesReceived),
    captured: network.captured,
  };
}
