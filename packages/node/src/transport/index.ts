export type { CreateCaOptions, IssuePartyOptions, PemPair } from './certs.ts';
export {
  assertPartyId,
  createDevCa,
  issuePartyCert,
  PARTY_ID_PATTERN,
  PARTY_URI_PREFIX,
  partyIdFromSan,
  partyIdOf,
} from './certs.ts';
export type {
  AssembledEnvelope,
  InboundAdmissionOptions,
} from './grpc/admission.ts';
export {
  DeliverAssembly,
  InboundAdmission,
  MAX_SESSIONS_PER_STANDING_GRANT,
} from './grpc/admission.ts';
export type {
  ControlHandler,
  GrpcTransportOptions,
  HealthInfo,
  InboundBytes,
  RejectionEvent,
  SessionGrant,
  SessionRouter,
  TlsMaterial,
  TransportLimits,
} from './grpc.ts';
export {
  fromServiceError,
  GrpcTransport,
  MAX_UNAUTHENTICATED_CALLS,
  UNAUTHENTICATED_CONNECTION_MS,
  UNAUTHENTICATED_REFUSAL,
} from './grpc.ts';
export type { PresentedCertificate, VerifiedPeer, VerifyPeerOptions } from './peer-auth.ts';
export {
  checkOwnTlsMaterial,
  describeCertificate,
  MAX_INTERMEDIATES,
  parseCaBundle,
  verifyPeerCertificate,
} from './peer-auth.ts';
export type { StandingSessionsOptions } from './standing-sessions.ts';
export { StandingSessions } from './standing-sessions.ts';
