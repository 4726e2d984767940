/**
 * The audit log: append-only and hash-chained, one entry per use of a party's data (who used it, whose
 * data, for what purpose, under which consent, on which set of enterprises, in which job), plus consent
 * changes, model-registry changes, monitoring alerts and rejected network input (security events).
 *
 * Chain: entry n stores `prevHash` = hash of entry n-1 (64 zeros for the first) and
 * `hash = SHA-256("fedscore-audit-v1\n" || canonical JSON of [seq, at, kind, actor, dataOwner, purpose,
 * consentRef, enterpriseFingerprint, enterpriseCount, job, details, prevHash])`, details with sorted keys.
 * Changing any byte of any stored field, deleting, inserting or reordering entries breaks the chain at
 * the first affected entry, which `verify()` names. What a hash chain cannot show by itself is the loss
 * of the newest entries (the remaining prefix is a valid chain): the data owner records `head()` (entry
 * count and last hash) out of band -- e.g. in its own log, as a `dataOwnerHead` detail -- and passes it
 * to `verify({ anchor })`, which then fails on a shorter or rewritten log. This is the "tamper-evident
 * log with a published head" of Crosby and Wallach, "Efficient Data Structures for Tamper-Evident
 * Logging" (USENIX Security 2009), reduced to a linear chain: verification is O(n), which is fine here.
 *
 * Append-only is also enforced inside SQLite by triggers that abort UPDATE and DELETE, so a mistaken
 * statement cannot rewrite history; someone with write access to the file can still bypass them, which is
 * what the chain and the anchor are for.
 *
 * Entries hold no data values: enterprises appear only as a count and a fingerprint of the set
 * (`enterpriseSetFingerprint`), never as identifiers.
 */
import { createHash } from 'node:crypto';
import { FedscoreError } from '@fedscore/core';
import { type NodeStore, type StoreMigrations, sha256Hex } from '../store/index.ts';

