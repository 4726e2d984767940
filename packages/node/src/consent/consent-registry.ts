/**
 * The consent registry: an enterprise's authorization for one grantee (a bank) to use its data for one
 * purpose, over a scope of data categories, from a start time until an expiry, unless revoked earlier.
 *
 * Training, scoring and monitoring call `filterByConsent` with the job's start time: enterprises without a
 * consent valid at that instant for that grantee, purpose and every requested category are excluded, and
 * the exclusions are counted by reason. Revocation therefore takes effect for every job that starts after
 * it; a job already running keeps the set it started with (its audit entry records that set).
 *
 * Each grant and revocation is recorded in the audit log when one is attached (the enterprise appears
 * there only as a one-element set fingerprint). Times are milliseconds since the Unix epoch; a consent is
 * valid on [grantedAt, expiresAt) and, if revoked, before revokedAt.
 */
import { randomUUID } from 'node:crypto';
import { FedscoreError, isValidUscc, normalizeUscc } from '@fedscore/core';
import type { ConsentExclusions } from '@fedscore/pipeline';
import {
  type AuditLog,
  consentSetFingerprintSteps,
  enterpriseSetFingerprint,
  enterpriseSetFingerprintSteps,
} from '../audit/index.ts';
import type { NodeStore, StoreMigrations } from '../store/index.ts';

/** What an enterprise may authorize its data to be used for. */
export const CONSENT_PURPOSES = ['training', 'scoring', 'monitoring'] as const;
export type ConsentPurpose = (typeof CONSENT_PURPOSES)[number];

/** A scope entry meaning every category of the data owner's data. */
export const ALL_CATEGORIES = '*';
const CATEGORY = /^[a-z][a-z0-9_]{0,63}$/;
const PARTY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const CONSENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface ConsentGrant {
  /** The authorization's id; generated when absent (imported consents keep the platform's id). */
  readonly id?: string;
  /** The enterprise's USCC (normalized and checked). */
  readonly enterprise: string;
  /** The party allowed to use the data (a bank's party id). */
  readonly grantee: string;
  readonly purpose: ConsentPurpose;
  /** Data categories covered (e.g. 'tax', 'court_judgments'), or ['*'] for all. */
  readonly scope: readonly string[];
  /** Default: now. */
  readonly grantedAt?: number;
  readonly expiresAt: number;
}

export interface ConsentRecord {
  readonly id: string;
  readonly enterprise: string;
  readonly grantee: string;
  readonly purpose: ConsentPurpose;
  readonly scope: readonly string[];
  readonly grantedAt: number;
  readonly expiresAt: number;
  readonly revokedAt?: number;
  readonly revocationReason?: string;
}

export type ConsentStatus = 'valid' | 'not_yet_valid' | 'expired' | 'revoked';

export interface ConsentQuery {
  readonly grantee: string;
  readonly purpose: ConsentPurpose;
  /** Categories the use needs; every one must be in the consent's scope. Default ['*'] (all). */
  readonly categories?: readonly string[];
  /** The instant the use starts (a job's start time). Default: now. */
  readonly at?: number;
}

/** Why an enterprise was left out, most specific reason first. */
/** Enterprises a consent check excluded, by reason (the pipeline's type: its PSI stage records them). */
export type { ConsentExclusions };

export interface ConsentFilterResult {
  /** Enterprises with valid consent, in input order (normalized USCCs, de-duplicated). */
  readonly included: readonly string[];
  /** For each included enterprise, the id of the consent that covers it (the one expiring last). */
  readonly consentIds: readonly string[];
  readonly excluded: ConsentExclusions;
  readonly excludedTotal: number;
  /** `enterpriseSetFingerprint(included)`, for the audit entry of the use. */
  readonly enterpriseFingerprint: string;
  /** `consentSetFingerprint(consentIds)`, for the audit entry of the use. */
  readonly consentRef: string;
  readonly at: number;
}

export const CONSENT_MIGRATIONS: StoreMigrations = {
  module: 'consent',
  steps: [
    `CREATE TABLE consents (
       id TEXT PRIMARY KEY,
       enterprise TEXT NOT NULL,
       grantee TEXT NOT NULL,
       purpose TEXT NOT NULL,
       scope TEXT NOT NULL,
       granted_at INTEGER NOT NULL,
       expires_at INTEGER NOT NULL,
       revoked_at INTEGER,
       revocation_reason TEXT,
       CHECK (expires_at > granted_at)
     ) STRICT;
     CREATE INDEX consents_use ON consents (grantee, purpose, enterprise);
     CREATE INDEX consents_enterprise ON consents (enterprise);`,
  ],
};

