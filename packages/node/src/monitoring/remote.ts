/**
 * Post-loan monitoring between party nodes, over their gRPC transport (mutual TLS).
 *
 * Government node (`MonitoringEndpoint`, config `monitoring.serve: true`): a standing grant per peer for
 * the sessions `monitor/<bank>/...`, so that a bank can open a session at any time (there is no job to
 * prepare it). The first message of a new session starts its service:
 *   monitor/<bank>/poll/<nonce>             one poll of protocol monitoring.alerts (`MonitoringService`):
 *                                           watchlist changes in, alerts for watched, consenting
 *                                           borrowers out; one audited data use per delivery;
 *   monitor/<bank>/rescore/<job>/<nonce>    one session of scoring.online (@fedscore/scoring) with the
 *                                           government's part of the model trained by <job> (a job whose
 *                                           guest is this bank and which this node published) and its
 *                                           current data; every answered enterprise is checked against
 *                                           its `monitoring` consent and audited (`consentGatedPartialScore`).
 * A bank can only open sessions under its own name (the transport checks the caller's certificate), at
 * most `maxSessionsPerPeer` at a time; a failed session is a `security_event` audit entry.
 *
 * Bank node (`MonitoringClient`, config `monitoring.government`): `watch()` queues watchlist changes
 * (the borrowers it lends to, from `fedscore monitor watch`), `poll()` sends them with the alert cursor
 * and stores the alerts (`AlertInbox`), `rescore()` rescores the alerted borrowers under encryption with
 * a registered model (its own part from the registry, the government's from the job). The node polls
 * every `monitoring.pollSeconds`.
 *
 * What each party learns is the protocols' (docs/governance.md, docs/protocols/online-scoring.md): the
 * government learns the bank's listed borrowers and which of them the bank rescores; the bank learns
 * alert kinds and dates for its consenting borrowers and their joint scores. Logs carry counts only.
 */
