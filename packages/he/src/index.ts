export type { AdditiveHeOptions } from './additive.ts';
export { createAdditiveHe, loadAdditiveHePublic, loadAdditiveHeSecret } from './additive.ts';
export type { HeBenchOptions, HeBenchReport, HeBenchRow } from './benchmark.ts';
export { runHeBenchmark } from './benchmark.ts';
export {
  createCkksContext,
  DEFAULT_FLOODING_STDDEV,
  floodingStdDev,
  floodNoise,
  loadCkksPublicContext,
  loadCkksSecretContext,
  MIN_FLOODING_SECURITY_BITS,
  polynomialDepth,
  releaseGrid,
  roundToGrid,
  sumRotationSteps,
} from './ckks.ts';
export { encodeLinearWeights, linearCombination } from './linear.ts';
export {
  columnDot,
  columnLayoutRotations,
  diagonalBlockSize,
  diagonalDotColumns,
  diagonalLayoutRotations,
  splitBatches,
} from './packing.ts';
export { createHeWorkerPool } from './pool.ts';
export {
  CKKS_PRESETS,
  checkCkksSecurity,
  ckksSecurityBits,
  HE_STANDARD_128,
  levelsOf,
  PAILLIER_MIN_SECURE_BITS,
} from './presets.ts';
export { wasmHeapBytes } from './seal.ts';
export type {
  AdditiveCiphertext,
  AdditiveHePublic,
  AdditiveHeSecret,
  CkksContextOptions,
  CkksParams,
  CkksPlaintext,
  CkksPreset,
  CkksPresetName,
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  EncryptionMode,
  ExactMask,
  ExactMasking,
  HeContextInfo,
  HeContextOptions,
  HeLinearJob,
  HeSchemeName,
  HeWorkerPool,
  HeWorkerPoolOptions,
  LinearCombinationOptions,
  PaillierOptions,
  PlainValues,
  ReleaseOptions,
  SerializeOptions,
} from './types.ts';
