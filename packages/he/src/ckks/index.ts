/** The CKKS layer: contexts and keys (keys.ts), vectors (vector.ts), the evaluator (evaluator.ts). */
export { polynomialDepth, sumRotationSteps } from './evaluator.ts';
export type { Keys } from './handles.ts';
export {
  createCkksContext,
  DEFAULT_FLOODING_STDDEV,
  floodingStdDev,
  floodNoise,
  loadCkksPublicContext,
  loadCkksSecretContext,
  MIN_FLOODING_SECURITY_BITS,
  rawHandles,
  releaseGrid,
  roundToGrid,
} from './keys.ts';
export { rawCiphertext, rawPlaintext } from './vector.ts';
