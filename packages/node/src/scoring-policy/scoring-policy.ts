/**
 * The government node's policy for online scoring (@fedscore/scoring, protocol scoring.online), from
 * the node config's `scoring` section:
 *   - modes: exact mode (the bank learns the joint score, hence the government's partial score) is
 *     refused unless `allowExactMode`; band mode takes at most `maxThresholds` thresholds per session
 *     (the registered band count);
 *   - quotas: per (bank, enterprise), at most `quota.requests` requests per `quota.windowSeconds` and
 *     `rate.requests` per `rate.windowSeconds`. The bank chooses the threshold values (the government
 *     never sees them), so each request can tell it K more comparisons of the enterprise's score with
 *     values of its choice: a bisection with K = 4 pins s to (range / 5^n) after n requests. The quota
 *     bounds n per window; docs/protocols/online-scoring.md gives the resulting bound.
 * Counters live in the node's store (module 'scoring_quota'), so a restart does not reset them; rows
 * hold the requesting party, a fingerprint of the enterprise (never its id) and the time. Every refusal
 * is a `security_event` audit entry (`rpc: 'scoring.online'`, `code`); logs carry counts only.
 * Refusals come before the enterprise is looked up, so they reveal nothing about the government's data.
 */
import { FedscoreError, normalizeUscc, type PartyId } from '@fedscore/core';
import {
  type OnlineAdmission,
  type OnlineGovernmentOptions,
  OnlineScoringGovernment,
  type OnlineScoringPolicy,
  type ScoreRefusal,
} from '@fedscore/scoring';
import { type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { NodeStore, StoreMigrations } from '../store/index.ts';

export const SCORING_QUOTA_MIGRATIONS: StoreMigrations = {
  module: 'scoring_quota',
  steps: [
    `CREATE TABLE scoring_requests (
       id INTEGER PRIMARY KEY,
       grantee TEXT NOT NULL,
       enterprise_fingerprint TEXT NOT NULL,
       at INTEGER NOT NULL
     ) STRICT;
     CREATE INDEX scoring_requests_key ON scoring_requests (grantee, enterprise_fingerprint, at);`,
  ],
};

/** At most `requests` per `windowSeconds`. */
export interface RequestWindow {
  readonly requests: number;
  readonly windowSeconds: number;
}

/** The node config's `scoring` section (government side). */
export interface ScoringPolicyConfig {
  readonly allowExactMode: boolean;
  readonly maxThresholds: number;
  /** Per (bank, enterprise), the long window: `quota_exceeded` when used up. */
  readonly quota: RequestWindow;
  /** Per (bank, enterprise), the short window: `rate_limited` (retry later). */
  readonly rate: RequestWindow;
}

/** Defaults: band mode only, 4 thresholds, 4 requests per 30 days and 1 per hour per (bank, enterprise). */
export const DEFAULT_SCORING_POLICY: ScoringPolicyConfig = {
  allowExactMode: false,
  maxThresholds: 4,
  quota: { requests: 4, windowSeconds: 30 * 86_400 },
  rate: { requests: 1, windowSeconds: 3_600 },
};

function checkWindow(w: RequestWindow, field: string): void {
  if (!Number.isSafeInteger(w.requests) || w.requests < 1) {
    throw new FedscoreError('invalid_config', 'expected a positive integer', { field: `${field}.requests` });
  }
  if (!Number.isSafeInteger(w.windowSeconds) || w.windowSeconds < 1) {
    throw new FedscoreError('invalid_config', 'expected a positive integer', {
      field: `${field}.windowSeconds`,
    });
  }
}

/** Persisted per-(grantee, enterprise) request counters with a long (quota) and a short (rate) window. */
export class ScoringQuota {
  readonly #store: NodeStore;
  readonly #quota: RequestWindow;
  readonly #rate: RequestWindow;
  readonly #now: () => number;
  /**
   * Admissions per `${grantee}\0${fingerprint}` decided but not yet written by a group transaction (each
   * leaves the list when its row is inserted, so it is never counted twice while the group is flushed).
   */
  readonly #pending = new Map<string, { readonly at: number }[]>();

  constructor(
    store: NodeStore,
    policy: Pick<ScoringPolicyConfig, 'quota' | 'rate'>,
    options: { now?: () => number } = {},
  ) {
    checkWindow(policy.quota, 'scoring.quota');
    checkWindow(policy.rate, 'scoring.rate');
    store.migrate(SCORING_QUOTA_MIGRATIONS);
    this.#store = store;
    this.#quota = policy.quota;
    this.#rate = policy.rate;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Admit one request of `grantee` about `enterprise` (counted when admitted), or say why not: the rate
   * window is checked first (`rate_limited`: retry later), then the quota window (`quota_exceeded`).
   * The admission is committed (its own transaction) when this returns.
   */
  admit(grantee: PartyId, enterprise: string): OnlineAdmission {
    const d = this.#decide(grantee, enterprise);
    if (d.refusal !== undefined) return d.refusal;
    this.#store.transaction(d.write);
    return undefined;
  }

  /**
   * `admit` for the hot path (online scoring): the same decision, taken at once (admissions not yet
   * committed count), but the admission is written by the store's group transaction
   * (`NodeStore.groupWrite`) with every other hot-path write of this turn -- one disk flush for all
   * concurrent requests instead of one each. Resolves once the admission has committed, so an answer
   * sent after it never goes uncounted.
   */
  async admitGrouped(grantee: PartyId, enterprise: string): Promise<OnlineAdmission> {
    const { refusal, committed } = this.admitQueued(grantee, enterprise);
    await committed;
    return refusal;
  }

  /**
   * `admitGrouped` in two halves: the decision now, and a promise that settles when the admission has
   * committed (at once for a refusal). The caller must await `committed` before it answers the request
   * (`governmentOnlineScoring` does, after the lookup has queued its audit entry in the same group).
   */
  admitQueued(grantee: PartyId, enterprise: string): { refusal: OnlineAdmission; committed: Promise<void> } {
    const d = this.#decide(grantee, enterprise);
    if (d.refusal !== undefined) return { refusal: d.refusal, committed: Promise.resolve() };
    const pending = this.#pending.get(d.pendingKey) ?? [];
    const admission = { at: d.now };
    pending.push(admission);
    this.#pending.set(d.pendingKey, pending);
    const settled = (): void => {
      const i = pending.indexOf(admission);
      if (i >= 0) pending.splice(i, 1);
      if (pending.length === 0 && this.#pending.get(d.pendingKey) === pending)
        this.#pending.delete(d.pendingKey);
    };
    // The row is visible to #count from its insert on (the group's flush to disk comes later): from then
    // on it counts as stored, not pending. A group that rolls back fails this admission's request.
    const committed = this.#store
      .groupWrite(() => {
        d.write();
        settled();
      })
      .then(settled, (e: unknown) => {
        settled();
        throw e;
      });
    // A caller that never gets to await it (the request failed before its answer) must not leave an
    // unhandled rejection; awaiting it still sees the failure.
    committed.catch(() => {});
    return { refusal: undefined, committed };
  }

  /** The decision on one request and, when admitted, the write that counts it. */
  #decide(
    grantee: PartyId,
    enterprise: string,
  ): { refusal: OnlineAdmission; now: number; pendingKey: string; write: () => void } {
    const key = enterpriseSetFingerprint([normalizeUscc(enterprise)]);
    const now = this.#now();
    const count = (windowSeconds: number): number => this.#count(grantee, key, now - windowSeconds * 1000);
    const longest = Math.max(this.#quota.windowSeconds, this.#rate.windowSeconds);
    const write = (): void => {
      this.#store.run(
        'DELETE FROM scoring_requests WHERE grantee = ? AND enterprise_fingerprint = ? AND at <= ?',
        grantee,
        key,
        now - longest * 1000,
      );
      this.#store.run(
        'INSERT INTO scoring_requests (grantee, enterprise_fingerprint, at) VALUES (?, ?, ?)',
        grantee,
        key,
        now,
      );
    };
    const refusal: OnlineAdmission =
      count(this.#rate.windowSeconds) >= this.#rate.requests
        ? 'rate_limited'
        : count(this.#quota.windowSeconds) >= this.#quota.requests
          ? 'quota_exceeded'
          : undefined;
    return { refusal, now, pendingKey: `${grantee}\u0000${key}`, write };
  }

  /** Requests of `grantee` about `enterprise` admitted in the quota window. */
  used(grantee: PartyId, enterprise: string): number {
    const key = enterpriseSetFingerprint([normalizeUscc(enterprise)]);
    return this.#count(grantee, key, this.#now() - this.#quota.windowSeconds * 1000);
  }

  /** Admissions after `since`: committed, plus queued for the next group transaction. */
  #count(grantee: PartyId, key: string, since: number): number {
    const stored =
      this.#store.get<{ n: number }>(
        'SELECT count(*) AS n FROM scoring_requests WHERE grantee = ? AND enterprise_fingerprint = ? AND at > ?',
        grantee,
        key,
        since,
      )?.n ?? 0;
    const pending = this.#pending.get(`${grantee}\u0000${key}`) ?? [];
    return stored + pending.filter((p) => p.at > since).length;
  }
}

/**
 * The government's side of one online scoring session with `grantee` under the node's policy: modes
 * and threshold cap from `policy`, per-request admission by `quota`, every refusal of either audited
 * here (with the bank's request id when it sent one). `partialScoreOf` is asked only for admitted
 * requests; its own refusals (`consent_missing`, `model_unavailable`) are its caller's to record.
 */
export function governmentOnlineScoring(options: {
  readonly policy: ScoringPolicyConfig;
  readonly quota: ScoringQuota;
  readonly audit: AuditLog;
  /** This (government) node's party id. */
  readonly party: PartyId;
  readonly grantee: PartyId;
  /** The session id, recorded with every refusal. */
  readonly session: string;
  readonly partialScoreOf: OnlineGovernmentOptions['partialScoreOf'];
  /** Once per served session, with the hello (e.g. to load the model part it names). */
  readonly onHello?: OnlineGovernmentOptions['onHello'];
  /** Told every policy or quota refusal after it is audited (e.g. to count it for /metrics). */
  readonly onRefused?: (code: ScoreRefusal) => void;
  readonly logger?: OnlineGovernmentOptions['logger'];
}): OnlineScoringGovernment {
  const { policy, quota, audit, grantee } = options;
  const online: OnlineScoringPolicy = {
    allowExactMode: policy.allowExactMode,
    maxThresholds: policy.maxThresholds,
  };
  // An admitted request's counter commits in the store's group transaction with the audit entry its
  // lookup queues in the same turn; the answer waits for both (one disk flush per turn, not two).
  const counted = new Map<number, Promise<void>>();
  return new OnlineScoringGovernment({
    partialScoreOf: async (applicant, request) => {
      const committed = counted.get(request.index);
      counted.delete(request.index);
      try {
        return await options.partialScoreOf(applicant, request);
      } finally {
        await committed;
      }
    },
    ...(options.onHello !== undefined && { onHello: options.onHello }),
    ...(options.logger !== undefined && { logger: options.logger }),
    policy: online,
    admit: (enterprise, request) => {
      const { refusal, committed } = quota.admitQueued(grantee, enterprise);
      if (refusal === undefined) counted.set(request.index, committed);
      return refusal;
    },
    onRefusal: (enterprise, code, request) => {
      audit.append({
        kind: 'security_event',
        actor: grantee,
        dataOwner: options.party,
        enterpriseFingerprint: enterpriseSetFingerprint([normalizeUscc(enterprise)]),
        enterpriseCount: 1,
        job: options.session,
        details: {
          rpc: 'scoring.online',
          code,
          ...(request.requestId !== '' && { requestId: request.requestId }),
        },
      });
      options.onRefused?.(code);
    },
  });
}