import { randomUUID } from 'node:crypto';
import {
  FedscoreError,
  isFedscoreError,
  isValidUscc,
  type Logger,
  noopLogger,
  normalizeUscc,
  type PartyId,
  ProtocolSession,
  type Table,
} from '@fedscore/core';
import { ONLINE_SCORING_PROTOCOL, ONLINE_SCORING_VERSION, OnlineScoringBank } from '@fedscore/scoring';
import { type PartyModel, parsePartyModel, partyPartialScores } from '@fedscore/vfl';
import { type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { ConsentRegistry } from '../consent/index.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { JobSpec } from '../jobs/spec.ts';
import { type BinningCheckpoint, partyFeatures, type TrainCheckpoint } from '../jobs/stages.ts';
import type { ModelRegistry } from '../registry/index.ts';
import {
  DEFAULT_SCORING_POLICY,
  governmentOnlineScoring,
  type ScoringPolicyConfig,
  ScoringQuota,
} from '../scoring-policy/index.ts';
import type { NodeStore, StoreMigrations } from '../store/index.ts';
import type { GrpcTransport } from '../transport/grpc.ts';
import { StandingSessions } from '../transport/standing-sessions.ts';
import {
  AlertInbox,
  CreditEventFeed,
  consentGatedPartialScore,
  MonitoringService,
  type RescoreRecord,
  rescoreAlerted,
} from './monitoring.ts';
import {
  MAX_WATCH_CHANGES,
  MONITORING_PROTOCOL,
  MONITORING_VERSION,
  type MonitorAlerts,
  type WatchAddition,
} from './steps.ts';

/** First segment of every monitoring session id. */
export const MONITOR_SESSION_PREFIX = 'monitor';
const NONCE = '[a-z0-9-]{8,64}';
const JOB = '[a-z0-9][a-z0-9-]{0,62}';

/** The bank's queue of watchlist changes not yet sent to the government (module 'monitoring_watch'). */
export const MONITORING_WATCH_MIGRATIONS: StoreMigrations = {
  module: 'monitoring_watch',
  steps: [
    `CREATE TABLE watch_outbox (
       id INTEGER PRIMARY KEY,
       government TEXT NOT NULL,
       enterprise TEXT NOT NULL,
       until INTEGER,
       queued_at INTEGER NOT NULL
     ) STRICT;`,
    // The bank's own record of each listed borrower's loan end (the console's Alerts page shows it).
    `CREATE TABLE watch_loans (
       government TEXT NOT NULL,
       enterprise TEXT NOT NULL,
       until INTEGER NOT NULL,
       PRIMARY KEY (government, enterprise)
     ) STRICT;`,
  ],
};

/** A party's part of a trained job model and its partial score per enterprise of its current data. */
async function partialScoresOf(
  spec: JobSpec,
  party: PartyId,
  model: PartyModel,
  jobs: JobStore,
  data: (name: string) => Promise<Table>,
): Promise<Map<string, number>> {
  const name = spec.data[party];
  if (name === undefined) {
    throw new FedscoreError('invalid_config', `the job names no dataset for '${party}'`, {
      field: `data.${party}`,
    });
  }
  const table = await data(name);
  const selected = spec.binning.enabled
    ? jobs.requireCheckpoint<BinningCheckpoint>(spec.id, 'binning').selected
    : table.columns.map((c) => c.name);
  const rows = table.ids.map((_, i) => i);
  const f = partyFeatures(table, selected, rows);
  if (f.names.length !== model.featureNames.length || f.names.some((n, j) => n !== model.featureNames[j])) {
    throw new FedscoreError('invalid_state', "the current data no longer has the model's features", {
      field: `data.${name}`,
    });
  }
  const z = partyPartialScores(model, f.columns);
  const out = new Map<string, number>();
  table.ids.forEach((id, i) => {
    out.set(normalizeUscc(id), z[i]!);
  });
  return out;
}

export interface MonitoringEndpointOptions {
  readonly transport: GrpcTransport;
  /** This (government) node's party id. */
  readonly party: PartyId;
  /** The peers allowed to poll (every configured peer; consent decides what each receives). */
  readonly peers: readonly PartyId[];
  readonly store: NodeStore;
  readonly consents: ConsentRegistry;
  readonly audit: AuditLog;
  readonly jobs: JobStore;
  /** This party's dataset by config name, read afresh (rescoring uses current data). */
  readonly data: (name: string) => Promise<Table>;
  /** Concurrent sessions per peer. Default 4. */
  readonly maxSessionsPerPeer?: number;
  /** Online scoring policy and quotas (the config's `scoring`). Default `DEFAULT_SCORING_POLICY`. */
  readonly scoring?: ScoringPolicyConfig;
  readonly logger?: Logger;
}

/** The government node's monitoring service on its transport. */
export class MonitoringEndpoint {
  readonly feed: CreditEventFeed;
  readonly service: MonitoringService;
  /** Per-(bank, enterprise) online scoring counters (persisted in the store). */
  readonly quota: ScoringQuota;
  readonly #o: MonitoringEndpointOptions;
  readonly #logger: Logger;
  readonly #sessions: StandingSessions<{ readonly rescoreJob?: string }>;

  constructor(options: MonitoringEndpointOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'monitoring' });
    this.feed = new CreditEventFeed(options.store);
    this.quota = new ScoringQuota(options.store, options.scoring ?? DEFAULT_SCORING_POLICY);
    this.service = new MonitoringService({
      store: options.store,
      consents: options.consents,
      audit: options.audit,
      party: options.party,
      logger: this.#logger,
    });
    const poll = new RegExp(`^poll/${NONCE}$`);
    const rescore = new RegExp(`^rescore/(${JOB})/${NONCE}$`);
    this.#sessions = new StandingSessions({
      transport: options.transport,
      party: options.party,
      peers: options.peers,
      prefix: MONITOR_SESSION_PREFIX,
      protocols: {
        [MONITORING_PROTOCOL]: MONITORING_VERSION,
        [ONLINE_SCORING_PROTOCOL]: ONLINE_SCORING_VERSION,
      },
      name: 'monitoring',
      maxSessionsPerPeer: options.maxSessionsPerPeer ?? 4,
      parse: (rest) => {
        if (poll.test(rest)) return {};
        const job = rescore.exec(rest)?.[1];
        return job === undefined ? undefined : { rescoreJob: job };
      },
      serve: (session, bank, { rescoreJob }) =>
        rescoreJob === undefined ? this.#poll(session, bank) : this.#rescore(session, bank, rescoreJob),
      onFailure: (session, bank, e, { rescoreJob }) => {
        const code = isFedscoreError(e) ? e.code : 'internal';
        const field = isFedscoreError(e) ? e.field : undefined;
        this.#logger.warn('monitoring session failed', { peer: bank, code, field });
        this.#o.audit.append({
          kind: 'security_event',
          actor: bank,
          details: {
            rpc: rescoreJob === undefined ? 'monitor.poll' : 'monitor.rescore',
            code,
            session,
            ...(field !== undefined && { field }),
          },
        });
      },
    });
  }

  /** Sessions being served now. */
  get activeSessions(): number {
    return this.#sessions.activeSessions;
  }

  /** Wait for the sessions in progress (the node calls this when it stops). */
  drain(): Promise<void> {
    return this.#sessions.drain();
  }

  async #poll(session: string, bank: PartyId): Promise<void> {
    const s = new ProtocolSession(this.#o.transport.channel(), {
      protocol: MONITORING_PROTOCOL,
      version: MONITORING_VERSION,
      session,
    });
    await this.service.serve(s, bank);
  }

  async #rescore(session: string, bank: PartyId, jobId: string): Promise<void> {
    const { jobs, party } = this.#o;
    const job = jobs.get(jobId);
    if (job === undefined || job.spec.guest !== bank || !job.spec.hosts.includes(party)) {
      throw new FedscoreError('not_found', `no model of job '${jobId}' shared with ${bank}`, {
        field: 'job',
      });
    }
    if (job.status !== 'done') {
      throw new FedscoreError('invalid_state', `job '${jobId}' is ${job.status}, not done`, { field: 'job' });
    }
    const model = jobs.requireCheckpoint<TrainCheckpoint>(jobId, 'train').model;
    if (model === undefined)
      throw new FedscoreError('job_state', 'no model in the train checkpoint', { field: 'train' });
    const partials = await partialScoresOf(job.spec, party, model, jobs, this.#o.data);
    const gated = consentGatedPartialScore({
      consents: this.#o.consents,
      audit: this.#o.audit,
      party,
      grantee: bank,
      purpose: 'monitoring',
      job: session,
      partialScoreOf: (e) => partials.get(normalizeUscc(e)),
    });
    const gov = governmentOnlineScoring({
      policy: this.#o.scoring ?? DEFAULT_SCORING_POLICY,
      quota: this.quota,
      audit: this.#o.audit,
      party,
      grantee: bank,
      session,
      partialScoreOf: gated.partialScoreOf,
    });
    try {
      const s = new ProtocolSession(this.#o.transport.channel(), {
        protocol: ONLINE_SCORING_PROTOCOL,
        version: ONLINE_SCORING_VERSION,
        session,
      });
      const r = await gov.serve(s, bank);
      this.#logger.info('rescoring served', {
        peer: bank,
        requests: r.requests,
        refused: gated.refused(),
        policyOrQuotaRefused: r.refused,
      });
    } finally {
      gov.dispose();
    }
  }
}

