/**
 * The receiving side: TLS terminated by the node itself, the caller's certificate checked once per
 * connection, and the gRPC handlers of `fedscore.node.PartyNode` (Deliver, Control, Health).
 *
 * The server terminates TLS (node:tls, client certificate requested but not enforced by the handshake)
 * and hands each connection to gRPC through a connection injector, after verifying the caller's
 * certificate chain once per connection (peer-auth.ts: the node's CA, validity, SAN party URI, a
 * configured peer; OpenSSL's verdict must agree). Every handler starts with that verdict: a caller with
 * no certificate, one of another CA, or one naming another party gets `peer_identity` as a gRPC status
 * before any message is read, and the refusal reaches `onRejected` (the audit log) with the presented
 * certificate's fingerprint, subject and issuer -- a wrong certificate is an audited event, not a silent
 * handshake failure. Such a connection serves nothing and is closed after `MAX_UNAUTHENTICATED_CALLS`
 * refusals or `UNAUTHENTICATED_CONNECTION_MS`, whichever comes first.
 *
 * Deliver reassembles an envelope from its chunks and admits it (admission.ts: size, digest, identity,
 * grant, protocol, sequence); each refusal is a typed `FedscoreError` returned to the caller as a gRPC
 * status with the code in trailers (status.ts), and reported to `onRejected` for the audit log.
 *
 * Flow control: the node opens an HTTP/2 window of `windowBytes` to every caller, per stream (the
 * SETTINGS_INITIAL_WINDOW_SIZE it announces) and per connection (a WINDOW_UPDATE as the session starts;
 * HTTP/2's connection window starts at 64 KiB whatever the settings say, RFC 9113 6.9.2). grpc-js 1.14
 * has a client option for this (`grpc-node.flow_control_window`, outbox.ts) but none for a server, so
 * `widenWindows` reaches the http2 server options and the injector's http2 server through grpc-js's
 * fields; if a later grpc-js renames them the node still works, at HTTP/2's default window, logs a
 * warning, and benchmarks/test/grpc-window.test.ts fails.
 */
import type { Http2Server, ServerOptions as Http2ServerOptions, ServerHttp2Session } from 'node:http2';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { type ErrorCode, FedscoreError, isFedscoreError, type Logger, type PartyId } from '@fedscore/core';
import { fedscore, type WireEnvelopeCodec } from '@fedscore/wire';
import * as grpc from '@grpc/grpc-js';
import {
  MAX_INTERMEDIATES,
  type PresentedCertificate,
  parseCaBundle,
  type VerifiedPeer,
  verifyPeerCertificate,
} from '../peer-auth.ts';
import { DeliverAssembly, type InboundAdmission } from './admission.ts';
import type { ResolvedLimits, TlsMaterial } from './options.ts';
import { bytesOf, decodeOrThrow, SERVICE_DEFINITION, SESSION_KEY, toServiceError } from './status.ts';

/** Refused calls an unauthenticated connection may make before it is closed (each one is audited). */
export const MAX_UNAUTHENTICATED_CALLS = 8;
/** The whole answer an unauthenticated caller gets (details only in the node's own log and audit log). */
export const UNAUTHENTICATED_REFUSAL = 'the caller is not authenticated';
/** How long an unauthenticated connection may stay open. */
export const UNAUTHENTICATED_CONNECTION_MS = 10_000;

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

/**
 * The raw bytes of one inbound call (a Deliver chunk, a Control request) as they came off the TLS
 * connection, before any check: for message-capture tests of what a node receives. Holds message
 * contents: an observer must never log or keep them outside a test.
 */
export interface InboundBytes {
  /** The caller's party (undefined when its certificate names none). */
  readonly peer: PartyId | undefined;
  readonly rpc: 'Deliver' | 'Control';
  readonly bytes: Uint8Array;
}

export type ControlHandler = (
  peer: PartyId,
  request: fedscore.node.ControlRequest,
) => Promise<fedscore.node.IControlReply>;

export interface HealthInfo {
  readonly runningStages: number;
}