export const AUDIT_KINDS = [
  'data_use', // a party's data took part in a computation (training, scoring, monitoring, binning, PSI)
  'consent_change', // a consent was granted or revoked
  'model_change', // a model was registered, promoted or retired
  'monitoring_alert', // post-loan alerts were sent or received
  'security_event', // rejected input: malformed, replayed or out-of-order message, wrong certificate
  'access_refused', // a request for a party's data refused by policy (no consent, quota, rate limit, no record)
  'job_refused', // a job a party would not serve: its policy (e.g. a plaintext scheme) or missing consent
  'party_dropout', // a party dropped out of a running job (an HFL bank), which went on without it
  'job_change', // a job was cancelled or retried (details: action, by)
  'catalogue_change', // a feature profile was published to a peer or received from one (aggregates only)
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export type AuditDetails = Readonly<Record<string, string | number | boolean>>;

/** What a caller records. Strings are metadata (party ids, purposes, job ids), never data values. */
export interface AuditEntryInput {
  readonly kind: AuditKind;
  /** The party that performed the action (e.g. 'bank-a'). */
  readonly actor: string;
  /** The party whose data was used, when it is not the actor. */
  readonly dataOwner?: string;
  readonly purpose?: string;
  /** A consent id, or `consentSetFingerprint` of the consents that covered a set of enterprises. */
  readonly consentRef?: string;
  /** `enterpriseSetFingerprint` of the enterprises involved. */
  readonly enterpriseFingerprint?: string;
  readonly enterpriseCount?: number;
  readonly job?: string;
  readonly details?: AuditDetails;
}

export interface AuditEntry extends AuditEntryInput {
  /** 1-based position in the chain. */
  readonly seq: number;
  /** Milliseconds since the Unix epoch. */
  readonly at: number;
  readonly prevHash: string;
  readonly hash: string;
}

/** The newest entry of a log, recorded by whoever must later detect truncation or rewriting. */
export interface AuditAnchor {
  readonly entries: number;
  readonly hash: string;
}

export type AuditFailureReason =
  | 'hash' // the stored fields do not hash to the stored hash: a field or the hash was altered
  | 'link' // prevHash is not the previous entry's hash: an entry was removed, inserted or reordered
  | 'sequence' // seq numbers are not 1, 2, 3, ...
  | 'malformed' // a stored field has the wrong type or form
  | 'unreadable' // SQLite could not read the rows at all (the file itself is damaged)
  | 'anchor'; // shorter than, or different from, the recorded anchor

export interface AuditVerification {
  readonly ok: boolean;
  /** Entries read (up to and including the first bad one). */
  readonly entries: number;
  /** Hash of the last entry that verified (64 zeros for an empty log). */
  readonly head: string;
  readonly firstBad?: { readonly seq: number; readonly reason: AuditFailureReason; readonly message: string };
  /** Entries whose failure was acknowledged (`verify({ acknowledged })`) and passed over. */
  readonly acknowledged?: readonly number[];
}

export const GENESIS_HASH = '0'.repeat(64);
const HASH_DOMAIN = 'fedscore-audit-v1\n';
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_TEXT = 256;

const AUDIT_TABLE = `CREATE TABLE audit_log (
       seq INTEGER PRIMARY KEY,
       at INTEGER NOT NULL,
       kind TEXT NOT NULL,
       actor TEXT NOT NULL,
       data_owner TEXT,
       purpose TEXT,
       consent_ref TEXT,
       enterprise_fingerprint TEXT,
       enterprise_count INTEGER,
       job TEXT,
       details TEXT,
       prev_hash TEXT NOT NULL,
       hash TEXT NOT NULL
     ) STRICT;
     CREATE INDEX audit_log_job ON audit_log (job);`;

export const AUDIT_MIGRATIONS: StoreMigrations = {
  module: 'audit',
  steps: [
    `${AUDIT_TABLE}
     CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
     CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;`,
  ],
  // PostgreSQL's triggers call a function; TRUNCATE (no row triggers) is refused as well.
  postgres: [
    `${AUDIT_TABLE}
     CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql
       AS 'BEGIN RAISE EXCEPTION ''audit_log is append-only''; END';
     CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
     CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
     CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();`,
  ],
};

interface AuditRow {
  seq: unknown;
  at: unknown;
  kind: unknown;
  actor: unknown;
  data_owner: unknown;
  purpose: unknown;
  consent_ref: unknown;
  enterprise_fingerprint: unknown;
  enterprise_count: unknown;
  job: unknown;
  details: unknown;
  prev_hash: unknown;
  hash: unknown;
}

export interface AuditLogOptions {
  /** Clock for entry times (tests inject a fixed one). Default `Date.now`. */
  readonly now?: () => number;
}

export class AuditLog {
  readonly store: NodeStore;
  readonly #now: () => number;

  /** Open the audit log in `store` (applies its schema). */
  constructor(store: NodeStore, options: AuditLogOptions = {}) {
    this.store = store;
    this.#now = options.now ?? Date.now;
    store.migrate(AUDIT_MIGRATIONS);
  }

  /** Append one entry; atomic with the caller's transaction when called inside one. */
  append(input: AuditEntryInput): AuditEntry {
    const checked = validateInput(input);
    return this.store.transaction(() => {
      const last = this.store.get<{ seq: number; hash: string }>(
        'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
      );
      const seq = (last?.seq ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS_HASH;
      const at = this.#now();
      if (!Number.isSafeInteger(at)) {
        throw new FedscoreError('internal', 'the audit clock returned a non-integer time', { field: 'now' });
      }
      const entry = { ...checked, seq, at, prevHash };
      const hash = auditEntryHash(entry);
      this.store.run(
        `INSERT INTO audit_log (seq, at, kind, actor, data_owner, purpose, consent_ref, enterprise_fingerprint,
           enterprise_count, job, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        seq,
        at,
        entry.kind,
        entry.actor,
        entry.dataOwner ?? null,
        entry.purpose ?? null,
        entry.consentRef ?? null,
        entry.enterpriseFingerprint ?? null,
        entry.enterpriseCount ?? null,
        entry.job ?? null,
        entry.details === undefined ? null : canonicalDetails(entry.details),
        prevHash,
        hash,
      );
      return { ...entry, hash };
    });
  }

  /** Number of entries and the newest hash: record it elsewhere to detect later truncation. */
  head(): AuditAnchor {
    const last = this.store.get<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    return { entries: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH };
  }

  /** Entries in chain order, optionally filtered. Throws `audit_tampered` on a row that does not decode. */
  *entries(filter: { job?: string; kind?: AuditKind; fromSeq?: number } = {}): Generator<AuditEntry> {
    for (const row of this.store.iterate<AuditRow>(
      `SELECT * FROM audit_log WHERE seq >= ? AND (? IS NULL OR job = ?) AND (? IS NULL OR kind = ?)
       ORDER BY seq`,
      filter.fromSeq ?? 1,
      filter.job ?? null,
      filter.job ?? null,
      filter.kind ?? null,
      filter.kind ?? null,
    )) {
      const decoded = decodeRow(row);
      if (typeof decoded === 'string') {
        throw new FedscoreError('audit_tampered', `entry ${String(row.seq)}: ${decoded}`, {
          field: `audit_log[${String(row.seq)}]`,
        });
      }
      yield decoded;
    }
  }

  /**
   * Check the whole chain (and the anchor, if given); stops at the first bad entry. Never throws.
   * `acknowledged`: entries whose hash or link failure the operator has examined and accepted; the check
   * goes on past them (from their stored hash), and any other failure still ends it.
   */
  verify(options: { anchor?: AuditAnchor; acknowledged?: readonly number[] } = {}): AuditVerification {
    let rows: Iterable<AuditRow>;
    try {
      rows = this.store.iterate<AuditRow>('SELECT * FROM audit_log ORDER BY seq');
      return verifyRows(rows, options.anchor, new Set(options.acknowledged ?? []));
    } catch (e) {
      // verifyRows catches per-row failures; this is a failure to read the table at all.
      return {
        ok: false,
        entries: 0,
        head: GENESIS_HASH,
        firstBad: { seq: 1, reason: 'unreadable', message: messageOf(e) },
      };
    }
  }
}

/** Verify entries given as objects (e.g. a log exported as JSON lines by another party). */
export function verifyAuditEntries(entries: Iterable<unknown>, anchor?: AuditAnchor): AuditVerification {
  const rows = (function* () {
    for (const e of entries) yield toRow(e);
  })();
  return verifyRows(rows, anchor);
}

function verifyRows(
  rows: Iterable<AuditRow>,
  anchor: AuditAnchor | undefined,
  acknowledged: ReadonlySet<number> = new Set(),
): AuditVerification {
  const skipped: number[] = [];
  let count = 0;
  let head = GENESIS_HASH;
  let anchorSeen = false;
  const bad = (seq: number, reason: AuditFailureReason, message: string): AuditVerification => ({
    ok: false,
    entries: count,
    head,
    firstBad: { seq, reason, message },
  });
  const iterator = rows[Symbol.iterator]();
  while (true) {
    let next: IteratorResult<AuditRow>;
    try {
      next = iterator.next();
    } catch (e) {
      return bad(count + 1, 'unreadable', messageOf(e));
    }
    if (next.done === true) break;
    const expectedSeq = count + 1;
    count++;
    const entry = decodeRow(next.value);
    if (typeof entry === 'string') return bad(expectedSeq, 'malformed', entry);
    if (entry.seq !== expectedSeq) {
      return bad(expectedSeq, 'sequence', `expected entry ${expectedSeq}, found entry ${entry.seq}`);
    }
    const hashOk = auditEntryHash(entry) === entry.hash;
    const linkOk = entry.prevHash === head;
    if ((!hashOk || !linkOk) && acknowledged.has(entry.seq)) {
      skipped.push(entry.seq);
    } else if (!hashOk) {
      return bad(entry.seq, 'hash', 'the stored fields do not match the stored hash');
    } else if (!linkOk) {
      return bad(entry.seq, 'link', "prevHash is not the previous entry's hash");
    }
    head = entry.hash;
    if (anchor !== undefined && entry.seq === anchor.entries) {
      anchorSeen = true;
      if (entry.hash !== anchor.hash) return bad(entry.seq, 'anchor', 'differs from the recorded anchor');
    }
  }
  if (anchor !== undefined && !anchorSeen && anchor.entries > 0) {
    return bad(count + 1, 'anchor', `the log ends at entry ${count}; the anchor records ${anchor.entries}`);
  }
  return { ok: true, entries: count, head, ...(skipped.length > 0 && { acknowledged: skipped }) };
}

/** The hash of an entry (see the file comment for the exact bytes). */
export function auditEntryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const fields = [
    entry.seq,
    entry.at,
    entry.kind,
    entry.actor,
    entry.dataOwner ?? null,
    entry.purpose ?? null,
    entry.consentRef ?? null,
    entry.enterpriseFingerprint ?? null,
    entry.enterpriseCount ?? null,
    entry.job ?? null,
    entry.details === undefined ? null : canonicalDetails(entry.details),
    entry.prevHash,
  ];
  return sha256Hex(HASH_DOMAIN + JSON.stringify(fields));
}

/**
 * Fingerprint of a set of enterprise ids: SHA-256 over the sorted, de-duplicated ids, domain-separated.
 * Two parties holding the same set compute the same value; the value does not reveal the ids (USCCs have
 * low entropy, so the fingerprint must still be treated as confidential between the parties).
 */
export function enterpriseSetFingerprint(ids: Iterable<string>): string {
  const sorted = [...new Set(ids)].sort();
  return sha256Hex(`${ENTERPRISE_SET_DOMAIN}${sorted.join('\n')}`);
}

/** Fingerprint of the consent ids that covered one use (sorted, de-duplicated, domain-separated). */
export function consentSetFingerprint(consentIds: Iterable<string>): string {
  const sorted = [...new Set(consentIds)].sort();
  return `consents:${sha256Hex(`${CONSENT_SET_DOMAIN}${sorted.join('\n')}`)}`;
}

const ENTERPRISE_SET_DOMAIN = 'fedscore-enterprise-set-v1\n';
const CONSENT_SET_DOMAIN = 'fedscore-consent-set-v1\n';

/**
 * `enterpriseSetFingerprint(ids)`, computed in steps of about `chunk` ids: the generator yields between
 * steps and returns the fingerprint, so a caller that must not hold the event loop (a consent filter of
 * millions of ids) awaits a turn of the loop at each yield. The same value as the one-call function.
 */
export function* enterpriseSetFingerprintSteps(
  ids: readonly string[],
  chunk = FINGERPRINT_CHUNK,
): Generator<void, string> {
  return yield* sortedSetDigestSteps(ENTERPRISE_SET_DOMAIN, ids, chunk);
}

/** `consentSetFingerprint(consentIds)` in steps (as `enterpriseSetFingerprintSteps`). */
export function* consentSetFingerprintSteps(
  consentIds: readonly string[],
  chunk = FINGERPRINT_CHUNK,
): Generator<void, string> {
  return `consents:${yield* sortedSetDigestSteps(CONSENT_SET_DOMAIN, consentIds, chunk)}`;
}

/** Ids sorted, merged or hashed between two yields of the fingerprint steps (a few ms of CPU each). */
const FINGERPRINT_CHUNK = 8_192;

/**
 * SHA-256 of `domain` followed by the sorted, de-duplicated `values` joined by newlines, in steps: sort
 * runs of `chunk` values, merge them pairwise (each merge yields every `chunk` values it writes), then
 * hash the result `chunk` values per update. Strings compare by UTF-16 code units, as `Array.sort`'s
 * default order does; the values are ASCII identifiers, so hashing pieces of the text equals hashing it
 * whole.
 */
function* sortedSetDigestSteps(
  domain: string,
  values: readonly string[],
  chunk: number,
): Generator<void, string> {
  const size = Math.max(1, Math.floor(chunk));
  let runs: string[][] = [];
  for (let i = 0; i < values.length; i += size) {
    runs.push(values.slice(i, i + size).sort());
    yield;
  }
  while (runs.length > 1) {
    const next: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1];
      if (b === undefined) {
        next.push(a);
        continue;
      }
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      let budget = size;
      while (i < a.length && j < b.length) {
        out[k++] = b[j]! < a[i]! ? b[j++]! : a[i++]!;
        if (--budget === 0) {
          budget = size;
          yield;
        }
      }
      while (i < a.length) out[k++] = a[i++]!;
      while (j < b.length) out[k++] = b[j++]!;
      next.push(out);
      yield;
    }
    runs = next;
  }
  const sorted = runs[0] ?? [];
  const hash = createHash('sha256').update(domain);
  let first = true;
  let piece: string[] = [];
  const flush = () => {
    if (piece.length === 0) return;
    hash.update(first ? piece.join('\n') : `\n${piece.join('\n')}`);
    first = false;
    piece = [];
  };
  for (let n = 0; n < sorted.length; n++) {
    const v = sorted[n]!;
    if (n > 0 && v === sorted[n - 1]) continue;
    piece.push(v);
    if (piece.length === size) {
      flush();
      yield;
    }
  }
  flush();
  return hash.digest('hex');
}

function canonicalDetails(details: AuditDetails): string {
  const keys = Object.keys(details).sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, details[k]])));
}

function validateInput(input: AuditEntryInput): AuditEntryInput {
  if (typeof input !== 'object' || input === null) {
    throw new FedscoreError('invalid_argument', 'expected an audit entry object', { field: 'entry' });
  }
  if (!(AUDIT_KINDS as readonly string[]).includes(input.kind)) {
    throw new FedscoreError('invalid_argument', `expected one of ${AUDIT_KINDS.join(', ')}`, {
      field: 'entry.kind',
    });
  }
  text(input.actor, 'entry.actor', true);
  for (const f of ['dataOwner', 'purpose', 'consentRef', 'job'] as const) text(input[f], `entry.${f}`, false);
  if (input.enterpriseFingerprint !== undefined && !HEX64.test(input.enterpriseFingerprint)) {
    throw new FedscoreError('invalid_argument', 'expected 64 lowercase hex digits', {
      field: 'entry.enterpriseFingerprint',
    });
  }
  const count = input.enterpriseCount;
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 0)) {
    throw new FedscoreError('out_of_range', 'expected a non-negative integer', {
      field: 'entry.enterpriseCount',
    });
  }
  if (input.details !== undefined) {
    if (typeof input.details !== 'object' || input.details === null || Array.isArray(input.details)) {
      throw new FedscoreError('invalid_argument', 'expected an object', { field: 'entry.details' });
    }
    for (const [k, v] of Object.entries(input.details)) {
      const ok =
        typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
      if (!ok) {
        throw new FedscoreError('invalid_argument', 'expected a string, finite number or boolean', {
          field: `entry.details.${k}`,
        });
      }
    }
  }
  // Keep only the known fields so that what is hashed is exactly what is stored.
  return {
    kind: input.kind,
    actor: input.actor,
    ...(input.dataOwner !== undefined && { dataOwner: input.dataOwner }),
    ...(input.purpose !== undefined && { purpose: input.purpose }),
    ...(input.consentRef !== undefined && { consentRef: input.consentRef }),
    ...(input.enterpriseFingerprint !== undefined && { enterpriseFingerprint: input.enterpriseFingerprint }),
    ...(input.enterpriseCount !== undefined && { enterpriseCount: input.enterpriseCount }),
    ...(input.job !== undefined && { job: input.job }),
    ...(input.details !== undefined && { details: { ...input.details } }),
  };
}

function text(value: unknown, field: string, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) {
    throw new FedscoreError('invalid_argument', `expected a string of 1 to ${MAX_TEXT} characters`, {
      field,
    });
  }
}

/** A stored row as an entry, or a message saying what is malformed. */
function decodeRow(row: AuditRow): AuditEntry | string {
  const { seq, at, kind, actor, prev_hash: prevHash, hash } = row;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) return 'seq is not an integer';
  if (typeof at !== 'number' || !Number.isSafeInteger(at)) return 'at is not an integer';
  if (typeof kind !== 'string' || !(AUDIT_KINDS as readonly string[]).includes(kind)) return 'unknown kind';
  if (typeof actor !== 'string') return 'actor is not text';
  if (typeof prevHash !== 'string' || !HEX64.test(prevHash)) return 'prevHash is not a hash';
  if (typeof hash !== 'string' || !HEX64.test(hash)) return 'hash is not a hash';
  const optText = (v: unknown): string | undefined | false =>
    v === null || v === undefined ? undefined : typeof v === 'string' ? v : false;
  const dataOwner = optText(row.data_owner);
  const purpose = optText(row.purpose);
  const consentRef = optText(row.consent_ref);
  const fingerprint = optText(row.enterprise_fingerprint);
  const job = optText(row.job);
  const detailsText = optText(row.details);
  if ([dataOwner, purpose, consentRef, fingerprint, job, detailsText].includes(false)) {
    return 'a text field holds another type';
  }
  const count = row.enterprise_count;
  if (count !== null && count !== undefined && (typeof count !== 'number' || !Number.isSafeInteger(count))) {
    return 'enterprise_count is not an integer';
  }
  let details: AuditDetails | undefined;
  if (typeof detailsText === 'string') {
    try {
      const parsed: unknown = JSON.parse(detailsText);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        return 'details is not an object';
      details = parsed as AuditDetails;
    } catch {
      return 'details is not JSON';
    }
    for (const v of Object.values(details)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        return 'details holds a value that is not a string, number or boolean';
      }
    }
    // The hash covers the canonical form, so any other spelling of the same JSON is an alteration.
    if (canonicalDetails(details) !== detailsText) return 'details is not in canonical form';
  }
  return {
    seq,
    at,
    kind: kind as AuditKind,
    actor,
    ...(typeof dataOwner === 'string' && { dataOwner }),
    ...(typeof purpose === 'string' && { purpose }),
    ...(typeof consentRef === 'string' && { consentRef }),
    ...(typeof fingerprint === 'string' && { enterpriseFingerprint: fingerprint }),
    ...(typeof count === 'number' && { enterpriseCount: count }),
    ...(typeof job === 'string' && { job }),
    ...(details !== undefined && { details }),
    prevHash,
    hash,
  };
}

/** An exported entry object as a row (field names as in `AuditEntry`). */
function toRow(e: unknown): AuditRow {
  const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  const details = o['details'];
  return {
    seq: o['seq'],
    at: o['at'],
    kind: o['kind'],
    actor: o['actor'],
    data_owner: o['dataOwner'],
    purpose: o['purpose'],
    consent_ref: o['consentRef'],
    enterprise_fingerprint: o['enterpriseFingerprint'],
    enterprise_count: o['enterpriseCount'],
    job: o['job'],
    details:
      details === undefined || details === null
        ? null
        : typeof details === 'object' && !Array.isArray(details)
          ? canonicalDetails(details as AuditDetails)
          : 0,
    prev_hash: o['prevHash'],
    hash: o['hash'],
  };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
