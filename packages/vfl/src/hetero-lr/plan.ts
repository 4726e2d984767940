/**
 * The decoded TrainPlan every role works from, plus helpers shared by the role files (masks, the
 * gradient step). Nothing here touches the channel.
 */
import {
  type CryptoRng,
  cryptoRng,
  FedscoreError,
  loadRngKey,
  requireCryptoRng,
  uniform,
} from '@fedscore/core';
import type { MaskStream } from './checkpoint-state.ts';
import { type HeteroLrMode, type HeteroLrScheme, type LrScheduleName, validatesAfter } from './options.ts';
import { fromWire, MODE_TO_WIRE, SCHEDULE_TO_WIRE, SCHEME_TO_WIRE, type TrainPlanMessage } from './steps.ts';

export interface Plan {
  readonly mode: HeteroLrMode;
  readonly scheme: HeteroLrScheme;
  readonly hosts: readonly string[];
  readonly rows: number;
  readonly validationRows: Uint32Array;
  readonly batchSize: number;
  readonly maxEpochs: number;
  readonly shuffleSeed: number;
  readonly learningRate: number;
  readonly lrSchedule: LrScheduleName;
  readonly lrDecay: number;
  readonly l2: number;
  readonly maskBits: number;
  readonly patience: number;
  readonly tolerance: number;
  readonly modelId: string;
  readonly validationEvery: number;
  readonly classWeighted: boolean;
  readonly maxColumns: number;
  readonly guestColumns: number;
}

export function planToWire(p: Plan): TrainPlanMessage {
  return {
    mode: MODE_TO_WIRE[p.mode],
    scheme: SCHEME_TO_WIRE[p.scheme],
    hosts: [...p.hosts],
    rows: p.rows,
    validationRows: Array.from(p.validationRows),
    batchSize: p.batchSize,
    maxEpochs: p.maxEpochs,
    shuffleSeed: p.shuffleSeed,
    learningRate: p.learningRate,
    lrSchedule: SCHEDULE_TO_WIRE[p.lrSchedule],
    lrDecay: p.lrDecay,
    l2: p.l2,
    maskBits: p.maskBits,
    patience: p.patience,
    tolerance: p.tolerance,
    modelId: p.modelId,
    validationEvery: p.validationEvery,
    classWeighted: p.classWeighted,
    maxColumns: p.maxColumns,
    guestColumns: p.guestColumns,
  } as TrainPlanMessage;
}

export function planFromWire(m: TrainPlanMessage): Plan {
  return {
    mode: fromWire(MODE_TO_WIRE, m.mode, 'TrainPlan.mode'),
    scheme: fromWire(SCHEME_TO_WIRE, m.scheme, 'TrainPlan.scheme'),
    hosts: [...m.hosts],
    rows: m.rows,
    validationRows: Uint32Array.from(m.validationRows),
    batchSize: m.batchSize,
    maxEpochs: m.maxEpochs,
    shuffleSeed: Number(m.shuffleSeed),
    learningRate: m.learningRate,
    lrSchedule: fromWire(SCHEDULE_TO_WIRE, m.lrSchedule, 'TrainPlan.lr_schedule'),
    lrDecay: m.lrDecay,
    l2: m.l2,
    maskBits: m.maskBits,
    patience: m.patience,
    tolerance: m.tolerance,
    modelId: m.modelId,
    validationEvery: m.validationEvery,
    classWeighted: m.classWeighted,
    maxColumns: m.maxColumns,
    guestColumns: m.guestColumns,
  };
}

/**
 * A mask for a value a key holder will decrypt: uniform in [-2^bits, 2^bits] per coordinate. Masks are
 * secret: `rng` must be a cryptographic generator, by type (`CryptoRng`) and at run time
 * (`FedscoreError('insecure_rng')` for a seeded one).
 */
export function uniformMask(rng: CryptoRng, n: number, bits: number): Float64Array {
  requireCryptoRng(rng, 'maskRng');
  const r = 2 ** bits;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * uniform(rng) - 1) * r;
  return out;
}

/** What a party's key-derived masks are bound to (besides epoch, batch and purpose). */
export interface MaskBinding {
  /** The run: the model id (in node jobs, the job id). */
  readonly job: string;
  /** The party drawing the masks. */
  readonly party: string;
  /** SHA-256 of the agreed plan (`planDigest`). */
  readonly planDigest: string;
  /** SHA-256 of this party's own inputs (`dataDigest`): other data, other masks. */
  readonly dataDigest: string;
}

/**
 * A party's masks. With a 256-bit `key` (node jobs: `maskKeyFor`), the masks of each release come from
 * their own ChaCha20 stream keyed by BLAKE2b(key; job, party, plan digest, data digest, epoch, batch,
 * purpose) (core keyed-rng.ts): a resumed run that repeats an epoch on the same data draws the same
 * masks (so the key holder sees nothing new), a run on different data or another plan never does, and
 * nobody without the key can predict them. Without a key, one cryptographic generator for the whole
 * run (`rng`, default the platform CSPRNG).
 *
 * The same key also gives the CKKS flooding noise of each release this party makes as a key holder
 * (`forFlooding`, its own label, so no flooding stream is ever a mask stream): a resumed run that
 * repeats an epoch releases exactly the values of the uninterrupted run (the recipient gets no second,
 * independently flooded sample of the same value to average), and other data, another plan or another
 * key never reuses noise.
 */
