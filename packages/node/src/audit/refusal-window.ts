/**
 * Refused calls of unauthenticated callers, counted in memory and written to the audit log as one
 * `security_event` per source per window. The audit log is append-only: one entry per refused call let
 * 300 calls write 267 permanent rows in under a second, so anyone who can reach the port could fill the
 * disk. Now a source (the caller's IP address) costs at most one row per window whatever it sends, and
 * at most `maxSources` sources are tracked per window; the rest share one overflow row.
 *
 * A row holds the window (`windowStart`, `windowEnd`), the number of refused calls, the RPCs and error
 * code, how many distinct certificates were presented, and the public facts of the first one
 * (fingerprint, subject, issuer, serial, claimed party) and the first reason -- enough to identify the
 * caller; never key material. Windows are flushed by a timer, on demand (`flush()`) and at shutdown
 * (`close()`); a crash loses at most the current window's counts (the node's log still has a warning per
 * refused call).
 */
import type { AuditLog } from './audit-log.ts';

/** What one refused call contributes. */
export interface UnauthenticatedRefusal {
  readonly rpc: string;
  readonly code: string;
  readonly field?: string;
  readonly remoteAddress?: string;
  /** The reason the node refused (its own log and audit only; the caller is told nothing). */
  readonly reason: string;
  readonly certificate?: {
    readonly fingerprint256: string;
    readonly subject: string;
    readonly issuer: string;
    readonly serialNumber: string;
    readonly claimedParty?: string;
  };
}

interface SourceWindow {
  readonly first: UnauthenticatedRefusal;
  count: number;
  readonly rpcs: Map<string, number>;
  readonly codes: Set<string>;
  readonly certificates: Set<string>;
  firstAt: number;
  lastAt: number;
}

export interface RefusalWindowOptions {
  readonly audit: AuditLog;
  /** Window length in ms. */
  readonly windowMs: number;
  /** Sources tracked per window before the rest share one row. Default 1000. */
  readonly maxSources?: number;
  readonly now?: () => number;
  /** Called when writing a window fails (the audit log is unwritable); the counts are kept for the next flush. */
  readonly onError?: (e: unknown) => void;
}

const OVERFLOW = 'other sources';
const MAX_TEXT = 256;

export class RefusalWindow {
  readonly #o: RefusalWindowOptions;
  readonly #now: () => number;
  #sources = new Map<string, SourceWindow>();
  #windowStart: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: RefusalWindowOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#windowStart = this.#now();
    this.#timer = setInterval(() => this.flush(), options.windowMs);
    this.#timer.unref();
  }

  /** Count one refused call. */
  record(r: UnauthenticatedRefusal): void {
    const max = this.#o.maxSources ?? 1000;
    let key = r.remoteAddress ?? 'unknown';
    if (!this.#sources.has(key) && this.#sources.size >= max) key = OVERFLOW;
    const at = this.#now();
    let w = this.#sources.get(key);
    if (w === undefined) {
      w = {
        first: r,
        count: 0,
        rpcs: new Map(),
        codes: new Set(),
        certificates: new Set(),
        firstAt: at,
        lastAt: at,
      };
      this.#sources.set(key, w);
    }
    w.count += 1;
    w.lastAt = at;
    w.rpcs.set(r.rpc, (w.rpcs.get(r.rpc) ?? 0) + 1);
    w.codes.add(r.code);
    // Distinct certificates are counted up to a bound (a flood of fresh certificates must not grow memory).
    if (w.certificates.size < 10_000) w.certificates.add(r.certificate?.fingerprint256 ?? 'none');
  }

  /** Refused calls counted and not yet written. */
  get pending(): number {
    let n = 0;
    for (const w of this.#sources.values()) n += w.count;
    return n;
  }

  /** Write one audit entry per source of the current window (none when nothing was refused). */
  flush(): number {
    const end = this.#now();
    const sources = this.#sources;
    if (sources.size === 0) {
      this.#windowStart = end;
      return 0;
    }
    let written = 0;
    try {
      this.#o.audit.store.transaction(() => {
        for (const [source, w] of sources) {
          const c = w.first.certificate;
          this.#o.audit.append({
            kind: 'security_event',
            actor: 'unauthenticated',
            details: {
              event: 'refused_calls',
              count: w.count,
              windowStart: this.#windowStart,
              windowEnd: end,
              firstAt: w.firstAt,
              lastAt: w.lastAt,
              rpc: [...w.rpcs].map(([k, n]) => `${k}:${n}`).join(','),
              code: [...w.codes].join(','),
              ...(w.first.field !== undefined && { field: w.first.field }),
              ...(source !== 'unknown' && { remoteAddress: source }),
              reason: w.first.reason.slice(0, MAX_TEXT),
              certificates: w.certificates.has('none') ? w.certificates.size - 1 : w.certificates.size,
              ...(c !== undefined && {
                certFingerprint256: c.fingerprint256,
                certSubject: c.subject.slice(0, MAX_TEXT),
                certIssuer: c.issuer.slice(0, MAX_TEXT),
                certSerial: c.serialNumber,
                ...(c.claimedParty !== undefined && { certParty: c.claimedParty }),
              }),
            },
          });
          written++;
        }
      });
    } catch (e) {
      // Keep the counts; the next flush tries again.
      this.#o.onError?.(e);
      return 0;
    }
    this.#sources = new Map();
    this.#windowStart = end;
    return written;
  }

  /** Flush and stop the timer (at shutdown). */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
