/**
 * Group commit for audit entries written on a hot path (online scoring: one entry per request on each
 * node). Each `AuditLog.append` is its own SQLite transaction, and with `synchronous = FULL` every commit
 * waits for the disk (about 6 ms here), blocking the event loop. `AuditGroupCommit.append` queues the
 * entry and returns a promise; all entries queued in one turn of the event loop are appended in ONE
 * transaction (one disk flush) on the next turn, and every promise resolves once that transaction has
 * committed -- so a caller that awaits it before answering still answers only after its entry is
 * durable, and the hash chain is the same as with single appends (entries in queue order).
 */
import type { AuditEntry, AuditEntryInput, AuditLog } from './audit-log.ts';

interface Pending {
  readonly input: AuditEntryInput;
  readonly resolve: (e: AuditEntry) => void;
  readonly reject: (e: unknown) => void;
}

export class AuditGroupCommit {
  readonly #audit: AuditLog;
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(audit: AuditLog) {
    this.#audit = audit;
  }

  /** Resolves with the stored entry once the transaction holding it has committed. */
  append(input: AuditEntryInput): Promise<AuditEntry> {
    return new Promise<AuditEntry>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    let stored: AuditEntry[];
    try {
      stored = this.#audit.store.transaction(() => batch.map((p) => this.#audit.append(p.input)));
    } catch (e) {
      // Nothing of the batch was committed; each caller fails (an invalid entry fails its whole batch).
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => {
      p.resolve(stored[i]!);
    });
  }
}
