/**
 * Post-loan alerts for the console's Alerts page (docs/governance.md, "Post-loan monitoring").
 *
 * Bank node: `AlertBook` reads the node's `AlertInbox` (the alerts the government delivered about the
 * bank's own watched, consenting borrowers), the loan end the bank queued for each borrower
 * (`watch_loans`, written by `queueWatchChanges`) and the console's acknowledgements
 * (`console_alert_acks`). Acknowledging an alert records who and when, once, and appends a
 * `monitoring_alert` audit entry that names the alert by government and sequence number and the
 * enterprise only by its set fingerprint (the audit log holds no enterprise id).
 *
 * Government node: `alertDeliveries` counts, per bank, the borrowers on its watchlist and the alerts
 * delivered to it (from the `data_use` entries of purpose `monitoring` the service wrote at each
 * delivery). Counts only: which enterprises a bank lends to is that bank's business.
 */
import { FedscoreError } from '@fedscore/core';
import { type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { AlertInbox } from '../monitoring/index.ts';
import { CREDIT_EVENT_KINDS, type CreditEventKind } from '../monitoring/index.ts';
import type { NodeStore, StoreMigrations } from '../store/index.ts';

export const ALERT_ACK_MIGRATIONS: StoreMigrations = {
  module: 'console_alert_acks',
  steps: [
    `CREATE TABLE console_alert_acks (
       government TEXT NOT NULL,
       seq INTEGER NOT NULL,
       by TEXT NOT NULL,
       at INTEGER NOT NULL,
       PRIMARY KEY (government, seq)
     ) STRICT;`,
  ],
};

export const ALERT_SEVERITIES = ['high', 'medium'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** One alert as the console shows it to the bank that received it. */
export interface ConsoleAlert {
  /** The bank that received it (the node's party). */
  readonly bank: string;
  readonly government: string;
  readonly seq: number;
  readonly enterprise: string;
  readonly kind: CreditEventKind;
  readonly severity: AlertSeverity;
  readonly occurredAt: number;
  readonly receivedAt: number;
  /** The loan end the bank gave when it listed the borrower, when known. */
  readonly loanEnd?: number;
  readonly rescored: boolean;
  readonly acknowledged?: { readonly by: string; readonly at: number };
}

export interface AlertFilter {
  readonly severity?: AlertSeverity;
  readonly kind?: CreditEventKind;
}

/** Per-bank counts of alerts (what a role that may not see the borrowers sees). */
export interface AlertCounts {
  readonly bank: string;
  readonly alerts: number;
  readonly high: number;
  readonly medium: number;
  readonly unacknowledged: number;
}

/** The node's alerts as the console reads and acknowledges them. */
export interface ConsoleAlertSource {
  list(filter?: AlertFilter): readonly ConsoleAlert[];
  get(government: string, seq: number): ConsoleAlert | undefined;
  /** Mark an alert acknowledged by `by` (the first acknowledgement stays). Returns the alert after. */
  acknowledge(government: string, seq: number, by: string): ConsoleAlert | undefined;
}

/** Per-bank counts of `alerts` (no enterprise). */
export function countAlerts(alerts: readonly ConsoleAlert[]): AlertCounts[] {
  const by = new Map<string, { alerts: number; high: number; medium: number; unacknowledged: number }>();
  for (const a of alerts) {
    const c = by.get(a.bank) ?? { alerts: 0, high: 0, medium: 0, unacknowledged: 0 };
    c.alerts++;
    c[a.severity]++;
    if (a.acknowledged === undefined) c.unacknowledged++;
    by.set(a.bank, c);
  }
  return [...by].sort(([x], [y]) => x.localeCompare(y)).map(([bank, c]) => ({ bank, ...c }));
}

/** Parse a severity / kind filter from a query string value; anything else is no filter. */
export function parseAlertFilter(severity: string | null, kind: string | null): AlertFilter {
  return {
    ...((ALERT_SEVERITIES as readonly string[]).includes(severity ?? '') && {
      severity: severity as AlertSeverity,
    }),
    ...((CREDIT_EVENT_KINDS as readonly string[]).includes(kind ?? '') && { kind: kind as CreditEventKind }),
  };
}

/** The bank node's alerts (its `AlertInbox`) with loan ends and acknowledgements. */
export class AlertBook implements ConsoleAlertSource {
  readonly #inbox: AlertInbox;
  readonly #store: NodeStore;
  readonly #bank: string;
  readonly #audit: AuditLog | undefined;
  readonly #now: () => number;

  constructor(inbox: AlertInbox, options: { bank: string; audit?: AuditLog; now?: () => number }) {
    this.#inbox = inbox;
    this.#store = inbox.store;
    this.#bank = options.bank;
    this.#audit = options.audit;
    this.#now = options.now ?? Date.now;
    this.#store.migrate(ALERT_ACK_MIGRATIONS);
  }

  list(filter: AlertFilter = {}): ConsoleAlert[] {
    const acks = new Map(
      this.#store
        .all<{ government: string; seq: number; by: string; at: number }>(
          'SELECT government, seq, by, at FROM console_alert_acks',
        )
        .map((r) => [`${r.government}\n${r.seq}`, { by: r.by, at: r.at }]),
    );
    const loans = this.#loanEnds();
    return this.#inbox
      .alerts()
      .filter(
        (a) =>
          (filter.severity === undefined || a.severity === filter.severity) &&
          (filter.kind === undefined || a.kind === filter.kind),
      )
      .map((a) => {
        const ack = acks.get(`${a.government}\n${a.seq}`);
        const loanEnd = loans.get(`${a.government}\n${a.enterprise}`);
        return {
          bank: this.#bank,
          government: a.government,
          seq: a.seq,
          enterprise: a.enterprise,
          kind: a.kind,
          severity: a.severity,
          occurredAt: a.occurredAt,
          receivedAt: a.receivedAt,
          ...(loanEnd !== undefined && { loanEnd }),
          rescored: a.status === 'rescored',
          ...(ack !== undefined && { acknowledged: ack }),
        };
      });
  }

  get(government: string, seq: number): ConsoleAlert | undefined {
    return this.list().find((a) => a.government === government && a.seq === seq);
  }

  acknowledge(government: string, seq: number, by: string): ConsoleAlert | undefined {
    if (by === '' || by.length > 200) {
      throw new FedscoreError('invalid_argument', 'expected the acknowledging user', { field: 'by' });
    }
    const alert = this.get(government, seq);
    if (alert === undefined) return undefined;
    if (alert.acknowledged !== undefined) return alert;
    this.#store.transaction(() => {
      const at = this.#now();
      const n = this.#store.run(
        'INSERT INTO console_alert_acks (government, seq, by, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        government,
        seq,
        by,
        at,
      ).changes;
      if (n === 1) {
        this.#audit?.append({
          kind: 'monitoring_alert',
          actor: this.#bank,
          dataOwner: government,
          purpose: 'monitoring',
          enterpriseFingerprint: enterpriseSetFingerprint([alert.enterprise]),
          enterpriseCount: 1,
          details: { action: 'acknowledged', seq, severity: alert.severity, alertKind: alert.kind, by },
        });
      }
    });
    return this.get(government, seq);
  }

  #loanEnds(): Map<string, number> {
    if (!this.#store.hasTable('watch_loans')) return new Map();
    return new Map(
      this.#store
        .all<{ government: string; enterprise: string; until: number }>(
          'SELECT government, enterprise, until FROM watch_loans',
        )
        .map((r) => [`${r.government}\n${r.enterprise}`, r.until]),
    );
  }
}

