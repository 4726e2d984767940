/**
 * `scoring.tree` in session mode (version 2): the private-path tree scoring of tree.ts served to a
 * node's scoring API, where applicants arrive one request at a time and are named by the bank, not
 * aligned beforehand. The guest (the bank: trees, leaf weights, the CKKS key) keeps a session open with
 * the host (the government node: its own split thresholds and features); the key and the layout are
 * made once per session, so a request costs one ciphertext each way, not the 38 MB context.
 *
 * Parties: guest G (`TreeScoringBank`), hosts H_1 ... H_k (`TreeScoringGovernment`, k <= `TREE_MAX_HOSTS`
 * = 3) in the model's order; below H is the one host of a one-host model.
 *
 * Messages, in order:
 *   1. G -> H  tree-layout   as in tree.ts, with records = 0 and max_rounds R (the session's budget)
 *   2. G -> H  tree-context  x k, as in tree.ts
 *   per round of n <= floor(8192 / B) applicants, at most R rounds:
 *   3. G -> H  tree-request  the applicants' USCCs and request ids, and Enc(c): applicant i's block
 *                            c[i B + t L + s] = w(t, s) a_i(t, s) (its guest-reachable leaf weights)
 *   4. H -> G  tree-reply    per applicant '' (scored), 'no_record', 'unusable_record' (a record the
 *                            host's bins cannot place: a value missing where training had none; version
 *                            4) or a refusal (consent, quota, rate, model, policy; decided by the host's
 *                            `lookup` before any of its data is read); when one is scored, Enc(sum per block of c . b + e) as in tree.ts,
 *                            where b is 0 on the whole block of an applicant not scored
 *   last: G -> H tree-request with close = true
 *
 * Several hosts (version 5; the chain of tree.ts, as the portfolio scoring job runs it): steps 1-2 go to
 * every host, each layout holding only that host's split nodes, k and its `previous` and `next`; G's
 * context has one more CKKS level per further host (`treeScoringParams(k)`). Per round G sends the
 * tree-request (applicants, request ids) to every host, the ciphertext in H_1's only; each host looks up,
 * admits and audits the applicants itself; H_j < H_k multiplies in its 0/1 vector (0 on the blocks of
 * the applicants it does not score; all 0 gives a fresh encryption of 0, @fedscore/he's product with a
 * zero plaintext, so H_{j+1} cannot tell that H_j scores nobody) and sends the product to H_{j+1} as
 * tree-leaf-weights, and answers G with its own per-applicant codes only (tree-reply, no ciphertext);
 * H_k answers as H above. An applicant is scored when every host answered '' (a host that refuses zeroes
 * its blocks); G reads each host's answer, so it can say which host refused, and no host sees another's.
 *
 * Band mode (version 3, `thresholds` t_0 > t_1 > ... > t_{K-1} in log-odds, K <= `TREE_MAX_THRESHOLDS`):
 * applicant i takes K blocks; block k is its block above with (base score - t_k) added to its
 * guest-reachable leaf weights of tree 0 (one leaf of a tree is reached, so the block sums to
 * score - t_k). The host floods each block sum (N(0, sd^2)), multiplies it by a blind rho_ik =
 * 2^(rhoBits u), u uniform in [0, 1), fresh per applicant, block and round (`scoring.online`'s band mode:
 * Kerschbaum, Biswas & de Hoogh 2009), and floods again. G decrypts rho_ik (score - t_k + n1) + n2 and
 * keeps the signs: the threshold index, hence the band.
 *
 * Who learns what (per applicant, exactly as in tree.ts's one-shot run):
 *   - G: the applicant's score (log-odds) + N(0, sd^2), sd = `treeFloodingStdDev(R)` (the flooding is
 *     sized for the R releases the key may make; H refuses a round beyond R and G opens a new session
 *     with a fresh key); for an applicant not scored, the reason code only (its block decrypts to noise).
 *     Never a host split outcome or threshold: the ciphertext it decrypts holds only block sums.
 *   - H: which applicants the bank scores and in which rounds (it must look them up: an authorized use
 *     the node audits), the layout's counts and the leaf slots under each of its own splits (tree.ts).
 *     Never a leaf weight, a guest split outcome or a score: ciphertexts under G's key only.
 *     Several hosts: H_j also learns k and its neighbours in the chain; from H_{j-1} only a ciphertext
 *     under G's key (never H_{j-1}'s split outcomes, answers or thresholds).
 *   What the score itself implies about the host's path (tree.ts) holds here too.
 *   Band mode: G learns, per threshold, the sign of score - t_k (the band; scores within ~6 sqrt(2) sd
 *   of a threshold may land in the neighbouring band) and rho |score - t_k| with rho unknown to it (the
 *   magnitude to within a factor 2^rhoBits = 64), not the score; H learns K as well. A blind shared by an
 *   applicant's blocks would give the score away (the ratio of two blocks pins rho):
 *   attacks/tree-band-blinding.attack.test.ts.
 * Threat model: semi-honest G and H, no collusion (tree.ts; G with H_{j+1} would decrypt what H_j
 * passes on). A malicious G could put powers of two on
 * the slots of c and read b; the node's quota and consent bound how many applicants it can probe.
 * Paper: Cheng et al. 2019 (SecureBoost, section 5), Chen et al. 2021 (EINI); flooding after Li,
 * Micciancio, Schultz & Sorrell (CRYPTO 2022).
 */
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  type PartyId,
  type ProtocolSession,
  requireCryptoRng,
  uniform,
} from '@fedscore/core';
import {
  type CkksPublicContext,
  type CkksSecretContext,
  createCkksContext,
  loadCkksPublicContext,
  sumRotationSteps,
} from '@fedscore/he';
import {
  applyBins,
  hostSplitBits,
  type PartyFeatures,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
} from '@fedscore/vfl';
import { DEFAULT_RHO_BITS, type OnlineBatchOutcome } from './online.ts';
import {
  SCORE_REPLY_NO_RECORD,
  SCORE_REPLY_REFUSALS,
  SCORE_REPLY_UNUSABLE_RECORD,
  type ScoreRefusal,
  TREE_CONTEXT,
  TREE_LAYOUT,
  TREE_LEAF_WEIGHTS,
  TREE_MAX_ROUNDS,
  TREE_MAX_THRESHOLDS,
  TREE_REPLY,
  TREE_REQUEST,
  type TreeLayoutMessage,
  type TreeReplyMessage,
  type TreeRequestMessage,
} from './steps.ts';
import {
  CONTEXT_CHUNK,
  checkContext,
  checkTreeModel,
  guestLeafWeights,
  hostLeafMask,
  maskSumFlood,
  TREE_SCORING_PRESET,
  TREE_WEIGHT_BOUND,
  type TreeLayout,
  treeFloodingStdDev,
  treeLayout,
  treeScoringParams,
} from './tree.ts';