export interface PartyNodeServerOptions {
  readonly party: PartyId;
  readonly limits: ResolvedLimits;
  readonly codec: WireEnvelopeCodec;
  readonly admission: InboundAdmission;
  readonly logger: Logger;
  /** The configured peers (a caller's certificate must name one of them). */
  readonly peers: () => readonly PartyId[];
  readonly control: () => ControlHandler | undefined;
  readonly onRejected: (event: RejectionEvent) => void;
  readonly health: () => HealthInfo;
  /** Sees each inbound call's raw bytes (`InboundBytes`). */
  readonly onInbound?: ((event: InboundBytes) => void) | undefined;
}

/** One accepted TLS connection and the node's verdict on its client certificate. */
interface PeerConnection {
  readonly socket: TLSSocket;
  readonly verdict: VerifiedPeer | FedscoreError;
  /** Calls refused for identity (closing the connection past `MAX_UNAUTHENTICATED_CALLS`). */
  refused: number;
}

type ServerCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerReadableStream<Buffer, Buffer>;

/** The grpc-js fields `widenWindows` needs (module comment); absent ones are tolerated. */
interface GrpcServerInternals {
  commonServerOptions?: Http2ServerOptions;
  http2Servers?: Map<Http2Server, unknown>;
}

/** The node's gRPC server behind its own TLS listener (module comment). */
export class PartyNodeServer {
  readonly #o: PartyNodeServerOptions;
  readonly #server: grpc.Server;
  readonly #startedAt = Date.now();
  #tlsServer: TlsServer | undefined;
  /** Open TLS connections by `remoteAddress:remotePort` (what a call's `getPeer()` names). */
  readonly #connections = new Map<string, PeerConnection>();