/** What the government delivered to one bank (counts only). */
export interface AlertDelivery {
  readonly bank: string;
  /** Borrowers on the bank's watchlist whose loan has not ended. */
  readonly watched: number;
  /** Polls that delivered alerts. */
  readonly deliveries: number;
  readonly alerts: number;
  /** Of `alerts`, those of severity high and medium (deliveries audited before severities were counted: in neither). */
  readonly high: number;
  readonly medium: number;
  readonly lastAt?: number;
}

/**
 * The government node's view: per bank, borrowers watched and alerts delivered, by severity (from its
 * watchlist and its audit log's `data_use` entries of purpose `monitoring` with an alert count and, since
 * they are recorded, the counts of high and medium alerts). Counts only.
 */
export function alertDeliveries(
  store: NodeStore,
  audit: AuditLog,
  party: string,
  now: number = Date.now(),
): AlertDelivery[] {
  const out = new Map<
    string,
    { watched: number; deliveries: number; alerts: number; high: number; medium: number; lastAt?: number }
  >();
  const of = (bank: string) => {
    let d = out.get(bank);
    if (d === undefined) {
      d = { watched: 0, deliveries: 0, alerts: 0, high: 0, medium: 0 };
      out.set(bank, d);
    }
    return d;
  };
  if (store.hasTable('watchlist')) {
    for (const r of store.all<{ bank: string; n: number }>(
      'SELECT bank, count(*) AS n FROM watchlist WHERE until > ? GROUP BY bank',
      now,
    )) {
      of(r.bank).watched = r.n;
    }
  }
  for (const e of audit.entries({ kind: 'data_use' })) {
    const alerts = e.details?.['alerts'];
    if (e.purpose !== 'monitoring' || e.dataOwner !== party || typeof alerts !== 'number') continue;
    const d = of(e.actor);
    d.deliveries++;
    d.alerts += alerts;
    const high = e.details?.['high'];
    const medium = e.details?.['medium'];
    if (typeof high === 'number') d.high += high;
    if (typeof medium === 'number') d.medium += medium;
    d.lastAt = e.at;
  }
  return [...out].sort(([x], [y]) => x.localeCompare(y)).map(([bank, d]) => ({ bank, ...d }));
}
