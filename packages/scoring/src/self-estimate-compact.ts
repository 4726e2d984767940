/**
 * Compact enterprise self-estimate for a phone (protocol "scoring.self-estimate-compact",
 * docs/protocols/self-estimate.md, "Compact variant"). Same parties and rules as `self-estimate.ts`;
 * 0.23 MiB per estimate instead of 8-10 MiB (measured in the browser, examples/self-estimate-browser).
 *
 * Parties: the enterprise (client: its own figures, the only CKKS secret key) and the bank (scorecard,
 * credit-line rules). `SelfEstimateCompactClient` imports nothing from Node (it runs in browsers).
 *
 * Messages in order (step definitions shared with `self-estimate.ts`):
 *   1. bank -> client  self-estimate-form   per feature the public grid, figures, bands, caps, rates; ring
 *                                           N = 4096 and no rotations
 *   2. client -> bank  self-estimate-keys   the public key only (no relinearization, no Galois keys)
 *   3. client -> bank  encrypted-bits       ONE seeded symmetric ciphertext: per feature a one-hot vector
 *                                           ([x missing], [x <= t_0], [t_0 < x <= t_1], ..., [x > t_last])
 *                                           replicated in 1 + bands blocks of P slots, then per (band, cap)
 *                                           the figure the cap reads (F1), then the leverage debt (F2)
 *   4. bank -> client  estimate-result      ONE ciphertext, the input times the bank's plaintext weights
 *                                           plus a plaintext: in block 0 points_i b_i (if the score is
 *                                           revealed), in block k rho_k points_i b_i, in every released
 *                                           block a fresh mask whose slots sum to zero and, in its first
 *                                           slot, the block's constant and flooding noise; in F1 f1 capA +
 *                                           capC + m_j, in F2 f2 capB - m_j. Re-randomised with a fresh
 *                                           public-key encryption of zero.
 * The client sums each block's slots: block 0 is the score, block k is rho_k (s - t_k), whose sign
 * gives the band; slot j of F1 plus slot j of F2 is cap j.
 *
 * What each party learns:
 *   - bank: nothing about the figures or the result (all under the client's key); sizes, that someone asked.
 *   - enterprise: its band, its score if revealed, every band's caps (F1 + F2, as in self-estimate.ts;
 *     the split of the leverage cap between its two terms is masked too). Per slot
 *     it sees points_i b_i + m_i with m uniform in +-2^maskBits (default 2^20) subject to sum m = 0: a
 *     slot reveals the bank's points only through a uniform mask about 2^6 times larger than
 *     rho_k points (statistical distance ~|points|/2^maskBits per slot and query; averaging needs ~2^40
 *     queries for one point of precision). Without the mask the slots ARE the per-interval points
 *     (attacks/self-estimate-mask.attack.test.ts). The output's own CKKS error is linear in the points
 *     with coefficients the client knows (its encryption errors); the re-encryption of zero and the
 *     flooding noise (default sd 2^-7 = 7.8e-3 points on each block's total, ~14x the
 *     measured error: RMS 5.6e-4, max 1.4e-3 points over 16 enterprises without flooding) cover it.
 *   - NOT defended here, unlike self-estimate.ts: the bank does not check that the "bits" are a valid
 *     one-hot encoding (that check is a ciphertext product: relinearization keys and a second level,
 *     which at N = 4096 leave no room for a score and multiply the bytes by ~4). A client that sends probe
 *     vectors learns sum_i points_i p_i for vectors p of its choice: with the score revealed, every
 *     interval's points after one query per slot; with it hidden, signs of chosen combinations against
 *     the thresholds. Keep `revealScore` off and meter queries per enterprise; serve the full protocol
 *     where an untrusted client must not probe.
 * Threat model: semi-honest bank; honest-but-curious enterprise (see the gap above).
 * Technique: one-hot (unary) encoding of each figure's grid interval (comparisons by unary encodings since
 * Yao; encrypted decision trees, Cong, Das, Park & Vercauteren 2022); additive zero-sum masking of a
 * linear result so that only its total is revealed (the masking step of secure aggregation, Bonawitz et
 * al. 2017, applied to slots); noise flooding for circuit privacy (Gentry 2009; Li & Micciancio 2021 on
 * CKKS); CKKS (Cheon et al. 2017); seeded symmetric ciphertexts (SEAL's Serializable, the `a` part
 * regenerated from a seed). Parameters: N = 4096 with log q = 50 + 25 + 34 = 109, the HE-standard 128-bit
 * maximum for N = 4096 (Albrecht et al. 2018, Table 1), one plaintext product.
 */
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  type Logger,
  noopLogger,
  normal,
  type PartyId,
  type ProtocolSession,
  requireCryptoRng,
  uniform,
} from '@fedscore/core';
import {
  type CkksParams,
  type CkksPublicContext,
  type CkksSecretContext,
  ckksValueBound,
  createCkksContext,
  loadCkksPublicContext,
} from '@fedscore/he';
import { fedscore } from '@fedscore/wire';
import { checkBatch, toBatch } from './he-io.ts';
import type { CreditRules } from './rules.ts';
import type { Scorecard } from './scorecard.ts';
import {
  buildSelfEstimateModel,
  decodeSelfEstimate,
  type EnterpriseInputs,
  figureReader,
  NO_CAP,
  SELF_ESTIMATE_CAPS,
  type SelfEstimate,
  type SelfEstimateFormOptions,
} from './self-estimate.ts';
import {
  ENCRYPTED_BITS,
  ESTIMATE_RESULT,
  SELF_ESTIMATE_FORM,
  SELF_ESTIMATE_KEYS,
  type SelfEstimateFormMessage,
} from './steps.ts';

