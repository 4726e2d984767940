/**
 * Enterprise self-estimate, "scan a code, see your line" (protocol "scoring.self-estimate",
 * docs/protocols/self-estimate.md).
 *
 * Parties: the enterprise (client: its own figures, the only CKKS secret key) and the bank (its scorecard
 * and credit-line rules). The client code (`SelfEstimateClient`) imports nothing from Node, so it runs in
 * Node and in a browser (node-seal is WASM): examples/self-estimate-browser.
 *
 * Messages in order:
 *   1. bank -> client  self-estimate-form   per feature a public grid of cut points (a superset of the
 *                                           bank's bin edges), the figures the rules read, band names,
 *                                           cap names, rates, the figure unit, the CKKS ring and rotations
 *   2. client -> bank  self-estimate-keys   public key, relinearization key (the bits check), Galois keys
 *                                           for the form's rotations only
 *   3. client -> bank  encrypted-bits       one ciphertext: [x_j missing], then [x_j > t] for every grid
 *                                           point t, replicated in 1 + bands blocks of P slots
 *   4. client -> bank  encrypted-figures    two ciphertexts: per (band, cap) slot the figure the cap reads
 *                                           (second item: the leverage cap's debt figure)
 *   5. bank -> client  estimate-result      two ciphertexts: [score (if revealed), rho_k (s - t_k) per
 *                                           band, each plus the bits check]; [every band's caps]
 *
 * What each party learns:
 *   - bank: nothing about the enterprise's figures or its result (everything it holds is encrypted under
 *     the client's key); the ciphertext sizes and that someone asked.
 *   - enterprise: its band (signs of the blinded comparisons), its score if the bank reveals it, and every
 *     band's caps for its own figures, from which it can divide out the rules' multiples (the product
 *     terms: revenue and tax multiples, the leverage ratio, maximum lines). Not the scorecard's points,
 *     weights or bin edges beyond the public grid; the rho_k-blinded magnitudes leak |s - t_k| only up to
 *     the blinding. A client that sends other values than a valid thermometer encoding (non-binary
 *     "bits", unit vectors) gets noise: the bank adds sum_i r_i b_i (b_i - 1) and neighbour terms with
 *     fresh r (`verifyBits`). Valid encodings still make each query a scoring oracle (with the score
 *     revealed -- off unless the bank sets `revealScore` -- the deltas follow by differences), so
 *     whoever serves self-estimates should meter them per enterprise.
 * Threat model: semi-honest bank; the client is the data subject and may be curious (see above).
 * Technique: the scorecard is a step function of each figure; with the client's threshold bits it is
 * linear, sum_t delta_t [x > t] (the "thermometer" or unary encoding used for comparisons since Yao, and
 * for encrypted decision trees by Cong, Das, Park & Vercauteren 2022, "SortingHat"). Block sums by
 * rotate-and-sum (Halevi & Shoup 2014), blinded comparisons as in online.ts, CKKS (Cheon et al. 2017).
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
  type CkksPublicContext,
  type CkksSecretContext,
  ckksValueBound,
  createCkksContext,
  loadCkksPublicContext,
} from '@fedscore/he';
import { fedscore } from '@fedscore/wire';
import { checkBatch, toBatch } from './he-io.ts';
import { bandIndexOf, type CapName, type CreditRules, decisionForBand, lineFromCaps } from './rules.ts';
import type { Scorecard } from './scorecard.ts';
import {
  ENCRYPTED_BITS,
  ENCRYPTED_FIGURES,
  ESTIMATE_RESULT,
  SELF_ESTIMATE_FORM,
  SELF_ESTIMATE_KEYS,
  type SelfEstimateFormMessage,
} from './steps.ts';

/** The caps, in slot order within a band. */
export const SELF_ESTIMATE_CAPS: readonly CapName[] = ['revenue', 'taxPaid', 'leverage', 'maxLine'];
/** A cap the band does not have: larger than any line (in figure units). */
export const NO_CAP = 2 ** 40;
const RING = 8192;

