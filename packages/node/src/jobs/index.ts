export type { AcceptedScheme, AcceptPolicy } from './admission.ts';
export { checkJobPolicy, SECURE_ONLY } from './admission.ts';
export type { JobChangeEvent } from './control.ts';
export { cancelJob, recordJobChange, retryJob } from './control.ts';
export type { TestFault } from './fault.ts';
export {
  HFL_DROPOUT_STEPS,
  TEST_HFL_DROPOUT_ENV,
  TEST_IGNORE_LEASE_EPOCH_ENV,
  TEST_KILL_AFTER_EPOCH_ENV,
  TEST_STOP_BEFORE_EPOCH_ENV,
  testFaultFromEnv,
} from './fault.ts';
export type { EpochCheckpointRecord, JobEvent, JobLease, JobRecord, JobStatus } from './job-store.ts';
export {
  canonicalJson,
  ENDED_STATUSES,
  EPOCH_CHECKPOINTS_KEPT,
  JOB_MIGRATIONS,
  JOB_STATUSES,
  JobStore,
} from './job-store.ts';
export type { StageProgress } from './progress.ts';
export { coarseProgress, parseProgressDetail, progressDetail, progressThrottle } from './progress.ts';
export type {
  DataUseEvent,
  DropoutEvent,
  JobRefusal,
  JobRunnerOptions,
  PolicyRefusalEvent,
} from './runner.ts';
export {
  DROPPED_CODE,
  JOB_CANCEL_STAGE,
  JOB_DROPPED_STAGE,
  JOB_STAGE,
  JobRunner,
  submitJob,
} from './runner.ts';
export type { JobSpec, JobSpecInput, StageName } from './spec.ts';
export {
  attemptKey,
  jobParties,
  jobSpecSchema,
  jobStages,
  STAGES,
  stageParties,
  validateJobSpec,
} from './spec.ts';
export type {
  BinningCheckpoint,
  ConsentCheck,
  ConsentedSetRecord,
  ConsentSummary,
  EvaluateCheckpoint,
  HeAcceptance,
  PsiCheckpoint,
  PsiPolicy,
  PublishCheckpoint,
  StageContext,
  TrainCheckpoint,
} from './stages.ts';
export {
  ALIGN_PROTOCOL,
  admitSubmittedIds,
  EVALUATE_PROTOCOL,
  heOptIns,
  jobPipelineStore,
  MASK_SEED_SECRET,
  maskKeyFor,
  NODE_PROTOCOL_VERSION,
  PUBLISH_PROTOCOL,
  partyFeatures,
  runStageRole,
  SELECT_PROTOCOL,
  stageProtocols,
} from './stages.ts';
