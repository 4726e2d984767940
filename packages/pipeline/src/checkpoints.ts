/** What each stage leaves on a party (its checkpoint), per stage and role. */
import type { PsiIdKind } from '@fedscore/psi';
import type { EpochRecord, FeatureSelectionLineage, JointModelDescriptor, PartyModel } from '@fedscore/vfl';
import type { ConsentExclusions } from './context.ts';
import type { EvaluationCurves } from './evaluation-curves.ts';
import type { ConsentSummary } from './messages.ts';

/** What the host's consent check kept of its own table for PSI (host-local: never sent). */
export interface ConsentedSetRecord {
  /** Enterprises of the host's table that entered PSI. */
  readonly offered: number;
  readonly excluded: ConsentExclusions;
  readonly excludedTotal: number;
}

/** Checkpoints, per stage and role. Row lists are positions in this party's own table. */
export interface PsiCheckpoint {
  /** This party's table row of each aligned position. */
  readonly rows: number[];
  /** Aligned positions held out for evaluation (sorted). */
  readonly test: number[];
  /** Consent check per data owner (host): on the guest every host's, on a host its own. */
  readonly consent?: Readonly<Record<string, ConsentSummary>>;
  /** On a host that requires consent: what its consent check kept of its own table (never sent). */
  readonly consentedSet?: ConsentedSetRecord;
  /** On the guest: each host's PSI run as this party saw it. */
  readonly psi?: readonly PsiRunRecord[];
  /** On the guest: rows in every host's intersection (more than `rows` when id lists chose fewer). */
  readonly aligned?: number;
}

/** One PSI run of the guest with a host: counts, time and bytes (what the guest saw of it). */
export interface PsiRunRecord {
  readonly host: string;
  readonly idKind: PsiIdKind;
  /** Distinct ids the guest and the host sent. */
  readonly guestIds: number;
  readonly hostIds: number;
  readonly intersection: number;
  readonly seconds: number;
  readonly bytes: { readonly guestToHost: number; readonly hostToGuest: number };
}
export interface BinningCheckpoint {
  /** This party's features kept for training (column names). */
  readonly selected: string[];
  /** The guest's record of the selection (IV per party and feature, what was dropped and why). */
  readonly lineage?: FeatureSelectionLineage;
}
export interface TrainCheckpoint {
  readonly model?: PartyModel;
  readonly descriptor?: JointModelDescriptor;
  readonly epochs: number;
  readonly keptEpoch: number;
  readonly insecure: boolean;
  /** The epoch this attempt resumed from (0: trained from the start). */
  readonly resumedFrom: number;
  /** On the guest: one record per epoch (learning rate, seconds, validation AUC). */
  readonly history?: readonly EpochRecord[];
}
export interface EvaluateCheckpoint {
  readonly testRows: number;
  readonly auc?: number;
  readonly ks?: number;
  /** The guest's test set as aggregate curve points (groups of >= the release floor of rows). */
  readonly curves?: EvaluationCurves;
  /**
   * A job without a hold-out (`testFraction: 0`, every aligned row trained on, FATE's way): the same
   * evaluation on the training rows, IN-SAMPLE (optimistic; not a test AUC). Then `testRows` is 0 and
   * `auc`, `ks` and `curves` are absent, so that nothing reads an in-sample figure as a hold-out one.
   */
  readonly inSample?: { readonly rows: number; readonly auc?: number; readonly ks?: number };
  /** With the plan's `inProcess.evaluateTrain`: the training rows' scores (guest) and count. */
  readonly train?: { readonly rows: number; readonly auc?: number; readonly ks?: number };
  /**
   * In process only (a plan with `inProcess`; never on a node): the guest's scores (log-odds) of the
   * held-out rows, in the order of the psi checkpoint's `test` (the CLI's `--scores-out`).
   */
  readonly testMargins?: readonly number[];
}
export interface PublishCheckpoint {
  readonly files: string[];
  /** The registry reference of the registered version (`name@N`), on parties with a registry. */
  readonly model?: string;
}