export interface MaskSource {
  readonly stream: MaskStream;
  /** The generator of one release: epoch, position of the batch in the epoch, and purpose. */
  forRelease(epoch: number, batch: number, purpose: string): CryptoRng;
  /** The generator of the flooding noise of one release this party decrypts for another. */
  forFlooding(epoch: number, batch: number, purpose: string): CryptoRng;
}

export async function maskSource(
  key: Uint8Array | undefined,
  rng: CryptoRng | undefined,
  binding: MaskBinding,
): Promise<MaskSource> {
  if (key !== undefined) {
    const k = await loadRngKey(key, 'maskKey');
    const base = {
      job: binding.job,
      party: binding.party,
      planDigest: binding.planDigest,
      dataDigest: binding.dataDigest,
    };
    return {
      stream: { kind: 'keyed', keyId: k.id },
      forRelease: (epoch, batch, purpose) =>
        k.derive('fedscore/hetero-lr/mask', { ...base, epoch, batch, purpose }),
      forFlooding: (epoch, batch, purpose) =>
        k.derive('fedscore/hetero-lr/flooding', { ...base, epoch, batch, purpose }),
    };
  }
  const r = rng === undefined ? cryptoRng() : requireCryptoRng(rng, 'maskRng');
  return { stream: { kind: 'crypto' }, forRelease: () => r, forFlooding: () => r };
}

/**
 * What a key of this run releases (sizes its CKKS flooding, `CipherShape.releases`): `releasers`
 * masked products per batch over every epoch (upper bound: ceil(train / batch) batches), plus for the
 * arbiter the masked validation sums of every validated epoch.
 */
export function plannedReleases(
  plan: Plan,
  releasers: number,
  validation: boolean,
): { products: number; vectors: number; vectorLength: number } {
  const train = plan.rows - plan.validationRows.length;
  const batches = Math.ceil(train / plan.batchSize);
  let validated = 0;
  if (validation) {
    for (let e = 0; e < plan.maxEpochs; e++) {
      if (validatesAfter(e, plan.maxEpochs, plan.validationEvery, plan.validationRows.length > 0))
        validated++;
    }
  }
  return {
    products: Math.max(1, plan.maxEpochs * batches * releasers),
    vectors: validated,
    vectorLength: plan.validationRows.length,
  };
}

/** A party refuses to mask with more bits than the key its masked values go under can carry. */
export function checkMaskCapacity(
  maskBits: number,
  key: { readonly maxMaskBits: number; readonly description: string },
): void {
  if (maskBits > key.maxMaskBits) {
    throw new FedscoreError(
      'invalid_config',
      `masks of 2^${maskBits} do not fit under ${key.description} (at most 2^${key.maxMaskBits}): use the ` +
        "CKKS preset 'ckks-16384-release' (default), Paillier, or fewer maskBits (weaker hiding)",
      { field: 'maskBits', details: { maskBits, max: key.maxMaskBits } },
    );
  }
}

/**
 * Divergence. Gradient descent with a step too large for the loss's curvature (lr above 2 / L, L the
 * largest eigenvalue of the Hessian: Nesterov 2004, "Introductory lectures on convex optimization",
 * 1.2.3) grows the weights geometrically, epoch after epoch, until they overflow. Every data party checks
 * its own weights after each step and the values it is about to encrypt; the first that is not finite,
 * or that the cipher cannot hold (an `out_of_range` from its encoding), stops the run with `diverged`,
 * the epoch and the hint, instead of NaN scores or an encoding error deep inside the protocol.
 */
export function divergedError(epoch: number, what: string, cause?: unknown): FedscoreError {
  return new FedscoreError(
    'diverged',
    `training diverged in epoch ${epoch}: the ${what} grew beyond what the arithmetic holds; lower the learning rate`,
    { field: 'learningRate', details: { epoch }, ...(cause !== undefined && { cause }) },
  );
}

/** Every value finite, else `diverged` (see `divergedError`). */
export function checkFiniteValues(values: ArrayLike<number>, epoch: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw divergedError(epoch, what);
  }
}

/** Run `fn` (an encryption of values derived from the weights); a value out of the cipher's range is `diverged`. */
export function encryptingDerived<T>(epoch: number, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FedscoreError && e.code === 'out_of_range' && e.field === 'values') {
      throw divergedError(epoch, what, e);
    }
    throw e;
  }
}

/** w -= lr * (g + l2 * w), the L2 term skipped for index `noPenalty` (the intercept). */
export function gradientStep(w: Float64Array, g: Float64Array, lr: number, l2: number, noPenalty = -1): void {
  if (g.length !== w.length) {
    throw new FedscoreError('protocol_step', `gradient of ${g.length} values for ${w.length} weights`, {
      field: 'gradient',
    });
  }
  for (let j = 0; j < w.length; j++) w[j]! -= lr * (g[j]! + (j === noPenalty ? 0 : l2 * w[j]!));
}

export function subtract(a: Float64Array, b: Float64Array, field: string): Float64Array {
  if (a.length !== b.length) {
    throw new FedscoreError('protocol_step', `expected ${b.length} values, got ${a.length}`, { field });
  }
  return a.map((v, i) => v - b[i]!);
}
