export type {
  AuditAnchor,
  AuditDetails,
  AuditEntry,
  AuditEntryInput,
  AuditFailureReason,
  AuditKind,
  AuditLogOptions,
  AuditReconciliation,
  AuditUse,
  AuditVerification,
} from './audit/index.ts';
export {
  AUDIT_KINDS,
  AUDIT_MIGRATIONS,
  AuditLog,
  auditEntryHash,
  consentSetFingerprint,
  enterpriseSetFingerprint,
  GENESIS_HASH,
  reconcileAuditLogs,
  verifyAuditEntries,
} from './audit/index.ts';
export type { DataSource, NodeConfig, NodeConfigInput } from './config/index.ts';
export { loadNodeConfig, nodeConfigSchema, readTlsFiles, validateNodeConfig } from './config/index.ts';
export type {
  ConsentExclusions,
  ConsentFilterResult,
  ConsentGrant,
  ConsentPurpose,
  ConsentQuery,
  ConsentRecord,
  ConsentRegistryOptions,
  ConsentStatus,
} from './consent/index.ts';
export { ALL_CATEGORIES, CONSENT_MIGRATIONS, CONSENT_PURPOSES, ConsentRegistry } from './consent/index.ts';
export type {
  BinningCheckpoint,
  DataUseEvent,
  EvaluateCheckpoint,
  JobEvent,
  JobRecord,
  JobRunnerOptions,
  JobSpec,
  JobSpecInput,
  JobStatus,
  PsiCheckpoint,
  PublishCheckpoint,
  StageContext,
  StageName,
  TrainCheckpoint,
} from './jobs/index.ts';
export {
  ALIGN_PROTOCOL,
  attemptKey,
  canonicalJson,
  EVALUATE_PROTOCOL,
  JOB_MIGRATIONS,
  JOB_STATUSES,
  JobRunner,
  JobStore,
  jobParties,
  jobSpecSchema,
  jobStages,
  NODE_PROTOCOL_VERSION,
  partyFeatures,
  runStageRole,
  SELECT_PROTOCOL,
  STAGES,
  stageParties,
  stageProtocols,
  stratifiedHoldout,
  submitJob,
  subsetColumn,
  validateJobSpec,
} from './jobs/index.ts';
export type {
  Alert,
  AlertBatch,
  CreditEvent,
  CreditEventInput,
  CreditEventKind,
  MonitorAlerts,
  MonitoringServiceOptions,
  MonitorRequest,
  RescoreRecord,
  StoredAlert,
  WatchAddition,
  WatchRefusals,
} from './monitoring/index.ts';
export {
  AlertInbox,
  CREDIT_EVENT_KINDS,
  CREDIT_EVENT_SEVERITY,
  CreditEventFeed,
  checkMonitorAlerts,
  checkMonitorRequest,
  consentGatedPartialScore,
  MAX_ALERTS_PER_REPLY,
  MAX_WATCH_CHANGES,
  MONITOR_ALERTS,
  MONITOR_REQUEST,
  MONITORING_BANK_MIGRATIONS,
  MONITORING_GOV_MIGRATIONS,
  MONITORING_PROTOCOL,
  MONITORING_VERSION,
  MonitoringService,
  rescoreAlerted,
} from './monitoring/index.ts';
export type { PartyNodeOptions } from './node.ts';
export { PartyNode } from './node.ts';
export type {
  ModelComparison,
  ModelEvent,
  ModelLineage,
  ModelParty,
  ModelRegistration,
  ModelRegistryOptions,
  ModelStatus,
  ModelVersion,
  ScalarMap,
} from './registry/index.ts';
export { MODEL_STATUSES, ModelRegistry, parseRef, REGISTRY_MIGRATIONS } from './registry/index.ts';
export type { HealthReport, HttpEndpoint, HttpEndpointOptions, MetricSample } from './server/index.ts';
export { renderMetrics, startHttpEndpoint } from './server/index.ts';
export type { OpenStoreOptions, RunResult, SqlRow, SqlValue, StoreMigrations } from './store/index.ts';
export { NodeStore, STORE_FILE, sha256Hex } from './store/index.ts';
export type {
  ControlHandler,
  CreateCaOptions,
  GrpcTransportOptions,
  HealthInfo,
  IssuePartyOptions,
  PemPair,
  RejectionEvent,
  SessionGrant,
  TlsMaterial,
  TransportLimits,
} from './transport/index.ts';
export {
  assertPartyId,
  createDevCa,
  fromServiceError,
  GrpcTransport,
  issuePartyCert,
  PARTY_ID_PATTERN,
  PARTY_URI_PREFIX,
  partyIdFromSan,
  partyIdOf,
} from './transport/index.ts';