export const SELF_ESTIMATE_COMPACT_PROTOCOL = 'scoring.self-estimate-compact';

/** N = 4096, log q = 109 (the 128-bit maximum), scale 2^25, one level; |values| < 2^23 at level 0. */
export const SELF_ESTIMATE_COMPACT_PARAMS: CkksParams = {
  polyModulusDegree: 4096,
  coeffModulusBits: [50, 25, 34],
  scaleBits: 25,
};

/** Default mask magnitude (bits): slots carry points_i b_i + m_i with |m_i| <= 2^(maskBits + 1). */
export const DEFAULT_MASK_BITS = 20;
/** Default flooding noise on each block's total (points). */
export const DEFAULT_COMPACT_NOISE = 2 ** -7;
/**
 * A cap the band does not have, within the level-0 range (|values| < 2^23 figure units): caps decoded at
 * or above half of it (2^21 units, 2.1e10 at the default unit of 10,000) count as absent.
 */
const COMPACT_NO_CAP = 2 ** 22;

/** The bank's evaluation tables for the compact protocol. */
export interface SelfEstimateCompactModel {
  readonly form: SelfEstimateFormMessage;
  /** Per slot of a block: the points of that one-hot slot relative to the feature's first bin. */
  readonly points: Float64Array;
  /** Score of an enterprise in every feature's first bin (base points + first bins). */
  readonly constant: number;
  readonly thresholds: readonly (number | undefined)[];
  readonly capA: Float64Array;
  readonly capB: Float64Array;
  readonly capC: Float64Array;
  readonly blockSize: number;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Build the compact form and tables from a scorecard and rules (same grids and validation as the full one). */
export function buildSelfEstimateCompactModel(
  card: Scorecard,
  rules: CreditRules,
  options: SelfEstimateFormOptions,
): SelfEstimateCompactModel {
  const full = buildSelfEstimateModel(card, rules, options);
  const points: number[] = [];
  card.features.forEach((f, j) => {
    if (f.bins.kind !== 'numeric')
      throw new FedscoreError('unsupported', 'numeric features only', { field: f.name });
    const edges = f.bins.edges;
    const grid = full.form.features[j]!.grid ?? [];
    if (f.bins.missing) points.push(f.points[f.points.length - 1]! - f.points[0]!);
    // Interval i: (grid[i-1], grid[i]] (first: x <= grid[0], last: x > grid[last]). Its bin is the number of
    // edges below the interval (edges are grid points; a value > e is above the edge e).
    for (let i = 0; i <= grid.length; i++) {
      const below = i === 0 ? Number.NEGATIVE_INFINITY : grid[i - 1]!;
      const bin = edges.filter((e) => e <= below).length;
      points.push(f.points[bin]! - f.points[0]!);
    }
  });
  const K = rules.bands.length;
  const slots = SELF_ESTIMATE_COMPACT_PARAMS.polyModulusDegree / 2;
  const blockSize = nextPow2(points.length);
  if ((1 + K) * blockSize > slots) {
    throw new FedscoreError(
      'out_of_range',
      `${points.length} slots x ${1 + K} blocks exceed ${slots} slots`,
      {
        field: 'grids',
      },
    );
  }
  const form = fedscore.scoring.SelfEstimateForm.create({
    ...full.form,
    polyModulusDegree: SELF_ESTIMATE_COMPACT_PARAMS.polyModulusDegree,
    rotations: [],
  });
  return {
    form,
    points: Float64Array.from(points),
    constant: full.constant,
    thresholds: full.thresholds,
    capA: full.capA,
    capB: full.capB,
    capC: full.capC.map((c) => (c === NO_CAP ? COMPACT_NO_CAP : c)),
    blockSize,
  };
}

/** The client's one-hot slots: per feature [x missing] (if the form has it), then one slot per grid interval. */
export function encodeOneHot(form: SelfEstimateFormMessage, inputs: EnterpriseInputs): Float64Array {
  const out: number[] = [];
  for (const f of form.features) {
    const name = f.name ?? '';
    const v = inputs[name];
    const missing = v === null || v === undefined || Number.isNaN(v);
    if (missing && !f.missing)
      throw new FedscoreError('missing_value', 'this figure is required', { field: name });
    if (!missing && !Number.isFinite(v))
      throw new FedscoreError('invalid_argument', 'not a finite number', { field: name });
    if (f.missing) out.push(missing ? 1 : 0);
    const grid = f.grid ?? [];
    const interval = missing ? -1 : grid.filter((t) => (v as number) > t).length;
    for (let i = 0; i <= grid.length; i++) out.push(i === interval ? 1 : 0);
  }
  return Float64Array.from(out);
}

export interface SelfEstimateCompactBankOptions {
  readonly model: SelfEstimateCompactModel;
  /** Blinding range of the comparisons: rho in [1, 2^rhoBits]. Default 6. */
  readonly rhoBits?: number;
  /** Flooding noise (points) on each block's total. Default `DEFAULT_COMPACT_NOISE`. */
  readonly noiseStdDev?: number;
  /** Zero-sum mask magnitude in bits; 0 turns the mask off (only to show the attack). Default 20. */
  readonly maskBits?: number;
  /**
   * Draws the zero-sum mask, the band blinding rho_k and the flooding noise, which hide the bank's
   * points: a cryptographic generator (a seeded one is refused with `insecure_rng` naming `rng`).
   * Default `cryptoRng()`.
   */
  readonly rng?: CryptoRng;
  readonly logger?: Logger;
  /** Accept weak parameters (tests only). */
  readonly allowWeakParameters?: boolean;
}

function sameParams(a: CkksParams, b: CkksParams): boolean {
  return (
    a.polyModulusDegree === b.polyModulusDegree &&
    a.scaleBits === b.scaleBits &&
    a.coeffModulusBits.length === b.coeffModulusBits.length &&
    a.coeffModulusBits.every((x, i) => x === b.coeffModulusBits[i])
  );
}

/** The bank's side of the compact self-estimate. */
export class SelfEstimateCompactBank {
  readonly #o: SelfEstimateCompactBankOptions;