/** Default rounds per session key (sd of the flooding for 64 releases: `treeFloodingStdDev(64)`). */
export const TREE_SESSION_ROUNDS = 64;

/** One applicant of `TreeScoringBank.scoreBatch`. */
export interface TreeBatchItem {
  readonly applicant: string;
  /** The bank's own features of the applicant, in the model's `features` order (NaN: missing). */
  readonly features: ArrayLike<number>;
  /** Sent with the request so that both parties' audit entries carry it (`REQUEST_ID_PATTERN`). */
  readonly requestId?: string;
}

/**
 * One applicant's outcome of a `TreeScoringBank` round: as `OnlineScoringBank`'s, with each host's own
 * answer for it (in the model's host order: '' scored, `no_record`, `unusable_record` or a refusal code).
 * The outcome is a score only when every host answered ''; otherwise it is the first non-'' answer in
 * host order, and `refusedBy` names that host.
 */
export type TreeBatchOutcome = OnlineBatchOutcome & {
  readonly hostAnswers: readonly string[];
  readonly refusedBy?: PartyId;
};

export interface TreeScoringBankOptions {
  readonly model: SecureBoostGuestModel;
  /** Rounds this session's key may serve (1 ... `TREE_MAX_ROUNDS`). Default `TREE_SESSION_ROUNDS`. */
  readonly maxRounds?: number;
  /**
   * Band mode: the thresholds in log-odds, highest first (as `OnlineScoringBank`'s); an outcome's
   * `thresholdIndex` is the first one the score reaches (K: none), and no score is learnt. Absent:
   * exact mode.
   */
  readonly thresholds?: readonly number[];
  /** Slot order and key randomness (cryptographic only). Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  readonly logger?: Logger;
}

/**
 * The guest (bank) of a `scoring.tree` session: create once (key and layout), `open` it with the host,
 * then score rounds of applicants; each outcome is the applicant's log-odds (`score.score`, flooded),
 * `found: false`, or the host's typed refusal -- the shape of `OnlineScoringBank.scoreBatch`.
 */
export class TreeScoringBank {
  readonly #model: SecureBoostGuestModel;
  readonly #layout: TreeLayout;
  readonly #ctx: CkksSecretContext;
  readonly #maxRounds: number;
  /** Band mode's thresholds in log-odds ([] in exact mode). */
  readonly #thresholds: readonly number[];
  #session: ProtocolSession | undefined;
  /** The hosts in the model's order (the chain the leaf-weight ciphertext passes along). */
  #hosts: readonly PartyId[] = [];
  #round = 0;
  #disposed = false;