/**
 * The constraint a valid encoding puts on slot i and slot i + 1 of a block (checked by the bank, see
 * `SelfEstimateBankOptions.verifyBits`): none (a feature's last slot), monotone (two grid bits of one
 * feature, t_i < t_(i+1): b_(i+1) <= b_i, i.e. b_(i+1) (1 - b_i) = 0) or exclusive ([x missing] and the
 * feature's first grid bit: m b_1 = 0, hence, with monotonicity, no grid bit is set when m is).
 */
export type BitPair = typeof BIT_PAIR_NONE | typeof BIT_PAIR_MONOTONE | typeof BIT_PAIR_EXCLUSIVE;
export const BIT_PAIR_NONE = 0;
export const BIT_PAIR_MONOTONE = 1;
export const BIT_PAIR_EXCLUSIVE = 2;

/**
 * Magnitude of the validity check's coefficients: |r| uniform in [2^(b-1), 2^b], random sign, times the
 * block's blinding rho_k. A client that moves a bit by d off {0, 1} gains rho_k delta d in a comparison
 * and pays rho_k r d (d +- 1), uniform of width >= 2^b |d|: with b = 16 that is >= 2^10 times the
 * increment |delta| of a scorecard bin (tens of points). Larger is safer but costs an honest client
 * precision: the check's CKKS error measured RMS 5e-5 / 1.8e-4 / 8.6e-4 points (max 1.1e-4 / 4.5e-4 /
 * 1.6e-3 over 16 enterprises) at b = 14 / 16 / 18 on the example's 22 bits, so a score within ~1e-3 of
 * a threshold may land in the neighbouring band. Level-0 headroom (q0 = 2^60 at scale 2^40) bounds
 * |values| by 2^19: a cheater's check term may wrap around, which is noise as well.
 */
export const DEFAULT_BIT_CHECK_BITS = 16;

export interface SelfEstimateFormOptions {
  readonly product: string;
  /** Public grids per feature name; each must contain every bin edge. Default: edges plus midpoints. */
  readonly grids?: Readonly<Record<string, readonly number[]>>;
  /** Reveal the exact score to the enterprise. Default false (band and line only). */
  readonly revealScore?: boolean;
  /** Unit of encrypted money figures. Default 10,000. */
  readonly figureUnit?: number;
}