export interface MonitoringClientOptions {
  readonly transport: GrpcTransport;
  /** This (bank) node's party id. */
  readonly party: PartyId;
  /** The government node it polls. */
  readonly government: PartyId;
  readonly store: NodeStore;
  readonly audit: AuditLog;
  readonly jobs: JobStore;
  readonly models: ModelRegistry;
  /** This party's dataset by config name, read afresh. */
  readonly data: (name: string) => Promise<Table>;
  /** Longest wait for the government's reply in one session (ms). Default 120 000. */
  readonly deadlineMs?: number;
  /**
   * Rescore in band mode against these thresholds (the config's `monitoring.rescoreThresholds`);
   * without them, exact mode, which a government serves only if its policy allows it.
   */
  readonly rescoreThresholds?: readonly number[];
  readonly logger?: Logger;
}

/** The bank node's side: watchlist changes, polls and encrypted rescoring over the transport. */
export class MonitoringClient {
  readonly inbox: AlertInbox;
  readonly government: PartyId;
  readonly #o: MonitoringClientOptions;
  readonly #logger: Logger;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: MonitoringClientOptions) {
    this.#o = options;
    this.government = options.government;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'monitoring' });
    this.inbox = new AlertInbox(options.store, {
      audit: options.audit,
      party: options.party,
      logger: this.#logger,
    });
    options.store.migrate(MONITORING_WATCH_MIGRATIONS);
  }

  /** Queue watchlist changes for the next poll (the node's store; `fedscore monitor watch` writes here). */
  watch(changes: { add?: readonly WatchAddition[]; remove?: readonly string[] }): number {
    return queueWatchChanges(this.#o.store, this.government, changes);
  }

  /** Poll the government until no more alerts are waiting; send the queued watchlist changes first. */
  poll(): Promise<{ alerts: number; stored: number; accepted: number; refused: number }> {
    return this.#exclusive(async () => {
      const { store } = this.#o;
      const queued = store.all<{ id: number; enterprise: string; until: number | null }>(
        'SELECT id, enterprise, until FROM watch_outbox WHERE government = ? ORDER BY id LIMIT ?',
        this.government,
        MAX_WATCH_CHANGES,
      );
      const add = queued
        .filter((q) => q.until !== null)
        .map((q) => ({ enterprise: q.enterprise, until: q.until! }));
      const remove = queued.filter((q) => q.until === null).map((q) => q.enterprise);
      let totals = { alerts: 0, stored: 0, accepted: 0, refused: 0 };
      for (let first = true; ; first = false) {
        const reply: { reply: MonitorAlerts; stored: number } = await this.#session('poll', (s) =>
          this.inbox.poll(s, this.government, first ? { add, remove } : {}),
        );
        if (first && queued.length > 0) {
          store.run(
            'DELETE FROM watch_outbox WHERE government = ? AND id <= ?',
            this.government,
            queued.at(-1)!.id,
          );
        }
        const r = reply.reply;
        totals = {
          alerts: totals.alerts + r.alerts.length,
          stored: totals.stored + reply.stored,
          accepted: totals.accepted + r.watchAccepted,
          refused: totals.refused + Object.values(r.watchRefused).reduce((a, b) => a + b, 0),
        };
        if (!r.more) break;
      }
      this.#logger.info('monitoring poll done', totals);
      return totals;
    });
  }

  /**
   * Rescore every alerted borrower not yet rescored, under encryption, with a registered model (`ref`,
   * e.g. `sme-credit-line@production`) trained by a job with this government.
   */
  rescore(
    ref: string,
  ): Promise<{ rescored: RescoreRecord[]; skipped: number; notFound: number; refused: number }> {
    return this.#exclusive(async () => {
      const { models, jobs, party } = this.#o;
      const version = models.get(ref);
      const jobId = version.lineage.job;
      const artifact = models.artifacts(version.ref).artifact;
      if (jobId === undefined || artifact === undefined) {
        throw new FedscoreError('invalid_state', `${version.ref} has no training job or own model part`, {
          field: 'ref',
        });
      }
      const job = jobs.require(jobId);
      if (!job.spec.hosts.includes(this.government) || job.spec.guest !== party) {
        throw new FedscoreError(
          'invalid_argument',
          `${version.ref} was not trained with ${this.government}`,
          {
            field: 'ref',
          },
        );
      }
      const partials = await partialScoresOf(job.spec, party, parsePartyModel(artifact), jobs, this.#o.data);
      const thresholds = this.#o.rescoreThresholds;
      const scorer = await OnlineScoringBank.create({
        mode: thresholds === undefined ? 'exact' : 'band',
        ...(thresholds !== undefined && { thresholds }),
        logger: this.#logger,
      });
      try {
        const out = await this.#session(
          `rescore/${jobId}`,
          async (s) => {
            const r = await rescoreAlerted({
              inbox: this.inbox,
              scorer,
              session: s,
              government: this.government,
              modelId: version.modelId,
              bankPartialOf: (e) => partials.get(normalizeUscc(e)),
            });
            // The same entries as the government's per answered enterprise, so that it can reconcile.
            for (const x of r.rescored) {
              if (!x.found) continue;
              this.#o.audit.append({
                kind: 'data_use',
                actor: party,
                dataOwner: this.government,
                purpose: 'monitoring',
                enterpriseFingerprint: enterpriseSetFingerprint([x.enterprise]),
                enterpriseCount: 1,
                job: s.spec.session,
                details: { rescoreModel: version.ref },
              });
            }
            return r;
          },
          ONLINE_SCORING_PROTOCOL,
          ONLINE_SCORING_VERSION,
        );
        this.#logger.info('rescoring done', {
          rescored: out.rescored.length,
          skipped: out.skipped,
          notFound: out.notFound,
          refused: out.refused,
        });
        return out;
      } finally {
        scorer.dispose();
      }
    });
  }

  /** One session with the government: granted here for its length, revoked after (or at the deadline). */
  async #session<T>(
    kind: string,
    fn: (s: ProtocolSession) => Promise<T>,
    protocol = MONITORING_PROTOCOL,
    version = MONITORING_VERSION,
  ): Promise<T> {
    const { transport, party } = this.#o;
    const session = `${MONITOR_SESSION_PREFIX}/${party}/${kind}/${randomUUID()}`;
    transport.grant({ key: session, parties: [party, this.government], protocols: { [protocol]: version } });
    const deadline = setTimeout(
      () => transport.revoke(session, new FedscoreError('timeout', 'the government did not answer in time')),
      this.#o.deadlineMs ?? 120_000,
    );
    try {
      return await fn(new ProtocolSession(transport.channel(), { protocol, version, session }));
    } finally {
      clearTimeout(deadline);
      transport.revoke(session, new Error('monitoring session done'));
    }
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#busy.catch(() => {}).then(fn);
    this.#busy = next;
    return next;
  }
}