  private constructor(
    model: SecureBoostGuestModel,
    layout: TreeLayout,
    ctx: CkksSecretContext,
    rounds: number,
    thresholds: readonly number[],
  ) {
    this.#model = model;
    this.#layout = layout;
    this.#ctx = ctx;
    this.#maxRounds = rounds;
    this.#thresholds = thresholds;
  }

  static async create(options: TreeScoringBankOptions): Promise<TreeScoringBank> {
    const { model } = options;
    const rounds = options.maxRounds ?? TREE_SESSION_ROUNDS;
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > TREE_MAX_ROUNDS) {
      throw new FedscoreError('out_of_range', `maxRounds must be an integer in 1 ... ${TREE_MAX_ROUNDS}`, {
        field: 'maxRounds',
      });
    }
    checkTreeModel(model);
    const thresholds = [...(options.thresholds ?? [])];
    if (options.thresholds !== undefined) checkThresholds(model, thresholds);
    const rng = options.rng === undefined ? cryptoRng() : requireCryptoRng(options.rng, 'rng');
    const layout = treeLayout(model, rng);
    const ctx = await createCkksContext({
      // One more CKKS level per further host (each multiplies in its own 0/1 vector): tree.ts.
      params: model.hosts.length === 1 ? TREE_SCORING_PRESET : treeScoringParams(model.hosts.length),
      rotations: sumRotationSteps(layout.block),
      ...(options.logger !== undefined && { logger: options.logger }),
    });
    if (ctx.slotCount < layout.block * Math.max(1, thresholds.length)) {
      ctx.dispose();
      throw new FedscoreError(
        'unsupported',
        `trees x leaves (${layout.trees * layout.slotsPerTree}) x thresholds exceed ${ctx.slotCount} slots`,
        { field: thresholds.length > 1 ? 'thresholds' : 'trees' },
      );
    }
    return new TreeScoringBank(model, layout, ctx, rounds, thresholds);
  }

