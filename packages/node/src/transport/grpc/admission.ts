/**
 * Admission of inbound envelopes: everything the receiving node checks before a message reaches a
 * protocol role, with no socket in sight (the gRPC handlers in server.ts feed it; tests drive it
 * directly, test/transport-admission.test.ts).
 *
 * `DeliverAssembly` puts one Deliver call's chunks back together:
 *   - size: `total_bytes` above `maxMessageBytes` is refused before anything is buffered
 *     (`wire_too_large`); more data than announced, less, or a digest mismatch is `wire_decode`.
 *
 * `InboundAdmission` holds the grants (the stage attempts and standing services this node takes messages
 * for), the per-(session, sender) sequence state, and the receive queues. `admit()` checks, in order:
 *   - the envelope names the caller as sender (`peer_identity`) and this node as receiver;
 *   - its session belongs to a granted, open stage attempt and the sender is a party of it
 *     (`job_state`; `lease_lost` for an attempt closed because its coordinator's lease epoch is stale;
 *     for a session no grant here owns, the `router` may answer instead: on a replica that does not
 *     hold the job's lease, `not_lease_holder` naming the holder); its protocol and version are among
 *     the attempt's (`protocol_step`, `protocol_version`);
 *   - seq is the next one from that sender in that session: a lower seq is a replay unless it is an
 *     identical retry of the last one (attempt > 0, same digest: acknowledged as a duplicate, not queued
 *     twice), a higher one a gap (`protocol_sequence`).
 * Wrong-step messages at the right seq pass (admission does not know the protocol's state machine) and
 * fail in the receiving role's `ProtocolSession`, which aborts only that stage attempt.
 * Backpressure: when a granted attempt holds more than `maxQueuedBytes` unread, `whenRoom` holds the
 * acknowledgement until the role has read some, which stalls the sender.
 */
import { createHash } from 'node:crypto';
import {
  type ChannelStats,
  type Envelope,
  FedscoreError,
  isFedscoreError,
  type PartyId,
} from '@fedscore/core';
import type { fedscore } from '@fedscore/wire';

/** Sessions whose sequence state a standing grant keeps (replay detection), oldest forgotten first. */
export const MAX_SESSIONS_PER_STANDING_GRANT = 10_000;

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

/**
 * For a session no grant of this node owns: the refusal that tells the sender where it belongs (a
 * replica that does not hold the job's lease names the holder: `not_lease_holder`), or undefined for the
 * plain `job_state` refusal. Called with the session id only; it must not throw.
 */
export type SessionRouter = (session: string) => FedscoreError | undefined;

/** Message and byte counters by peer, as the channel reports them. */
export type MutableStats = { -readonly [K in keyof ChannelStats]: Record<string, number> };

export function emptyStats(): MutableStats {
  return { bytesSent: {}, bytesReceived: {}, messagesSent: {}, messagesReceived: {} };
}

