export type {
  AuditAnchor,
  AuditDetails,
  AuditEntry,
  AuditEntryInput,
  AuditFailureReason,
  AuditKind,
  AuditLogOptions,
  AuditVerification,
} from './audit-log.ts';
export {
  AUDIT_KINDS,
  AUDIT_MIGRATIONS,
  AuditLog,
  auditEntryHash,
  consentSetFingerprint,
  consentSetFingerprintSteps,
  enterpriseSetFingerprint,
  enterpriseSetFingerprintSteps,
  GENESIS_HASH,
  verifyAuditEntries,
} from './audit-log.ts';
export { AuditGroupCommit } from './group-commit.ts';
export type { AuditReconciliation, AuditUse } from './reconcile.ts';
export { reconcileAuditLogs } from './reconcile.ts';
export type { RefusalWindowOptions, UnauthenticatedRefusal } from './refusal-window.ts';
export { RefusalWindow } from './refusal-window.ts';
