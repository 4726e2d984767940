/**
 * The network `Channel` between party nodes: gRPC (@grpc/grpc-js) over mutual TLS.
 *
 * Each node runs one `GrpcTransport`: a server for the `fedscore.node.PartyNode` service
 * (packages/wire/proto/node.proto) and one client per configured peer. Protocol roles see only core's
 * `Channel` (`transport.channel()`), exactly as over the in-memory network.
 *
 * Identity: both ends present a certificate of the shared CA; a peer's party id is the SAN URI of its
 * certificate (certs.ts), checked on every call. The client checks that the server it dialled speaks for
 * the party it meant to reach (addresses do not matter, certificates do); the server checks that the
 * caller is a configured peer and that every envelope's `sender` is the caller and `receiver` is itself.
 * The server terminates TLS itself (node:tls, client certificate requested but not enforced by the
 * handshake) and hands each connection to gRPC through a connection injector, after verifying the
 * caller's certificate chain once per connection (peer-auth.ts: the node's CA, validity, SAN party URI,
 * a configured peer; OpenSSL's verdict must agree). Every handler starts with that verdict: a caller with
 * no certificate, one of another CA, or one naming another party gets `peer_identity` as a gRPC status
 * before any message is read, and the refusal reaches `onRejected` (the audit log) with the presented
 * certificate's fingerprint, subject and issuer -- a wrong certificate is an audited event, not a silent
 * handshake failure. Such a connection serves nothing and is closed after `MAX_UNAUTHENTICATED_CALLS`
 * refusals or `UNAUTHENTICATED_CONNECTION_MS`, whichever comes first.
 *
 * Sending: an envelope is encoded by the wire codec and streamed in chunks (`chunkBytes`, default
 * 1 MiB) on a client-streaming `Deliver` call, waiting for HTTP/2 flow control ('drain') between chunks,
 * so a 64 MiB ciphertext batch never sits whole in a socket buffer. Sends to one peer within one session
 * are serialized (seq order is delivery order); sessions deliver side by side. Each call has a deadline; transient failures (peer unreachable,
 * deadline) are retried with exponential backoff, resending the same bytes with `attempt` > 0: the
 * receiver recognizes the (session, sender, seq, digest) it already queued and acknowledges it as a
 * duplicate, so a retry is idempotent.
 *
 * Receiving (every check before anything is queued; each failure is a typed `FedscoreError` returned to
 * the caller as a gRPC status with the code in trailers, and reported to `onRejected` for the audit log):
 *   - size: `total_bytes` above `maxMessageBytes` is refused before buffering (`wire_too_large`); more
 *     data than announced, less, or a digest mismatch is `wire_decode`;
 *   - the envelope must decode (`wire_decode`), name the caller as sender (`peer_identity`) and this node
 *     as receiver;
 *   - its session must belong to a granted stage attempt (`grant()`), the sender must be a party of it
 *     (`job_state`), and its protocol and version must be among the attempt's (`protocol_step`,
 *     `protocol_version`);
 *   - seq must be the next one from that sender in that session: a lower seq is a replay unless it is an
 *     identical retry, a higher one a gap (`protocol_sequence`).
 * Wrong-step messages at the right seq pass (the transport does not know the protocol's state machine)
 * and fail in the receiving role's `ProtocolSession`, which aborts only that stage attempt.
 * Backpressure: when a granted attempt holds more than `maxQueuedBytes` unread, acknowledgements wait
 * until the role has read some, which stalls the sender.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import {
  type Channel,
  type ChannelStats,
  type Envelope,
  ERROR_CODES,
  type ErrorCode,
  FedscoreError,
  isFedscoreError,
  type Logger,
  noopLogger,
  type PartyId,
} from '@fedscore/core';
import { createEnvelopeCodec, fedscore, type WireEnvelopeCodec } from '@fedscore/wire';
import * as grpc from '@grpc/grpc-js';
import { partyIdFromSan } from './certs.ts';
import {
  MAX_INTERMEDIATES,
  type PresentedCertificate,
  parseCaBundle,
  type VerifiedPeer,
  verifyPeerCertificate,
} from './peer-auth.ts';

const SERVICE = '/fedscore.node.PartyNode';
const DELIVER = `${SERVICE}/Deliver`;
const CONTROL = `${SERVICE}/Control`;
const HEALTH = `${SERVICE}/Health`;
const CODE_KEY = 'fedscore-code';
/** Sessions whose sequence state a standing grant keeps (replay detection), oldest forgotten first. */
const MAX_SESSIONS_PER_STANDING_GRANT = 10_000;
const FIELD_KEY = 'fedscore-field';
/** Refused calls an unauthenticated connection may make before it is closed (each one is audited). */
export const MAX_UNAUTHENTICATED_CALLS = 8;
/** The whole answer an unauthenticated caller gets (details only in the node's own log and audit log). */
export const UNAUTHENTICATED_REFUSAL = 'the caller is not authenticated';
/** How long an unauthenticated connection may stay open. */
export const UNAUTHENTICATED_CONNECTION_MS = 10_000;

