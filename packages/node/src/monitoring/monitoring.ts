/**
 * Post-loan monitoring (protocol in steps.ts).
 *
 * Government node:
 *   - `CreditEventFeed` records public-credit change events as they arrive from the courts, tax bureau
 *     and regulators (numbered in arrival order; the number is the delivery cursor).
 *   - `MonitoringService` keeps each bank's watchlist (only enterprises with a valid `monitoring`
 *     consent for that bank), and answers a bank's poll with the events after its cursor for enterprises
 *     still watched, still consenting at delivery time, and whose loan has not ended. Each delivery is a
 *     `data_use` audit entry (purpose monitoring, the fingerprint of the alerted set).
 *   - `consentGatedPartialScore` wraps the government's partial-score lookup for the encrypted online
 *     scoring protocol (@fedscore/scoring) so that a rescoring request for an enterprise without a valid
 *     consent gets "no record", and every answered request is an audited data use.
 * Bank node:
 *   - `AlertInbox` polls the government (one round trip), stores new alerts and the cursor in one
 *     transaction (a crash before the commit re-fetches the same alerts: delivery is idempotent), and
 *     records the rescoring results.
 *   - `rescoreAlerted` rescores every enterprise with a new alert through `OnlineScoringBank` (the joint
 *     score under CKKS, with the government's partial computed from its current data).
 * Logs carry counts only; scores are stored in the bank's own store and never logged.
 */
