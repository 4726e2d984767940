export type {
  BuildHostCacheOptions,
  DecodeHostCacheOptions,
  EncodeHostCacheOptions,
  PsiHostCache,
  PsiKeyRotationPolicy,
} from './cache.ts';
export {
  buildHostCache,
  checkHostCache,
  checkHostCacheRotation,
  DEFAULT_PSI_KEY_ROTATION,
  decodeHostCache,
  encodeHostCache,
  HOST_CACHE_VERSION,
  preparedIdsDigest,
} from './cache.ts';
export type { PsiGuestOptions } from './guest.ts';
export { runPsiGuest } from './guest.ts';
export type { PsiHostOptions } from './host.ts';
export { runPsiHost } from './host.ts';
export type {
  DuplicateIdExample,
  IdInvalidReason,
  IdKindDecision,
  IdSetReport,
  InvalidIdExample,
  OpaqueIdInvalidReason,
  PackedIds,
  PreparedIds,
  PrepareIdsOptions,
  PsiIdKind,
  PsiIdKindChoice,
} from './ids.ts';
export {
  idAt,
  normalizeOpaqueId,
  OPAQUE_ID_MAX_BYTES,
  PSI_ID_KIND_CHOICES,
  PSI_ID_KINDS,
  parsePsiHashDomain,
  prepareIds,
  psiHashDomain,
  resolveIdKind,
} from './ids.ts';
export { KEY_BYTES, KeyIndex, matchAndAlign, sortByKey } from './keys.ts';
export type { LocalPsiOptions, LocalPsiResult } from './local.ts';
export { GUEST, HOST, runPsiLocal } from './local.ts';
export type { PsiBlindOffload, PsiBlindTask, PsiHashTask, PsiTask, PsiTaskOutput } from './offload.ts';
export {
  DEFAULT_PSI_OFFLOAD_WINDOW,
  DEFAULT_PSI_TASK_IDS,
  OffloadBlinder,
  PSI_TASK_KINDS,
  psiTaskHandler,
} from './offload.ts';
export type { PsiKey, PsiPartyOptions, PsiPartyResult, PsiRole, RolePlan } from './party.ts';
export { createPsiKey, DEFAULT_MAX_PEER_COUNT } from './party.ts';
export type { BlindingPoolOptions, BlindingPoolStats, BlindOptions } from './pool.ts';
export { BlindingPool } from './pool.ts';
export type { PsiBatch, PsiHello, PsiMode, PsiResultMessage } from './protocol.ts';
export {
  DEFAULT_BATCH_SIZE,
  guestKeysStep,
  guestPointsStep,
  helloStep,
  hostKeysStep,
  hostPointsStep,
  MAX_BATCH_SIZE,
  PSI_MODES,
  PSI_PROTOCOL,
  PSI_VERSION,
  resultStep,
} from './protocol.ts';
export type { PointBytes, ScalarBytes } from './ristretto.ts';
export {
  blindReference,
  hashToGroupReference,
  invertScalar,
  loadSodium,
  POINT_BYTES,
  PSI_HASH_DOMAIN,
  PSI_HASH_DOMAIN_PREFIX,
  SCALAR_BYTES,
} from './ristretto.ts';