export function sha256(b: Uint8Array): Uint8Array {
  return createHash('sha256').update(b).digest();
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** One envelope put back together from its Deliver chunks, checked against its announced size and digest. */
export interface AssembledEnvelope {
  /** The encoded envelope. */
  readonly bytes: Uint8Array;
  /** Hex SHA-256 of `bytes` (what a retry of the same envelope carries again). */
  readonly digest: string;
  /** The sender's attempt number (0 first, > 0 a retry). */
  readonly attempt: number;
}

/** The chunks of one Deliver call, checked as they arrive (module comment). */
export class DeliverAssembly {
  readonly #maxMessageBytes: number;
  #buf: Uint8Array | undefined;
  #off = 0;
  #digest: Uint8Array | undefined;
  #attempt = 0;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Take one decoded chunk; the first must announce the total size and the SHA-256. */
  add(c: fedscore.node.DeliverChunk): void {
    if (this.#buf === undefined) {
      const total = Number(c.totalBytes);
      if (!Number.isSafeInteger(total) || total > this.#maxMessageBytes) {
        throw new FedscoreError(
          'wire_too_large',
          `an envelope of ${String(c.totalBytes)} bytes exceeds the limit of ${this.#maxMessageBytes}`,
          { field: 'fedscore.node.DeliverChunk.total_bytes' },
        );
      }
      if (c.sha256.length !== 32) {
        throw new FedscoreError('wire_decode', 'the first chunk must carry a 32-byte SHA-256', {
          field: 'fedscore.node.DeliverChunk.sha256',
        });
      }
      this.#buf = new Uint8Array(total);
      this.#digest = Uint8Array.from(c.sha256);
      this.#attempt = c.attempt;
    }
    if (this.#off + c.data.length > this.#buf.length) {
      throw new FedscoreError('wire_decode', 'more data than the announced total_bytes', {
        field: 'fedscore.node.DeliverChunk.data',
      });
    }
    this.#buf.set(c.data, this.#off);
    this.#off += c.data.length;
  }

  /** The whole envelope once the call has ended: every announced byte, matching the digest. */
  finish(): AssembledEnvelope {
    const buf = this.#buf;
    const digest = this.#digest;
    if (buf === undefined || digest === undefined) {
      throw new FedscoreError('wire_decode', 'an empty Deliver call', {
        field: 'fedscore.node.DeliverChunk',
      });
    }
    if (this.#off !== buf.length) {
      throw new FedscoreError(
        'wire_decode',
        `got ${this.#off} of ${buf.length} announced bytes (truncated)`,
        {
          field: 'fedscore.node.DeliverChunk.data',
        },
      );
    }
    const expected = hex(digest);
    if (hex(sha256(buf)) !== expected) {
      throw new FedscoreError('wire_decode', 'the envelope does not match its SHA-256', {
        field: 'fedscore.node.DeliverChunk.sha256',
      });
    }
    return { bytes: buf, digest: expected, attempt: this.#attempt };
  }
}

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

/** What an `InboundAdmission` needs: whose envelopes it admits, and its backpressure bound. */
export interface InboundAdmissionOptions {
  /** This node's party id (every admitted envelope must name it as receiver). */
  readonly party: PartyId;
  /** Unread bytes per grant before acknowledgements wait. */
  readonly maxQueuedBytes: number;
  /** Counters by sender the admitted messages are added to (default: counters of its own). */
  readonly stats?: {
    readonly bytesReceived: Record<string, number>;
    readonly messagesReceived: Record<string, number>;
  };
}

/** Grants, sequence state and receive queues of one node (module comment). */
export class InboundAdmission {
  /** This node's party id. */
  readonly party: PartyId;
  readonly #maxQueuedBytes: number;
  readonly #stats: NonNullable<InboundAdmissionOptions['stats']>;
  readonly #grants = new Map<string, GrantState>();
  readonly #queues = new Map<string, Queue>();
  #router: SessionRouter | undefined;

  constructor(options: InboundAdmissionOptions) {
    this.party = options.party;
    this.#maxQueuedBytes = options.maxQueuedBytes;
    this.#stats = options.stats ?? emptyStats();
  }

  /** Set who answers for a session no grant here owns (`SessionRouter`). */
  setRouter(router: SessionRouter): void {
    this.#router = router;
  }

  /**
   * The router's refusal for `session` when no grant here owns it (the early check of a Deliver call
   * whose caller announced the session); undefined when a grant owns it or the router has none.
   */
  elsewhere(session: string): FedscoreError | undefined {
    return this.#grantOf(session) === undefined ? this.#router?.(session) : undefined;
  }

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

  /** Revoke every grant (the channel or the transport closes). */
  revokeAll(reason?: Error): void {
    for (const key of [...this.#grants.keys()]) this.revoke(key, reason);
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

  /**
   * Check one decoded envelope from `peer` (the caller its certificate names) and queue it; true when it
   * is an identical retry of one already queued (acknowledge it, queue nothing). Throws the refusal.
   */
  admit(peer: PartyId, env: Envelope, digest: string, attempt: number): boolean {
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
      const elsewhere = this.#router?.(env.session);
      if (elsewhere !== undefined) throw elsewhere;
      throw new FedscoreError('job_state', 'no stage attempt of this node owns the session', {
        field: 'fedscore.Envelope.session_id',
      });
    }
    if (g.closed !== undefined) {
      // Closed because its coordinator's lease epoch went stale (jobs/runner.ts `#checkEpoch`): a message
      // of a coordinator replica that lost the job's lease, refused with the same code as its commands.
      if (isFedscoreError(g.closed) && g.closed.code === 'lease_lost') {
        throw new FedscoreError(
          'lease_lost',
          'the stage attempt of this session was opened under a stale lease epoch',
          {
            field: 'fedscore.Envelope.session_id',
          },
        );
      }
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
        { field: 'fedscore.Envelope.protocol_version' },
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

  /**
   * Call `ack` once the grant of `session` has room (at once for a duplicate, a closed grant, or one
   * holding less than `maxQueuedBytes` unread; else when the role has read enough).
   */
  whenRoom(session: string, duplicate: boolean, ack: () => void): void {
    const g = this.#grantOf(session);
    if (g === undefined || duplicate || g.queuedBytes < this.#maxQueuedBytes || g.closed !== undefined) ack();
    else g.roomWaiters.push(ack);
  }

  /** The next admitted envelope from `from` in `session` (fails once its grant is closed). */
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

  #grantOf(session: string): GrantState | undefined {
    for (let k = session; ; ) {
      const g = this.#grants.get(k);
      if (g !== undefined) return g;
      const i = k.lastIndexOf('/');
      if (i <= 0) return undefined;
      k = k.slice(0, i);
    }
  }

  #consumed(g: GrantState, e: Envelope): void {
    g.queuedBytes -= e.payload.length;
    if (g.queuedBytes < this.#maxQueuedBytes) for (const w of g.roomWaiters.splice(0)) w();
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
}