import {
  FedscoreError,
  isFedscoreError,
  isValidUscc,
  type Logger,
  noopLogger,
  normalizeUscc,
  type ProtocolSession,
} from '@fedscore/core';
import type { OnlineScore, OnlineScoringBank } from '@fedscore/scoring';
import { type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { ConsentPurpose, ConsentRegistry } from '../consent/index.ts';
import type { NodeStore, StoreMigrations } from '../store/index.ts';
import {
  type Alert,
  CREDIT_EVENT_KINDS,
  CREDIT_EVENT_SEVERITY,
  type CreditEventKind,
  MAX_ALERTS_PER_REPLY,
  MONITOR_ALERTS,
  MONITOR_REQUEST,
  type MonitorAlerts,
  type MonitorRequest,
  type WatchAddition,
  type WatchRefusals,
} from './steps.ts';

export const MONITORING_GOV_MIGRATIONS: StoreMigrations = {
  module: 'monitoring_gov',
  steps: [
    `CREATE TABLE credit_events (
       seq INTEGER PRIMARY KEY,
       enterprise TEXT NOT NULL,
       kind TEXT NOT NULL,
       occurred_at INTEGER NOT NULL,
       recorded_at INTEGER NOT NULL,
       reference TEXT
     ) STRICT;
     CREATE INDEX credit_events_enterprise ON credit_events (enterprise, seq);
     CREATE TABLE watchlist (
       bank TEXT NOT NULL,
       enterprise TEXT NOT NULL,
       since INTEGER NOT NULL,
       until INTEGER NOT NULL,
       PRIMARY KEY (bank, enterprise)
     ) STRICT;`,
  ],
};

export const MONITORING_BANK_MIGRATIONS: StoreMigrations = {
  module: 'monitoring_bank',
  steps: [
    `CREATE TABLE alerts (
       government TEXT NOT NULL,
       seq INTEGER NOT NULL,
       enterprise TEXT NOT NULL,
       kind TEXT NOT NULL,
       severity TEXT NOT NULL,
       occurred_at INTEGER NOT NULL,
       received_at INTEGER NOT NULL,
       status TEXT NOT NULL DEFAULT 'new',
       PRIMARY KEY (government, seq)
     ) STRICT;
     CREATE INDEX alerts_status ON alerts (status, enterprise);
     CREATE TABLE monitor_cursor (
       government TEXT PRIMARY KEY,
       through_seq INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE rescores (
       id INTEGER PRIMARY KEY,
       government TEXT NOT NULL,
       enterprise TEXT NOT NULL,
       at INTEGER NOT NULL,
       model_id TEXT NOT NULL,
       found INTEGER NOT NULL,
       score REAL,
       threshold_index INTEGER
     ) STRICT;
     CREATE INDEX rescores_enterprise ON rescores (enterprise, at);`,
  ],
};

export interface CreditEventInput {
  readonly enterprise: string;
  readonly kind: CreditEventKind;
  readonly occurredAt: number;
  /** The source's own reference (case number, notice id); kept on the government node only. */
  readonly reference?: string;
}

export interface CreditEvent extends CreditEventInput {
  readonly seq: number;
  readonly recordedAt: number;
}

/** The government's log of public-credit change events. */
export class CreditEventFeed {
  readonly store: NodeStore;
  readonly #now: () => number;

  constructor(store: NodeStore, options: { now?: () => number } = {}) {
    this.store = store;
    this.#now = options.now ?? Date.now;
    store.migrate(MONITORING_GOV_MIGRATIONS);
  }

  record(event: CreditEventInput, field = 'event'): CreditEvent {
    const enterprise = normalizeUscc(typeof event?.enterprise === 'string' ? event.enterprise : '');
    if (!isValidUscc(enterprise)) {
      throw new FedscoreError('invalid_uscc', 'not a valid Unified Social Credit Code', {
        field: `${field}.enterprise`,
      });
    }
    if (!(CREDIT_EVENT_KINDS as readonly string[]).includes(event.kind)) {
      throw new FedscoreError('invalid_argument', `expected one of ${CREDIT_EVENT_KINDS.join(', ')}`, {
        field: `${field}.kind`,
      });
    }
    if (!Number.isSafeInteger(event.occurredAt) || event.occurredAt < 0) {
      throw new FedscoreError('invalid_argument', 'expected a time in milliseconds since the epoch', {
        field: `${field}.occurredAt`,
      });
    }
    if (
      event.reference !== undefined &&
      (typeof event.reference !== 'string' || event.reference.length > 256)
    ) {
      throw new FedscoreError('invalid_argument', 'expected a reference of at most 256 characters', {
        field: `${field}.reference`,
      });
    }
    const recordedAt = this.#now();
    const r = this.store.run(
      'INSERT INTO credit_events (enterprise, kind, occurred_at, recorded_at, reference) VALUES (?, ?, ?, ?, ?)',
      enterprise,
      event.kind,
      event.occurredAt,
      recordedAt,
      event.reference ?? null,
    );
    return { ...event, enterprise, seq: r.lastInsertRowid, recordedAt };
  }

  /** Record many atomically; `field` of an error names the element. */
  recordAll(events: readonly CreditEventInput[]): CreditEvent[] {
    return this.store.transaction(() => events.map((e, i) => this.record(e, `events[${i}]`)));
  }

  /** Events after `afterSeq`, oldest first. */
  list(afterSeq = 0, limit = 1000): CreditEvent[] {
    return this.store
      .all<{
        seq: number;
        enterprise: string;
        kind: CreditEventKind;
        occurred_at: number;
        recorded_at: number;
        reference: string | null;
      }>('SELECT * FROM credit_events WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit)
      .map((r) => ({
        seq: r.seq,
        enterprise: r.enterprise,
        kind: r.kind,
        occurredAt: r.occurred_at,
        recordedAt: r.recorded_at,
        ...(r.reference !== null && { reference: r.reference }),
      }));
  }
}

export interface MonitoringServiceOptions {
  readonly store: NodeStore;
  readonly consents: ConsentRegistry;
  readonly audit: AuditLog;
  /** The government node's party id (dataOwner of the audit entries). */
  readonly party: string;
  /** Categories the alerts disclose (checked against the consent scope). Default ['*']. */
  readonly categories?: readonly string[];
  readonly now?: () => number;
  readonly logger?: Logger;
}

export interface AlertBatch {
  readonly alerts: readonly Alert[];
  readonly throughSeq: number;
  readonly more: boolean;
  /** Events on watched enterprises withheld because consent no longer holds at delivery. */
  readonly withheld: number;
}

/** The government side of post-loan monitoring. */
export class MonitoringService {
  readonly #o: MonitoringServiceOptions;
  readonly #now: () => number;
  readonly #logger: Logger;

  constructor(options: MonitoringServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? noopLogger;
    options.store.migrate(MONITORING_GOV_MIGRATIONS);
  }

  /** Apply a bank's watchlist changes; additions without valid monitoring consent are refused and counted. */
  updateWatchlist(
    bank: string,
    add: readonly WatchAddition[],
    remove: readonly string[] = [],
  ): { accepted: number; refused: WatchRefusals } {
    const at = this.#now();
    const filter = this.#o.consents.filterByConsent(
      add.map((a) => a.enterprise),
      { grantee: bank, purpose: 'monitoring', categories: this.#categories(), at },
    );
    const allowed = new Set(filter.included);
    const { store } = this.#o;
    let accepted = 0;
    store.transaction(() => {
      for (const e of remove)
        store.run('DELETE FROM watchlist WHERE bank = ? AND enterprise = ?', bank, normalizeUscc(e));
      for (const a of add) {
        const id = normalizeUscc(a.enterprise);
        if (!allowed.has(id)) continue;
        if (!Number.isSafeInteger(a.until) || a.until <= at) continue;
        store.run(
          `INSERT INTO watchlist (bank, enterprise, since, until) VALUES (?, ?, ?, ?)
           ON CONFLICT (bank, enterprise) DO UPDATE SET until = excluded.until`,
          bank,
          id,
          at,
          a.until,
        );
        allowed.delete(id); // a repeated addition counts once
        accepted++;
      }
    });
    this.#logger.info('watchlist updated', {
      bank,
      accepted,
      refused: filter.excludedTotal,
      removed: remove.length,
    });
    return { accepted, refused: filter.excluded };
  }

  /** Events after `afterSeq` for the bank's watched, consenting enterprises (audited as one data use). */
  alertsFor(bank: string, afterSeq: number, options: { job?: string; limit?: number } = {}): AlertBatch {
    const at = this.#now();
    const limit = Math.min(options.limit ?? MAX_ALERTS_PER_REPLY, MAX_ALERTS_PER_REPLY);
    const { store, consents, audit, party } = this.#o;
    const rows = store.all<{ seq: number; enterprise: string; kind: CreditEventKind; occurred_at: number }>(
      `SELECT e.seq, e.enterprise, e.kind, e.occurred_at FROM credit_events e
       JOIN watchlist w ON w.enterprise = e.enterprise AND w.bank = ?
       WHERE e.seq > ? AND w.until > ? ORDER BY e.seq LIMIT ?`,
      bank,
      afterSeq,
      at,
      limit + 1,
    );
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const filter = consents.filterByConsent(
      page.map((r) => r.enterprise),
      { grantee: bank, purpose: 'monitoring', categories: this.#categories(), at },
    );
    const allowed = new Set(filter.included);
    const alerts: Alert[] = [];
    let withheld = 0;
    for (const r of page) {
      if (!allowed.has(r.enterprise)) {
        withheld++;
        continue;
      }
      alerts.push({
        seq: r.seq,
        enterprise: r.enterprise,
        kind: r.kind,
        occurredAt: r.occurred_at,
        severity: CREDIT_EVENT_SEVERITY[r.kind],
      });
    }
    // The cursor covers every examined event: the last of a full page, else the newest event overall.
    const newest = store.get<{ s: number | null }>('SELECT max(seq) AS s FROM credit_events')?.s ?? 0;
    const throughSeq = more ? (page[page.length - 1]?.seq ?? afterSeq) : Math.max(afterSeq, newest);
    if (alerts.length > 0) {
      const alerted = [...new Set(alerts.map((a) => a.enterprise))];
      const used = consents.filterByConsent(alerted, {
        grantee: bank,
        purpose: 'monitoring',
        categories: this.#categories(),
        at,
      });
      audit.append({
        kind: 'data_use',
        actor: bank,
        dataOwner: party,
        purpose: 'monitoring',
        consentRef: used.consentRef,
        enterpriseFingerprint: enterpriseSetFingerprint(alerted),
        enterpriseCount: alerted.length,
        ...(options.job !== undefined && { job: options.job }),
        details: {
          alerts: alerts.length,
          high: alerts.filter((a) => a.severity === 'high').length,
          medium: alerts.filter((a) => a.severity === 'medium').length,
          afterSeq,
          throughSeq,
        },
      });
    }
    this.#logger.info('alerts prepared', { bank, alerts: alerts.length, withheld, more });
    return { alerts, throughSeq, more, withheld };
  }

  /** Answer one poll of `bank` on `session` (protocol monitoring.alerts). */
  async serve(session: ProtocolSession, bank: string): Promise<MonitorAlerts> {
    const request: MonitorRequest = await session.receive(bank, MONITOR_REQUEST);
    const watch = this.updateWatchlist(bank, request.add, request.remove);
    const batch = this.alertsFor(bank, request.afterSeq, { job: session.spec.session });
    const reply: MonitorAlerts = {
      watchAccepted: watch.accepted,
      watchRefused: watch.refused,
      alerts: batch.alerts,
      throughSeq: batch.throughSeq,
      more: batch.more,
    };
    await session.send(bank, MONITOR_ALERTS, reply);
    return reply;
  }

  #categories(): readonly string[] {
    return this.#o.categories ?? ['*'];
  }
}

