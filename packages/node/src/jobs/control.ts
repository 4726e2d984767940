/**
 * Cancel and retry of a job, as its coordinator's operator asks for them (the CLI through the node's
 * store, the console in the node's process). Both only change the job's row in the store and append a
 * `job_change` audit entry in the same transaction; the coordinator's runner acts on the row at its next
 * poll (runner.ts): it stops the job's stage attempts (each attempt's AbortController revokes its
 * sessions), tells every other party (a `job.cancel` notice, retried until each has acknowledged it,
 * as the failure notice is), and each party marks the job cancelled and audits it. A retry puts a failed
 * or cancelled job back at its recorded stage with a new attempt, from the stages' checkpoints (and the
 * train stage's per-epoch checkpoints a cancel left), or from the start when no stage began.
 *
 * Only the job's coordinator (its guest's node) cancels or retries it: a follower's operator who wants
 * out of a job refuses it by policy (config `accept`).
 */
import { FedscoreError, type PartyId } from '@fedscore/core';
import type { AuditLog } from '../audit/index.ts';
import type { JobRecord, JobStore } from './job-store.ts';

/** A job cancelled or retried, as audited on each party. */
export interface JobChangeEvent {
  readonly job: string;
  readonly action: 'cancel' | 'retry';
  /** The party that cancelled or retried it: the job's coordinator. */
  readonly party: PartyId;
  /** Who asked, on the coordinator only (`console:<user>`, `cli:<user>`); a follower learns the party. */
  readonly by?: string;
  readonly stage: string | null;
}

const BY = /^[A-Za-z0-9][A-Za-z0-9:._@-]{0,127}$/;

function coordinated(jobs: JobStore, party: PartyId, id: string): JobRecord {
  const j = jobs.require(id);
  if (j.coordinator !== party) {
    throw new FedscoreError(
      'job_state',
      `job '${id}' is coordinated by '${j.coordinator}': cancel or retry it on that node`,
      { field: 'job' },
    );
  }
  return j;
}

function checkBy(by: string): void {
  if (typeof by !== 'string' || !BY.test(by)) {
    throw new FedscoreError('invalid_argument', 'who asks is a short name (letters, digits, : . _ @ -)', {
      field: 'by',
    });
  }
}

/** Record one cancel or retry in `audit` (one entry per party and event). */
export function recordJobChange(audit: AuditLog, e: JobChangeEvent): void {
  audit.append({
    kind: 'job_change',
    actor: e.party,
    job: e.job,
    details: {
      action: e.action,
      ...(e.by !== undefined && { by: e.by }),
      ...(e.stage !== null && { stage: e.stage }),
    },
  });
}

/** Ask the coordinator's runner to cancel a submitted or running job; audited with who asked. */
export function cancelJob(
  jobs: JobStore,
  audit: AuditLog,
  party: PartyId,
  id: string,
  by: string,
): JobRecord {
  checkBy(by);
  return jobs.store.transaction(() => {
    const before = coordinated(jobs, party, id);
    const j = jobs.requestCancel(id, by);
    if (before.cancelRequestedBy === undefined) {
      recordJobChange(audit, { job: id, action: 'cancel', party, by, stage: j.stage });
    }
    return j;
  });
}

/** Put a failed or cancelled job back to run (its coordinator's runner picks it up); audited. */
export function retryJob(jobs: JobStore, audit: AuditLog, party: PartyId, id: string, by: string): JobRecord {
  checkBy(by);
  return jobs.store.transaction(() => {
    coordinated(jobs, party, id);
    const j = jobs.retry(id);
    recordJobChange(audit, { job: id, action: 'retry', party, by, stage: j.stage });
    return j;
  });
}
