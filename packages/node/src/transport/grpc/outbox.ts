/**
 * The sending side: one gRPC client per peer (mutual TLS, the peer's identity read from its
 * certificate), envelopes streamed in chunks on a client-streaming `Deliver` call with retries, and the
 * unary Control and Health calls.
 *
 * An envelope is encoded by the wire codec and streamed in chunks (`chunkBytes`, default 1 MiB), waiting
 * for HTTP/2 flow control ('drain') between chunks, so a 64 MiB ciphertext batch never sits whole in a
 * socket buffer. Sends to one peer within one session are serialized (seq order is delivery order);
 * sessions deliver side by side. Each call has a deadline; transient failures (peer unreachable,
 * deadline) are retried with exponential backoff, resending the same bytes with `attempt` > 0: the
 * receiver recognizes the (session, sender, seq, digest) it already queued and acknowledges it as a
 * duplicate (admission.ts), so a retry is idempotent.
 */
import { once } from 'node:events';
import { type Envelope, FedscoreError, isFedscoreError, type Logger, type PartyId } from '@fedscore/core';
import { fedscore, type WireEnvelopeCodec } from '@fedscore/wire';
import * as grpc from '@grpc/grpc-js';
import { partyIdFromSan } from '../certs.ts';
import { type MutableStats, sha256 } from './admission.ts';
import type { ResolvedLimits, TlsMaterial } from './options.ts';
import {
  bytesOf,
  CONTROL,
  DELIVER,
  decodeOrThrow,
  fromServiceError,
  HEALTH,
  identity,
  isTransient,
  SERVICE,
} from './status.ts';

export interface OutboxOptions {
  readonly party: PartyId;
  /** Every peer: party id to host:port (the outbox keeps its own copy; change it with `setPeer`). */
  readonly peers: Readonly<Record<PartyId, string>>;
  readonly tls: TlsMaterial;
  readonly limits: ResolvedLimits;
  readonly codec: WireEnvelopeCodec;
  readonly logger: Logger;
  /** Counters the sent messages are added to (`bytesSent`, `messagesSent`). */
  readonly stats: MutableStats;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The clients of one node and what it sends through them. */
export class Outbox {
  readonly #o: OutboxOptions;
  readonly #peers: Record<PartyId, string>;
  readonly #clients = new Map<PartyId, grpc.Client>();
  readonly #sendChains = new Map<string, Promise<unknown>>();
  #closed = false;

  constructor(options: OutboxOptions) {
    this.#o = options;
    this.#peers = { ...options.peers };
  }

  /** The configured peers' party ids. */
  peerIds(): PartyId[] {
    return Object.keys(this.#peers);
  }

  /** Set or change a peer's address (the next call dials it afresh). */
  setPeer(peer: PartyId, address: string): void {
    this.#peers[peer] = address;
    this.#clients.get(peer)?.close();
    this.#clients.delete(peer);
  }

  /** Stop dialling; sends in progress stop retrying. */
  close(): void {
    this.#closed = true;
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  async send(envelope: Envelope): Promise<void> {
    if (this.#closed) throw new FedscoreError('channel_closed', 'the transport is closed');
    if (envelope.sender !== this.#o.party) {
      throw new FedscoreError(
        'invalid_argument',
        `envelope sender '${envelope.sender}' is not '${this.#o.party}'`,
        {
          field: 'sender',
        },
      );
    }
    const to = envelope.receiver;
    if (this.#peers[to] === undefined) {
      throw new FedscoreError('invalid_argument', `'${to}' is not a configured peer`, { field: 'receiver' });
    }
    const bytes = this.#o.codec.encode(envelope);
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
    const stats = this.#o.stats;
    stats.bytesSent[to] = (stats.bytesSent[to] ?? 0) + bytes.length;
    stats.messagesSent[to] = (stats.messagesSent[to] ?? 0) + 1;
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
    deadlineMs = this.#o.limits.deadlineMs,
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

  #client(peer: PartyId): grpc.Client {
    let c = this.#clients.get(peer);
    if (c !== undefined) return c;
    const address = this.#peers[peer];
    if (address === undefined) {
      throw new FedscoreError('invalid_argument', `'${peer}' is not a configured peer`, { field: 'peers' });
    }
    const { tls, limits } = this.#o;
    const creds = grpc.credentials.createSsl(
      Buffer.from(tls.ca),
      Buffer.from(tls.key),
      Buffer.from(tls.cert),
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
      'grpc.max_receive_message_length': limits.chunkBytes + 4096,
      'grpc.max_send_message_length': limits.chunkBytes + 4096,
      // Tolerant of a busy event loop at either end (options.ts, `keepaliveTimeoutMs`).
      'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
      // The window this client opens to the peer's replies (stream and connection; options.ts).
      'grpc-node.flow_control_window': limits.windowBytes,
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
        if (this.#closed || attempt >= this.#o.limits.retries || !isTransient(se)) {
          throw isFedscoreError(e) ? e : fromServiceError(se, to, 'Deliver');
        }
        const wait = this.#o.limits.retryBaseMs * 2 ** attempt;
        this.#o.logger.warn('deliver retry', {
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
      { deadline: Date.now() + this.#o.limits.deadlineMs },
      (err) => done(err),
    );
    const chunk = this.#o.limits.chunkBytes;
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
}