  constructor(options: PartyNodeServerOptions) {
    this.#o = options;
    const { limits } = options;
    this.#server = new grpc.Server({
      // Chunks are at most chunkBytes plus a small header; unary control messages are small.
      'grpc.max_receive_message_length': limits.chunkBytes + 4096,
      'grpc.max_send_message_length': limits.chunkBytes + 4096,
      // Tolerant of a busy event loop at either end (options.ts, `keepaliveTimeoutMs`).
      'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    });
    this.#server.addService(SERVICE_DEFINITION, {
      Deliver: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        this.#onDeliver(call, cb),
      Control: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        this.#onControl(call, cb),
      Health: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        this.#onHealth(call, cb),
    });
  }

  /**
   * Terminate TLS here: every client must offer a certificate, but the handshake does not fail on a
   * missing or untrusted one, so that the node can refuse the connection's calls with a typed,
   * audited error instead of a silent handshake failure (module comment). Resolves with the bound port.
   */
  async listen(listen: string, tls: TlsMaterial): Promise<number> {
    const { host, port } = parseListen(listen);
    const anchors = parseCaBundle(tls.ca);
    // gRPC sees plaintext HTTP/2 on the decrypted socket; TLS is the server below, never absent.
    const injector = this.#widenWindows(() =>
      this.#server.createConnectionInjector(grpc.ServerCredentials.createInsecure()),
    );
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
        this.#o.logger.warn('TLS connection without HTTP/2 closed', { remote: socket.remoteAddress });
        socket.destroy();
        return;
      }
      this.#accept(socket, anchors);
      injector.injectConnection(socket);
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // No certificate verdict is involved here (the handshake never fails on the client certificate):
      // garbage, no shared protocol version or cipher, or a client that distrusts this node.
      this.#o.logger.warn('TLS handshake failed', { remote: socket.remoteAddress, error: err.code ?? 'tls' });
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
        server.on('error', (err) => this.#o.logger.error('TLS server error', { error: err.message }));
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  /**
   * Create the connection injector with an HTTP/2 window of `windowBytes` per stream and per connection
   * (module comment: grpc-js has no server option for it).
   */
  #widenWindows<T>(createInjector: () => T): T {
    const window = this.#o.limits.windowBytes;
    const internals = this.#server as unknown as GrpcServerInternals;
    const common = internals.commonServerOptions;
    if (common === undefined || internals.http2Servers === undefined) {
      this.#o.logger.warn('grpc-js internals changed: HTTP/2 flow-control window left at its default', {});
      return createInjector();
    }
    common.settings = { ...common.settings, initialWindowSize: window };
    const before = new Set(internals.http2Servers.keys());
    const injector = createInjector();
    for (const h2 of internals.http2Servers.keys()) {
      if (before.has(h2)) continue;
      h2.on('session', (session: ServerHttp2Session) => {
        try {
          session.setLocalWindowSize(window);
        } catch {
          // The session closed before it started: nothing to widen.
        }
      });
    }
    return injector;
  }

  /** Verify a new connection's client certificate once and remember the verdict for its calls. */
  #accept(socket: TLSSocket, anchors: ReturnType<typeof parseCaBundle>): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    let verdict: VerifiedPeer | FedscoreError;
    try {
      verdict = verifyPeerCertificate(peerChain(socket), anchors, {
        peers: new Set(this.#o.peers()),
        self: this.#o.party,
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
    // Routing, not a refusal of the caller: an authenticated peer sent a job's message to a replica that
    // does not coordinate it, and is told where it belongs (reported for the metrics; the node does not
    // audit it as a security event).
    const routing = fe.code === 'not_lease_holder' && peer !== undefined;
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
    if (routing) {
      this.#o.logger.info('inbound message for a job this replica does not hold', {
        rpc,
        peer,
        holder: fe.details?.['holder'],
      });
    } else {
      this.#o.logger.warn('inbound call refused', {
        rpc,
        code: fe.code,
        field: fe.field,
        peer,
        ...(peer === undefined && { remote: remoteAddress, reason: fe.message }),
      });
    }
    try {
      this.#o.onRejected(event);
    } catch (hookError) {
      this.#o.logger.error('rejection hook failed', { error: String(hookError) });
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
    const assembly = new DeliverAssembly(this.#o.limits.maxMessageBytes);
    call.on('data', (raw: Buffer) => {
      this.#o.onInbound?.({ peer, rpc: 'Deliver', bytes: raw });
      if (answered) return;
      try {
        assembly.add(
          decodeOrThrow(() => fedscore.node.DeliverChunk.decode(raw), 'fedscore.node.DeliverChunk'),
        );
      } catch (e) {
        fail(e);
      }
    });
    call.on('error', () => {
      // The caller went away (cancelled, deadline): nothing was queued.
      answered = true;
    });
    // The session the caller announced, when no grant here owns it and the router says where it
    // belongs: refused at once, so the caller stops sending chunks (the envelope's own session is what
    // admission checks at the end).
    const announced = call.metadata.get(SESSION_KEY)[0];
    const elsewhere = typeof announced === 'string' ? this.#o.admission.elsewhere(announced) : undefined;
    if (elsewhere !== undefined) fail(elsewhere, announced as string);
    call.on('end', () => {
      if (answered) return;
      let session: string | undefined;
      try {
        const { bytes, digest, attempt } = assembly.finish();
        const env = this.#o.codec.decode(bytes);
        session = env.session;
        const duplicate = this.#o.admission.admit(peer!, env, digest, attempt);
        const ack = bytesOf(fedscore.node.DeliverAck.encode({ duplicate }).finish());
        this.#o.admission.whenRoom(env.session, duplicate, () => answer(null, ack));
      } catch (e) {
        fail(e, session);
      }
    });
  }

  #onControl(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    let peer: PartyId | undefined;
    (async () => {
      this.#o.onInbound?.({ peer: undefined, rpc: 'Control', bytes: call.request });
      peer = this.#peerOf(call);
      const req = decodeOrThrow(
        () => fedscore.node.ControlRequest.decode(call.request),
        'fedscore.node.ControlRequest',
      );
      const control = this.#o.control();
      if (control === undefined) {
        throw new FedscoreError('unsupported', 'this node takes no control requests yet', {
          field: 'request',
        });
      }
      const reply = await control(peer, req);
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
      const h = this.#o.health();
      const reply = fedscore.node.HealthReply.encode({
        party: this.#o.party,
        uptimeMs: Date.now() - this.#startedAt,
        runningStages: h.runningStages,
        startedAtMs: this.#startedAt,
      }).finish();
      cb(null, bytesOf(reply));
    } catch (e) {
      cb(this.#reject('Health', call, e, peer, undefined) as grpc.ServiceError);
    }
  }

  /** Stop serving: calls in flight get 2 s to finish, then every connection is closed. */
  async close(): Promise<void> {
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
