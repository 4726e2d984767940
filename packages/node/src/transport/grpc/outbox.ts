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
 *
 * Replicas: a peer may have several addresses (its replicas, or a load balancer among them). Calls to
 * the peer go to its current address, kept until that address fails: an unreachable address
 * (UNAVAILABLE without a fedscore code) moves the peer to the next one. A `not_lease_holder` refusal (the
 * replica reached does not coordinate the message's job, docs/deploy.md section 8) moves that job's
 * messages -- the sessions `<job>/...` -- to the holder the refusal names when that is one of the peer's
 * listed addresses, else to the next one after the refusing address, and the envelope is resent there at
 * once (at most twice per listed address, then with the backoff of a transient failure). Jobs are routed
 * one by one because replicas of a party may coordinate different jobs at the same time; a job's route
 * is dropped when its address becomes unreachable (its messages then follow the peer's current address). Whatever address is dialled, the server must present a certificate naming the
 * peer party (the identity check below): a replica proves it speaks for the party, not which replica it
 * is, and a named holder outside the list is never dialled (a peer cannot make this node connect to
 * arbitrary hosts).
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
  leaseRedirect,
  SERVICE,
  SESSION_KEY,
} from './status.ts';

export interface OutboxOptions {
  readonly party: PartyId;
  /**
   * Every peer: party id to host:port, or to its replicas' addresses (module comment). The outbox keeps
   * its own copy; change it with `setPeer`.
   */
  readonly peers: Readonly<Record<PartyId, string | readonly string[]>>;
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

/** A peer's addresses, the one its calls go to now, and where the messages of particular jobs go. */
interface PeerRoute {
  readonly addresses: readonly string[];
  current: number;
  /** Job id to the index of the address its lease holder was found at (insertion order: oldest first). */
  readonly jobs: Map<string, number>;
}

/** Job routes kept per peer (the oldest forgotten first: its messages then start at `current` again). */
export const MAX_JOB_ROUTES = 1000;

/** The job id of a session (`<job>/<stage>/<attempt>/...`), if it has one. */
function jobOf(session: string | undefined): string | undefined {
  const slash = session === undefined ? -1 : session.indexOf('/');
  return slash > 0 ? session!.slice(0, slash) : undefined;
}

/** The clients of one node and what it sends through them. */
export class Outbox {
  readonly #o: OutboxOptions;
  readonly #routes = new Map<PartyId, PeerRoute>();
  /** One client per peer and address (`${peer}\0${address}`). */
  readonly #clients = new Map<string, grpc.Client>();
  readonly #sendChains = new Map<string, Promise<unknown>>();
  readonly #switches: Record<PartyId, number> = {};
  #closed = false;

  constructor(options: OutboxOptions) {
    this.#o = options;
    for (const [peer, a] of Object.entries(options.peers)) this.#setRoute(peer, a);
  }

  /** The configured peers' party ids. */
  peerIds(): PartyId[] {
    return [...this.#routes.keys()];
  }

  /** Set or change a peer's address or addresses (the next call dials the first afresh). */
  setPeer(peer: PartyId, address: string | readonly string[]): void {
    this.#setRoute(peer, address);
    for (const [k, c] of this.#clients) {
      if (!k.startsWith(`${peer}\u0000`)) continue;
      c.close();
      this.#clients.delete(k);
    }
  }

  /** How many times the calls to each peer moved to another of its addresses. */
  addressSwitches(): Record<PartyId, number> {
    return { ...this.#switches };
  }

  /**
   * The address calls to `peer` go to now, or the messages of `session` (its job's route, when it has
   * one); undefined: not a configured peer.
   */
  currentAddress(peer: PartyId, session?: string): string | undefined {
    const r = this.#routes.get(peer);
    if (r === undefined) return undefined;
    const job = jobOf(session);
    return r.addresses[(job === undefined ? undefined : r.jobs.get(job)) ?? r.current];
  }

  #setRoute(peer: PartyId, address: string | readonly string[]): void {
    const addresses = typeof address === 'string' ? [address] : [...address];
    if (addresses.length === 0) {
      throw new FedscoreError('invalid_argument', `no address for peer '${peer}'`, { field: 'peers' });
    }
    this.#routes.set(peer, { addresses, current: 0, jobs: new Map() });
  }

  #switched(peer: PartyId, from: string, to: string, job?: string): void {
    if (to === from) return;
    this.#switches[peer] = (this.#switches[peer] ?? 0) + 1;
    this.#o.logger.info('peer address switched', { peer, from, to, ...(job !== undefined && { job }) });
  }

  /**
   * `from` did not answer: calls to `peer` move to its next address (unless another call moved them
   * already), and the jobs routed to `from` lose their route.
   */
  #unreachable(peer: PartyId, from: string): void {
    const r = this.#routes.get(peer)!;
    if (r.addresses[r.current] === from) {
      r.current = (r.current + 1) % r.addresses.length;
      this.#switched(peer, from, r.addresses[r.current]!);
    }
    for (const [job, i] of r.jobs) {
      if (r.addresses[i] !== from) continue;
      r.jobs.delete(job);
      this.#switched(peer, from, r.addresses[r.current]!, job);
    }
  }

  /**
   * The replica at `from` does not hold `job`'s lease: route the job's messages to `holder` when that is
   * one of the peer's addresses, else to the address after `from` (unless another send moved the job
   * already). Returns the address the job's messages go to now.
   */
  #redirect(peer: PartyId, job: string | undefined, from: string, holder: string | undefined): string {
    const r = this.#routes.get(peer)!;
    const now = this.currentAddress(peer, job === undefined ? undefined : `${job}/`)!;
    if (now !== from || job === undefined) return now;
    const named = holder === undefined ? -1 : r.addresses.indexOf(holder);
    if (holder !== undefined && named < 0) {
      this.#o.logger.warn('a peer named a lease holder that is not among its configured addresses', {
        peer,
        holder,
      });
    }
    const next = named >= 0 ? named : (r.addresses.indexOf(from) + 1) % r.addresses.length;
    r.jobs.delete(job);
    r.jobs.set(job, next);
    if (r.jobs.size > MAX_JOB_ROUTES) r.jobs.delete(r.jobs.keys().next().value!);
    this.#switched(peer, from, r.addresses[next]!, job);
    return r.addresses[next]!;
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
    if (!this.#routes.has(to)) {
      throw new FedscoreError('invalid_argument', `'${to}' is not a configured peer`, { field: 'receiver' });
    }
    const bytes = this.#o.codec.encode(envelope);
    // Serialize per receiver and session: seq order must be arrival order within a session (the receiver
    // checks seq per session), while independent sessions (e.g. concurrent online scoring sessions)
    // deliver side by side instead of queueing behind each other's round trips.
    const chain = `${to}\u0000${envelope.session}`;
    const prev = this.#sendChains.get(chain) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.#deliverWithRetry(to, envelope.session, bytes));
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
    const address = this.#addressOf(peer);
    const client = this.#client(peer, address);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        path,
        identity,
        identity,
        bytesOf(body),
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err) {
            // An unreachable replica: the next call to this peer tries its next address.
            if (isTransient(err) && err.code === grpc.status.UNAVAILABLE) this.#unreachable(peer, address);
            reject(fromServiceError(err, peer, path.slice(SERVICE.length + 1)));
          } else resolve(value ?? Buffer.alloc(0));
        },
      );
    });
  }

  #addressOf(peer: PartyId, session?: string): string {
    const address = this.currentAddress(peer, session);
    if (address === undefined) {
      throw new FedscoreError('invalid_argument', `'${peer}' is not a configured peer`, { field: 'peers' });
    }
    return address;
  }

  #client(peer: PartyId, address: string): grpc.Client {
    const key = `${peer}\u0000${address}`;
    let c = this.#clients.get(key);
    if (c !== undefined) return c;
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
    this.#clients.set(key, c);
    return c;
  }

  async #deliverWithRetry(to: PartyId, session: string, bytes: Uint8Array): Promise<void> {
    const digest = sha256(bytes);
    const listed = this.#routes.get(to)!.addresses.length;
    // `attempt` goes on the wire (> 0: a resend the receiver may already hold); `failures` counts against
    // `retries`; `hops` bounds the immediate resends at another replica (module comment).
    const job = jobOf(session);
    for (let attempt = 0, failures = 0, hops = 0; ; attempt++) {
      const address = this.#addressOf(to, session);
      try {
        await this.#deliverOnce(to, address, session, bytes, digest, attempt);
        return;
      } catch (e) {
        const se = e as grpc.ServiceError;
        const wrap = (): FedscoreError => (isFedscoreError(e) ? e : fromServiceError(se, to, 'Deliver'));
        if (this.#closed || isFedscoreError(e)) throw wrap();
        const redirect = leaseRedirect(se);
        if (redirect !== undefined) {
          const next = this.#redirect(to, job, address, redirect.holder);
          if (next !== address && hops < 2 * listed) {
            hops++;
            this.#o.logger.info('deliver redirected to the lease holder', {
              peer: to,
              from: address,
              to: next,
              named: redirect.holder !== undefined,
            });
            continue;
          }
          // Nowhere else to go now (no live holder yet: a takeover is under way): back off and retry.
        } else if (!isTransient(se)) {
          throw wrap();
        } else if (se.code === grpc.status.UNAVAILABLE) {
          this.#unreachable(to, address);
        }
        if (failures >= this.#o.limits.retries) throw wrap();
        const wait = this.#o.limits.retryBaseMs * 2 ** failures;
        failures++;
        this.#o.logger.warn('deliver retry', {
          peer: to,
          attempt: failures,
          waitMs: wait,
          grpcStatus: se.code,
        });
        await sleep(wait);
      }
    }
  }

  async #deliverOnce(
    to: PartyId,
    address: string,
    session: string,
    bytes: Uint8Array,
    digest: Uint8Array,
    attempt: number,
  ): Promise<void> {
    const client = this.#client(to, address);
    // Ahead of the chunks: a replica that does not own the session refuses before they travel.
    const metadata = new grpc.Metadata();
    metadata.set(SESSION_KEY, session);
    let done!: (e: grpc.ServiceError | null) => void;
    const finished = new Promise<grpc.ServiceError | null>((r) => {
      done = r;
    });
    const call = client.makeClientStreamRequest<Buffer, Buffer>(
      DELIVER,
      identity,
      identity,
      metadata,
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
