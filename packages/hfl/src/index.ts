export type { PrivacySpent } from './dp.ts';
export {
  clipUpdate,
  computeRdp,
  DEFAULT_RDP_ORDERS,
  distributedNoise,
  effectiveNoiseMultiplier,
  noiseMultiplierForEpsilon,
  RdpAccountant,
  rdpToEpsilon,
  sampledGaussianRdp,
} from './dp.ts';
export type {
  LayersModelJson,
  ModelArtifacts,
  ModelSaveHandler,
  ModelSaveResult,
} from './layers-model.ts';
export {
  layersModelFiles,
  loadTfjsModel,
  readLayersModelFiles,
  saveTfjsModel,
  WEIGHTS_FILE,
} from './layers-model.ts';
export type { LocalRows } from './local-lr.ts';
export { fitLocalLogistic, logisticScores } from './local-lr.ts';
export type { SecAggClientRun } from './secagg/client.ts';
export { runSecAggClient, SecAggClient } from './secagg/client.ts';
export type { AgreementPurpose, KeyPair } from './secagg/crypto.ts';
export { agreeKey, expandMask, secAggReady } from './secagg/crypto.ts';
export {
  DEFAULT_SCALE_BITS,
  decodeFixedPoint,
  encodeFixedPoint,
  maxAbsInput,
} from './secagg/fixed-point.ts';
export { neighbourGraph } from './secagg/graph.ts';
export type { CheckedConfig, InsecureMasking, SecAggConfig, ShareKind } from './secagg/protocol.ts';
export {
  ADVERTISE_KEYS,
  checkConfig,
  decodeIndices,
  decodeWords,
  ENCRYPTED_SHARES,
  encodeIndices,
  encodeWords,
  FORWARDED_SHARES,
  MASKED_INPUT,
  NEIGHBOUR_KEYS,
  SECAGG_PROTOCOL,
  SECAGG_VERSION,
  SHARE_KIND,
  UNMASK_REQUEST,
  UNMASK_SHARES,
} from './secagg/protocol.ts';
export type { SecAggResult, SecAggServerOptions } from './secagg/server.ts';
export { runSecAggServer } from './secagg/server.ts';
export type { Share } from './secagg/shamir.ts';
export { SHAMIR_PRIME, SHARE_BYTES, shamirCombine, shamirSplit } from './secagg/shamir.ts';
export type {
  DpOptions,
  InMemorySecAggOptions,
  SecureAggregator,
  SecureRoundRecord,
  SecureRunOptions,
  SecureRunResult,
  SecureSum,
} from './secure-rounds.ts';
export {
  inMemorySecureAggregator,
  privatizeReply,
  runSecureFederatedRounds,
  secAggVector,
} from './secure-rounds.ts';
export type {
  AggregateResult,
  FedAvgOptions,
  FedProxOptions,
  FitInstruction,
  FitReply,
  LocalTrainingConfig,
  RoundRecord,
  RunOptions,
  RunResult,
  SamplingOptions,
  Strategy,
  WeightedSum,
} from './strategy.ts';
export {
  collectByDeadline,
  FedAvg,
  FedProx,
  fitClientCount,
  fromWeightedSum,
  runFederatedRounds,
  sampleClients,
  scheduledLearningRate,
  weightedAverage,
} from './strategy.ts';
export type { BackendPreference, ModelKind, ModelSpec } from './tfjs-client.ts';
export {
  buildModel,
  fitTfjs,
  getFlatWeights,
  initialModelWeights,
  initTfjsBackend,
  modelWeightCount,
  predictTfjs,
  setFlatWeights,
  tfjsBackend,
  tfjsMemoryBytes,
} from './tfjs-client.ts';
