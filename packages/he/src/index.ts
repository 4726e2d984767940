// First: refuse an unsupported Node.js with a clear sentence before node-seal's WebAssembly loads.
import './node-guard.ts';

export type { AdditiveHeOptions } from './additive.ts';
export { createAdditiveHe, loadAdditiveHePublic, loadAdditiveHeSecret } from './additive.ts';
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
} from './ckks/index.ts';
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
export type { CkksCircuit } from './presets.ts';
export {
  CKKS_PRESETS,
  checkCkksRange,
  checkCkksSecurity,
  ckksEncodeBound,
  ckksSecurityBits,
  ckksValueBound,
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
  HeExpectedContext,
  HeLinearJob,
  HeLoadOptions,
  HeSchemeName,
  HeWorkerPool,
  HeWorkerPoolOptions,
  LinearCombinationOptions,
  PaillierOptions,
  PlainValues,
  ReleaseOptions,
  SerializeOptions,
} from './types.ts';