interface ConsentRow {
  id: string;
  enterprise: string;
  grantee: string;
  purpose: string;
  scope: string;
  granted_at: number;
  expires_at: number;
  revoked_at: number | null;
  revocation_reason: string | null;
}

export interface ConsentRegistryOptions {
  /** Records grants and revocations. */
  readonly audit?: AuditLog;
  /** The party id written as the actor of those audit entries (the node keeping the registry). */
  readonly party?: string;
  readonly now?: () => number;
}

export class ConsentRegistry {
  readonly store: NodeStore;
  readonly #audit: AuditLog | undefined;
  readonly #party: string;
  readonly #now: () => number;

  constructor(store: NodeStore, options: ConsentRegistryOptions = {}) {
    this.store = store;
    this.#audit = options.audit;
    this.#party = options.party ?? 'local';
    this.#now = options.now ?? Date.now;
    store.migrate(CONSENT_MIGRATIONS);
  }

  /**
   * Record an authorization. An existing id is refused (`duplicate_id`). `by` (e.g. a console user,
   * `console:<name>`) is written to the audit entry's details next to the node's party.
   */
  grant(grant: ConsentGrant, field = 'consent', options: { by?: string } = {}): ConsentRecord {
    const record = validateGrant(grant, field, this.#now());
    return this.store.transaction(() => {
      if (this.store.get('SELECT 1 AS x FROM consents WHERE id = ?', record.id) !== undefined) {
        throw new FedscoreError('duplicate_id', `consent '${record.id}' already exists`, {
          field: `${field}.id`,
        });
      }
      this.store.run(
        `INSERT INTO consents (id, enterprise, grantee, purpose, scope, granted_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        record.id,
        record.enterprise,
        record.grantee,
        record.purpose,
        JSON.stringify(record.scope),
        record.grantedAt,
        record.expiresAt,
      );
      this.#audit?.append({
        kind: 'consent_change',
        actor: this.#party,
        purpose: record.purpose,
        consentRef: record.id,
        enterpriseFingerprint: enterpriseSetFingerprint([record.enterprise]),
        enterpriseCount: 1,
        details: {
          action: 'grant',
          grantee: record.grantee,
          expiresAt: record.expiresAt,
          ...(options.by !== undefined && { by: options.by }),
        },
      });
      return record;
    });
  }

  /** Grant many at once, atomically (all or none); `field` names the failing element. */
  grantAll(grants: readonly ConsentGrant[]): ConsentRecord[] {
    return this.store.transaction(() => grants.map((g, i) => this.grant(g, `consents[${i}]`)));
  }

  /**
   * Revoke a consent from `at` (default now). Jobs starting from then on exclude the enterprise. Revoking
   * twice is `invalid_state`; an unknown id is `not_found`.
   */
  revoke(id: string, options: { at?: number; reason?: string; by?: string } = {}): ConsentRecord {
    const at = options.at ?? this.#now();
    if (!Number.isSafeInteger(at)) {
      throw new FedscoreError('invalid_argument', 'expected a time in milliseconds', { field: 'at' });
    }
    if (options.reason !== undefined && (typeof options.reason !== 'string' || options.reason.length > 256)) {
      throw new FedscoreError('invalid_argument', 'expected a reason of at most 256 characters', {
        field: 'reason',
      });
    }
    return this.store.transaction(() => {
      const current = this.get(id);
      if (current.revokedAt !== undefined) {
        throw new FedscoreError('invalid_state', `consent '${id}' is already revoked`, { field: 'id' });
      }
      this.store.run(
        'UPDATE consents SET revoked_at = ?, revocation_reason = ? WHERE id = ?',
        at,
        options.reason ?? null,
        id,
      );
      this.#audit?.append({
        kind: 'consent_change',
        actor: this.#party,
        purpose: current.purpose,
        consentRef: id,
        enterpriseFingerprint: enterpriseSetFingerprint([current.enterprise]),
        enterpriseCount: 1,
        details: {
          action: 'revoke',
          grantee: current.grantee,
          revokedAt: at,
          ...(options.by !== undefined && { by: options.by }),
        },
      });
      return this.get(id);
    });
  }

  /** One consent by id (`not_found` if absent). */
  get(id: string): ConsentRecord {
    if (typeof id !== 'string' || !CONSENT_ID.test(id)) {
      throw new FedscoreError('invalid_argument', 'expected a consent id', { field: 'id' });
    }
    const row = this.store.get<ConsentRow>('SELECT * FROM consents WHERE id = ?', id);
    if (row === undefined) throw new FedscoreError('not_found', `no consent '${id}'`, { field: 'id' });
    return fromRow(row);
  }

  /** Consents matching every given filter, by grant time then id. */
  list(filter: { enterprise?: string; grantee?: string; purpose?: ConsentPurpose } = {}): ConsentRecord[] {
    const enterprise = filter.enterprise === undefined ? null : normalizeUscc(filter.enterprise);
    return this.store
      .all<ConsentRow>(
        `SELECT * FROM consents WHERE (?1 IS NULL OR enterprise = ?1) AND (?2 IS NULL OR grantee = ?2)
         AND (?3 IS NULL OR purpose = ?3) ORDER BY granted_at, id`,
        enterprise,
        filter.grantee ?? null,
        filter.purpose ?? null,
      )
      .map(fromRow);
  }

  /** Status of one consent at `at` (default now). */
  status(record: ConsentRecord, at: number = this.#now()): ConsentStatus {
    return statusAt(record, at);
  }

  /**
   * One enterprise's covering consent for a use (the one expiring last), or why there is none: the same
   * rule as `filterByConsent`, by one indexed lookup instead of reading every consent of the grantee
   * (online scoring checks one applicant per request).
   */
  consentFor(
    enterprise: string,
    query: ConsentQuery,
  ): { consentId: string; reason?: undefined } | { consentId?: undefined; reason: keyof ConsentExclusions } {
    const grantee = checkParty(query.grantee, 'grantee');
    const purpose = checkPurpose(query.purpose, 'purpose');
    const categories = checkScope(query.categories ?? [ALL_CATEGORIES], 'categories');
    const at = query.at ?? this.#now();
    if (!Number.isSafeInteger(at)) {
      throw new FedscoreError('invalid_argument', 'expected a time in milliseconds', { field: 'at' });
    }
    const id = normalizeUscc(enterprise);
    if (!isValidUscc(id)) return { reason: 'invalidId' };
    const rows = this.store.all<ConsentRow>(
      'SELECT * FROM consents WHERE grantee = ? AND purpose = ? AND enterprise = ?',
      grantee,
      purpose,
      id,
    );
    const verdict = evaluate(rows.map(fromRow), categories, at);
    return verdict.consent !== undefined ? { consentId: verdict.consent.id } : { reason: verdict.reason };
  }

  /**
   * Split `enterprises` into those with valid consent for `query` and counted exclusions, in one
   * synchronous call: for short lists (a watchlist, a page of alerts). A table's ids go through
   * `filterByConsentAsync`, which gives the same answer without holding the event loop.
   */
  filterByConsent(enterprises: Iterable<string>, query: ConsentQuery): ConsentFilterResult {
    const steps = this.#filterSteps(enterprises, query);
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
    }
  }

  /**
   * `filterByConsent` in steps that yield to the event loop between them (a page of consents, a chunk of
   * ids, a run of the fingerprints' sort: each a few ms of CPU), so filtering millions of ids never holds
   * the loop for more than tens of ms: the node's gRPC keepalive pings and streams go on meanwhile. The
   * ids are copied when the call starts. Consents are read in pages that end at an enterprise boundary,
   * so every enterprise is judged on all of its consents as one read saw them; a grant or revocation
   * written while the call runs may or may not be seen, as for a call that had started a moment later
   * or earlier.
   */
  async filterByConsentAsync(
    enterprises: Iterable<string>,
    query: ConsentQuery,
  ): Promise<ConsentFilterResult> {
    const steps = this.#filterSteps(Array.from(enterprises), query);
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
      await nextTurn();
    }
  }

  /**
   * The filter, as steps. Cost per id (measured, benchmarks/results/consent.md): the consents of the
   * grantee and purpose are read once, a page at a time, and folded into one verdict per enterprise (a
   * consent id or an exclusion reason) as they arrive; what depends only on the scope text (whether it
   * covers the categories) is computed once per distinct scope; each id then costs a normalization, a
   * checksum and one Map lookup. The fingerprints sort in runs and merge.
   */
  *#filterSteps(enterprises: Iterable<string>, query: ConsentQuery): Generator<void, ConsentFilterResult> {
    const grantee = checkParty(query.grantee, 'grantee');
    const purpose = checkPurpose(query.purpose, 'purpose');
    const categories = checkScope(query.categories ?? [ALL_CATEGORIES], 'categories');
    const at = query.at ?? this.#now();
    if (!Number.isSafeInteger(at)) {
      throw new FedscoreError('invalid_argument', 'expected a time in milliseconds', { field: 'at' });
    }
    const verdicts = yield* this.#verdictSteps(grantee, purpose, categories, at);
    const excluded = { invalidId: 0, noConsent: 0, outOfScope: 0, revoked: 0, expired: 0, notYetValid: 0 };
    const included: string[] = [];
    const consentIds: string[] = [];
    let budget = ID_CHUNK;
    for (const raw of enterprises) {
      if (--budget === 0) {
        budget = ID_CHUNK;
        yield;
      }
      const id = normalizeUscc(typeof raw === 'string' ? raw : '');
      if (!isValidUscc(id)) {
        excluded.invalidId++;
        continue;
      }
      const verdict = verdicts.get(id);
      if (verdict === SEEN) continue;
      verdicts.set(id, SEEN);
      if (typeof verdict === 'string') {
        included.push(id);
        consentIds.push(verdict);
      } else {
        excluded[verdict === undefined ? 'noConsent' : REASON_OF[verdict]!]++;
      }
    }
    const excludedTotal = Object.values(excluded).reduce((a, b) => a + b, 0);
    const enterpriseFingerprint = yield* enterpriseSetFingerprintSteps(included);
    const consentRef = yield* consentSetFingerprintSteps(consentIds);
    return { included, consentIds, excluded, excludedTotal, enterpriseFingerprint, consentRef, at };
  }

  /**
   * Every enterprise's verdict for one use: the covering consent's id, or the exclusion reason's code.
   * Pages of `CONSENT_PAGE` consents in enterprise order (the `consents_use` index); a full page's last
   * enterprise is left to the next page, which starts at it, so no enterprise's consents are split
   * across two reads (an enterprise with a page of consents or more is read alone).
   */
  *#verdictSteps(
    grantee: string,
    purpose: ConsentPurpose,
    categories: readonly string[],
    at: number,
  ): Generator<void, Map<string, Verdict>> {
    const verdicts = new Map<string, Verdict>();
    const covers = new Map<string, boolean>();
    const fold = (rows: readonly VerdictRow[], from: number, to: number) => {
      let acc = newFold();
      for (let k = from; k < to; k++) {
        const row = rows[k]!;
        let cover = covers.get(row.scope);
        if (cover === undefined) {
          cover = covering(JSON.parse(row.scope) as string[], categories);
          covers.set(row.scope, cover);
        }
        if (k > from && row.enterprise !== rows[k - 1]!.enterprise) {
          verdicts.set(rows[k - 1]!.enterprise, verdictOf(acc));
          acc = newFold();
        }
        foldConsent(acc, row, cover, at);
      }
      if (to > from) verdicts.set(rows[to - 1]!.enterprise, verdictOf(acc));
    };
    // The next page starts at `from` (a held-back enterprise: inclusive; one read alone: exclusive).
    let from = '';
    let inclusive = true;
    for (;;) {
      const rows: VerdictRow[] = this.store.all<VerdictRow>(
        `SELECT id, enterprise, scope, granted_at, expires_at, revoked_at FROM consents
         WHERE grantee = ? AND purpose = ? AND enterprise ${inclusive ? '>=' : '>'} ? ORDER BY enterprise LIMIT ?`,
        grantee,
        purpose,
        from,
        CONSENT_PAGE,
      );
      if (rows.length < CONSENT_PAGE) {
        fold(rows, 0, rows.length);
        return verdicts;
      }
      const last = rows[rows.length - 1]!.enterprise;
      let end: number = rows.length;
      while (end > 0 && rows[end - 1]!.enterprise === last) end--;
      if (end > 0) {
        fold(rows, 0, end);
      } else {
        // One enterprise fills the page: read all of its consents at once.
        const own = this.store.all<VerdictRow>(
          `SELECT id, enterprise, scope, granted_at, expires_at, revoked_at FROM consents
           WHERE grantee = ? AND purpose = ? AND enterprise = ?`,
          grantee,
          purpose,
          last,
        );
        fold(own, 0, own.length);
      }
      from = last;
      inclusive = end > 0;
      yield;
    }
  }
}

/** Consents read per page by the filter (a few ms of CPU on either store). */
const CONSENT_PAGE = 2_500;
/** Ids checked between two yields of `filterByConsentAsync`. */
const ID_CHUNK = 5_000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The columns of a consent the filter reads. */
interface VerdictRow {
  id: string;
  enterprise: string;
  scope: string;
  granted_at: number;
  expires_at: number;
  revoked_at: number | null;
}

/** An enterprise's verdict: the covering consent's id, an index into `REASON_OF`, or `SEEN`. */
type Verdict = string | number;
/** The id was met earlier in the same list (the result holds each enterprise once). */
const SEEN = -1;
const REASON_OF = [
  'outOfScope',
  'revoked',
  'expired',
  'notYetValid',
] as const satisfies readonly ExclusionReason[];

/** `evaluate` folded over one enterprise's consents as they are read (no record objects). */
interface Fold {
  bestId: string | undefined;
  bestExpiry: number;
  timeValidButNarrow: boolean;
  revoked: boolean;
  expired: boolean;
  notYetValid: boolean;
}

function newFold(): Fold {
  return {
    bestId: undefined,
    bestExpiry: 0,
    timeValidButNarrow: false,
    revoked: false,
    expired: false,
    notYetValid: false,
  };
}

function foldConsent(f: Fold, row: VerdictRow, covers: boolean, at: number): void {
  // statusAt, on the row's columns.
  const revoked = row.revoked_at !== null && at >= row.revoked_at;
  const s: ConsentStatus = revoked
    ? 'revoked'
    : at < row.granted_at
      ? 'not_yet_valid'
      : at >= row.expires_at
        ? 'expired'
        : 'valid';
  if (s === 'valid' && covers) {
    if (isBetter(row.id, row.expires_at, f.bestId, f.bestExpiry)) {
      f.bestId = row.id;
      f.bestExpiry = row.expires_at;
    }
  } else if (s === 'valid') {
    f.timeValidButNarrow = true;
  } else if (covers) {
    if (s === 'revoked') f.revoked = true;
    else if (s === 'expired') f.expired = true;
    else f.notYetValid = true;
  }
}

function verdictOf(f: Fold): Verdict {
  if (f.bestId !== undefined) return f.bestId;
  if (f.timeValidButNarrow || !(f.revoked || f.expired || f.notYetValid)) return 0;
  return f.revoked ? 1 : f.expired ? 2 : 3;
}

/** The covering consent is the one expiring last; of several expiring together, the smallest id. */
function isBetter(id: string, expiresAt: number, bestId: string | undefined, bestExpiry: number): boolean {
  return bestId === undefined || expiresAt > bestExpiry || (expiresAt === bestExpiry && id < bestId);
}

type ExclusionReason = Exclude<keyof ConsentExclusions, 'invalidId'>;

/** The covering consent of one enterprise (the one expiring last), or why there is none. */
function evaluate(
  consents: readonly ConsentRecord[] | undefined,
  categories: readonly string[],
  at: number,
): { consent: ConsentRecord; reason?: undefined } | { consent?: undefined; reason: ExclusionReason } {
  if (consents === undefined || consents.length === 0) return { reason: 'noConsent' };
  let best: ConsentRecord | undefined;
  let timeValidButNarrow = false;
  const reasons = new Set<ConsentStatus>();
  for (const c of consents) {
    const s = statusAt(c, at);
    const covers = covering(c.scope, categories);
    if (s === 'valid' && covers) {
      if (isBetter(c.id, c.expiresAt, best?.id, best?.expiresAt ?? 0)) best = c;
    } else if (s === 'valid') {
      timeValidButNarrow = true;
    } else if (covers) {
      reasons.add(s);
    }
  }
  if (best !== undefined) return { consent: best };
  if (timeValidButNarrow || reasons.size === 0) return { reason: 'outOfScope' };
  if (reasons.has('revoked')) return { reason: 'revoked' };
  if (reasons.has('expired')) return { reason: 'expired' };
  return { reason: 'notYetValid' };
}

function statusAt(c: ConsentRecord, at: number): ConsentStatus {
  if (c.revokedAt !== undefined && at >= c.revokedAt) return 'revoked';
  if (at < c.grantedAt) return 'not_yet_valid';
  if (at >= c.expiresAt) return 'expired';
  return 'valid';
}

function covering(scope: readonly string[], needed: readonly string[]): boolean {
  if (scope.includes(ALL_CATEGORIES)) return true;
  if (needed.includes(ALL_CATEGORIES)) return false;
  return needed.every((c) => scope.includes(c));
}

function fromRow(row: ConsentRow): ConsentRecord {
  return {
    id: row.id,
    enterprise: row.enterprise,
    grantee: row.grantee,
    purpose: row.purpose as ConsentPurpose,
    scope: JSON.parse(row.scope) as string[],
    grantedAt: row.granted_at,
    expiresAt: row.expires_at,
    ...(row.revoked_at !== null && { revokedAt: row.revoked_at }),
    ...(row.revocation_reason !== null && { revocationReason: row.revocation_reason }),
  };
}

function validateGrant(g: ConsentGrant, field: string, now: number): ConsentRecord {
  if (typeof g !== 'object' || g === null) {
    throw new FedscoreError('invalid_argument', 'expected a consent object', { field });
  }
  const id = g.id ?? `consent-${randomUUID()}`;
  if (typeof id !== 'string' || !CONSENT_ID.test(id)) {
    throw new FedscoreError('invalid_argument', 'expected an id of letters, digits and ._:- (max 128)', {
      field: `${field}.id`,
    });
  }
  if (typeof g.enterprise !== 'string') {
    throw new FedscoreError('invalid_argument', 'expected a USCC string', { field: `${field}.enterprise` });
  }
  const enterprise = normalizeUscc(g.enterprise);
  if (!isValidUscc(enterprise)) {
    throw new FedscoreError('invalid_uscc', 'not a valid Unified Social Credit Code', {
      field: `${field}.enterprise`,
    });
  }
  const grantee = checkParty(g.grantee, `${field}.grantee`);
  const purpose = checkPurpose(g.purpose, `${field}.purpose`);
  const scope = checkScope(g.scope, `${field}.scope`);
  const grantedAt = g.grantedAt ?? now;
  for (const [k, v] of [
    ['grantedAt', grantedAt],
    ['expiresAt', g.expiresAt],
  ] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new FedscoreError('invalid_argument', 'expected a time in milliseconds since the epoch', {
        field: `${field}.${k}`,
      });
    }
  }
  if (g.expiresAt <= grantedAt) {
    throw new FedscoreError('out_of_range', 'a consent must expire after it is granted', {
      field: `${field}.expiresAt`,
    });
  }
  return { id, enterprise, grantee, purpose, scope, grantedAt, expiresAt: g.expiresAt };
}

function checkParty(value: unknown, field: string): string {
  if (typeof value !== 'string' || !PARTY.test(value)) {
    throw new FedscoreError('invalid_argument', 'expected a party id (letters, digits, ._-)', { field });
  }
  return value;
}

function checkPurpose(value: unknown, field: string): ConsentPurpose {
  if (typeof value !== 'string' || !(CONSENT_PURPOSES as readonly string[]).includes(value)) {
    throw new FedscoreError('invalid_argument', `expected one of ${CONSENT_PURPOSES.join(', ')}`, { field });
  }
  return value as ConsentPurpose;
}

function checkScope(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new FedscoreError('invalid_argument', "expected a non-empty list of data categories (or ['*'])", {
      field,
    });
  }
  for (const [i, c] of value.entries()) {
    if (typeof c !== 'string' || (c !== ALL_CATEGORIES && !CATEGORY.test(c))) {
      throw new FedscoreError('invalid_argument', "expected a category name (lowercase identifier) or '*'", {
        field: `${field}[${i}]`,
      });
    }
  }
  return [...new Set(value as string[])].sort();
}
