/**
 * Events a job runner reports to its node (runner.ts `onDataUse`), in a module of their own so that the
 * runner and the job kinds' files (hfl.ts) import it and not each other.
 */
import type { PartyId } from '@fedscore/core';
import type { ConsentSummary } from '@fedscore/pipeline';
import type { StageName } from './spec.ts';

export interface DataUseEvent {
  readonly job: string;
  readonly stage: StageName;
  /** The party that used the data: the job's guest. */
  readonly user: PartyId;
  /** The party whose data was used: a host. */
  readonly owner: PartyId;
  readonly purpose: string;
  readonly enterpriseIds: readonly string[];
  /** The host's consent check of the job (absent when the host does not require consent). */
  readonly consent?: ConsentSummary;
}
