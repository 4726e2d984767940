/**
 * The feature catalogue between party nodes, over their gRPC transport (mutual TLS): protocol
 * "catalogue.profiles" (steps.ts) carrying published feature profiles (profile.ts).
 *
 * Every node (`CatalogueService`) keeps a standing grant per peer for the sessions
 * `catalogue/<peer>/publish/<nonce>`, so a peer can publish at any time: the node receives the profile
 * (validated with zod; its `party` must be the caller), stores it (`FeatureCatalogue`, module
 * 'feature_catalogue' of the node's store, SQLite or PostgreSQL), writes a `catalogue_change` audit entry
 * and answers -- a node that keeps the catalogue (`catalogue.serve`, by default the platform/government
 * node) with every profile it holds of parties other than the publisher, its own among them; another node
 * with an empty catalogue. `publish()` computes this node's own profile, refuses a dataset below the
 * floor (`privacy_floor`), sends it to each target peer, stores the catalogue each answers with, and
 * audits every publication. A failed receipt is a `security_event` entry; the process stays up.
 */
import { randomUUID } from 'node:crypto';
import {
  FedscoreError,
  isFedscoreError,
  type Logger,
  noopLogger,
  type PartyId,
  ProtocolSession,
} from '@fedscore/core';
import type { AuditLog } from '../audit/index.ts';
import type { NodeStore, StoreMigrations } from '../store/index.ts';
import type { GrpcTransport } from '../transport/grpc.ts';
import { StandingSessions } from '../transport/standing-sessions.ts';
import type { FeatureProfileSet, PublishedDataset, PublishedFeature } from './profile.ts';
import { CATALOGUE_PROTOCOL, CATALOGUE_VERSION, FEATURE_CATALOGUE, FEATURE_PROFILES } from './steps.ts';

/** First segment of every catalogue session id. */
export const CATALOGUE_SESSION_PREFIX = 'catalogue';
const NONCE = '[a-z0-9-]{8,64}';

/** The profiles this node holds, one row per (owner, dataset) (module 'feature_catalogue'). */
export const CATALOGUE_MIGRATIONS: StoreMigrations = {
  module: 'feature_catalogue',
  steps: [
    `CREATE TABLE feature_profiles (
       owner TEXT NOT NULL,
       dataset TEXT NOT NULL,
       received_from TEXT NOT NULL,
       published_at INTEGER NOT NULL,
       received_at INTEGER NOT NULL,
       rows_rounded INTEGER NOT NULL,
       rate_step_bp INTEGER NOT NULL,
       features TEXT NOT NULL,
       PRIMARY KEY (owner, dataset)
     ) STRICT;`,
    // Publications asked for from outside the running node (`fedscore datasets publish-profile`); the node
    // takes them within a second. `peers`: a JSON list, or NULL for the node's default targets.
    `CREATE TABLE catalogue_requests (
       id INTEGER PRIMARY KEY,
       requested_at INTEGER NOT NULL,
       requested_by TEXT NOT NULL,
       peers TEXT
     ) STRICT;`,
  ],
};

/** One dataset's profile as this node holds it: who owns it, who sent it and when. */
export interface StoredProfile extends PublishedDataset {
  readonly owner: string;
  /** The peer it came from: the owner itself, or the platform node that relayed it (this node: its own). */
  readonly receivedFrom: string;
  readonly publishedAt: number;
  readonly receivedAt: number;
}

/** The stored profiles (module comment): a newer publication of an owner replaces all of its datasets. */
export class FeatureCatalogue {
  readonly #store: NodeStore;

  constructor(store: NodeStore) {
    this.#store = store;
    store.migrate(CATALOGUE_MIGRATIONS);
  }

