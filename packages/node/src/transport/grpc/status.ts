/**
 * The `fedscore.node.PartyNode` service as grpc-js sees it, and the mapping between typed fedscore errors
 * and gRPC statuses in both directions (a refusal carries its `code` and `field` in trailers, so the
 * caller gets back the same typed error the receiver raised).
 */
import { ERROR_CODES, type ErrorCode, FedscoreError, isFedscoreError, type PartyId } from '@fedscore/core';
import * as grpc from '@grpc/grpc-js';

export const SERVICE = '/fedscore.node.PartyNode';
export const DELIVER = `${SERVICE}/Deliver`;
export const CONTROL = `${SERVICE}/Control`;
export const HEALTH = `${SERVICE}/Health`;
const CODE_KEY = 'fedscore-code';
const FIELD_KEY = 'fedscore-field';
/**
 * The session id of a Deliver call's envelope, sent ahead of its chunks so that a replica that does not
 * own the session can refuse it before the envelope is transferred (the envelope's own session is still
 * what admission checks).
 */
export const SESSION_KEY = 'fedscore-session';
/** The lease holder's advertised address a `not_lease_holder` refusal names (docs/deploy.md section 8). */
const HOLDER_KEY = 'fedscore-holder';

export const identity = (b: Buffer): Buffer => b;
export const bytesOf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** The service definition with raw-bytes (de)serializers: every decode happens in the handlers. */
export const SERVICE_DEFINITION: grpc.ServiceDefinition = {
  Deliver: {
    path: DELIVER,
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Control: {
    path: CONTROL,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Health: {
    path: HEALTH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const GRPC_STATUS_OF: Partial<Record<ErrorCode, grpc.status>> = {
  wire_decode: grpc.status.INVALID_ARGUMENT,
  wire_too_large: grpc.status.RESOURCE_EXHAUSTED,
  peer_identity: grpc.status.PERMISSION_DENIED,
  protocol_step: grpc.status.FAILED_PRECONDITION,
  protocol_version: grpc.status.FAILED_PRECONDITION,
  protocol_sequence: grpc.status.FAILED_PRECONDITION,
  job_state: grpc.status.FAILED_PRECONDITION,
  // Retryable, at another replica: the one it names, else the next address of the peer.
  not_lease_holder: grpc.status.UNAVAILABLE,
  not_found: grpc.status.NOT_FOUND,
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  invalid_config: grpc.status.INVALID_ARGUMENT,
  consent: grpc.status.PERMISSION_DENIED,
  policy: grpc.status.PERMISSION_DENIED,
  timeout: grpc.status.DEADLINE_EXCEEDED,
};

/** A typed refusal as the gRPC status a caller receives (code and field in trailers). */
export function toServiceError(e: FedscoreError): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  metadata.set(CODE_KEY, e.code);
  if (e.field !== undefined) metadata.set(FIELD_KEY, e.field);
  const holder = e.code === 'not_lease_holder' ? e.details?.['holder'] : undefined;
  if (typeof holder === 'string') metadata.set(HOLDER_KEY, holder);
  return { code: GRPC_STATUS_OF[e.code] ?? grpc.status.INTERNAL, details: e.message, metadata };
}

/** A gRPC failure seen by a caller, as a typed error (the peer's code when it sent one). */
export function fromServiceError(e: grpc.ServiceError, peer: PartyId, rpc: string): FedscoreError {
  const code = e.metadata?.get(CODE_KEY)[0];
  if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
    const field = e.metadata.get(FIELD_KEY)[0];
    const holder = code === 'not_lease_holder' ? e.metadata.get(HOLDER_KEY)[0] : undefined;
    return new FedscoreError(code as ErrorCode, `${peer} refused ${rpc}: ${e.details}`, {
      ...(typeof field === 'string' && { field }),
      details: { peer, ...(typeof holder === 'string' && { holder }) },
    });
  }
  if (e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new FedscoreError('timeout', `${rpc} to ${peer}: deadline exceeded`, {
      field: 'deadlineMs',
      cause: e,
    });
  }
  if (/certificate|self.signed|identity|handshake|ssl|tls/i.test(e.details ?? '')) {
    return new FedscoreError('peer_identity', `${rpc} to ${peer}: TLS failed (${e.details})`, {
      field: `peers.${peer}`,
      cause: e,
    });
  }
  return new FedscoreError('io', `${rpc} to ${peer} failed: ${e.details || grpc.status[e.code]}`, {
    field: `peers.${peer}`,
    cause: e,
    details: { grpcStatus: e.code },
  });
}

/** Worth a retry: the peer was unreachable or slow, and did not refuse (no fedscore code in trailers). */
export function isTransient(e: grpc.ServiceError): boolean {
  if (e.metadata?.get(CODE_KEY).length > 0) return false;
  return e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED;
}

/**
 * A `not_lease_holder` refusal (the peer's replica does not coordinate the message's job): the holder's
 * advertised address when the replica named one; undefined for any other failure.
 */
export function leaseRedirect(e: grpc.ServiceError): { readonly holder?: string } | undefined {
  if (e.metadata?.get(CODE_KEY)[0] !== 'not_lease_holder') return undefined;
  const holder = e.metadata.get(HOLDER_KEY)[0];
  return typeof holder === 'string' && holder !== '' ? { holder } : {};
}

/** Run a protobuf decode; a failure is `wire_decode` naming the message. */
export function decodeOrThrow<T>(fn: () => T, field: string): T {
  try {
    return fn();
  } catch (e) {
    if (isFedscoreError(e)) throw e;
    throw new FedscoreError(
      'wire_decode',
      `malformed ${field} (${e instanceof Error ? e.message : String(e)})`,
      {
        field,
        cause: e,
      },
    );
  }
}