export interface TlsMaterial {
  /** PEM of the CA that issued every party's certificate. */
  readonly ca: string;
  /** PEM of this party's certificate and private key. */
  readonly cert: string;
  readonly key: string;
}

export interface TransportLimits {
  /** Largest encoded envelope sent or accepted. Default 64 MiB (the wire codec's default). */
  readonly maxMessageBytes?: number;
  /** Bytes per Deliver chunk. Default 1 MiB. */
  readonly chunkBytes?: number;
  /** Deadline of one call, in ms. Default 120 000. */
  readonly deadlineMs?: number;
  /** Retries of a send after a transient failure. Default 5. */
  readonly retries?: number;
  /** First backoff between retries, doubled each time. Default 200 ms. */
  readonly retryBaseMs?: number;
  /** Unread bytes per stage attempt before acknowledgements wait. Default 256 MiB. */
  readonly maxQueuedBytes?: number;
}

interface ResolvedLimits {
  readonly maxMessageBytes: number;
  readonly chunkBytes: number;
  readonly deadlineMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly maxQueuedBytes: number;
}

/** An inbound call the transport refused: for the audit log and metrics (no payload, no values). */
export interface RejectionEvent {
  readonly rpc: 'Deliver' | 'Control' | 'Health';
  /** The caller's party id, when its certificate named one. */
  readonly peer?: PartyId;
  readonly code: ErrorCode;
  readonly field?: string;
  readonly message: string;
  readonly session?: string;
  /** Public facts of the certificate the caller presented (none when it presented none). */
  readonly certificate?: PresentedCertificate;
  /** The caller's IP address. */
  readonly remoteAddress?: string;
}

/** Permission to exchange messages in one stage attempt: its sessions, parties and protocols. */
export interface SessionGrant {
  /** Session ids equal to `key` or starting with `key/` belong to the grant. */
  readonly key: string;
  /** Every party of the attempt (senders outside it are refused). */
  readonly parties: readonly PartyId[];
  /** Protocol name to the version this attempt speaks. */
  readonly protocols: Readonly<Record<string, number>>;
  /**
   * A standing grant of a service (e.g. post-loan monitoring) rather than a stage attempt: called with
   * the session id when the first message (seq 0) of a session nobody has used under this grant yet
   * arrives, before it is queued, so the service can start serving it. Throwing refuses the message
   * (a typed refusal, audited like any other).
   */
  readonly onSession?: (session: string, peer: PartyId) => void;
}

export type ControlHandler = (
  peer: PartyId,
  request: fedscore.node.ControlRequest,
) => Promise<fedscore.node.IControlReply>;

export interface HealthInfo {
  readonly runningStages: number;
}

export interface GrpcTransportOptions {
  readonly party: PartyId;
  /** host:port to listen on; port 0 picks a free one (see `port`). */
  readonly listen: string;
  readonly tls: TlsMaterial;
  /** Every peer: party id to host:port. */
  readonly peers: Readonly<Record<PartyId, string>>;
  readonly limits?: TransportLimits;
  readonly logger?: Logger;
  readonly onRejected?: (event: RejectionEvent) => void;
  readonly health?: () => HealthInfo;
}

/** One accepted TLS connection and the node's verdict on its client certificate. */
interface PeerConnection {
  readonly socket: TLSSocket;
  readonly verdict: VerifiedPeer | FedscoreError;
  /** Calls refused for identity (closing the connection past `MAX_UNAUTHENTICATED_CALLS`). */
  refused: number;
}

type ServerCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerReadableStream<Buffer, Buffer>;

interface Queue {
  items: Envelope[];
  waiters: { resolve: (e: Envelope) => void; reject: (e: Error) => void }[];
}

interface GrantState {
  readonly grant: SessionGrant;
  queuedBytes: number;
  closed: Error | undefined;
  readonly roomWaiters: (() => void)[];
  /** Per `${session}\0${sender}`: next expected seq and the digest of the last one queued. */
  readonly inbound: Map<string, { next: number; lastDigest: string }>;
}

type Stats = {
  bytesSent: Record<string, number>;
  bytesReceived: Record<string, number>;
  messagesSent: Record<string, number>;
  messagesReceived: Record<string, number>;
};

function resolveLimits(l: TransportLimits = {}): ResolvedLimits {
  const int = (v: number | undefined, d: number, field: string, min: number, max: number): number => {
    const x = v ?? d;
    if (!Number.isInteger(x) || x < min || x > max) {
      throw new FedscoreError('out_of_range', `${x} is outside [${min}, ${max}]`, {
        field: `limits.${field}`,
      });
    }
    return x;
  };
  return {
    maxMessageBytes: int(l.maxMessageBytes, 64 * 1024 * 1024, 'maxMessageBytes', 1024, 2 ** 31 - 1),
    chunkBytes: int(l.chunkBytes, 1024 * 1024, 'chunkBytes', 1024, 16 * 1024 * 1024),
    deadlineMs: int(l.deadlineMs, 120_000, 'deadlineMs', 100, 86_400_000),
    retries: int(l.retries, 5, 'retries', 0, 100),
    retryBaseMs: int(l.retryBaseMs, 200, 'retryBaseMs', 1, 60_000),
    maxQueuedBytes: int(l.maxQueuedBytes, 256 * 1024 * 1024, 'maxQueuedBytes', 1024, 2 ** 40),
  };
}

