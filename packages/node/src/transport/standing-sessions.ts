/**
 * A standing service on the transport: sessions a peer may open at any time, with no job to prepare
 * them (the government's online scoring, `scoring/government.ts`; post-loan monitoring,
 * `monitoring/remote.ts`). One grant per peer covers the sessions `<prefix>/<peer>/...`; the transport's
 * admission (grpc/admission.ts) calls back on the first message of a new one, and this class decides
 * whether it may start:
 *   - the session id must be one the service names (`parse` of what follows `<prefix>/<peer>/`), else
 *     `wire_decode` (a bank can only open sessions under its own name: the transport checks the caller's
 *     certificate against `<peer>`);
 *   - at most `maxSessionsPerPeer` open at a time per peer, else `invalid_state`.
 * Both refusals are thrown back into admission, so the message is refused (typed, audited) and not
 * queued. A service whose sessions span several of its peers (the tree-model scoring of a model of
 * several hosts: host j passes its product to host j + 1 in the bank's session) names `relays`: such a
 * peer may send into a session another peer opened while that session is being served here, never open
 * one (its first message in a session not open here is refused, `job_state`); the role reads from it
 * only where its protocol says (the previous host named in the layout). An admitted session runs `serve`; a failure of it goes to `onFailure` (the service audits it),
 * and whatever the outcome the session's queues are dropped (`endSession`; its sequence state stays, so
 * a replay is still refused) and the peer's count goes down.
 */
import { FedscoreError, type PartyId } from '@fedscore/core';
import type { SessionGrant } from './grpc/admission.ts';

/** A standing service's sessions: who may open them, how they are named, and how each is served. */
export interface StandingSessionsOptions<T> {
  /** Where the per-peer grants go (a `GrpcTransport`). */
  readonly transport: {
    grant(g: SessionGrant): void;
    endSession(session: string): void;
  };
  /** This node's party id. */
  readonly party: PartyId;
  /** The peers that may open sessions. */
  readonly peers: readonly PartyId[];
  /** First segment of every session id of the service. */
  readonly prefix: string;
  /** Protocol name to the version the service speaks. */
  readonly protocols: Readonly<Record<string, number>>;
  /** What the service is called in refusals ("not a <name> session id"). */
  readonly name: string;
  /**
   * Peers that may send into an open session of another peer (never open one): the service's role
   * decides whom it reads from. Default none.
   */
  readonly relays?: readonly PartyId[];
  /** Sessions one peer may have open at a time. */
  readonly maxSessionsPerPeer: number;
  /** What a session id says after `<prefix>/<peer>/`; undefined when it is none of the service's. */
  readonly parse: (rest: string) => T | undefined;
  /** Serve one admitted session until it ends. */
  readonly serve: (session: string, peer: PartyId, parsed: T) => Promise<void>;
  /** A session that failed (never throws; the service logs and audits). */
  readonly onFailure: (session: string, peer: PartyId, error: unknown, parsed: T) => void;
}

/** The sessions of one standing service (module comment). */
export class StandingSessions<T> {
  readonly #o: StandingSessionsOptions<T>;
  readonly #active = new Map<PartyId, number>();
  readonly #running = new Set<Promise<void>>();
  /** Session ids being served now. */
  readonly #serving = new Set<string>();

  constructor(options: StandingSessionsOptions<T>) {
    this.#o = options;
    const relays = options.relays ?? [];
    for (const peer of options.peers) {
      options.transport.grant({
        key: `${options.prefix}/${peer}`,
        parties: [options.party, peer, ...relays.filter((r) => r !== peer && r !== options.party)],
        protocols: options.protocols,
        onSession: (session, from) => {
          if (from === peer) this.#open(session, peer);
          else this.#relay(session, from);
        },
      });
    }
  }

  /** Sessions being served now. */
  get activeSessions(): number {
    let n = 0;
    for (const v of this.#active.values()) n += v;
    return n;
  }

  /** Wait for the sessions in progress (the node calls this when it stops, after closing its transport). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }

  /** A relay's first message in `session`: admitted only while the session is served here. */
  #relay(session: string, from: PartyId): void {
    if (!(this.#o.relays ?? []).includes(from) || !this.#serving.has(session)) {
      throw new FedscoreError(
        'job_state',
        `'${from}' may not open a ${this.#o.name} session of another peer`,
        {
          field: 'fedscore.Envelope.sender',
        },
      );
    }
  }

  #open(session: string, peer: PartyId): void {
    const prefix = `${this.#o.prefix}/${peer}/`;
    const parsed = session.startsWith(prefix) ? this.#o.parse(session.slice(prefix.length)) : undefined;
    if (parsed === undefined) {
      throw new FedscoreError('wire_decode', `not a ${this.#o.name} session id`, {
        field: 'fedscore.Envelope.session_id',
      });
    }
    const active = this.#active.get(peer) ?? 0;
    if (active >= this.#o.maxSessionsPerPeer) {
      throw new FedscoreError('invalid_state', `${peer} has ${active} ${this.#o.name} sessions open`, {
        field: 'fedscore.Envelope.session_id',
      });
    }
    this.#active.set(peer, active + 1);
    this.#serving.add(session);
    const work = this.#o.serve(session, peer, parsed).then(
      () => {},
      (e: unknown) => this.#o.onFailure(session, peer, e, parsed),
    );
    const tracked = work.finally(() => {
      this.#serving.delete(session);
      this.#active.set(peer, (this.#active.get(peer) ?? 1) - 1);
      this.#o.transport.endSession(session);
      this.#running.delete(tracked);
    });
    this.#running.add(tracked);
  }
}