/** What the bank keeps to answer requests: the form plus the weights it never sends. */
export interface SelfEstimateModel {
  readonly form: SelfEstimateFormMessage;
  /** Per slot of a block: the score increment of that bit. */
  readonly deltas: Float64Array;
  /** Per slot of a block: the constraint a valid encoding puts on this slot and the next (`BitPair`). */
  readonly pairs: Uint8Array;
  /** Score when every bit is 0 (base points + each feature's first bin). */
  readonly constant: number;
  /** Per band: its threshold (undefined = no minimum). */
  readonly thresholds: readonly (number | undefined)[];
  /** Per (band, cap) slot: multiplier of figure 1, multiplier of figure 2, constant (figure units). */
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

function defaultGrid(edges: readonly number[]): number[] {
  if (edges.length === 0) return [];
  const out: number[] = [];
  const first = edges[0]!;
  const last = edges[edges.length - 1]!;
  const span = edges.length > 1 ? (last - first) / (edges.length - 1) : Math.max(1, Math.abs(first));
  out.push(first - span / 2);
  edges.forEach((e, i) => {
    out.push(e);
    out.push(i + 1 < edges.length ? (e + edges[i + 1]!) / 2 : e + span / 2);
  });
  return out;
}

/** Build the public form and the bank's private evaluation tables from a scorecard and rules. */
export function buildSelfEstimateModel(
  card: Scorecard,
  rules: CreditRules,
  options: SelfEstimateFormOptions,
): SelfEstimateModel {
  const unit = options.figureUnit ?? 10_000;
  if (!(unit > 0) || !Number.isFinite(unit))
    throw new FedscoreError('out_of_range', 'must be > 0', { field: 'figureUnit' });
  const features: { name: string; grid: number[]; missing: boolean }[] = [];
  const deltas: number[] = [];
  const pairs: BitPair[] = [];
  let constant = card.basePoints;
  for (const f of card.features) {
    if (f.bins.kind !== 'numeric') {
      throw new FedscoreError('unsupported', 'self-estimate supports numeric features only', {
        field: f.name,
      });
    }
    const edges = f.bins.edges;
    const grid = options.grids?.[f.name]
      ? [...options.grids[f.name]!].sort((a, b) => a - b)
      : defaultGrid(edges);
    for (const e of edges) {
      if (!grid.includes(e)) {
        throw new FedscoreError('invalid_config', `the public grid must contain the bin edge ${e}`, {
          field: f.name,
        });
      }
    }
    if (new Set(grid).size !== grid.length || grid.some((g) => !Number.isFinite(g))) {
      throw new FedscoreError('invalid_config', 'grid points must be finite and distinct', { field: f.name });
    }
    constant += f.points[0]!;
    // Slot order per feature: [x missing] first (if the feature has it), then [x > t] by ascending t, so
    // that every constraint of a valid encoding links two neighbouring slots (see `BitPair`).
    if (f.bins.missing) {
      deltas.push(f.points[f.points.length - 1]! - f.points[0]!);
      pairs.push(grid.length > 0 ? BIT_PAIR_EXCLUSIVE : BIT_PAIR_NONE);
    }
    grid.forEach((g, j) => {
      const i = edges.indexOf(g);
      deltas.push(i >= 0 ? f.points[i + 1]! - f.points[i]! : 0);
      pairs.push(j + 1 < grid.length ? BIT_PAIR_MONOTONE : BIT_PAIR_NONE);
    });
    features.push({ name: f.name, grid, missing: f.bins.missing });
  }
  const bands = rules.bands;
  const blockSize = nextPow2(deltas.length);
  if ((1 + bands.length) * blockSize > RING / 2) {
    throw new FedscoreError(
      'out_of_range',
      `${deltas.length} grid bits x ${1 + bands.length} blocks exceed ${RING / 2} slots`,
      {
        field: 'grids',
      },
    );
  }
  const C = SELF_ESTIMATE_CAPS.length;
  const capA = new Float64Array(bands.length * C);
  const capB = new Float64Array(bands.length * C);
  const capC = new Float64Array(bands.length * C).fill(NO_CAP);
  bands.forEach((b, k) => {
    const o = k * C;
    if (!b.approve) {
      capC.fill(0, o, o + C);
      return;
    }
    if (b.revenueMultiple !== undefined) {
      capA[o] = b.revenueMultiple;
      capC[o] = 0;
    }
    if (b.taxMultiple !== undefined) {
      capA[o + 1] = b.taxMultiple;
      capC[o + 1] = 0;
    }
    if (rules.leverage) {
      capA[o + 2] = rules.leverage.maxRatio;
      capB[o + 2] = -1;
      capC[o + 2] = 0;
    }
    if (b.maxLine !== undefined) capC[o + 3] = b.maxLine / unit;
  });
  const figures: string[] = [
    rules.figures.revenue ?? '',
    rules.figures.taxPaid ?? '',
    rules.leverage?.base ?? '',
    rules.leverage?.debt ?? '',
  ];
  const rotations: number[] = [];
  for (let s = 1; s < blockSize; s *= 2) rotations.push(s);
  const form = fedscore.scoring.SelfEstimateForm.create({
    product: options.product,
    features: features.map((f) => fedscore.scoring.SelfEstimateFeature.create(f)),
    figures,
    bands: bands.map((b) => b.name),
    caps: [...SELF_ESTIMATE_CAPS],
    revealsScore: options.revealScore === true,
    polyModulusDegree: RING,
    rotations,
    figureUnit: unit,
    rounding: rules.rounding,
    rateBp: bands.map((b) => Math.max(0, rules.baseRateBp - b.rateDiscountBp)),
  });
  return {
    form,
    deltas: Float64Array.from(deltas),
    pairs: Uint8Array.from(pairs),
    constant,
    thresholds: bands.map((b) => b.minScore),
    capA,
    capB,
    capC,
    blockSize,
  };
}

export interface SelfEstimateBankOptions {
  readonly model: SelfEstimateModel;
  /** Blinding range of the comparisons: rho in [1, 2^rhoBits]. Default 6. */
  readonly rhoBits?: number;
  readonly noiseStdDev?: number;
  /**
   * Draws the bit check's coefficients r, r', the band blinding rho_k and the flooding noise, which
   * hide the scorecard: a cryptographic generator (a seeded one is refused with `insecure_rng` naming
   * `rng`). Default `cryptoRng()`.
   */
  readonly rng?: CryptoRng;
  readonly logger?: Logger;
  /** Accept an enterprise's context below 128-bit security (tests only; always warned). */
  readonly allowWeakParameters?: boolean;
  /** @deprecated The old name of `allowWeakParameters`. */
  readonly insecure?: boolean;
  /**
   * Randomised check that the client's bits are a valid encoding (each 0 or 1, thermometer order, no grid
   * bit with [missing]): the bank adds sum_i r_i (b_i^2 - b_i) + sum_i r'_i c_i(b_i, b_(i+1)) with fresh
   * r, r' to every released slot, which is 0 for a valid encoding and noise otherwise. Needs the
   * client's relinearization key (one ciphertext product). Default true; false only to show the attack.
   */
  readonly verifyBits?: boolean;
  /** Magnitude of the check's coefficients. Default `DEFAULT_BIT_CHECK_BITS`. */
  readonly bitCheckBits?: number;
}

/** The bank's side: send the form, evaluate one request, return the encrypted result. */
export class SelfEstimateBank {
  readonly #o: SelfEstimateBankOptions;