  /**
   * Keep `profile` as received from `from` at `receivedAt`, unless an equally new or newer one of the
   * same owner is held (a stale relay never rolls a catalogue back). Returns whether it was kept.
   */
  save(profile: FeatureProfileSet, from: string, receivedAt: number = Date.now()): boolean {
    return this.#store.transaction(() => {
      const held = this.#store.get<{ at: number | null }>(
        'SELECT max(published_at) AS at FROM feature_profiles WHERE owner = ?',
        profile.party,
      );
      if (held?.at != null && held.at > profile.publishedAt) return false;
      this.#store.run('DELETE FROM feature_profiles WHERE owner = ?', profile.party);
      for (const d of profile.datasets) {
        this.#store.run(
          `INSERT INTO feature_profiles
             (owner, dataset, received_from, published_at, received_at, rows_rounded, rate_step_bp, features)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          profile.party,
          d.dataset,
          from,
          profile.publishedAt,
          receivedAt,
          d.rows,
          d.rateStepBp,
          JSON.stringify(d.features),
        );
      }
      return true;
    });
  }

  /** Ask the running node to publish (to `peers`, default its targets); it takes the request within a second. */
  requestPublication(by: string, peers?: readonly string[]): void {
    this.#store.run(
      'INSERT INTO catalogue_requests (requested_at, requested_by, peers) VALUES (?, ?, ?)',
      Date.now(),
      by,
      peers === undefined ? null : JSON.stringify(peers),
    );
  }

  /**
   * Take every pending request (they are deleted): the peers to publish to, `null` for the node's default
   * targets, or undefined when none is pending.
   */
  takeRequests(): readonly string[] | null | undefined {
    // A read first: the write lock is taken only when a request is pending (the node asks every second).
    if (this.#store.get('SELECT id FROM catalogue_requests LIMIT 1') === undefined) return undefined;
    return this.#store.transaction(() => {
      const rows = this.#store.all<{ id: number; peers: string | null }>(
        'SELECT id, peers FROM catalogue_requests ORDER BY id',
      );
      if (rows.length === 0) return undefined;
      this.#store.run('DELETE FROM catalogue_requests WHERE id <= ?', rows.at(-1)!.id);
      if (rows.some((r) => r.peers === null)) return null;
      return [...new Set(rows.flatMap((r) => JSON.parse(r.peers!) as string[]))];
    });
  }

  /** Every stored dataset profile, by owner then dataset. */
  list(): StoredProfile[] {
    return this.#store
      .all<{
        owner: string;
        dataset: string;
        received_from: string;
        published_at: number;
        received_at: number;
        rows_rounded: number;
        rate_step_bp: number;
        features: string;
      }>('SELECT * FROM feature_profiles ORDER BY owner, dataset')
      .map((r) => ({
        owner: r.owner,
        dataset: r.dataset,
        receivedFrom: r.received_from,
        publishedAt: r.published_at,
        receivedAt: r.received_at,
        rows: r.rows_rounded,
        rateStepBp: r.rate_step_bp,
        features: JSON.parse(r.features) as PublishedFeature[],
      }));
  }

  /** The profiles of every owner but `except`, as published (what a catalogue reply carries). */
  profiles(except?: string): FeatureProfileSet[] {
    const byOwner = new Map<string, { publishedAt: number; datasets: PublishedDataset[] }>();
    for (const p of this.list()) {
      if (p.owner === except) continue;
      let o = byOwner.get(p.owner);
      if (o === undefined) {
        o = { publishedAt: p.publishedAt, datasets: [] };
        byOwner.set(p.owner, o);
      }
      o.datasets.push({ dataset: p.dataset, rows: p.rows, rateStepBp: p.rateStepBp, features: p.features });
    }
    return [...byOwner].map(([party, o]) => ({ party, publishedAt: o.publishedAt, datasets: o.datasets }));
  }
}

export interface CatalogueServiceOptions {
  readonly transport: GrpcTransport;
  readonly party: PartyId;
  /** The peers that may publish to this node, and the default targets of `publish()`. */
  readonly peers: readonly PartyId[];
  readonly store: NodeStore;
  readonly audit: AuditLog;
  /** Answer a publisher with the other parties' profiles (the platform node's catalogue). */
  readonly serve: boolean;
  /** This node's own profile, computed afresh (throws `privacy_floor` for a dataset below the floor). */
  readonly profile: () => Promise<FeatureProfileSet>;
  /** Longest wait for a peer's reply (ms). Default 60 000. */
  readonly deadlineMs?: number;
  readonly logger?: Logger;
}

/** What one publication to one peer did. */
export interface PublicationResult {
  readonly peer: PartyId;
  /** Profiles of other parties the peer answered with (and this node kept). */
  readonly received: number;
  /** The typed error of a failed publication (the others go on). */
  readonly error?: { readonly code: string; readonly field?: string };
}

/** A node's side of the catalogue: receives peers' profiles and publishes its own (module comment). */
export class CatalogueService {
  readonly catalogue: FeatureCatalogue;
  readonly #o: CatalogueServiceOptions;
  readonly #logger: Logger;
  readonly #sessions: StandingSessions<true>;

  constructor(options: CatalogueServiceOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'catalogue' });
    this.catalogue = new FeatureCatalogue(options.store);
    const publish = new RegExp(`^publish/${NONCE}$`);
    this.#sessions = new StandingSessions<true>({
      transport: options.transport,
      party: options.party,
      peers: options.peers,
      prefix: CATALOGUE_SESSION_PREFIX,
      protocols: { [CATALOGUE_PROTOCOL]: CATALOGUE_VERSION },
      name: 'catalogue',
      maxSessionsPerPeer: 2,
      parse: (rest) => (publish.test(rest) ? true : undefined),
      serve: (session, peer) => this.#receive(session, peer),
      onFailure: (session, peer, e) => {
        const code = isFedscoreError(e) ? e.code : 'internal';
        const field = isFedscoreError(e) ? e.field : undefined;
        this.#logger.warn('feature profile refused', { peer, code, field });
        options.audit.append({
          kind: 'security_event',
          actor: peer,
          details: { rpc: 'catalogue.publish', code, session, ...(field !== undefined && { field }) },
        });
      },
    });
  }

  /** Wait for the sessions in progress (the node calls this when it stops). */
  drain(): Promise<void> {
    return this.#sessions.drain();
  }

  async #receive(session: string, peer: PartyId): Promise<void> {
    const { transport, audit, party } = this.#o;
    const s = new ProtocolSession(transport.channel(), {
      protocol: CATALOGUE_PROTOCOL,
      version: CATALOGUE_VERSION,
      session,
    });
    const profile = await s.receive(peer, FEATURE_PROFILES);
    if (profile.party !== peer) {
      throw new FedscoreError('wire_decode', `a profile of '${profile.party}' published by '${peer}'`, {
        field: 'profile.party',
      });
    }
    const kept = this.catalogue.save(profile, peer);
    audit.append({
      kind: 'catalogue_change',
      actor: peer,
      dataOwner: peer,
      details: {
        action: 'received',
        peer,
        datasets: profile.datasets.length,
        features: profile.datasets.reduce((n, d) => n + d.features.length, 0),
        kept,
        session,
      },
    });
    await s.send(peer, FEATURE_CATALOGUE, this.#o.serve ? this.catalogue.profiles(peer) : []);
    this.#logger.info('feature profile received', { peer, datasets: profile.datasets.length, party });
  }

  /**
   * Publish this node's profile to `to` (default: every peer) and keep the catalogue each answers with.
   * A dataset below the floor refuses the whole publication (`privacy_floor`, naming `data.<name>`,
   * before anything is sent); a peer that fails is reported in its result and the others go on.
   */
  async publish(to: readonly PartyId[] = this.#o.peers): Promise<PublicationResult[]> {
    const { audit, party } = this.#o;
    for (const peer of to) {
      if (!this.#o.peers.includes(peer)) {
        throw new FedscoreError('invalid_argument', `'${peer}' is not a configured peer`, { field: 'to' });
      }
    }
    const profile = await this.#o.profile();
    this.catalogue.save(profile, party);
    const out: PublicationResult[] = [];
    for (const peer of to) {
      try {
        const catalogue = await this.#session(peer, async (s) => {
          await s.send(peer, FEATURE_PROFILES, profile);
          return s.receive(peer, FEATURE_CATALOGUE);
        });
        let received = 0;
        // A relayed profile of this node itself is never taken: this node knows its own.
        for (const p of catalogue) if (p.party !== party && this.catalogue.save(p, peer)) received++;
        audit.append({
          kind: 'catalogue_change',
          actor: party,
          dataOwner: party,
          details: {
            action: 'published',
            peer,
            datasets: profile.datasets.length,
            features: profile.datasets.reduce((n, d) => n + d.features.length, 0),
            receivedProfiles: received,
          },
        });
        out.push({ peer, received });
      } catch (e) {
        const code = isFedscoreError(e) ? e.code : 'internal';
        const field = isFedscoreError(e) ? e.field : undefined;
        this.#logger.warn('feature profile not published', { peer, code, field });
        audit.append({
          kind: 'security_event',
          actor: peer,
          details: { rpc: 'catalogue.publish', code, ...(field !== undefined && { field }) },
        });
        out.push({ peer, received: 0, error: { code, ...(field !== undefined && { field }) } });
      }
    }
    return out;
  }

  async #session<T>(peer: PartyId, fn: (s: ProtocolSession) => Promise<T>): Promise<T> {
    const { transport, party } = this.#o;
    const session = `${CATALOGUE_SESSION_PREFIX}/${party}/publish/${randomUUID()}`;
    transport.grant({
      key: session,
      parties: [party, peer],
      protocols: { [CATALOGUE_PROTOCOL]: CATALOGUE_VERSION },
    });
    const deadline = setTimeout(
      () => transport.revoke(session, new FedscoreError('timeout', `${peer} did not answer in time`)),
      this.#o.deadlineMs ?? 60_000,
    );
    try {
      return await fn(
        new ProtocolSession(transport.channel(), {
          protocol: CATALOGUE_PROTOCOL,
          version: CATALOGUE_VERSION,
          session,
        }),
      );
    } finally {
      clearTimeout(deadline);
      transport.revoke(session, new Error('catalogue session done'));
    }
  }
}
