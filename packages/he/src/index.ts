// First: refuse an unsupported Node.js with a clear sentence before node-seal's WebAssembly loads.
import './node-guard.ts';

export type { AdditiveHeOptions } from './additive.ts';
export {
  ckksContextOf,
  ckksPartsOf,
  createAdditiveHe,
  loadAdditiveHePublic,
  loadAdditiveHeSecret,
  wrapCkksParts,
} from './additive.ts';
export type { Blob, BlobKind } from './blob.ts';
export { BLOB_KIND, bytesToHex, decodeBlob, encodeBlob, hexToBytes, metaInt } from './blob.ts';
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
export {
  DEFAULT_DIAGONAL_CACHE_MIB,
  DiagonalCache,
  type DiagonalCacheOptions,
  type DiagonalCacheStats,
} from './diagonals.ts';
export { encodeLinearWeights, linearCombination } from './linear.ts';
export {
  type LinearCombinationsRequest,
  type LinearTaskOptions,
  linearCombinationsHandler,
  linearCombinationsOn,
} from './linear-task.ts';
export type { PackedPartsResult, PackedProductRequest } from './packed-pool.ts';
export {
  type PackedProductHandlerOptions,
  type PackedTaskOptions,
  packedProductHandler,
  packedProductOn,
} from './packed-task.ts';
export type { DiagonalSource, FoldOptions, PartialOptions } from './packing.ts';
export {
  addWork,
  allTasks,
  blockDiagonal,
  blockValues,
  checkedPlan,
  columnDot,
  columnLayoutRotations,
  diagonalBlockSize,
  diagonalDotColumns,
  diagonalLayoutRotations,
  emptyWork,
  evaluatePartial,
  foldBlocks,
  freshDiagonals,
  nextPow2,
  packedCost,
  packedLayout,
  packedMatVec,
  packedRotationSteps,
  planPackedProduct,
  replicate,
  splitBatches,
  splitTasks,
  uniformPlan,
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
  GiantTask,
  HeContextInfo,
  HeContextOptions,
  HeExpectedContext,
  HeLinearJob,
  HeLoadOptions,
  HeSchemeName,
  HeThreadTaskKinds,
  HeWorkerPool,
  HeWorkerPoolOptions,
  LinearCombinationOptions,
  PackedBlock,
  PackedCost,
  PackedLayout,
  PackedProductPlan,
  PackedWork,
  PaillierOptions,
  PlainValues,
  ReleaseOptions,
  SerializeOptions,
  SymmetricEncryptOptions,
} from './types.ts';