/**
 * The government's `partialScoreOf` for online (re)scoring, gated by consent: an applicant without a
 * valid consent for `grantee` and `purpose` at the time of the request gets "no record" (undefined).
 * Every answered request is a `data_use` audit entry for one enterprise.
 */
export function consentGatedPartialScore(options: {
  readonly consents: ConsentRegistry;
  readonly audit: AuditLog;
  readonly party: string;
  readonly grantee: string;
  readonly purpose: ConsentPurpose;
  readonly job: string;
  readonly categories?: readonly string[];
  readonly partialScoreOf: (enterprise: string) => number | undefined;
  readonly now?: () => number;
}): { partialScoreOf: (enterprise: string) => number | undefined; refused: () => number } {
  let refused = 0;
  const now = options.now ?? Date.now;
  return {
    partialScoreOf: (enterprise) => {
      const f = options.consents.filterByConsent([enterprise], {
        grantee: options.grantee,
        purpose: options.purpose,
        categories: options.categories ?? ['*'],
        at: now(),
      });
      const id = f.included[0];
      if (id === undefined) {
        refused++;
        return undefined;
      }
      const value = options.partialScoreOf(id);
      if (value === undefined) return undefined;
      options.audit.append({
        kind: 'data_use',
        actor: options.grantee,
        dataOwner: options.party,
        purpose: options.purpose,
        consentRef: f.consentIds[0] ?? f.consentRef,
        enterpriseFingerprint: f.enterpriseFingerprint,
        enterpriseCount: 1,
        job: options.job,
      });
      return value;
    },
    refused: () => refused,
  };
}