  /** Most applicants one round carries (a ciphertext's slots / the block, / K in band mode). */
  get maxApplicants(): number {
    return Math.floor(this.#ctx.slotCount / (this.#layout.block * this.#blocks));
  }

  /** Blocks per applicant: K in band mode, 1 in exact mode. */
  get #blocks(): number {
    return Math.max(1, this.#thresholds.length);
  }

  /** This bank's own CKKS context (its secret key never leaves it; the attack tests decrypt replies). */
  get context(): CkksSecretContext {
    return this.#ctx;
  }

  /** Rounds this session may still serve; at 0 the bank closes it and opens a new one. */
  get roundsLeft(): number {
    return this.#maxRounds - this.#round;
  }

  /** The flooding sd the host applies to every score of this session. */
  get floodingStdDev(): number {
    return treeFloodingStdDev(this.#maxRounds);
  }

  /**
   * Send the layout and the public context to every host (a model of several hosts: `hosts` in the
   * model's order, each layout holding only that host's split nodes and its neighbours in the chain):
   * the hosts then serve the session's rounds.
   */
  async open(session: ProtocolSession, hosts: PartyId | readonly PartyId[]): Promise<void> {
    if (this.#session !== undefined) {
      throw new FedscoreError('invalid_state', 'the session is already open', { field: 'session' });
    }
    const chain = typeof hosts === 'string' ? [hosts] : [...hosts];
    if (chain.length !== this.#model.hosts.length || new Set(chain).size !== chain.length) {
      throw new FedscoreError(
        'invalid_argument',
        `the model has ${this.#model.hosts.length} host(s): name each once, in its order`,
        { field: 'hosts' },
      );
    }
    this.#session = session;
    this.#hosts = chain;
    const context = this.#ctx.serialize();
    const chunks = Math.max(1, Math.ceil(context.length / CONTEXT_CHUNK));
    const l = this.#layout;
    const k = chain.length;
    for (const [h, host] of chain.entries()) {
      await session.send(host, TREE_LAYOUT, {
        modelId: this.#model.modelId,
        records: 0,
        maxRounds: this.#maxRounds,
        trees: l.trees,
        slotsPerTree: l.slotsPerTree,
        block: l.block,
        splits: l.splits
          .filter((x) => x.host === h)
          .map((x) => ({ tree: x.tree, splitId: x.splitId, left: x.left, right: x.right })),
        contextChunks: chunks,
        bandThresholds: this.#thresholds.length,
        ...(k > 1 && {
          hosts: k,
          previous: h === 0 ? '' : chain[h - 1]!,
          next: h === k - 1 ? '' : chain[h + 1]!,
        }),
      } as TreeLayoutMessage);
      for (let c = 0; c < chunks; c++) {
        await session.send(host, TREE_CONTEXT, context.subarray(c * CONTEXT_CHUNK, (c + 1) * CONTEXT_CHUNK));
      }
    }
  }

  /**
   * Score one round of applicants (at most `maxApplicants`; one ciphertext each way). With several
   * hosts every host is sent the round's applicants (each looks up, admits and audits its own records)
   * and the ciphertext goes to the first; each host answers for its own records, the last with the
   * ciphertext.
   */
  async scoreBatch(items: readonly TreeBatchItem[]): Promise<TreeBatchOutcome[]> {
    const s = this.#session;
    if (s === undefined || this.#disposed) {
      throw new FedscoreError('invalid_state', 'open the session first', { field: 'session' });
    }
    const n = items.length;
    if (n < 1 || n > this.maxApplicants) {
      throw new FedscoreError('out_of_range', `1 ... ${this.maxApplicants} applicants per round`, {
        field: 'items',
      });
    }
    if (this.#round >= this.#maxRounds) {
      throw new FedscoreError('invalid_state', 'the session has used its rounds: open a new one', {
        field: 'maxRounds',
      });
    }
    const model = this.#model;
    const names = model.features;
    const columns = names.map((_, j) =>
      Float64Array.from(items, (it, i) => {
        if (it.features.length !== names.length) {
          throw new FedscoreError('invalid_argument', `expected ${names.length} feature values`, {
            field: `items[${i}].features`,
          });
        }
        return it.features[j]!;
      }),
    );
    const features: PartyFeatures = { names, columns };
    const index = model.bins.length === 0 ? [] : applyBins(features, model.bins).index;
    const block = this.#layout.block;
    const K = this.#thresholds.length;
    const blocks = this.#blocks;
    const c = new Float64Array(n * blocks * block);
    for (let i = 0; i < n; i++) {
      if (K === 0) guestLeafWeights(model, this.#layout, index, i, c, i * block);
      for (let k = 0; k < K; k++) {
        const shift = model.baseScore - this.#thresholds[k]!;
        guestLeafWeights(model, this.#layout, index, i, c, (i * K + k) * block, shift);
      }
    }
    const ct = this.#ctx.encrypt(c);
    let bytes: Uint8Array;
    try {
      bytes = ct.serialize();
    } finally {
      ct.dispose();
    }
    this.#round++;
    const hosts = this.#hosts;
    const applicants = items.map((it) => ({ applicant: it.applicant, requestId: it.requestId ?? '' }));
    for (const [h, host] of hosts.entries()) {
      await s.send(host, TREE_REQUEST, {
        round: this.#round,
        applicants,
        // The ciphertext goes to the first host only; host j passes its product to host j + 1.
        items: h === 0 ? [bytes] : [],
      } as TreeRequestMessage);
    }
    const answers: (readonly string[])[] = [];
    let reply: TreeReplyMessage | undefined;
    for (const host of hosts) {
      reply = await s.receive(host, TREE_REPLY);
      const errors = reply.errors ?? [];
      if (errors.length !== n) {
        throw new FedscoreError('protocol_step', `expected ${n} answers, got ${errors.length}`, {
          field: 'tree-reply.errors',
        });
      }
      answers.push(errors);
    }
    const hostAnswers = items.map((_, i) => answers.map((a) => a[i]!));
    let plain: Float64Array | undefined;
    if (hostAnswers.some((a) => a.every((e) => e === ''))) {
      // Only the last host's reply holds a ciphertext (the flooded block sums).
      const item = (reply?.items ?? [])[0];
      if (item === undefined) {
        throw new FedscoreError('protocol_step', 'the last host scored applicants but sent no ciphertext', {
          field: 'tree-reply.items',
        });
      }
      plain = this.#ctx.scope(() =>
        this.#ctx.decrypt(this.#ctx.deserializeVector(item).withLength(n * blocks * block)),
      );
    }
    const who = hosts.length > 1;
    return items.map((it, i): TreeBatchOutcome => {
      const applicant = it.applicant;
      const mine = hostAnswers[i]!;
      const at = mine.findIndex((e) => e !== '');
      const by = at < 0 ? {} : { refusedBy: hosts[at]! };
      const host = at >= 0 && who ? `host ${hosts[at]!}` : 'the host';
      const error = at < 0 ? '' : mine[at]!;
      const base = { hostAnswers: mine, ...by };
      if (error === SCORE_REPLY_NO_RECORD) return { ok: true, score: { applicant, found: false }, ...base };
      if (error === SCORE_REPLY_UNUSABLE_RECORD) {
        return {
          ok: false,
          error: new FedscoreError(
            'unusable_record',
            `${host} holds a record of this applicant that the model's bins cannot place`,
            { field: 'tree-reply.errors' },
          ),
          ...base,
        };
      }
      if (error !== '') {
        const code = SCORE_REPLY_REFUSALS.find((x) => x === error);
        if (code === undefined) {
          throw new FedscoreError('protocol_step', 'an unknown answer code', { field: 'tree-reply.errors' });
        }
        return {
          ok: false,
          error: new FedscoreError(code, `${host} refused this request (${code})`, {
            field: 'tree-reply.errors',
          }),
          ...base,
        };
      }
      if (K === 0) {
        return {
          ok: true,
          score: { applicant, found: true, score: model.baseScore + plain![i * block]! },
          ...base,
        };
      }
      // rho_k (score - t_k) + noise: the first threshold the score reaches (as scoring.online's band mode).
      let k = 0;
      while (k < K && plain![(i * K + k) * block]! < 0) k++;
      return { ok: true, score: { applicant, found: true, thresholdIndex: k }, ...base };
    });
  }

  /** End the session (every host's `serve` returns; each is told even when another is unreachable). */
  async close(): Promise<void> {
    const s = this.#session;
    if (s === undefined) return;
    this.#session = undefined;
    const sent = await Promise.allSettled(
      this.#hosts.map((host) => s.send(host, TREE_REQUEST, { close: true } as TreeRequestMessage)),
    );
    const failed = sent.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  /** Free the key (idempotent). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#ctx.dispose();
  }
}

/**
 * Band mode's thresholds: 1 ... `TREE_MAX_THRESHOLDS` finite log-odds, each keeping tree 0's shifted
 * leaf weights within `TREE_WEIGHT_BOUND` (the range the flooding's error bound was measured for).
 */
function checkThresholds(model: SecureBoostGuestModel, thresholds: readonly number[]): void {
  if (thresholds.length < 1 || thresholds.length > TREE_MAX_THRESHOLDS) {
    throw new FedscoreError('out_of_range', `band mode takes 1 ... ${TREE_MAX_THRESHOLDS} thresholds`, {
      field: 'thresholds',
    });
  }
  const weights = (model.trees[0] ?? []).flatMap((n) => (n.kind === 'leaf' ? [n.weight] : []));
  thresholds.forEach((t, k) => {
    const shift = model.baseScore - t;
    if (!Number.isFinite(t) || weights.some((w) => !(Math.abs(w + shift) <= TREE_WEIGHT_BOUND))) {
      throw new FedscoreError(
        'out_of_range',
        `threshold ${t} puts a shifted leaf weight beyond ${TREE_WEIGHT_BOUND} in log-odds`,
        { field: `thresholds[${k}]` },
      );
    }
  });
}

/** What the host's `lookup` answers for one applicant (module comment of `TreeScoringGovernmentOptions`). */
export type TreeLookupAnswer =
  | ArrayLike<number>
  | ScoreRefusal
  | typeof SCORE_REPLY_UNUSABLE_RECORD
  | undefined;

/**
 * Whether the host model's bins can place one record (its values in the model's `features` order, NaN:
 * missing): false for a value missing where training had none (no missing bin), or a wrong length.
 */
export function hostRecordUsable(model: SecureBoostHostModel, values: ArrayLike<number>): boolean {
  try {
    applyBins(rowFeatures(model, [values]), model.bins);
    return true;
  } catch {
    return false;
  }
}

/** One applicant of a round, as the host's `lookup` is asked about it. */
export interface TreeLookupRequest {
  readonly applicant: string;
  /** The bank's request id ('' when it sent none). */
  readonly requestId: string;
  /** Position in the round. */
  readonly index: number;
}

export interface TreeScoringGovernmentOptions {
  /**
   * The host model this node serves for the layout's model id, or the refusal that answers every
   * request of the session (e.g. `model_unavailable`, `policy_refused`). Asked once per session, with
   * this host's place in the chain as the bank's layout names it (one host: hosts 1, previous and next
   * ''); the node checks it against the model's registered hosts and throws when it differs (a product
   * must go to the model's next host only, never to the bank or another party).
   */
  readonly modelFor: (
    modelId: string,
    session: { readonly mode: 'exact' | 'band'; readonly thresholds: number },
    chain: { readonly hosts: number; readonly previous: PartyId; readonly next: PartyId },
  ) => Promise<SecureBoostHostModel | ScoreRefusal>;
  /**
   * Per round: each applicant's feature values in the model's `features` order (NaN: missing), or
   * undefined (no record), `unusable_record` (a record `hostRecordUsable` refuses; the node decides it
   * itself so that its audit entry says so), or a refusal code. Asked once per round, with every
   * applicant of it. Values the model's bins cannot place are answered `unusable_record` all the same.
   */
  readonly lookup: (
    requests: readonly TreeLookupRequest[],
    model: SecureBoostHostModel,
  ) => Promise<readonly TreeLookupAnswer[]>;
  /** Flooding noise (cryptographic only). Default `cryptoRng()`. */
  readonly rng?: CryptoRng;
  /** Skip the block-start selector (the attack test only: attacks/tree-path.attack.test.ts). */
  readonly unsafeNoSelector?: boolean;
  /**
   * A model of several hosts: how long a host after the first waits for the previous host's product in
   * a round before it ends the session (`timeout`; a previous host that went away would otherwise hold
   * this session, and its public context, until the node stops). Default 120,000 ms.
   */
  readonly relayTimeoutMs?: number;
  /** Band mode's blinding: rho in [1, 2^rhoBits]. Default `DEFAULT_RHO_BITS` (6). */
  readonly rhoBits?: number;
  /**
   * INSECURE (the attack test only: attacks/tree-band-blinding.attack.test.ts): one blind per applicant
   * for all its K blocks, so two blocks' ratio gives the blind and the score away.
   */
  readonly insecureSharedBlinding?: boolean;
  readonly logger?: Logger;
}

/** The host (government) of a `scoring.tree` session: serves rounds until the guest closes. */
export class TreeScoringGovernment {
  readonly #o: TreeScoringGovernmentOptions;
  constructor(options: TreeScoringGovernmentOptions) {
    this.#o = options;
  }

  async serve(
    s: ProtocolSession,
    guest: PartyId,
  ): Promise<{ readonly rounds: number; readonly requests: number }> {
    const logger = this.#o.logger ?? noopLogger;
    const rng = this.#o.rng === undefined ? cryptoRng() : requireCryptoRng(this.#o.rng, 'rng');
    const wire = await s.receive(guest, TREE_LAYOUT);
    const empty = new Uint8Array(0);
    const maxRounds = wire.maxRounds ?? 0;
    if (maxRounds < 1) {
      throw new FedscoreError('protocol_step', 'a scoring session needs max_rounds >= 1', {
        field: 'tree-layout.max_rounds',
      });
    }
    // A model of several hosts: this host's place in the chain (tree.ts). `previous` sends it the
    // leaf-weight product of the hosts before it ('' = the guest's own ciphertext, in the request);
    // `next` gets this host's product ('' = this host is the last: it sums, selects and floods).
    const hosts = Math.max(1, wire.hosts ?? 0);
    const previous = (wire.previous ?? '') === '' ? guest : wire.previous!;
    const next = (wire.next ?? '') === '' ? undefined : wire.next!;
    if ((hosts === 1) !== (previous === guest && next === undefined)) {
      throw new FedscoreError('protocol_step', 'the chain of hosts does not match their count', {
        field: 'tree-layout.hosts',
      });
    }
    // The product this host passes on is under the guest's key: it must never go to the guest itself.
    if (next === guest || (wire.previous ?? '') === guest) {
      throw new FedscoreError('protocol_step', 'the guest is not a host of the chain', {
        field: next === guest ? 'tree-layout.next' : 'tree-layout.previous',
      });
    }
    const layout = {
      trees: wire.trees ?? 0,
      slotsPerTree: wire.slotsPerTree ?? 0,
      block: wire.block ?? 0,
      splits: (wire.splits ?? []).map((x) => ({
        tree: x.tree ?? 0,
        splitId: x.splitId ?? 0,
        left: x.left ?? empty,
        right: x.right ?? empty,
      })),
    };
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (let k = 0; k < (wire.contextChunks ?? 0); k++) {
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
      checkContext(ctx, layout.block, hosts);
      const K = wire.bandThresholds ?? 0;
      const served = await this.#o.modelFor(
        wire.modelId ?? '',
        { mode: K > 0 ? 'band' : 'exact', thresholds: K },
        { hosts, previous: wire.previous ?? '', next: wire.next ?? '' },
      );
      if (typeof served !== 'string') {
        const known = new Set(served.splits.map((x) => x.splitId));
        for (const [k, sp] of layout.splits.entries()) {
          if (!known.has(sp.splitId)) {
            throw new FedscoreError('protocol_step', `unknown split id ${sp.splitId}`, {
              field: `tree-layout.splits[${k}].splitId`,
            });
          }
        }
      }
      const blocks = Math.max(1, K);
      const perGroup = Math.floor(ctx.slotCount / (layout.block * blocks));
      const sd = treeFloodingStdDev(maxRounds);
      const rhoBits = this.#o.rhoBits ?? DEFAULT_RHO_BITS;
      if (K > 0 && this.#o.insecureSharedBlinding === true) {
        logger.warn("tree scoring: INSECURE blinding shared by an applicant's blocks", {});
      }
      let rounds = 0;
      let requests = 0;
      for (;;) {
        const req = await s.receive(guest, TREE_REQUEST);
        if (req.close === true) return { rounds, requests };
        rounds++;
        if (rounds > maxRounds || (req.round ?? 0) !== rounds) {
          throw new FedscoreError(
            'protocol_step',
            `round ${req.round ?? 0}: expected ${rounds} of ${maxRounds}`,
            {
              field: 'tree-request.round',
            },
          );
        }
        const applicants = req.applicants ?? [];
        const n = applicants.length;
        if (n > perGroup) {
          throw new FedscoreError('protocol_step', `${n} applicants: at most ${perGroup} per round`, {
            field: 'tree-request.applicants',
          });
        }
        requests += n;
        const asked = applicants.map((a, index) => ({
          applicant: a.applicant ?? '',
          requestId: a.requestId ?? '',
          index,
        }));
        const errors: string[] = new Array<string>(n).fill(SCORE_REPLY_NO_RECORD);
        let found: { i: number; values: ArrayLike<number> }[] = [];
        if (typeof served === 'string') errors.fill(served);
        else {
          const answers = await this.#o.lookup(asked, served);
          answers.forEach((a, i) => {
            if (typeof a === 'string') errors[i] = a;
            else if (a !== undefined) found.push({ i, values: a });
          });
          // A record whose values the model's bins cannot place (a missing value where training had
          // none) is an unusable record, told apart from no record (it names no feature or value).
          found = found.filter((f) => {
            if (hostRecordUsable(served, f.values)) return true;
            errors[f.i] = SCORE_REPLY_UNUSABLE_RECORD;
            return false;
          });
          for (const f of found) errors[f.i] = '';
        }
        // The ciphertext of this round: the guest's (first host), else the previous host's product.
        let item: Uint8Array | undefined;
        if (previous === guest) item = (req.items ?? [])[0];
        else {
          const passed = await withTimeout(
            s.receive(previous, TREE_LEAF_WEIGHTS),
            this.#o.relayTimeoutMs ?? 120_000,
            `round ${rounds}: no product from ${previous}`,
          );
          if (passed.length !== 1) {
            throw new FedscoreError('protocol_step', `expected one ciphertext, got ${passed.length}`, {
              field: 'tree-leaf-weights.items',
            });
          }
          item = passed[0];
        }
        if (item === undefined && (found.length > 0 || next !== undefined)) {
          throw new FedscoreError('protocol_step', 'a round without its ciphertext', {
            field: 'tree-request.items',
          });
        }
        const B = layout.block;
        const mask = new Float64Array(n * blocks * B);
        const select = new Float64Array(n * blocks * B);
        if (found.length > 0 && typeof served !== 'string') {
          const index = applyBins(
            rowFeatures(
              served,
              found.map((f) => f.values),
            ),
            served.bins,
          ).index;
          const left = hostSplitBits(
            served,
            index,
            found.length,
            layout.splits.map((x) => x.splitId),
          );
          found.forEach((f, r) => {
            // Band mode: a blind per block (per applicant and threshold), fresh every round.
            const shared = 2 ** (rhoBits * uniform(rng));
            for (let k = 0; k < blocks; k++) {
              const at = (f.i * blocks + k) * B;
              hostLeafMask(layout, left, r, mask, at);
              select[at] =
                K === 0
                  ? 1
                  : this.#o.insecureSharedBlinding === true
                    ? shared
                    : 2 ** (rhoBits * uniform(rng));
            }
          });
        }
        if (next !== undefined) {
          // Not the last host: multiply in this host's 0/1 vector (0 on the blocks of the applicants it
          // does not score) and pass the product on: a ciphertext under the guest's key, from which the
          // next host learns nothing. An all-zero vector (this host scoring nobody in the round) gives a
          // fresh encryption of 0, not SEAL's recognizable zero ciphertext (@fedscore/he multiplies by a
          // zero plaintext that way), so the next host cannot tell that round from any other.
          const passed = ctx.scope(() =>
            ctx
              .deserializeVector(item!)
              .withLength(n * blocks * B)
              .mul(mask)
              .serialize(),
          );
          await s.send(next, TREE_LEAF_WEIGHTS, [passed]);
          // This host's own answers go to the guest; the next host never sees them.
          await s.send(guest, TREE_REPLY, { errors, items: [] } as unknown as TreeReplyMessage);
          continue;
        }
        if (found.length === 0 || typeof served === 'string') {
          await s.send(guest, TREE_REPLY, { errors, items: [] } as unknown as TreeReplyMessage);
          continue;
        }
        const reply = maskSumFlood(ctx, item!, mask, B, {
          select: this.#o.unsafeNoSelector === true ? undefined : select,
          sd,
          rng,
          blinded: K > 0,
        });
        await s.send(guest, TREE_REPLY, { errors, items: [reply] } as unknown as TreeReplyMessage);
      }
    } finally {
      ctx.dispose();
    }
  }
}

/** `p`, or a `timeout` error after `ms` (the timer never holds the process open). */
async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new FedscoreError('timeout', message, { field: 'tree-leaf-weights' })),
          ms,
        );
        timer.unref?.();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rows of values (in the model's feature order) as the host model's features. */
function rowFeatures(model: SecureBoostHostModel, rows: readonly ArrayLike<number>[]): PartyFeatures {
  return {
    names: model.features,
    columns: model.features.map((name, j) =>
      Float64Array.from(rows, (r) => {
        if (r.length !== model.features.length) {
          throw new FedscoreError('invalid_argument', `expected ${model.features.length} values`, {
            field: name,
          });
        }
        return r[j]!;
      }),
    ),
  };
}