  constructor(options: SelfEstimateCompactBankOptions) {
    if (options.rng !== undefined) requireCryptoRng(options.rng, 'rng');
    const maskBits = options.maskBits ?? DEFAULT_MASK_BITS;
    if (!Number.isInteger(maskBits) || maskBits < 0 || maskBits > 21) {
      throw new FedscoreError('out_of_range', 'must be an integer in [0, 21] (level-0 range 2^23)', {
        field: 'maskBits',
      });
    }
    const sd = options.noiseStdDev ?? DEFAULT_COMPACT_NOISE;
    if (!(sd >= 0) || !Number.isFinite(sd))
      throw new FedscoreError('out_of_range', 'must be >= 0', { field: 'noiseStdDev' });
    this.#o = options;
  }

  async serve(session: ProtocolSession, client: PartyId): Promise<void> {
    const m = this.#o.model;
    const rng = this.#o.rng ?? cryptoRng();
    const sd = this.#o.noiseStdDev ?? DEFAULT_COMPACT_NOISE;
    const rhoBits = this.#o.rhoBits ?? 6;
    const maskBits = this.#o.maskBits ?? DEFAULT_MASK_BITS;
    await session.send(client, SELF_ESTIMATE_FORM, m.form);
    const keys = await session.receive(client, SELF_ESTIMATE_KEYS);
    const ctx: CkksPublicContext = await loadCkksPublicContext(keys.context, {
      allowWeakParameters: this.#o.allowWeakParameters === true,
      expected: { scheme: 'ckks' },
      ...(this.#o.logger !== undefined && { logger: this.#o.logger }),
    });
    try {
      if (!sameParams(ctx.params, SELF_ESTIMATE_COMPACT_PARAMS)) {
        throw new FedscoreError(
          'protocol_step',
          'expected the compact CKKS parameters (N=4096, 50+25+34 bits, scale 2^25)',
          {
            field: 'self-estimate-keys.context',
          },
        );
      }
      const S = ctx.slotCount;
      const P = m.blockSize;
      const K = m.thresholds.length;
      const C = SELF_ESTIMATE_CAPS.length;
      const [bitsBytes] = checkBatch(ctx, await session.receive(client, ENCRYPTED_BITS), 'encrypted-bits', {
        items: 1,
        slotsPerItem: S,
      });
      // Layout of the one ciphertext: the 1 + K blocks, then the first figures (F1), then the second (F2).
      const o1 = (1 + K) * P;
      const o2 = o1 + K * C;
      const reveal = m.form.revealsScore;
      const weights = new Float64Array(S);
      const added = new Float64Array(S);
      for (let b = 0; b <= K; b++) {
        const t = b === 0 ? undefined : m.thresholds[b - 1];
        // Released blocks: the score (if revealed) and every band with a minimum. A band without one
        // always passes: a fresh positive value, nothing about s.
        const released = b === 0 ? reveal : t !== undefined;
        const rho = b === 0 ? 1 : 2 ** (rhoBits * uniform(rng));
        if (released) {
          for (let i = 0; i < m.points.length; i++) weights[b * P + i] = rho * m.points[i]!;
          added[b * P] = rho * (m.constant - (t ?? 0)) + normal(rng, 0, sd);
        } else if (b > 0) {
          added[b * P] = rho;
        }
        if (maskBits > 0 && released) {
          // Uniform in +-2^maskBits, centred so that the block's slots sum to exactly zero.
          const g = Array.from({ length: P }, () => (2 * uniform(rng) - 1) * 2 ** maskBits);
          const mean = g.reduce((a, x) => a + x, 0) / P;
          for (let i = 0; i < P; i++) added[b * P + i] = added[b * P + i]! + g[i]! - mean;
        }
      }
      // Caps: slot j of F1 carries f1 capA + capC + m_j, slot j of F2 f2 capB - m_j; the client adds the
      // two, so it learns the cap and not how it splits (the leverage cap's two terms). The caps' error is
      // linear in the rules' multiples, which the enterprise learns anyway (see above): flooding 2^-20.
      for (let j = 0; j < K * C; j++) {
        const mj = maskBits > 0 ? (2 * uniform(rng) - 1) * 2 ** maskBits : 0;
        weights[o1 + j] = m.capA[j]!;
        weights[o2 + j] = m.capB[j]!;
        added[o1 + j] = m.capC[j]! + normal(rng, 0, 2 ** -20) + mj;
        added[o2 + j] = -mj;
      }
      const out = ctx.scope(() =>
        ctx
          .deserializeVector(bitsBytes!)
          .mul(weights)
          .add(added)
          .add(ctx.encrypt(new Float64Array(S))),
      );
      let items: Uint8Array[];
      try {
        items = [out.serialize({ compression: 'zstd' })];
      } finally {
        out.dispose();
      }
      await session.send(client, ESTIMATE_RESULT, {
        ...toBatch(ctx, items, S, 2 ** ctx.params.scaleBits, 0),
        compression: 'zstd',
      });
      (this.#o.logger ?? noopLogger).debug('compact self-estimate served', { bands: K });
    } finally {
      ctx.dispose();
    }
  }
}

/** What the client decrypted, per slot, before summing: for tests and the attack demonstration. */
export interface SelfEstimateCompactTrace {
  readonly scoreSlots: Float64Array;
  readonly blockSize: number;
}

/** The enterprise's side of the compact self-estimate. Runs in Node and browsers. */
export class SelfEstimateCompactClient {
  readonly #logger: Logger;
  /** The last decrypted result slots (the client's own view; never sent anywhere). */
  lastTrace: SelfEstimateCompactTrace | undefined;

  constructor(options: { logger?: Logger } = {}) {
    this.#logger = options.logger ?? noopLogger;
  }

  async estimate(session: ProtocolSession, bank: PartyId, inputs: EnterpriseInputs): Promise<SelfEstimate> {
    const form = await session.receive(bank, SELF_ESTIMATE_FORM);
    if (form.polyModulusDegree !== SELF_ESTIMATE_COMPACT_PARAMS.polyModulusDegree) {
      throw new FedscoreError('unsupported', `the form asks for N=${form.polyModulusDegree}`, {
        field: 'self-estimate-form.polyModulusDegree',
      });
    }
    const ctx: CkksSecretContext = await createCkksContext({
      params: SELF_ESTIMATE_COMPACT_PARAMS,
      relinearization: false,
    });
    try {
      const S = ctx.slotCount;
      const bits = encodeOneHot(form, inputs);
      const P = nextPow2(bits.length);
      const K = form.bands.length;
      const C = form.caps.length;
      const o1 = (1 + K) * P;
      const o2 = o1 + K * C;
      if (o2 + K * C > S) {
        throw new FedscoreError('out_of_range', 'the form does not fit the compact ring', {
          field: 'self-estimate-form',
        });
      }
      const slots = new Float64Array(S);
      for (let b = 0; b <= K; b++) slots.set(bits, b * P);
      const fig = figureReader(inputs, form.figureUnit, ckksValueBound(ctx.params));
      for (let k = 0; k < K; k++) {
        slots[o1 + k * C] = fig(form.figures[0] ?? '');
        slots[o1 + k * C + 1] = fig(form.figures[1] ?? '');
        slots[o1 + k * C + 2] = fig(form.figures[2] ?? '');
        slots[o2 + k * C + 2] = fig(form.figures[3] ?? '');
      }
      await session.send(
        bank,
        SELF_ESTIMATE_KEYS,
        fedscore.scoring.SelfEstimateKeys.create({ context: ctx.serialize() }),
      );
      const scale = 2 ** ctx.params.scaleBits;
      await session.send(
        bank,
        ENCRYPTED_BITS,
        toBatch(ctx, [ctx.encryptSymmetricSerialized(slots)], S, scale, ctx.levels),
      );
      const [scores] = checkBatch(ctx, await session.receive(bank, ESTIMATE_RESULT), 'estimate-result', {
        items: 1,
      }).map((b) => {
        const v = ctx.deserializeVector(b);
        try {
          return ctx.decrypt(v);
        } finally {
          v.dispose();
        }
      }) as [Float64Array];
      const caps = Float64Array.from({ length: K * C }, (_, j) => scores[o1 + j]! + scores[o2 + j]!);
      this.lastTrace = { scoreSlots: scores, blockSize: P };
      const blockSum = (b: number): number => {
        let s = 0;
        for (let i = 0; i < P; i++) s += scores[b * P + i]!;
        return s;
      };
      let bandIndex = -1;
      for (let k = 0; k < K; k++) {
        if (blockSum(k + 1) >= 0) {
          bandIndex = k;
          break;
        }
      }
      // CKKS error at scale 2^25 is ~1e-5 figure units (plus the caps' 2^-20 flooding): a tolerance of 1e-3
      // units keeps a cap that is an exact multiple of the rounding from being rounded down a whole step.
      const result = decodeSelfEstimate(form, bandIndex, caps, COMPACT_NO_CAP, 1e-3);
      this.#logger.debug('compact self-estimate received', { bands: K });
      return form.revealsScore ? { ...result, score: blockSum(0) } : result;
    } finally {
      ctx.dispose();
    }
  }
}
