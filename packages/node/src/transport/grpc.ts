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
 *
 * The parts, one job each (under grpc/):
 *   - server.ts     TLS accept and the per-connection certificate verdict (peer-auth.ts), the gRPC
 *                   handlers, refusals reported for the audit log, the HTTP/2 flow-control window;
 *   - admission.ts  every check on an inbound envelope before it is queued (size and digest of the
 *                   chunks; sender, receiver, grant, protocol and version; replay and sequence), the
 *                   receive queues and their backpressure -- no sockets, unit-tested on its own;
 *   - outbox.ts     the clients, chunked sending with retries (idempotent at the receiver), Control and
 *                   Health calls;
 *   - status.ts     the service definition and typed errors <-> gRPC statuses;
 *   - options.ts    TLS material and limits.
 */
import {
  type Channel,
  type ChannelStats,
  type Envelope,
  type Logger,
  noopLogger,
  type PartyId,
} from '@fedscore/core';
import { createEnvelopeCodec, type fedscore } from '@fedscore/wire';
import {
  emptyStats,
  InboundAdmission,
  type MutableStats,
  type SessionGrant,
  type SessionRouter,
} from './grpc/admission.ts';
import { resolveLimits, type TlsMaterial, type TransportLimits } from './grpc/options.ts';
import { Outbox } from './grpc/outbox.ts';
import {
  type ControlHandler,
  type HealthInfo,
  type InboundBytes,
  PartyNodeServer,
  type RejectionEvent,
} from './grpc/server.ts';

export type { SessionGrant, SessionRouter } from './grpc/admission.ts';
export type { TlsMaterial, TransportLimits } from './grpc/options.ts';
export type { ControlHandler, HealthInfo, InboundBytes, RejectionEvent } from './grpc/server.ts';
export {
  MAX_UNAUTHENTICATED_CALLS,
  UNAUTHENTICATED_CONNECTION_MS,
  UNAUTHENTICATED_REFUSAL,
} from './grpc/server.ts';
export { fromServiceError } from './grpc/status.ts';

export interface GrpcTransportOptions {
  readonly party: PartyId;
  /** host:port to listen on; port 0 picks a free one (see `port`). */
  readonly listen: string;
  readonly tls: TlsMaterial;
  /**
   * Every peer: party id to host:port, or to the addresses of its replicas (sends stick to one and move
   * on when it is unreachable or names another replica as its job's lease holder; outbox.ts).
   */
  readonly peers: Readonly<Record<PartyId, string | readonly string[]>>;
  readonly limits?: TransportLimits;
  readonly logger?: Logger;
  readonly onRejected?: (event: RejectionEvent) => void;
  readonly health?: () => HealthInfo;
  /** Sees each inbound call's raw bytes after TLS, before any check (message-capture tests). */
  readonly onInbound?: (event: InboundBytes) => void;
}

export class GrpcTransport {
  readonly party: PartyId;
  readonly #admission: InboundAdmission;
  readonly #outbox: Outbox;
  readonly #server: PartyNodeServer;
  readonly #stats: MutableStats = emptyStats();
  readonly #logger: Logger;
  #control: ControlHandler | undefined;
  #port = 0;
  #closed = false;

  private constructor(options: GrpcTransportOptions) {
    const limits = resolveLimits(options.limits);
    const codec = createEnvelopeCodec({ maxMessageBytes: limits.maxMessageBytes });
    const logger = (options.logger ?? noopLogger).child({ component: 'transport' });
    this.party = options.party;
    this.#logger = logger;
    this.#admission = new InboundAdmission({
      party: options.party,
      maxQueuedBytes: limits.maxQueuedBytes,
      stats: this.#stats,
    });
    this.#outbox = new Outbox({
      party: options.party,
      peers: options.peers,
      tls: options.tls,
      limits,
      codec,
      logger,
      stats: this.#stats,
    });
    this.#server = new PartyNodeServer({
      party: options.party,
      limits,
      codec,
      admission: this.#admission,
      logger,
      peers: () => this.#outbox.peerIds(),
      control: () => this.#control,
      onRejected: options.onRejected ?? (() => {}),
      health: options.health ?? (() => ({ runningStages: 0 })),
      onInbound: options.onInbound,
    });
  }

  /** Bind the server and get ready to dial peers. */
  static async start(options: GrpcTransportOptions): Promise<GrpcTransport> {
    const t = new GrpcTransport(options);
    try {
      t.#port = await t.#server.listen(options.listen, options.tls);
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

  /** Set or change a peer's address or addresses (e.g. once a test peer has bound its port). */
  setPeer(peer: PartyId, address: string | readonly string[]): void {
    this.#outbox.setPeer(peer, address);
  }

  /** How many times the calls to each peer moved to another of its addresses (metrics). */
  addressSwitches(): Record<PartyId, number> {
    return this.#outbox.addressSwitches();
  }

  /**
   * The address calls to `peer` go to now, or the messages of `session` (its job may be routed to the
   * replica holding the job's lease); one of the peer's configured addresses; undefined: no such peer.
   */
  peerAddress(peer: PartyId, session?: string): string | undefined {
    return this.#outbox.currentAddress(peer, session);
  }

  setControlHandler(handler: ControlHandler): void {
    this.#control = handler;
  }

  /** Who answers for an inbound session no grant owns (the job runner: the job's lease holder). */
  setSessionRouter(router: SessionRouter): void {
    this.#admission.setRouter(router);
  }

  /** Accept messages of one stage attempt (call before any party of it may send). */
  grant(g: SessionGrant): void {
    this.#admission.grant(g);
  }

  /** Stop an attempt: its pending and later receives fail, its later messages are refused. */
  revoke(key: string, reason?: Error): void {
    this.#admission.revoke(key, reason);
  }

  /**
   * Drop the receive queues of one finished session of a standing grant (its sequence state stays, so
   * a replay of it is still refused).
   */
  endSession(session: string): void {
    this.#admission.endSession(session);
  }

  /** The Channel protocol roles use (one per node; sessions keep runs apart). */
  channel(): Channel {
    return {
      party: this.party,
      send: (envelope) => this.send(envelope),
      receive: (from, session) => this.receive(from, session),
      stats: () => structuredClone(this.#stats),
      close: (reason) => this.#admission.revokeAll(reason),
    };
  }

  stats(): ChannelStats {
    return structuredClone(this.#stats);
  }

  send(envelope: Envelope): Promise<void> {
    return this.#outbox.send(envelope);
  }

  receive(from: PartyId, session: string): Promise<Envelope> {
    return this.#admission.receive(from, session);
  }

  /** A unary Control call to `peer`; a refusal comes back as the peer's typed error. */
  control(peer: PartyId, request: fedscore.node.IControlRequest): Promise<fedscore.node.ControlReply> {
    return this.#outbox.control(peer, request);
  }

  health(peer: PartyId, deadlineMs = 2000): Promise<fedscore.node.HealthReply> {
    return this.#outbox.health(peer, deadlineMs);
  }

  /** Stop serving and dialling; pending receives fail with `channel_closed`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#admission.revokeAll(new Error('transport closed'));
    this.#outbox.close();
    await this.#server.close();
  }
}
