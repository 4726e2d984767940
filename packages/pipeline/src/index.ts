export type {
  BinningCheckpoint,
  ConsentedSetRecord,
  EvaluateCheckpoint,
  PsiCheckpoint,
  PsiRunRecord,
  PublishCheckpoint,
  TrainCheckpoint,
} from './checkpoints.ts';
export type {
  CkksPresetName,
  ConsentCheck,
  ConsentExclusions,
  ConsentFilter,
  HeAcceptance,
  HeScheme,
  HflPlan,
  HflSecAggStep,
  IdSource,
  InProcessSettings,
  JobPlan,
  PartyRole,
  PsiPolicy,
  StageContext,
} from './context.ts';
export { heOptIns, requireLabels, roleOf, stageSession } from './context.ts';
export type { BatchDefaults } from './defaults.ts';
export {
  CIPHERTEXT_BATCH_ROWS,
  defaultBatch,
  HETERO_LR_DEFAULTS,
  JOB_DEFAULTS,
  resolveBatch,
  SECUREBOOST_DEFAULTS,
} from './defaults.ts';
export type { EvaluationCurves, EvaluationGroup } from './evaluation-curves.ts';
export { checkEvaluationCurves, EVALUATION_GROUPS, evaluationCurves } from './evaluation-curves.ts';
export { hflProbabilityModel } from './hfl-model.ts';
export type {
  AlignedRows,
  HeSettings,
  InProcessAlignInput,
  InProcessAlignment,
  InProcessDataParty,
  InProcessHeteroLrInput,
  InProcessHeteroLrResult,
  Scores,
} from './local/hetero-lr.ts';
export {
  alignInProcess,
  cipherOptions,
  epochProgress,
  gather,
  guestOnlyLr,
  positionsOf,
  runHeteroLrInProcess,
  securityNote,
  subsetFeatures,
} from './local/hetero-lr.ts';
export type { HflInProcessInput, HflInProcessResult, HflSimulatedDropout } from './local/hfl.ts';
export { hflJobPlan, runHflInProcess } from './local/hfl.ts';
export type { InProcessParty, InProcessRun, MemoryStore } from './local/in-process.ts';
export { memoryStore, runStageInProcess } from './local/in-process.ts';
export type { InProcessSecureBoostInput, InProcessSecureBoostResult } from './local/secureboost.ts';
export { runSecureBoostInProcess } from './local/secureboost.ts';
export type { SplitIds } from './local/split.ts';
export { stratifiedSplit } from './local/split.ts';
export type { PartyWoe, WoeEngineering, WoeFeaturesInput, WoeSettings } from './local/woe.ts';
export { partyWoeFile, woeFeatures, woeLineage, woeLrModel } from './local/woe.ts';
export type {
  ConsentSummary,
  JointModelMessage,
  PublishedJointModel,
  SecureBoostModelMessage,
  TestMetrics,
} from './messages.ts';
export {
  ALIGN_PROTOCOL,
  CONSENT_SUMMARY,
  EVALUATE_PROTOCOL,
  JOINT_MODEL,
  NODE_PROTOCOL_VERSION,
  PUBLISH_PROTOCOL,
  publishedJointModel,
  SECUREBOOST_MODEL_MESSAGE,
  SELECT_PROTOCOL,
} from './messages.ts';
export type { ModelPipeline, StageDef, StageRun } from './registry.ts';
export {
  ALIGN_STAGE,
  BINNING_STAGE,
  HETERO_LR_PIPELINE,
  LINEAR_EVALUATE_STAGE,
  PUBLISH_STAGE,
  pipelineFor,
  planStages,
  registeredModels,
  registerPipeline,
  runStageRole,
  SECUREBOOST_PIPELINE,
  stageOf,
  stagePartiesOf,
  TREE_SCORE_PIPELINE,
} from './registry.ts';
export { admitSubmittedIds } from './stages/align.ts';
export type {
  HflEvaluateCheckpoint,
  HflHostTrainCheckpoint,
  HflPublishOutcome,
  HflRoundMessage,
  HflTrainCheckpoint,
} from './stages/hfl.ts';
export {
  GLOBAL_WEIGHTS,
  HFL_DEFAULTS,
  HFL_EVALUATE_STAGE,
  HFL_MODEL,
  HFL_PIPELINE,
  HFL_PROTOCOL,
  HFL_PUBLISH_STAGE,
  HFL_TRAIN_STAGE,
  HFL_VERSION,
  hflPublishParties,
  hflRows,
  PLAIN_UPDATE,
  PUBLISHED_MODEL,
  ROUND_CONFIG,
} from './stages/hfl.ts';
export type { PublishOutcome } from './stages/publish.ts';
export { partyFeatures, selectedFeatures, trainPositions } from './stages/rows.ts';
export type {
  SecureBoostImportance,
  SecureBoostPublishOutcome,
  SecureBoostTrainCheckpoint,
  SplitImportance,
} from './stages/secureboost.ts';
export {
  guestImportance,
  hostImportance,
  RELEASES_EVENT as SECUREBOOST_RELEASES_EVENT,
  releaseLedgerOf,
  SECUREBOOST_EVALUATE_STAGE,
  SECUREBOOST_MODEL,
  SECUREBOOST_PUBLISH_STAGE,
  SECUREBOOST_RETRY_TREES,
  SECUREBOOST_RNG_SECRET,
  SECUREBOOST_TRAIN_STAGE,
  secureBoostKeyFor,
} from './stages/secureboost.ts';
export { MASK_SEED_SECRET, maskKeyFor } from './stages/train.ts';
export type { TreeScoreCheckpoint, TreeScorePublishOutcome } from './stages/tree-score.ts';
export {
  TREE_SCORE_KIND,
  TREE_SCORE_PUBLISH_STAGE,
  TREE_SCORE_STAGE,
  treeScorePublishStage,
  treeScoreStage,
} from './stages/tree-score.ts';
export type { EpochCheckpoint, PipelineStore } from './store.ts';
