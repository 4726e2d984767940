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