export interface StoredAlert extends Alert {
  readonly government: string;
  readonly receivedAt: number;
  readonly status: 'new' | 'rescored';
}

export interface RescoreRecord {
  readonly enterprise: string;
  readonly at: number;
  readonly modelId: string;
  readonly found: boolean;
  readonly score?: number;
  readonly thresholdIndex?: number;
}

/** The bank side of post-loan monitoring. */
export class AlertInbox {
  readonly store: NodeStore;
  readonly #audit: AuditLog | undefined;
  readonly #party: string;
  readonly #now: () => number;
  readonly #logger: Logger;

  constructor(
    store: NodeStore,
    options: { audit?: AuditLog; party?: string; now?: () => number; logger?: Logger } = {},
  ) {
    this.store = store;
    this.#audit = options.audit;
    this.#party = options.party ?? 'local';
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? noopLogger;
    store.migrate(MONITORING_BANK_MIGRATIONS);
  }

  /** The last event sequence number stored from `government`. */
  cursor(government: string): number {
    return (
      this.store.get<{ through_seq: number }>(
        'SELECT through_seq FROM monitor_cursor WHERE government = ?',
        government,
      )?.through_seq ?? 0
    );
  }

  /**
   * Poll `government` once (sending watchlist changes), store the alerts and the new cursor atomically.
   * Returns the reply and how many alerts were new to this inbox.
   */
  async poll(
    session: ProtocolSession,
    government: string,
    watch: { add?: readonly WatchAddition[]; remove?: readonly string[] } = {},
  ): Promise<{ reply: MonitorAlerts; stored: number }> {
    const afterSeq = this.cursor(government);
    await session.send(government, MONITOR_REQUEST, {
      afterSeq,
      add: (watch.add ?? []).map((a) => ({ enterprise: normalizeUscc(a.enterprise), until: a.until })),
      remove: (watch.remove ?? []).map(normalizeUscc),
    });
    const reply = await session.receive(government, MONITOR_ALERTS);
    if (reply.throughSeq < afterSeq) {
      throw new FedscoreError('protocol_sequence', 'the reply cursor moves backwards', {
        field: 'monitor-alerts.throughSeq',
      });
    }
    for (const a of reply.alerts) {
      if (a.seq <= afterSeq) {
        throw new FedscoreError('protocol_sequence', 'an alert at or before the cursor', {
          field: 'monitor-alerts.alerts.seq',
        });
      }
    }
    const stored = this.store.transaction(() => {
      const received = this.#now();
      let n = 0;
      for (const a of reply.alerts) {
        n += this.store.run(
          `INSERT INTO alerts (government, seq, enterprise, kind, severity, occurred_at, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          government,
          a.seq,
          a.enterprise,
          a.kind,
          a.severity,
          a.occurredAt,
          received,
        ).changes;
      }
      this.store.run(
        `INSERT INTO monitor_cursor (government, through_seq) VALUES (?, ?)
         ON CONFLICT (government) DO UPDATE SET through_seq = excluded.through_seq`,
        government,
        reply.throughSeq,
      );
      if (reply.alerts.length > 0) {
        const ids = [...new Set(reply.alerts.map((a) => a.enterprise))];
        // The same fields as the government's entry for this delivery, so the owner can reconcile.
        this.#audit?.append({
          kind: 'data_use',
          actor: this.#party,
          dataOwner: government,
          purpose: 'monitoring',
          enterpriseFingerprint: enterpriseSetFingerprint(ids),
          enterpriseCount: ids.length,
          job: session.spec.session,
          details: { alerts: reply.alerts.length, throughSeq: reply.throughSeq },
        });
      }
      return n;
    });
    this.#logger.info('alerts received', {
      government,
      alerts: reply.alerts.length,
      stored,
      more: reply.more,
    });
    return { reply, stored };
  }

  /** Alerts, newest first, optionally only those not yet rescored. */
  alerts(filter: { status?: 'new' | 'rescored' } = {}): StoredAlert[] {
    return this.store
      .all<{
        government: string;
        seq: number;
        enterprise: string;
        kind: CreditEventKind;
        severity: 'high' | 'medium';
        occurred_at: number;
        received_at: number;
        status: 'new' | 'rescored';
      }>(
        'SELECT * FROM alerts WHERE (?1 IS NULL OR status = ?1) ORDER BY received_at DESC, seq DESC',
        filter.status ?? null,
      )
      .map((r) => ({
        government: r.government,
        seq: r.seq,
        enterprise: r.enterprise,
        kind: r.kind,
        severity: r.severity,
        occurredAt: r.occurred_at,
        receivedAt: r.received_at,
        status: r.status,
      }));
  }

  /** Enterprises with alerts not yet rescored (sorted). */
  pendingEnterprises(government?: string): string[] {
    return this.store
      .all<{ enterprise: string }>(
        "SELECT DISTINCT enterprise FROM alerts WHERE status = 'new' AND (?1 IS NULL OR government = ?1) ORDER BY enterprise",
        government ?? null,
      )
      .map((r) => r.enterprise);
  }

  /** Store one rescoring result and mark the enterprise's alerts from `government` rescored. */
  recordRescore(government: string, modelId: string, result: OnlineScore): RescoreRecord {
    const at = this.#now();
    this.store.transaction(() => {
      this.store.run(
        `INSERT INTO rescores (government, enterprise, at, model_id, found, score, threshold_index)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        government,
        result.applicant,
        at,
        modelId,
        result.found ? 1 : 0,
        result.score ?? null,
        result.thresholdIndex ?? null,
      );
      this.store.run(
        "UPDATE alerts SET status = 'rescored' WHERE government = ? AND enterprise = ? AND status = 'new'",
        government,
        result.applicant,
      );
    });
    return {
      enterprise: result.applicant,
      at,
      modelId,
      found: result.found,
      ...(result.score !== undefined && { score: result.score }),
      ...(result.thresholdIndex !== undefined && { thresholdIndex: result.thresholdIndex }),
    };
  }

  /** Rescoring results of one enterprise, oldest first. */
  rescores(enterprise: string): RescoreRecord[] {
    return this.store
      .all<{
        enterprise: string;
        at: number;
        model_id: string;
        found: number;
        score: number | null;
        threshold_index: number | null;
      }>('SELECT * FROM rescores WHERE enterprise = ? ORDER BY id', normalizeUscc(enterprise))
      .map((r) => ({
        enterprise: r.enterprise,
        at: r.at,
        modelId: r.model_id,
        found: r.found === 1,
        ...(r.score !== null && { score: r.score }),
        ...(r.threshold_index !== null && { thresholdIndex: r.threshold_index }),
      }));
  }
}

/**
 * Rescore every enterprise with a new alert from `government` under encryption: one online scoring
 * session (@fedscore/scoring, protocol scoring.online) in which the bank sends [[its partial score]] and
 * the government adds its partial from its current data. `bankPartialOf` gives the bank's own partial
 * (intercept included); enterprises it has no record of are skipped and counted, as are those the
 * government's quota refuses (`quota_exceeded`, `rate_limited`: their alerts stay pending).
 */
export async function rescoreAlerted(options: {
  readonly inbox: AlertInbox;
  readonly scorer: OnlineScoringBank;
  readonly session: ProtocolSession;
  readonly government: string;
  readonly modelId: string;
  readonly bankPartialOf: (enterprise: string) => number | undefined;
}): Promise<{ rescored: RescoreRecord[]; skipped: number; notFound: number; refused: number }> {
  const { inbox, scorer, session, government, modelId } = options;
  const pending = inbox.pendingEnterprises(government);
  const rescored: RescoreRecord[] = [];
  let skipped = 0;
  let notFound = 0;
  let refused = 0;
  await scorer.open(session, government, modelId);
  try {
    for (const enterprise of pending) {
      const own = options.bankPartialOf(enterprise);
      if (own === undefined) {
        skipped++;
        continue;
      }
      let result: OnlineScore;
      try {
        result = await scorer.score(enterprise, own);
      } catch (e) {
        // The government's quota for this enterprise: its alerts stay pending for a later rescore.
        if (isFedscoreError(e, 'quota_exceeded') || isFedscoreError(e, 'rate_limited')) {
          refused++;
          continue;
        }
        throw e;
      }
      if (!result.found) notFound++;
      rescored.push(inbox.recordRescore(government, modelId, result));
    }
  } finally {
    await scorer.close();
  }
  return { rescored, skipped, notFound, refused };
}
