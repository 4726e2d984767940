/**
 * The decoded TrainPlan every role works from, plus helpers shared by the role files (masks, the
 * gradient step). Nothing here touches the channel.
 */
import { cryptoRng, FedscoreError, type Rng, seededRng, uniform } from '@fedscore/core';
import type { MaskStream } from './checkpoint.ts';
import type { HeteroLrMode, HeteroLrScheme, LrScheduleName } from './options.ts';
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
 * secret: the RNG must be cryptographic unless the caller injected a seeded one for a reproducible test.
 */
export function uniformMask(rng: Rng, n: number, bits: number): Float64Array {
  const r = 2 ** bits;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * uniform(rng) - 1) * r;
  return out;
}

export function defaultMaskRng(rng: Rng | undefined): Rng {
  return rng ?? cryptoRng();
}

/**
 * A party's masks: one seeded stream per epoch when `seed` is set (reproducible, also across a resume:
 * tests and audits), else one generator for the whole run (`rng`, default the platform CSPRNG).
 */
export interface MaskSource {
  readonly stream: MaskStream;
  forEpoch(epoch: number): Rng;
}

export function maskSource(seed: string | number | undefined, rng: Rng | undefined): MaskSource {
  if (seed !== undefined) {
    const s = String(seed);
    return {
      stream: { kind: 'seeded', seed: s },
      forEpoch: (epoch) => seededRng(`hetero-lr/masks/${s}/${epoch}`),
    };
  }
  const r = defaultMaskRng(rng);
  return { stream: { kind: 'crypto' }, forEpoch: () => r };
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
