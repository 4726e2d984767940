// The packed product lives in @fedscore/he (packing.ts); re-exported under the names vfl has always had.
export type { PackedLayout, PackedProductPlan } from '@fedscore/he';
export {
  packedCost,
  packedLayout,
  packedMatVec,
  packedRotationSteps,
  planPackedProduct,
} from '@fedscore/he';
export type {
  BinLabel,
  BinningMethod,
  BinningOptions,
  CategoricalBins,
  FeatureBins,
  MergeOptions,
  MergePlan,
  NumericBins,
} from './binning/bins.ts';
export {
  applyMergePlan,
  assignBins,
  binCount,
  binLabels,
  binTotals,
  chiSquare2x2,
  DEFAULT_BINS,
  fitBins,
  floorMergePlan,
  MIN_RELEASED_BIN_ROWS,
  MIN_RELEASED_BIN_SHARE,
  minReleasedBinRows,
  planMerge,
  valueBinCount,
} from './binning/bins.ts';
export type { CkksSumOptions, SumCell } from './binning/ckks-sums.ts';
export {
  BINNING_CKKS_PARAMS,
  DEFAULT_SUM_FLOODING_STDDEV,
  evaluateBinSumsCkks,
  floodBinSums,
  partialBinSumsCkks,
} from './binning/ckks-sums.ts';
export type {
  BinningScheme,
  HostFeatureView,
  WoeBinningGuestOptions,
  WoeBinningGuestResult,
} from './binning/guest.ts';
export { runWoeBinningGuest } from './binning/guest.ts';
export type { HostFeatureOutcome, WoeBinningHostOptions, WoeBinningHostResult } from './binning/host.ts';
export { runWoeBinningHost } from './binning/host.ts';
export type { LocalFeatureBinning } from './binning/local.ts';
export { woeBinningLocal } from './binning/local.ts';
export type { BinSumCost, BinSumLayout } from './binning/packing.ts';
export { binSumRotations, DEFAULT_MAX_DIGIT_BITS, decodeBinSums, planBinSums } from './binning/packing.ts';
export type {
  BinSumOffload,
  BinSumTask,
  BinSumWorkerOutput,
  ParallelSumOptions,
} from './binning/parallel.ts';
export {
  binSumTaskHandler,
  DEFAULT_BIN_SUM_BATCHES_PER_TASK,
  evaluateBinSumsParallel,
} from './binning/parallel.ts';
export type { HostFeatureLayout, HostFeatureResult, HostLayout, LabelKeys } from './binning/protocol.ts';
export {
  BIN_SUMS_STEP,
  CKKS_ITEMS_PER_MESSAGE,
  HOST_LAYOUT_STEP,
  HOST_RESULT_STEP,
  LABEL_BATCH_STEP,
  LABEL_KEYS_STEP,
  layoutCells,
  WOE_BINNING_PROTOCOL,
  WOE_BINNING_VERSION,
} from './binning/protocol.ts';
export type {
  DroppedFeature,
  DropReason,
  FeatureSelectionLineage,
  IvScore,
  SelectionOptions,
} from './binning/selection.ts';
export {
  correlationFilter,
  DEFAULT_MIN_IV,
  pearson,
  selectByIv,
  withCorrelationDrops,
} from './binning/selection.ts';
export type {
  FeatureStats,
  FeatureStatsOptions,
  SharedFeatureSummary,
  SummaryField,
  SummaryPolicy,
} from './binning/stats.ts';
export {
  DEFAULT_QUANTILES,
  DEFAULT_SUMMARY_FIELDS,
  featureStats,
  quantileSorted,
  shareableSummary,
} from './binning/stats.ts';
export type { BinStats, IvStrength, IvTableRow, WoeFeatureModel, WoeTable } from './binning/woe.ts';
export {
  IV_BANDS,
  ivStrength,
  ivTable,
  WOE_ADJUSTMENT,
  woeTable,
  woeTransform,
  woeTransformColumns,
} from './binning/woe.ts';
export type { HeteroLrArbiterOptions, HeteroLrArbiterResult } from './hetero-lr/arbiter.ts';
export { HeteroLrArbiter } from './hetero-lr/arbiter.ts';
export {
  commonResumeEpoch,
  parseCheckpoint,
  serializeCheckpoint,
  validateCheckpoint,
} from './hetero-lr/checkpoint.ts';
export type {
  CheckpointCallback,
  CheckpointEpoch,
  CheckpointRole,
  EarlyStoppingState,
  HeteroLrCheckpoint,
  MaskStream,
} from './hetero-lr/checkpoint-state.ts';
export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './hetero-lr/checkpoint-state.ts';
export type {
  CipherProviderOptions,
  CipherRuntime,
  CipherShape,
  EncVector,
  LrCipherProvider,
  LrCipherPublic,
  LrCipherSecret,
  ReleasePolicy,
  VectorKind,
} from './hetero-lr/cipher.ts';
export {
  additiveCipher,
  cipherProvider,
  ckksMaxMaskBits,
  DEFAULT_HETERO_LR_PRESET,
  RELEASE_ERROR_BOUND,
  RELEASE_SECURITY_BITS,
} from './hetero-lr/cipher.ts';
export { abortAwareChannel } from './hetero-lr/exchange.ts';
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
  HeteroLrDataPartyOptions,
  HeteroLrHyperparams,
  HeteroLrMode,
  HeteroLrRuntime,
  HeteroLrScheme,
  LrScheduleName,
  PackedProductOffload,
  ResolvedHyperparams,
} from './hetero-lr/options.ts';
export {
  BATCH_ROWS_PER_COLUMN,
  batchOrder,
  batchSizes,
  checkBatchFloor,
  DEFAULT_MASK_BITS,
  epochBatches,
  fixedBatches,
  HETERO_LR_MODES,
  HETERO_LR_SCHEMES,
  LR_SCHEDULES,
  learningRateAt,
  MAX_MERGED_BATCH_ROWS,
  MIN_BATCH_ROWS,
  maskStatisticalDistance,
  minBatchRows,
  resolveHyperparams,
  resolveWorkers,
  trainingRows,
} from './hetero-lr/options.ts';
export type { MaskBinding, MaskSource } from './hetero-lr/plan.ts';
export { checkMaskCapacity, maskSource, plannedReleases, uniformMask } from './hetero-lr/plan.ts';
export {
  fromWire as heteroLrEnumFromWire,
  HETERO_LR_PROTOCOL,
  HETERO_LR_VERSION,
  MODE_TO_WIRE,
  SCHEDULE_TO_WIRE,
  SCHEME_TO_WIRE,
} from './hetero-lr/steps.ts';
export type { TrainHeteroLrInput, TrainHeteroLrResult } from './hetero-lr/train.ts';
export { ARBITER_ID, GUEST_ID, trainHeteroLr } from './hetero-lr/train.ts';
export type {
  CheckpointTreeRecord as SecureBoostCheckpointTreeRecord,
  ReleaseLedger,
  SecureBoostCheckpoint,
  SecureBoostGuestCheckpoint,
  SecureBoostHostCheckpoint,
} from './secureboost/checkpoint.ts';
export {
  commonResumeTree,
  parseSecureBoostCheckpoint,
  SECUREBOOST_CHECKPOINT_FORMAT,
  SECUREBOOST_CHECKPOINT_VERSION,
  serializeSecureBoostCheckpoint,
} from './secureboost/checkpoint.ts';
export type {
  HostSplitGain,
  SecureBoostGuestOptions,
  SecureBoostGuestResult,
  SecureBoostHeOptions,
  TreeRecord,
} from './secureboost/guest.ts';
export {
  gossAmplification,
  gossSample,
  SecureBoostGuest,
  sampleCount,
  sampleRows,
} from './secureboost/guest.ts';
export type {
  HistogramLayout,
  HistogramOps,
  HistogramPath,
  HistogramSteps,
  HistogramTreeOps,
  MaskedProduct,
  NodeSums,
} from './secureboost/histogram.ts';
export {
  BinDiagonals,
  defaultProduct,
  GradientRotations,
  HISTOGRAM_SLICE_MS,
  histogramPath,
  histogramRotationSteps,
  histogramTreeOps,
  LevelMaskedSums,
  MaskedRotations,
  maskedLayout,
  maskedProduct,
  mergedBins,
  packGradients,
  planHistogram,
  productLevel,
  releaseBlock,
  runSteps,
  runStepsYielding,
  subtractSums,
  threadedHistogramsWin,
} from './secureboost/histogram.ts';
export type { SecureBoostHostOptions, SecureBoostHostResult } from './secureboost/host.ts';
export {
  ckksPresetOf,
  plannedReleases as secureBoostPlannedReleases,
  SecureBoostHost,
} from './secureboost/host.ts';
export type {
  BinnedFeatures,
  FeatureImportance,
  HostSplit,
  HostSplitTotals,
  SecureBoostGuestModel,
  SecureBoostHostModel,
  SecureBoostNode,
} from './secureboost/model.ts';
export {
  applyBins,
  binFeatures,
  guestFeatureImportance,
  hostFeatureImportance,
  hostSplitBits,
  hostSplitGains,
  hostSplitIds,
  hostSplitTotals,
  parseGuestModel,
  parseHostModel,
  SECUREBOOST_GUEST_FORMAT,
  SECUREBOOST_HOST_FORMAT,
  SECUREBOOST_MODEL_VERSION,
  serializeGuestModel,
  serializeHostModel,
  walkTrees,
} from './secureboost/model.ts';
export type {
  HistogramTask,
  HistogramTaskNode,
  HistogramTaskOutput,
  SecureBoostHistogramOffload,
} from './secureboost/offload.ts';
export {
  DEFAULT_HISTOGRAM_BATCHES_PER_TASK,
  evaluateHistogramTask,
  HISTOGRAM_THREAD_KINDS,
  histogramTaskHandler,
  OffloadedHistograms,
} from './secureboost/offload.ts';
export type {
  BestSplit,
  EarlyStoppingMetric,
  ResolvedSecureBoost,
  SecureBoostHyperparams,
  SecureBoostScheme,
} from './secureboost/options.ts';
export {
  bestBinSplit,
  binGroups,
  childFloor,
  EARLY_STOPPING_METRICS,
  gossOn,
  HISTOGRAM_ERROR_BOUND,
  HISTOGRAM_FLOODING_BITS,
  HISTOGRAM_LOW_LEVEL_ERROR_BOUND,
  leafWeight,
  MIN_NODE_ROWS,
  resolveSecureBoost,
  SECUREBOOST_CKKS_PRESET,
  SECUREBOOST_SCHEMES,
  splitGain,
} from './secureboost/options.ts';
export type {
  SecureBoostPredictGuestOptions,
  SecureBoostPredictHostOptions,
} from './secureboost/predict.ts';
export { SecureBoostPredictGuest, SecureBoostPredictHost } from './secureboost/predict.ts';
export type { TrainPlan as SecureBoostTrainPlan } from './secureboost/steps.ts';
export {
  SECUREBOOST_PREDICT_PROTOCOL,
  SECUREBOOST_PROTOCOL,
  SECUREBOOST_VERSION,
} from './secureboost/steps.ts';
export type {
  PredictSecureBoostInput,
  PredictSecureBoostResult,
  TrainSecureBoostInput,
  TrainSecureBoostResult,
} from './secureboost/train.ts';
export { predictSecureBoost, SECUREBOOST_GUEST_ID, trainSecureBoost } from './secureboost/train.ts';
