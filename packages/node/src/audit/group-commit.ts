/**
 * Group commit for audit entries written on a hot path (online scoring: one entry per request on each
 * node). Each `AuditLog.append` is its own SQLite transaction, and with `synchronous = FULL` every commit
 * waits for the disk (1 to 10 ms on a shared disk), blocking the event loop. `AuditGroupCommit.append`
 * queues the entry on the store's group transaction (`NodeStore.groupWrite`): all writes queued in one
 * turn of the event loop -- audit entries and any other hot-path write such as the scoring quota's
 * counters -- are committed in ONE transaction on the next turn, whose disk flush runs off the event loop,
 * and every promise resolves once that transaction is on disk -- so a caller that awaits it before
 * answering still answers only after its entry is durable, and the hash chain is the same as with single
 * appends (entries in queue order).
 */
import type { AuditEntry, AuditEntryInput, AuditLog } from './audit-log.ts';

export class AuditGroupCommit {
  readonly #audit: AuditLog;

  constructor(audit: AuditLog) {
    this.#audit = audit;
  }

  /** Resolves with the stored entry once the transaction holding it has committed. */
  append(input: AuditEntryInput): Promise<AuditEntry> {
    return this.#audit.store.groupWrite(() => this.#audit.append(input));
  }
}
