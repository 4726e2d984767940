export type { HeteroLrArbiterOptions, HeteroLrArbiterResult } from './hetero-lr/arbiter.ts';
export { HeteroLrArbiter } from './hetero-lr/arbiter.ts';
export type {
  CipherProviderOptions,
  CipherShape,
  EncVector,
  LrCipherProvider,
  LrCipherPublic,
  LrCipherSecret,
  VectorKind,
} from './hetero-lr/cipher.ts';
export { additiveCipher, cipherProvider } from './hetero-lr/cipher.ts';
export type { PartyFeatures, Standardization } from './hetero-lr/features.ts';
export { applyStandardization, fitStandardization } from './hetero-lr/features.ts';
export type { EpochRecord, HeteroLrGuestOptions, HeteroLrGuestResult } from './hetero-lr/guest.ts';
export { HeteroLrGuest } from './hetero-lr/guest.ts';
export type { HeteroLrHostOptions, HeteroLrHostResult } from './hetero-lr/host.ts';
export { HeteroLrHost } from './hetero-lr/host.ts';
export type {
  HeteroLrRole,
  JointModelDescriptor,
  JointModelParty,
  PartyModel,
} from './hetero-lr/model.ts';
export {
  JOINT_MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  PARTY_MODEL_FORMAT,
  parseJointModel,
  parsePartyModel,
  partyPartialScores,
  serializeJointModel,
  serializePartyModel,
} from './hetero-lr/model.ts';
export type {
  ClassWeightOption,
  HeteroLrHyperparams,
  HeteroLrMode,
  HeteroLrScheme,
  LrScheduleName,
  ResolvedHyperparams,
} from './hetero-lr/options.ts';
export {
  epochBatches,
  HETERO_LR_MODES,
  HETERO_LR_SCHEMES,
  LR_SCHEDULES,
  learningRateAt,
  resolveHyperparams,
  trainingRows,
} from './hetero-lr/options.ts';
export type { PackedLayout } from './hetero-lr/packing.ts';
export { packedCost, packedLayout, packedMatVec, packedRotationSteps } from './hetero-lr/packing.ts';
export { HETERO_LR_PROTOCOL, HETERO_LR_VERSION } from './hetero-lr/steps.ts';
export type { TrainHeteroLrInput, TrainHeteroLrResult } from './hetero-lr/train.ts';
export { ARBITER_ID, GUEST_ID, trainHeteroLr } from './hetero-lr/train.ts';
