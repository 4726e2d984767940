export type { EnvelopeCodecLimits, WireEnvelopeCodec } from './envelope.ts';
export {
  createEnvelopeCodec,
  DEFAULT_MAX_MESSAGE_BYTES,
  envelopeCodec,
  plainBytes,
} from './envelope.ts';
export { fedscore } from './generated/messages.js';
export type {
  AbortInfo,
  BytesListStepOptions,
  CiphertextBatch,
  Float64Matrix,
  Float64VectorStepOptions,
  GeneratedMessageClass,
  HeCompression,
  HeScheme,
  MappedProtoStepOptions,
  MessageCheck,
  ProtoStepOptions,
} from './steps.ts';
export {
  ABORT_STEP,
  abortFromError,
  abortStep,
  abortToError,
  bytesListStep,
  ciphertextBatchStep,
  float64MatrixStep,
  float64VectorStep,
  HE_COMPRESSIONS,
  HE_SCHEMES,
  idListStep,
  int64VectorStep,
  mappedProtoStep,
  messageName,
  protoStep,
  uint32VectorStep,
} from './steps.ts';