/** Queue watchlist changes of a bank's store for its next poll of `government`; returns how many. */
export function queueWatchChanges(
  store: NodeStore,
  government: PartyId,
  changes: { add?: readonly WatchAddition[]; remove?: readonly string[] },
): number {
  store.migrate(MONITORING_WATCH_MIGRATIONS);
  const add = changes.add ?? [];
  const remove = changes.remove ?? [];
  return store.transaction(() => {
    const now = Date.now();
    add.forEach((a, i) => {
      const id = normalizeUscc(typeof a?.enterprise === 'string' ? a.enterprise : '');
      if (!isValidUscc(id)) {
        throw new FedscoreError('invalid_uscc', 'not a valid Unified Social Credit Code', {
          field: `add[${i}].enterprise`,
        });
      }
      if (!Number.isSafeInteger(a.until) || a.until <= 0) {
        throw new FedscoreError('invalid_argument', 'expected the loan end in ms since the epoch', {
          field: `add[${i}].until`,
        });
      }
      store.run(
        'INSERT INTO watch_outbox (government, enterprise, until, queued_at) VALUES (?, ?, ?, ?)',
        government,
        id,
        a.until,
        now,
      );
      store.run(
        `INSERT INTO watch_loans (government, enterprise, until) VALUES (?, ?, ?)
         ON CONFLICT (government, enterprise) DO UPDATE SET until = excluded.until`,
        government,
        id,
        a.until,
      );
    });
    remove.forEach((e, i) => {
      const id = normalizeUscc(typeof e === 'string' ? e : '');
      if (!isValidUscc(id)) {
        throw new FedscoreError('invalid_uscc', 'not a valid Unified Social Credit Code', {
          field: `remove[${i}]`,
        });
      }
      store.run(
        'INSERT INTO watch_outbox (government, enterprise, until, queued_at) VALUES (?, ?, NULL, ?)',
        government,
        id,
        now,
      );
      store.run('DELETE FROM watch_loans WHERE government = ? AND enterprise = ?', government, id);
    });
    return add.length + remove.length;
  });
}
