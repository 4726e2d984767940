export type {
  BatchDataOwnerOptions,
  BatchDataOwnerRun,
  BatchModelOwnerOptions,
  BatchResultTo,
  BatchScoringOffload,
} from './batch.ts';
export {
  BATCH_RELEASE_ERROR_BOUND,
  BATCH_RELEASE_MAX_WEIGHT_NORM,
  BATCH_RELEASE_PRESET,
  BATCH_RELEASE_SECURITY_BITS,
  type BatchReleasePolicy,
  BatchScoringDataOwner,
  BatchScoringModelOwner,
  batchInputLevel,
  batchReleasePolicy,
  DEFAULT_BATCH_MASK_BITS,
  DEFAULT_BATCH_RELEASE_BUDGET,
  releaseBatchScores,
} from './batch.ts';
export type { EvaluateOptions, ScoreEvaluation, StabilityReport, StabilityRow } from './evaluation.ts';
export { evaluateScores, stabilityReport } from './evaluation.ts';
export type { LinearScoreModel } from './linear.ts';
export { linearFromPartyModel, linearFromScorecard, linearScores, woeColumns } from './linear.ts';
export type { RunBatchScoringInput, RunBatchScoringResult } from './local.ts';
export { DATA_OWNER_ID, MODEL_OWNER_ID, runBatchScoring } from './local.ts';
export type {
  OnlineAdmission,
  OnlineBankOptions,
  OnlineBatchItem,
  OnlineBatchOutcome,
  OnlineGovernmentOptions,
  OnlineHelloInfo,
  OnlineLookupRefusal,
  OnlineMode,
  OnlineRequestInfo,
  OnlineScore,
  OnlineScoreOptions,
  OnlineScoringPolicy,
} from './online.ts';
export {
  bandFromThresholdIndex,
  DEFAULT_MAX_THRESHOLDS,
  DEFAULT_RHO_BITS,
  ONLINE_CKKS_PARAMS,
  ONLINE_MAX_BATCH,
  ONLINE_MAX_MAGNITUDE,
  OnlineScoringBank,
  OnlineScoringGovernment,
  onlineMaxBatch,
} from './online.ts';
export type { ProbabilityModel, ProbabilityScores } from './probability.ts';
export { pdToScore, scoreWithProbabilityModel } from './probability.ts';
export type {
  CapName,
  CreditDecision,
  CreditRules,
  CreditRulesInput,
  EnterpriseCreditLine,
  RatingBand,
} from './rules.ts';
export {
  bandCaps,
  bandIndexOf,
  bandThresholds,
  CREDIT_RULES_FORMAT,
  creditLines,
  decideCredit,
  decisionForBand,
  lineFromCaps,
  parseCreditRules,
  ruleFigures,
  validateCreditRules,
} from './rules.ts';
export type {
  FeatureValues,
  PartyScorecardView,
  ResolvedScaling,
  Scorecard,
  ScorecardFeature,
  ScorecardFeatureView,
  ScorecardScaling,
  WoeLrFeature,
  WoeLrModel,
} from './scorecard.ts';
export {
  binIndex,
  binLabelsOf,
  buildScorecard,
  featurePoints,
  parseScorecard,
  partialScore,
  partialScores,
  partyScorecard,
  resolveScaling,
  SCORECARD_FORMAT,
  scoreApplicant,
  scorecardTable,
  scoreToOdds,
  serializeScorecard,
} from './scorecard.ts';
export type {
  BitPair,
  EnterpriseInputs,
  SelfEstimate,
  SelfEstimateBankOptions,
  SelfEstimateFormOptions,
  SelfEstimateModel,
} from './self-estimate.ts';
export {
  BIT_PAIR_EXCLUSIVE,
  BIT_PAIR_MONOTONE,
  BIT_PAIR_NONE,
  buildSelfEstimateModel,
  DEFAULT_BIT_CHECK_BITS,
  encodeBits,
  plainSelfEstimate,
  SELF_ESTIMATE_CAPS,
  SelfEstimateBank,
  SelfEstimateClient,
} from './self-estimate.ts';
export type {
  SelfEstimateCompactBankOptions,
  SelfEstimateCompactModel,
  SelfEstimateCompactTrace,
} from './self-estimate-compact.ts';
export {
  buildSelfEstimateCompactModel,
  DEFAULT_COMPACT_NOISE,
  DEFAULT_MASK_BITS,
  encodeOneHot,
  SELF_ESTIMATE_COMPACT_PARAMS,
  SELF_ESTIMATE_COMPACT_PROTOCOL,
  SelfEstimateCompactBank,
  SelfEstimateCompactClient,
} from './self-estimate-compact.ts';
export type { ScoreRefusal, TreeLayoutMessage, TreeReplyMessage, TreeRequestMessage } from './steps.ts';
export {
  BATCH_SCORING_PROTOCOL,
  ENCRYPTED_BITS,
  ENCRYPTED_FIGURES,
  ESTIMATE_RESULT,
  ONLINE_SCORING_PROTOCOL,
  ONLINE_SCORING_VERSION,
  REQUEST_ID_PATTERN,
  SCORE_REPLY_NO_RECORD,
  SCORE_REPLY_REFUSALS,
  SCORE_REPLY_UNUSABLE_RECORD,
  SCORING_VERSION,
  SELF_ESTIMATE_FORM,
  SELF_ESTIMATE_KEYS,
  SELF_ESTIMATE_PROTOCOL,
  TREE_CONTEXT,
  TREE_LAYOUT,
  TREE_LEAF_WEIGHTS,
  TREE_MAX_ROUNDS,
  TREE_MAX_THRESHOLDS,
  TREE_REPLY,
  TREE_REPLY_ERRORS,
  TREE_REQUEST,
  TREE_SCORES,
  TREE_SCORING_PROTOCOL,
  TREE_SCORING_VERSION,
} from './steps.ts';
export type {
  RunTreeScoringInput,
  RunTreeScoringResult,
  TreeLayout,
  TreeScoringFlow,
  TreeScoringGuestOptions,
  TreeScoringGuestResult,
  TreeScoringHostOptions,
} from './tree.ts';
export {
  checkContext,
  checkTreeModel,
  guestLeafWeights,
  hostLeafMask,
  maskSumFlood,
  runTreeScoring,
  TREE_ERROR_BOUND,
  TREE_FLOODING_BITS,
  TREE_GUEST_ID,
  TREE_HOST_ID,
  TREE_MAX_HOSTS,
  TREE_SCORING_FLOWS,
  TREE_SCORING_PRESET,
  TREE_WEIGHT_BOUND,
  TreeScoringGuest,
  TreeScoringHost,
  treeFloodingStdDev,
  treeLayout,
  treeScores,
  treeScoringParams,
} from './tree.ts';
export type { TreeGuestContributions } from './tree-reasons.ts';
export { treeGuestContributions } from './tree-reasons.ts';
export type {
  TreeBatchItem,
  TreeBatchOutcome,
  TreeLookupAnswer,
  TreeLookupRequest,
  TreeScoringBankOptions,
  TreeScoringGovernmentOptions,
} from './tree-session.ts';
export {
  hostRecordUsable,
  TREE_SESSION_ROUNDS,
  TreeScoringBank,
  TreeScoringGovernment,
} from './tree-session.ts';