  constructor(options: SelfEstimateBankOptions) {
    if (options.rng !== undefined) requireCryptoRng(options.rng, 'rng');
    this.#o = options;
  }

  async serve(session: ProtocolSession, client: PartyId): Promise<void> {
    const m = this.#o.model;
    const rng = this.#o.rng ?? cryptoRng();
    const sd = this.#o.noiseStdDev ?? 2 ** -20;
    const rhoBits = this.#o.rhoBits ?? 6;
    await session.send(client, SELF_ESTIMATE_FORM, m.form);
    const keys = await session.receive(client, SELF_ESTIMATE_KEYS);
    const ctx: CkksPublicContext = await loadCkksPublicContext(keys.context, {
      allowWeakParameters: this.#o.allowWeakParameters === true || this.#o.insecure === true,
      expected: { scheme: 'ckks' },
      ...(this.#o.logger !== undefined && { logger: this.#o.logger }),
    });
    try {
      if (ctx.params.polyModulusDegree !== RING || ctx.levels < 2) {
        throw new FedscoreError('protocol_step', `expected a CKKS context with N=${RING} and 2 levels`, {
          field: 'self-estimate-keys.context',
        });
      }
      const verify = this.#o.verifyBits ?? true;
      if (verify && !ctx.hasRelinKeys) {
        throw new FedscoreError(
          'protocol_step',
          'no relinearization key (the bits check needs one product)',
          {
            field: 'self-estimate-keys.context',
          },
        );
      }
      for (const r of m.form.rotations) {
        if (!ctx.rotations.includes(r)) {
          throw new FedscoreError('protocol_step', `no Galois key for rotation ${r}`, {
            field: 'self-estimate-keys.context',
          });
        }
      }
      const S = ctx.slotCount;
      const P = m.blockSize;
      const K = m.thresholds.length;
      const C = SELF_ESTIMATE_CAPS.length;
      const [bitsBytes] = checkBatch(ctx, await session.receive(client, ENCRYPTED_BITS), 'encrypted-bits', {
        items: 1,
        slotsPerItem: S,
      });
      const figItems = checkBatch(
        ctx,
        await session.receive(client, ENCRYPTED_FIGURES),
        'encrypted-figures',
        {
          items: 2,
          slotsPerItem: K * C,
        },
      );
      const rho = Array.from({ length: K }, () => 2 ** (rhoBits * uniform(rng)));
      const weights = new Float64Array(S);
      const select = new Float64Array(S);
      const constants = new Float64Array(S);
      const reveal = m.form.revealsScore;
      for (let b = 0; b <= K; b++) {
        const factor = b === 0 ? 1 : rho[b - 1]!;
        for (let i = 0; i < m.deltas.length; i++) weights[b * P + i] = factor * m.deltas[i]!;
        if (b === 0) {
          select[0] = reveal ? 1 : 0;
          constants[0] = reveal ? m.constant + normal(rng, 0, sd) : 0;
        } else {
          const t = m.thresholds[b - 1];
          select[b * P] = t === undefined ? 0 : 1;
          // No minimum: the comparison always passes (a fresh positive value, nothing about s).
          constants[b * P] = t === undefined ? factor : factor * (m.constant - t) + normal(rng, 0, sd);
        }
      }
      // Validity check coefficients, fresh per request and slot, on every released block only.
      const checkBits = this.#o.bitCheckBits ?? DEFAULT_BIT_CHECK_BITS;
      const square = new Float64Array(S);
      const pairShift = new Float64Array(S);
      const pairCoefficient = new Float64Array(S);
      if (verify) {
        for (let b = 0; b <= K; b++) {
          if (select[b * P] === 0) continue;
          const factor = b === 0 ? 1 : rho[b - 1]!;
          const coefficient = (): number =>
            factor * (uniform(rng) < 0.5 ? -1 : 1) * 2 ** (checkBits - 1) * (1 + uniform(rng));
          for (let i = 0; i < m.deltas.length; i++) {
            square[b * P + i] = coefficient(); // r b_i (b_i - 1)
            // r b_(i+1) (b_i - 1) for a monotone pair, r b_(i+1) b_i (= r m b_1) for an exclusive one
            if (m.pairs[i] !== BIT_PAIR_NONE) pairCoefficient[b * P + i] = coefficient();
            if (m.pairs[i] === BIT_PAIR_MONOTONE) pairShift[b * P + i] = 1;
          }
        }
      }
      const noiseCaps = Float64Array.from({ length: K * C }, () => normal(rng, 0, sd));
      const capC = m.capC.map((c, i) => c + noiseCaps[i]!);
      const out = ctx.scope(() => {
        const bits = ctx.deserializeVector(bitsBytes!);
        let acc = bits.mul(weights);
        for (let s = 1; s < P; s *= 2) acc = acc.add(acc.rotate(s));
        let scores = acc.mul(select).add(constants);
        if (verify) {
          // Depth: r (b - 1) (level 2 -> 1), then x b (1 -> 0), summed per block at level 0 -- within the
          // two levels of ckks-8192, beside the score's own two plaintext products. Written as products
          // (not b^2 - b, whose scales differ by ~1e-6, times |r|) so that an honest client's zeros stay
          // within CKKS noise. The neighbour b_(i+1) is rotated at scale 2^80 (before a rescale): key
          // switching adds ~2^-25 at scale 2^40, which |r| would turn into ~1e-2 points.
          const next = bits.mul(1, { rescale: false }).rotate(1).rescale();
          let check = bits.mul(bits.sub(1).mul(square));
          check = check.add(next.mul(bits.sub(pairShift).mul(pairCoefficient)));
          for (let s = 1; s < P; s *= 2) check = check.add(check.rotate(s));
          scores = scores.add(check);
        }
        scores = scores.add(ctx.encrypt(new Float64Array(S)));
        const f1 = ctx.deserializeVector(figItems[0]!);
        const f2 = ctx.deserializeVector(figItems[1]!);
        const caps = f1
          .mul(m.capA)
          .add(f2.mul(m.capB))
          .add(capC)
          .add(ctx.encrypt(new Float64Array(K * C)));
        return [scores, caps] as const;
      });
      let items: Uint8Array[];
      try {
        items = [out[0].serialize({ compression: 'zstd' }), out[1].serialize({ compression: 'zstd' })];
      } finally {
        out[0].dispose();
        out[1].dispose();
      }
      const batch = toBatch(ctx, items, S, 2 ** ctx.params.scaleBits, 0);
      await session.send(client, ESTIMATE_RESULT, { ...batch, compression: 'zstd' });
      (this.#o.logger ?? noopLogger).debug('self-estimate served', { bands: K });
    } finally {
      ctx.dispose();
    }
  }
}

export interface SelfEstimate {
  /** Band name, or null when the score is below every band's minimum. */
  readonly band: string | null;
  readonly bandIndex: number;
  readonly approved: boolean;
  /** The pre-approved line estimate (currency units, rounded down by the product's rounding). */
  readonly line: number;
  readonly rateBp: number | null;
  /** Only when the bank reveals scores. */
  readonly score?: number;
  /** Caps of the enterprise's band (currency units), for display. */
  readonly caps: Partial<Record<CapName, number>>;
}

/** The enterprise's figures and feature values by name (NaN / null = missing). */
export type EnterpriseInputs = Readonly<Record<string, number | null | undefined>>;

/** The client (enterprise) side. Runs in Node and in browsers. */
export class SelfEstimateClient {
  readonly #logger: Logger;

  constructor(options: { logger?: Logger } = {}) {
    this.#logger = options.logger ?? noopLogger;
  }

  async estimate(session: ProtocolSession, bank: PartyId, inputs: EnterpriseInputs): Promise<SelfEstimate> {
    const form = await session.receive(bank, SELF_ESTIMATE_FORM);
    const ctx: CkksSecretContext = await createCkksContext({
      params: 'ckks-8192',
      rotations: form.rotations,
      // The bank's check that the bits are 0/1 squares them: one ciphertext product.
      relinearization: true,
    });
    try {
      if (ctx.params.polyModulusDegree !== form.polyModulusDegree) {
        throw new FedscoreError('unsupported', `the form asks for N=${form.polyModulusDegree}`, {
          field: 'self-estimate-form.polyModulusDegree',
        });
      }
      const S = ctx.slotCount;
      const bits = encodeBits(form, inputs);
      const P = nextPow2(bits.length);
      const K = form.bands.length;
      const C = form.caps.length;
      const slots = new Float64Array(S);
      for (let b = 0; b <= K; b++) slots.set(bits, b * P);
      const fig = figureReader(inputs, form.figureUnit, ckksValueBound(ctx.params));
      const f1 = new Float64Array(K * C);
      const f2 = new Float64Array(K * C);
      for (let k = 0; k < K; k++) {
        f1[k * C] = fig(form.figures[0] ?? '');
        f1[k * C + 1] = fig(form.figures[1] ?? '');
        f1[k * C + 2] = fig(form.figures[2] ?? '');
        f2[k * C + 2] = fig(form.figures[3] ?? '');
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
      await session.send(
        bank,
        ENCRYPTED_FIGURES,
        toBatch(
          ctx,
          [ctx.encryptSymmetricSerialized(f1), ctx.encryptSymmetricSerialized(f2)],
          K * C,
          scale,
          ctx.levels,
        ),
      );
      const items = checkBatch(ctx, await session.receive(bank, ESTIMATE_RESULT), 'estimate-result', {
        items: 2,
      });
      const [scores, caps] = items.map((b) => {
        const v = ctx.deserializeVector(b);
        try {
          return ctx.decrypt(v);
        } finally {
          v.dispose();
        }
      }) as [Float64Array, Float64Array];
      let bandIndex = -1;
      for (let k = 0; k < K; k++) {
        if (scores[(k + 1) * P]! >= 0) {
          bandIndex = k;
          break;
        }
      }
      const result = decodeSelfEstimate(form, bandIndex, caps);
      this.#logger.debug('self-estimate received', { bands: K });
      return form.revealsScore ? { ...result, score: scores[0]! } : result;
    } finally {
      ctx.dispose();
    }
  }
}

/**
 * Reads the enterprise's figures in the form's units. Each figure must be a value the parameters decode
 * exactly (`bound`, from ckksValueBound): beyond it the bank's encrypted caps come back wrong, and far
 * beyond it SEAL's encoder would fault. Self-estimates apply the conservative policy: a missing figure
 * (or the form's empty name) counts as 0.
 */
export function figureReader(
  inputs: EnterpriseInputs,
  unit: number,
  bound: number,
): (name: string) => number {
  return (name) => {
    if (name === '') return 0;
    const v = inputs[name];
    if (v === null || v === undefined || Number.isNaN(v)) return 0;
    if (!Number.isFinite(v))
      throw new FedscoreError('invalid_argument', 'not a finite number', { field: name });
    if (Math.abs(v / unit) > bound) {
      throw new FedscoreError(
        'out_of_range',
        `the figure is beyond ±${(bound * unit).toPrecision(3)}, what the encrypted estimate can hold`,
        { field: name },
      );
    }
    return v / unit;
  };
}

/** The client's thermometer bits: per feature [x missing] if the form has it, then [x > t] per grid point. */
export function encodeBits(form: SelfEstimateFormMessage, inputs: EnterpriseInputs): Float64Array {
  const out: number[] = [];
  for (const f of form.features) {
    const name = f.name ?? '';
    const v = inputs[name];
    const missing = v === null || v === undefined || Number.isNaN(v);
    if (missing && !f.missing) {
      throw new FedscoreError('missing_value', 'this figure is required', { field: name });
    }
    if (!missing && !Number.isFinite(v))
      throw new FedscoreError('invalid_argument', 'not a finite number', { field: name });
    if (f.missing) out.push(missing ? 1 : 0);
    for (const t of f.grid ?? []) out.push(!missing && (v as number) > t ? 1 : 0);
  }
  return Float64Array.from(out);
}

/** The estimate from the band index and the decrypted caps (shared with self-estimate-compact.ts). */
export function decodeSelfEstimate(
  form: SelfEstimateFormMessage,
  bandIndex: number,
  caps: Float64Array,
  noCap: number = NO_CAP,
  toleranceUnits = 1e-4,
): SelfEstimate {
  if (bandIndex < 0) return { band: null, bandIndex, approved: false, line: 0, rateBp: null, caps: {} };
  const C = form.caps.length;
  const found: Partial<Record<CapName, number>> = {};
  form.caps.forEach((name, c) => {
    const v = caps[bandIndex * C + c]!;
    if (v < noCap / 2) found[name as CapName] = v * form.figureUnit;
  });
  // CKKS errors are ~1e-6 figure units: a tolerance of 1e-4 units keeps a cap that is an exact multiple
  // of the rounding (a maximum line) from being rounded down a whole step.
  const { line } = lineFromCaps(form.rounding, found, toleranceUnits * form.figureUnit);
  return {
    band: form.bands[bandIndex] ?? null,
    bandIndex,
    approved: line > 0,
    line,
    rateBp: form.rateBp[bandIndex] ?? null,
    caps: found,
  };
}

/** The plaintext reference of a self-estimate: the same decision made in the clear. */
export function plainSelfEstimate(
  rules: CreditRules,
  inputs: EnterpriseInputs,
  score: number,
): ReturnType<typeof decisionForBand> {
  const figures: Record<string, number> = {};
  for (const [k, v] of Object.entries(inputs))
    figures[k] = v === null || v === undefined ? 0 : Number.isNaN(v) ? 0 : v;
  return decisionForBand({ ...rules, missingFigure: 'zero' }, bandIndexOf(rules, score), figures);
}