const identity = (b: Buffer): Buffer => b;
const bytesOf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** The service definition with raw-bytes (de)serializers: every decode happens in the handlers. */
const SERVICE_DEFINITION: grpc.ServiceDefinition = {
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
  not_found: grpc.status.NOT_FOUND,
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  invalid_config: grpc.status.INVALID_ARGUMENT,
  consent: grpc.status.PERMISSION_DENIED,
  policy: grpc.status.PERMISSION_DENIED,
  timeout: grpc.status.DEADLINE_EXCEEDED,
};

function toServiceError(e: FedscoreError): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  metadata.set(CODE_KEY, e.code);
  if (e.field !== undefined) metadata.set(FIELD_KEY, e.field);
  return { code: GRPC_STATUS_OF[e.code] ?? grpc.status.INTERNAL, details: e.message, metadata };
}

/** A gRPC failure seen by a caller, as a typed error (the peer's code when it sent one). */
export function fromServiceError(e: grpc.ServiceError, peer: PartyId, rpc: string): FedscoreError {
  const code = e.metadata?.get(CODE_KEY)[0];
  if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
    const field = e.metadata.get(FIELD_KEY)[0];
    return new FedscoreError(code as ErrorCode, `${peer} refused ${rpc}: ${e.details}`, {
      ...(typeof field === 'string' && { field }),
      details: { peer },
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

function isTransient(e: grpc.ServiceError): boolean {
  if (e.metadata?.get(CODE_KEY).length > 0) return false;
  return e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED;
}

function sha256(b: Uint8Array): Uint8Array {
  return createHash('sha256').update(b).digest();
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class GrpcTransport {
  readonly party: PartyId;
  readonly #limits: ResolvedLimits;
  readonly #codec: WireEnvelopeCodec;
  readonly #server: grpc.Server;
  #tlsServer: TlsServer | undefined;
  /** Open TLS connections by `remoteAddress:remotePort` (what a call's `getPeer()` names). */
  readonly #connections = new Map<string, PeerConnection>();
  readonly #clients = new Map<PartyId, grpc.Client>();
  readonly #peers: Record<PartyId, string>;
  readonly #tls: TlsMaterial;
  readonly #logger: Logger;
  readonly #onRejected: (event: RejectionEvent) => void;
  readonly #health: () => HealthInfo;
  readonly #grants = new Map<string, GrantState>();
  readonly #queues = new Map<string, Queue>();
  readonly #sendChains = new Map<PartyId, Promise<unknown>>();
  readonly #stats: Stats = { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
  readonly #startedAt = Date.now();
  #control: ControlHandler | undefined;
  #port = 0;
  #closed = false;

  private constructor(options: GrpcTransportOptions, limits: ResolvedLimits) {
    this.party = options.party;
    this.#limits = limits;
    this.#codec = createEnvelopeCodec({ maxMessageBytes: limits.maxMessageBytes });
    this.#peers = { ...options.peers };
    this.#tls = options.tls;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'transport' });
    this.#onRejected = options.onRejected ?? (() => {});
    this.#health = options.health ?? (() => ({ runningStages: 0 }));
    this.#server = new grpc.Server({
      // Chunks are at most chunkBytes plus a small header; unary control messages are small.
      'grpc.max_receive_message_length': limits.chunkBytes + 4096,
      'grpc.max_send_message_length': limits.chunkBytes + 4096,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
  }

  /** Bind the server and get ready to dial peers. */
  static async start(options: GrpcTransportOptions): Promise<GrpcTransport> {
    const t = new GrpcTransport(options, resolveLimits(options.limits));
    t.#server.addService(SERVICE_DEFINITION, {
      Deliver: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        t.#onDeliver(call, cb),
      Control: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        t.#onControl(call, cb),
      Health: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        t.#onHealth(call, cb),
    });
    try {
      t.#port = await t.#listen(options.listen, options.tls);
    } catch (e) {
      // Nothing of a transport that cannot listen stays open.
      await t.close();
      throw e;
    }
    t.#logger.info('transport listening', { port: t.#port, peers: Object.keys(options.peers).length });
    return t;
  }

  /** The port the server is bound to. */
  get port(): number {
    return this.#port;
  }

  /** Set or change a peer's address (e.g. once a test peer has bound its port). */
  setPeer(peer: PartyId, address: string): void {
    this.#peers[peer] = address;
    this.#clients.get(peer)?.close();
    this.#clients.delete(peer);
  }

  /**
   * Terminate TLS here: every client must offer a certificate, but the handshake does not fail on a
   * missing or untrusted one, so that the node can refuse the connection's calls with a typed,
   * audited error instead of a silent handshake failure (module comment).
   */
  async #listen(listen: string, tls: TlsMaterial): Promise<number> {
    const { host, port } = parseListen(listen);
    const anchors = parseCaBundle(tls.ca);
    // gRPC sees plaintext HTTP/2 on the decrypted socket; TLS is the server below, never absent.
    const injector = this.#server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    let server: TlsServer;
    try {
      server = createTlsServer({
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.2',
      });
    } catch (e) {
      throw new FedscoreError('invalid_config', `unusable TLS material: ${(e as Error).message}`, {
        field: 'tls',
        cause: e,
      });
    }
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== 'h2') {
        this.#logger.warn('TLS connection without HTTP/2 closed', { remote: socket.remoteAddress });
        socket.destroy();
        return;
      }
      this.#accept(socket, anchors);
      injector.injectConnection(socket);
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // No certificate verdict is involved here (the handshake never fails on the client certificate):
      // garbage, no shared protocol version or cipher, or a client that distrusts this node.
      this.#logger.warn('TLS handshake failed', { remote: socket.remoteAddress, error: err.code ?? 'tls' });
    });
    this.#tlsServer = server;
    return new Promise<number>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new FedscoreError('io', `cannot listen on ${listen}: ${err.message}`, {
            field: 'listen',
            cause: err,
          }),
        );
      };
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.#logger.error('TLS server error', { error: err.message }));
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  /** Verify a new connection's client certificate once and remember the verdict for its calls. */
  #accept(socket: TLSSocket, anchors: ReturnType<typeof parseCaBundle>): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    let verdict: VerifiedPeer | FedscoreError;
    try {
      verdict = verifyPeerCertificate(peerChain(socket), anchors, {
        peers: new Set(Object.keys(this.#peers)),
        self: this.party,
        tlsAuthorized: socket.authorized,
        ...(socket.authorizationError !== undefined && { tlsError: String(socket.authorizationError) }),
      });
    } catch (e) {
      verdict = isFedscoreError(e)
        ? e
        : new FedscoreError('peer_identity', 'the client certificate could not be checked', {
            field: 'certificate',
            cause: e,
          });
    }
    const conn: PeerConnection = { socket, verdict, refused: 0 };
    this.#connections.set(key, conn);
    const timer =
      verdict instanceof FedscoreError
        ? setTimeout(() => socket.destroy(), UNAUTHENTICATED_CONNECTION_MS).unref()
        : undefined;
    socket.once('close', () => {
      clearTimeout(timer);
      if (this.#connections.get(key) === conn) this.#connections.delete(key);
    });
    socket.on('error', () => {
      // Reset by the peer: the 'close' above cleans up; gRPC sees the session end.
    });
  }

  /** The connection of a call: gRPC names it by the socket's `address:port` (`getPeer`). */
  #connectionOf(call: ServerCall): PeerConnection | undefined {
    return this.#connections.get(call.getPeer());
  }

  setControlHandler(handler: ControlHandler): void {
    this.#control = handler;
  }

  // ---------------------------------------------------------------- grants

  /** Accept messages of one stage attempt (call before any party of it may send). */
  grant(g: SessionGrant): void {
    if (this.#grants.has(g.key)) return;
    this.#grants.set(g.key, {
      grant: g,
      queuedBytes: 0,
      closed: undefined,
      roomWaiters: [],
      inbound: new Map(),
    });
  }

  /** Stop an attempt: its pending and later receives fail, its later messages are refused. */
  revoke(key: string, reason: Error = new Error('stage attempt closed')): void {
    const st = this.#grants.get(key);
    if (st === undefined) return;
    st.closed = reason;
    for (const w of st.roomWaiters.splice(0)) w();
    for (const [qk, q] of this.#queues) {
      const session = qk.split('\u0000')[1]!;
      if (session !== key && !session.startsWith(`${key}/`)) continue;
      for (const w of q.waiters.splice(0)) {
        w.reject(new FedscoreError('channel_closed', `stage attempt ${key} closed`, { cause: reason }));
      }
      this.#queues.delete(qk);
    }
    // Keep the closed grant so that late messages get a clear 'job_state' refusal; forget it later.
    setTimeout(() => {
      if (this.#grants.get(key) === st) this.#grants.delete(key);
    }, 600_000).unref();
  }

  /**
   * Drop the receive queues of one finished session of a standing grant (its sequence state stays, so
   * a replay of it is still refused).
   */
  endSession(session: string): void {
    const g = this.#grantOf(session);
    for (const [qk, q] of this.#queues) {
      if (qk.split('\u0000')[1] !== session) continue;
      if (g !== undefined) for (const e of q.items) this.#consumed(g, e);
      for (const w of q.waiters.splice(0)) {
        w.reject(new FedscoreError('channel_closed', `session ${session} ended`, { field: 'session' }));
      }
      this.#queues.delete(qk);
    }
  }

  #grantOf(session: string): GrantState | undefined {
    for (let k = session; ; ) {
      const g = this.#grants.get(k);
      if (g !== undefined) return g;
      const i = k.lastIndexOf('/');
      if (i <= 0) return undefined;
      k = k.slice(0, i);
    }
  }

  // ---------------------------------------------------------------- channel

  /** The Channel protocol roles use (one per node; sessions keep runs apart). */
  channel(): Channel {
    return {
      party: this.party,
      send: (envelope) => this.send(envelope),
      receive: (from, session) => this.receive(from, session),
      stats: () => structuredClone(this.#stats),
      close: (reason) => {
        for (const key of this.#grants.keys()) this.revoke(key, reason);
      },
    };
  }

  stats(): ChannelStats {
    return structuredClone(this.#stats);
  }

  async send(envelope: Envelope): Promise<void> {
    if (this.#closed) throw new FedscoreError('channel_closed', 'the transport is closed');
    if (envelope.sender !== this.party) {
      throw new FedscoreError(
        'invalid_argument',
        `envelope sender '${envelope.sender}' is not '${this.party}'`,
        {
          field: 'sender',
        },
      );
    }
    const to = envelope.receiver;
    if (this.#peers[to] === undefined) {
      throw new FedscoreError('invalid_argument', `'${to}' is not a configured peer`, { field: 'receiver' });
    }
    const bytes = this.#codec.encode(envelope);
    // Serialize per receiver and session: seq order must be arrival order within a session (the receiver
    // checks seq per session), while independent sessions (e.g. concurrent online scoring sessions)
    // deliver side by side instead of queueing behind each other's round trips.
    const chain = `${to}\u0000${envelope.session}`;
    const prev = this.#sendChains.get(chain) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.#deliverWithRetry(to, bytes));
    this.#sendChains.set(chain, next);
    try {
      await next;
    } finally {
      // Forget a finished chain (sessions come and go); a later send starts a new one.
      if (this.#sendChains.get(chain) === next) this.#sendChains.delete(chain);
    }
    this.#stats.bytesSent[to] = (this.#stats.bytesSent[to] ?? 0) + bytes.length;
    this.#stats.messagesSent[to] = (this.#stats.messagesSent[to] ?? 0) + 1;
  }

  receive(from: PartyId, session: string): Promise<Envelope> {
    const g = this.#grantOf(session);
    if (g === undefined || g.closed !== undefined) {
      return Promise.reject(
        new FedscoreError('channel_closed', `no open stage attempt for session ${session}`, {
          field: 'session',
          ...(g?.closed !== undefined && { cause: g.closed }),
        }),
      );
    }
    const q = this.#queueOf(from, session);
    const ready = q.items.shift();
    if (ready !== undefined) {
      this.#consumed(g, ready);
      return Promise.resolve(ready);
    }
    return new Promise<Envelope>((resolve, reject) => {
      q.waiters.push({
        resolve: (e) => {
          this.#consumed(g, e);
          resolve(e);
        },
        reject,
      });
    });
  }

  #consumed(g: GrantState, e: Envelope): void {
    g.queuedBytes -= e.payload.length;
    if (g.queuedBytes < this.#limits.maxQueuedBytes) for (const w of g.roomWaiters.splice(0)) w();
  }

  #queueOf(from: PartyId, session: string): Queue {
    const key = `${from}\u0000${session}`;
    let q = this.#queues.get(key);
    if (q === undefined) {
      q = { items: [], waiters: [] };
      this.#queues.set(key, q);
    }
    return q;
  }

  // ---------------------------------------------------------------- client side

  #client(peer: PartyId): grpc.Client {
    let c = this.#clients.get(peer);
    if (c !== undefined) return c;
    const address = this.#peers[peer];
    if (address === undefined) {
      throw new FedscoreError('invalid_argument', `'${peer}' is not a configured peer`, { field: 'peers' });
    }
    const creds = grpc.credentials.createSsl(
      Buffer.from(this.#tls.ca),
      Buffer.from(this.#tls.key),
      Buffer.from(this.#tls.cert),
      {
        // Identity is the certificate's party URI, not the address dialled.
        checkServerIdentity: (_host, cert) => {
          try {
            const id = partyIdFromSan(cert.subjectaltname, `peers.${peer}`);
            if (id === peer) return undefined;
            return new Error(`certificate identity mismatch: expected party '${peer}', got '${id}'`);
          } catch (e) {
            return e as Error;
          }
        },
      },
    );
    c = new grpc.Client(address, creds, {
      'grpc.max_receive_message_length': this.#limits.chunkBytes + 4096,
      'grpc.max_send_message_length': this.#limits.chunkBytes + 4096,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // TLS server name = the peer's party id (never an IP address, RFC 6066); the identity check
      // above reads the certificate's party URI whatever this name is.
      'grpc.ssl_target_name_override': peer,
      'grpc.default_authority': peer,
      // Reconnect quickly after a peer restarts.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    this.#clients.set(peer, c);
    return c;
  }

  async #deliverWithRetry(to: PartyId, bytes: Uint8Array): Promise<void> {
    const digest = sha256(bytes);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#deliverOnce(to, bytes, digest, attempt);
        return;
      } catch (e) {
        const se = e as grpc.ServiceError;
        if (this.#closed || attempt >= this.#limits.retries || !isTransient(se)) {
          throw isFedscoreError(e) ? e : fromServiceError(se, to, 'Deliver');
        }
        const wait = this.#limits.retryBaseMs * 2 ** attempt;
        this.#logger.warn('deliver retry', {
          peer: to,
          attempt: attempt + 1,
          waitMs: wait,
          grpcStatus: se.code,
        });
        await sleep(wait);
      }
    }
  }

  async #deliverOnce(to: PartyId, bytes: Uint8Array, digest: Uint8Array, attempt: number): Promise<void> {
    const client = this.#client(to);
    let done!: (e: grpc.ServiceError | null) => void;
    const finished = new Promise<grpc.ServiceError | null>((r) => {
      done = r;
    });
    const call = client.makeClientStreamRequest<Buffer, Buffer>(
      DELIVER,
      identity,
      identity,
      new grpc.Metadata(),
      { deadline: Date.now() + this.#limits.deadlineMs },
      (err) => done(err),
    );
    const chunk = this.#limits.chunkBytes;
    let aborted = false;
    finished.then((err) => {
      if (err) aborted = true;
    });
    for (let off = 0; off === 0 || off < bytes.length; off += chunk) {
      if (aborted) break;
      const m: fedscore.node.IDeliverChunk = {
        data: bytes.subarray(off, Math.min(bytes.length, off + chunk)),
      };
      if (off === 0) {
        m.totalBytes = bytes.length;
        m.sha256 = digest;
        m.attempt = attempt;
      }
      const ok = call.write(bytesOf(fedscore.node.DeliverChunk.encode(m).finish()));
      if (!ok && !aborted) await Promise.race([once(call, 'drain'), finished]);
      if (bytes.length === 0) break;
    }
    call.end();
    const err = await finished;
    if (err) throw err;
  }

  /** A unary Control call to `peer`; a refusal comes back as the peer's typed error. */
  async control(peer: PartyId, request: fedscore.node.IControlRequest): Promise<fedscore.node.ControlReply> {
    const out = await this.#unary(peer, CONTROL, fedscore.node.ControlRequest.encode(request).finish());
    return decodeOrThrow(() => fedscore.node.ControlReply.decode(out), 'fedscore.node.ControlReply');
  }

  async health(peer: PartyId, deadlineMs = 2000): Promise<fedscore.node.HealthReply> {
    const out = await this.#unary(peer, HEALTH, new Uint8Array(), deadlineMs);
    return decodeOrThrow(() => fedscore.node.HealthReply.decode(out), 'fedscore.node.HealthReply');
  }

  #unary(
    peer: PartyId,
    path: string,
    body: Uint8Array,
    deadlineMs = this.#limits.deadlineMs,
  ): Promise<Buffer> {
    const client = this.#client(peer);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        path,
        identity,
        identity,
        bytesOf(body),
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err) reject(fromServiceError(err, peer, path.slice(SERVICE.length + 1)));
          else resolve(value ?? Buffer.alloc(0));
        },
      );
    });
  }

  // ---------------------------------------------------------------- server side

  /**
   * The caller's party, from the verdict on its connection's certificate; the first thing every
   * handler does, before reading any message. Throws `peer_identity`.
   */
  #peerOf(call: ServerCall): PartyId {
    const conn = this.#connectionOf(call);
    if (conn === undefined) {
      throw new FedscoreError('peer_identity', 'the call came on a connection this node did not verify', {
        field: 'certificate',
      });
    }
    if (conn.verdict instanceof FedscoreError) {
      conn.refused += 1;
      // A caller that keeps calling without an identity is cut off (its answers are lost with it).
      if (conn.refused >= MAX_UNAUTHENTICATED_CALLS) setImmediate(() => conn.socket.destroy());
      throw conn.verdict;
    }
    // Both checks must name the same certificate: OpenSSL's (the auth context exists only for a chain
    // TLS verified) and the node's own verdict on this connection.
    const seen = call.getAuthContext?.()?.sslPeerCertificate?.fingerprint256;
    if (seen !== conn.verdict.certificate.fingerprint256) {
      throw new FedscoreError('peer_identity', 'the TLS layer and the node disagree on the caller', {
        field: 'certificate',
      });
    }
    return conn.verdict.party;
  }

  #reject(
    rpc: RejectionEvent['rpc'],
    call: ServerCall,
    e: unknown,
    peer: PartyId | undefined,
    session: string | undefined,
  ): Partial<grpc.ServiceError> {
    const fe = isFedscoreError(e)
      ? e
      : new FedscoreError('internal', e instanceof Error ? e.message : String(e), { cause: e });
    const conn = this.#connectionOf(call);
    const certificate =
      conn === undefined
        ? undefined
        : conn.verdict instanceof FedscoreError
          ? presentedOf(conn.verdict)
          : conn.verdict.certificate;
    const remoteAddress = conn?.socket.remoteAddress;
    const event: RejectionEvent = {
      rpc,
      code: fe.code,
      message: fe.message,
      ...(peer !== undefined && { peer }),
      ...(fe.field !== undefined && { field: fe.field }),
      ...(session !== undefined && { session }),
      ...(certificate !== undefined && { certificate }),
      ...(remoteAddress !== undefined && { remoteAddress }),
    };
    this.#logger.warn('inbound call refused', {
      rpc,
      code: fe.code,
      field: fe.field,
      peer,
      ...(peer === undefined && { remote: remoteAddress, reason: fe.message }),
    });
    try {
      this.#onRejected(event);
    } catch (hookError) {
      this.#logger.error('rejection hook failed', { error: String(hookError) });
    }
    // An unauthenticated caller learns nothing about this node (its party, its CA, its peers): the
    // reason stays in the node's log and audit log.
    if (peer === undefined && fe.code === 'peer_identity') {
      return toServiceError(
        new FedscoreError('peer_identity', UNAUTHENTICATED_REFUSAL, { field: 'certificate' }),
      );
    }
    return toServiceError(fe);
  }

  #onDeliver(call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    let peer: PartyId | undefined;
    let answered = false;
    const answer = (err: Partial<grpc.ServiceError> | null, reply?: Buffer): void => {
      if (answered) return;
      answered = true;
      if (err) cb(err as grpc.ServiceError);
      else cb(null, reply);
    };
    const fail = (e: unknown, session?: string): void => {
      if (answered) return;
      answer(this.#reject('Deliver', call, e, peer, session));
    };
    try {
      peer = this.#peerOf(call);
    } catch (e) {
      fail(e);
      return;
    }
    let buf: Uint8Array | undefined;
    let off = 0;
    let digest: Uint8Array | undefined;
    let attempt = 0;
    call.on('data', (raw: Buffer) => {
      if (answered) return;
      try {
        const c = decodeOrThrow(() => fedscore.node.DeliverChunk.decode(raw), 'fedscore.node.DeliverChunk');
        if (buf === undefined) {
          const total = Number(c.totalBytes);
          if (!Number.isSafeInteger(total) || total > this.#limits.maxMessageBytes) {
            throw new FedscoreError(
              'wire_too_large',
              `an envelope of ${String(c.totalBytes)} bytes exceeds the limit of ${this.#limits.maxMessageBytes}`,
              { field: 'fedscore.node.DeliverChunk.total_bytes' },
            );
          }
          if (c.sha256.length !== 32) {
            throw new FedscoreError('wire_decode', 'the first chunk must carry a 32-byte SHA-256', {
              field: 'fedscore.node.DeliverChunk.sha256',
            });
          }
          buf = new Uint8Array(total);
          digest = Uint8Array.from(c.sha256);
          attempt = c.attempt;
        }
        if (off + c.data.length > buf.length) {
          throw new FedscoreError('wire_decode', 'more data than the announced total_bytes', {
            field: 'fedscore.node.DeliverChunk.data',
          });
        }
        buf.set(c.data, off);
        off += c.data.length;
      } catch (e) {
        fail(e);
      }
    });
    call.on('error', () => {
      // The caller went away (cancelled, deadline): nothing was queued.
      answered = true;
    });
    call.on('end', () => {
      if (answered) return;
      let session: string | undefined;
      try {
        if (buf === undefined || digest === undefined) {
          throw new FedscoreError('wire_decode', 'an empty Deliver call', {
            field: 'fedscore.node.DeliverChunk',
          });
        }
        if (off !== buf.length) {
          throw new FedscoreError('wire_decode', `got ${off} of ${buf.length} announced bytes (truncated)`, {
            field: 'fedscore.node.DeliverChunk.data',
          });
        }
        if (hex(sha256(buf)) !== hex(digest)) {
          throw new FedscoreError('wire_decode', 'the envelope does not match its SHA-256', {
            field: 'fedscore.node.DeliverChunk.sha256',
          });
        }
        const env = this.#codec.decode(buf);
        session = env.session;
        const duplicate = this.#admit(peer!, env, hex(digest), attempt);
        const g = this.#grantOf(env.session)!;
        const ack = bytesOf(fedscore.node.DeliverAck.encode({ duplicate }).finish());
        if (duplicate || g.queuedBytes < this.#limits.maxQueuedBytes || g.closed !== undefined) {
          answer(null, ack);
        } else {
          g.roomWaiters.push(() => answer(null, ack));
        }
      } catch (e) {
        fail(e, session);
      }
    });
  }

  /** Check one decoded envelope and queue it; true when it is an identical retry already queued. */
  #admit(peer: PartyId, env: Envelope, digest: string, attempt: number): boolean {
    if (env.sender !== peer) {
      throw new FedscoreError(
        'peer_identity',
        `envelope sender '${env.sender}' is not the caller '${peer}'`,
        {
          field: 'fedscore.Envelope.sender',
        },
      );
    }
    if (env.receiver !== this.party) {
      throw new FedscoreError(
        'peer_identity',
        `envelope for '${env.receiver}' delivered to '${this.party}'`,
        {
          field: 'fedscore.Envelope.receiver',
        },
      );
    }
    const g = this.#grantOf(env.session);
    if (g === undefined) {
      throw new FedscoreError('job_state', 'no stage attempt of this node owns the session', {
        field: 'fedscore.Envelope.session_id',
      });
    }
    if (g.closed !== undefined) {
      throw new FedscoreError('job_state', 'the stage attempt of this session is closed', {
        field: 'fedscore.Envelope.session_id',
      });
    }
    if (!g.grant.parties.includes(peer)) {
      throw new FedscoreError('job_state', `'${peer}' is not a party of this stage attempt`, {
        field: 'fedscore.Envelope.sender',
      });
    }
    const version = g.grant.protocols[env.protocol];
    if (version === undefined) {
      throw new FedscoreError('protocol_step', `protocol '${env.protocol}' is not part of this stage`, {
        field: 'fedscore.Envelope.protocol',
      });
    }
    if (env.version !== version) {
      throw new FedscoreError(
        'protocol_version',
        `${env.protocol}: version ${env.version}, this node speaks ${version}`,
        {
          field: 'fedscore.Envelope.protocol_version',
        },
      );
    }
    const key = `${env.session}\u0000${peer}`;
    const known = g.inbound.get(key);
    const st = known ?? { next: 0, lastDigest: '' };
    if (env.seq < st.next) {
      if (attempt > 0 && env.seq === st.next - 1 && digest === st.lastDigest) return true;
      throw new FedscoreError(
        'protocol_sequence',
        `message ${env.seq} again (expected ${st.next}): a replay`,
        {
          field: 'fedscore.Envelope.seq',
        },
      );
    }
    if (env.seq > st.next) {
      throw new FedscoreError('protocol_sequence', `message ${env.seq} before ${st.next}: out of order`, {
        field: 'fedscore.Envelope.seq',
      });
    }
    if (known === undefined && g.grant.onSession !== undefined) {
      g.grant.onSession(env.session, peer);
      // A standing grant sees many sessions: remember the newest ones only (replays of forgotten ones
      // reach the service again, which answers into a session the caller no longer accepts).
      if (g.inbound.size >= MAX_SESSIONS_PER_STANDING_GRANT) {
        const oldest = g.inbound.keys().next().value;
        if (oldest !== undefined) g.inbound.delete(oldest);
      }
    }
    g.inbound.set(key, { next: st.next + 1, lastDigest: digest });
    g.queuedBytes += env.payload.length;
    this.#stats.bytesReceived[peer] = (this.#stats.bytesReceived[peer] ?? 0) + env.payload.length;
    this.#stats.messagesReceived[peer] = (this.#stats.messagesReceived[peer] ?? 0) + 1;
    const q = this.#queueOf(peer, env.session);
    const w = q.waiters.shift();
    if (w !== undefined) w.resolve(env);
    else q.items.push(env);
    return false;
  }

  #onControl(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    let peer: PartyId | undefined;
    (async () => {
      peer = this.#peerOf(call);
      const req = decodeOrThrow(
        () => fedscore.node.ControlRequest.decode(call.request),
        'fedscore.node.ControlRequest',
      );
      if (this.#control === undefined) {
        throw new FedscoreError('unsupported', 'this node takes no control requests yet', {
          field: 'request',
        });
      }
      const reply = await this.#control(peer, req);
      return bytesOf(fedscore.node.ControlReply.encode(reply).finish());
    })().then(
      (out) => cb(null, out),
      (e: unknown) => cb(this.#reject('Control', call, e, peer, undefined) as grpc.ServiceError),
    );
  }

  #onHealth(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    let peer: PartyId | undefined;
    try {
      peer = this.#peerOf(call);
      const h = this.#health();
      const reply = fedscore.node.HealthReply.encode({
        party: this.party,
        uptimeMs: Date.now() - this.#startedAt,
        runningStages: h.runningStages,
        startedAtMs: this.#startedAt,
      }).finish();
      cb(null, bytesOf(reply));
    } catch (e) {
      cb(this.#reject('Health', call, e, peer, undefined) as grpc.ServiceError);
    }
  }

  /** Stop serving and dialling; pending receives fail with `channel_closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const key of [...this.#grants.keys()]) this.revoke(key, new Error('transport closed'));
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 2000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise<void>((resolve) => {
      if (this.#tlsServer === undefined) resolve();
      else this.#tlsServer.close(() => resolve());
      for (const c of this.#connections.values()) c.socket.destroy();
      this.#connections.clear();
    });
  }
}

function decodeOrThrow<T>(fn: () => T, field: string): T {
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

/** `host:port` (IPv6 in brackets) as the config validates it. */
function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new FedscoreError('invalid_config', `'${listen}' is not host:port (IPv6 in brackets)`, {
      field: 'listen',
    });
  }
  return { host: (m[1] ?? m[2])!, port };
}

/** The DER certificates a TLS client sent, its own first (empty when it sent none). */
function peerChain(socket: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  let c = socket.getPeerCertificate(true) as
    | (ReturnType<TLSSocket['getPeerCertificate']> & {
        issuerCertificate?: ReturnType<TLSSocket['getPeerCertificate']>;
      })
    | null;
  while (c?.raw !== undefined && out.length <= MAX_INTERMEDIATES) {
    out.push(new Uint8Array(c.raw));
    const next = c.issuerCertificate;
    if (next === undefined || next === c) break; // a self-signed certificate is its own issuer
    c = next;
  }
  return out;
}

/** The presented certificate's facts carried by a refusal (peer-auth.ts puts them in `details`). */
function presentedOf(e: FedscoreError): PresentedCertificate | undefined {
  const d = e.details;
  if (d === undefined || typeof d['fingerprint256'] !== 'string') return undefined;
  return {
    fingerprint256: d['fingerprint256'],
    subject: String(d['subject']),
    issuer: String(d['issuer']),
    serialNumber: String(d['serialNumber']),
    ...(typeof d['claimedParty'] === 'string' && { claimedParty: d['claimedParty'] }),
  };
}
