/**
 * Runs jobs across nodes and makes them survive crashes.
 *
 * The guest's node coordinates; every other party's node follows its `Control` commands. Per stage the
 * coordinator runs attempts 0, 1, 2, ...:
 *   1. record (stage, attempt) in its store; grant the attempt's sessions on its own transport;
 *   2. offer the job to each party of the stage (idempotent) and PREPARE the attempt there (each grants
 *      the sessions, so no message of the attempt can arrive before its receiver accepts it);
 *   3. START everywhere, and run its own role;
 *   4. poll every party's status. Success = every role DONE, each having written its checkpoint in the
 *      same transaction that marked it done; the coordinator then moves the job to the next stage.
 *      Failure = a role FAILED or ABORTED, a party that no longer knows the attempt (it restarted), or one
 *      that stops answering: the coordinator revokes the attempt everywhere (ABORT), waits until every
 *      party answers health checks again (up to `peerDownSeconds`), and starts the next attempt of the
 *      same stage from the previous stages' checkpoints.
 * A coordinator that restarts finds its running jobs in its store and continues them at the recorded
 * stage with a new attempt; a follower that restarts answers UNKNOWN for the attempt it lost, which makes
 * the coordinator retry. Errors that a retry cannot fix (bad config, insecure parameters, no consent,
 * empty intersection...) fail the job at once; the rest are retried up to `maxAttempts` per stage.
 *
 * A job that fails (a fatal error, or `maxAttempts` failed attempts of a stage) is marked failed on the
 * coordinator and then on every other party: the coordinator sends each an ABORT of the pseudo-stage
 * `job` (`JOB_STAGE`), retried every few seconds until each party has acknowledged it (a party that is
 * down when the job fails learns it when it is back), so no party is left with the job "running".
 *
 * Replicas (`lease`: the coordinating party's replicas on one PostgreSQL store): a replica coordinates a
 * job only while it holds the job's lease; its writes of the job are fenced by the lease epoch it claimed
 * (job-store.ts), and every control request it sends carries that epoch, which each follower checks
 * against the highest it has seen for the job (`#checkEpoch`): a replica that stalled past its lease can
 * neither write the job's state nor open or drive an attempt at the peers.
 *
 * Governance: on a host that requires consent (the government node), the psi stage applies the host's
 * consent registry to its own table at the instant the host accepted the job (its own clock, so a
 * guest cannot backdate a job to before a revocation) and runs PSI on the consenting enterprises only,
 * refusing a guest set above the host's `psiPolicy` (`psi_policy`, reported to `onPolicyRefusal` on the
 * host and on the guest); every stage that uses a host's data (psi,
 * binning, train, evaluate) is reported to `onDataUse` on both the guest and that host with the same
 * fields (user = the guest, owner = the host, purpose, the job's enterprise set and consent reference), so
 * that the owner can reconcile the guest's audit log with its own; publish registers the model.
 *
 * Refusals: each node admits a job by its own config (`accept`, admission.ts) when it is submitted or
 * offered and before each attempt; a refused job fails at once with a typed `policy` error. A job refused
 * for its policy or for missing consent is reported to `onRefused` on the refusing node and on the guest
 * (for the audit log of each), as data uses are: the host when its consent check leaves no enterprise
 * or its role refuses an alignment, the guest when its job fails for either reason.
 *
 * Dropouts ('hfl' jobs with `hfl.phaseDeadlineMs`): in the train stage a bank that fails (for a reason a
 * retry could fix), stops answering or loses the attempt does not fail it; the coordinator's role decides
 * by its deadlines (the round completes with the other banks, secure aggregation unmasks without the
 * dropped one, later rounds go on without it). When the coordinator's role is done, every bank its train
 * checkpoint lists as dropped is told to ABORT the attempt, recorded as a `party_dropped` job event and
 * reported to `onDropout` (the coordinator's audit log); it is not a party of the later stages. A bank
 * that failed but was not dropped by the coordinator still fails the attempt.
 *
 * Cancel and retry (control.ts): an operator's cancel request on the coordinator is acted on at the
 * runner's next poll: the job's `AbortController` ends its coordination loop, every local stage attempt's
 * controller revokes the attempt's sessions (the protocol stops at its next message; its progress reports
 * stop), the job is marked `cancelled`, and every other party gets an ABORT of the pseudo-stage
 * `job.cancel` (`JOB_CANCEL_STAGE`), retried like the failure notice until each has acknowledged it;
 * each stops its attempts, marks the job cancelled and reports it to `onJobChange` (its audit log). A
 * retry puts a failed or cancelled job back to `running` at its recorded stage: the coordinator starts a
 * new attempt there (attempt numbers keep growing, so no party mistakes it for an old one), a follower
 * that had ended the job takes it up again at PREPARE and reports the retry to `onJobChange`. A cancel
 * keeps the train stage's per-epoch checkpoints, so a retry resumes training from them.
 *
 * Granularity: a checkpoint is a completed stage, and within the train stage an epoch (hetero-LR) or a
 * tree (SecureBoost). A party killed
 * mid-training makes the coordinator start a new attempt of the train stage; in it every role hands
 * hetero-LR the per-epoch checkpoints it stored (the last 3; see stages.ts) and the roles' handshake
 * resumes all of them from the latest epoch every party holds (at most one behind the killed party's
 * last), recorded as a `train_resumed` job event and in the train checkpoint's `resumedFrom`. With the
 * job's seed and each party's per-job mask key the resumed run repeats the uninterrupted run from that
 * epoch: the same model, bit for bit under scheme 'none' and within the CKKS release flooding under CKKS
 * (the jobs and integration tests check both). Earlier stages are not re-run.
 * SecureBoost does the same per tree: every party checkpoints each finished tree (the guest its trees,
 * margins, records and early-stopping state; a host its split records and release count), the roles'
 * handshake resumes all from the latest tree every party holds (`train_resumed` with `tree=k`), each
 * party's draws come from its per-job key, and a host's count of released histograms is a job event
 * written before each release and read by every attempt, so retries never reset its release budget
 * (docs/protocols/secureboost.md, "Resume"; node/test/secureboost-resume.test.ts SIGKILLs a host
 * mid-tree). Progress is reported per epoch or per tree (`progress` job events the console shows).
 */
import { randomUUID } from 'node:crypto';
import {
  type ErrorCode,
  FedscoreError,
  isFedscoreError,
  type Logger,
  noopLogger,
  noProgress,
  normalizeUscc,
  type PartyId,
  type ProgressCallback,
  type Table,
} from '@fedscore/core';
import type { PsiBlindOffload } from '@fedscore/psi';
import type { CreditRules } from '@fedscore/scoring';
import type { BinSumOffload, PackedProductOffload, SecureBoostHistogramOffload } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import type { ConsentRegistry } from '../consent/index.ts';
import type { ModelRegistry } from '../registry/index.ts';
import type { GrpcTransport } from '../transport/grpc.ts';
import { type AcceptPolicy, checkJobPolicy, SECURE_ONLY } from './admission.ts';
import type { JobChangeEvent } from './control.ts';
import type { DataUseEvent } from './events.ts';
import type { TestFault } from './fault.ts';
import { dropoutTolerant, hflDataUses, hflDroppedDataUse, hflDroppedHosts } from './hfl.ts';
import { HFL_JOB_KIND } from './hfl-spec.ts';
import { ENDED_STATUSES, type JobRecord, type JobStore } from './job-store.ts';
import { progressDetail, progressThrottle } from './progress.ts';
import {
  attemptKey,
  type JobSpec,
  type JobSpecInput,
  jobParties,
  jobStages,
  STAGES,
  type StageName,
  stageParties,
  validateJobSpec,
} from './spec.ts';
import {
  type HeAcceptance,
  type PsiCheckpoint,
  type PsiPolicy,
  runStageRole,
  stageProtocols,
} from './stages.ts';

const State = fedscore.node.StageStatus.State;
const Action = fedscore.node.StageCommand.Action;
type StateValue = fedscore.node.StageStatus.State;

/** Errors a new attempt cannot fix: the job fails at once. */
const FATAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'invalid_argument',
  'invalid_config',
  'out_of_range',
  'csv_parse',
  'csv_schema',
  'duplicate_id',
  'missing_value',
  'unusable_record',
  'invalid_uscc',
  'he_insecure_params',
  'consent',
  'policy',
  'psi_policy',
  'single_class',
  'unsupported',
  'not_found',
]);

/** Refusals by a data owner's policy: audited on the refusing host and on the coordinator (the guest). */
const POLICY_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['psi_policy']);

/**
 * A data owner's policy refused a job's request (e.g. a guest's PSI set above the owner's bound). Reported
 * on the refusing host and on the guest's node, for both audit logs. No identifiers: sizes only.
 */
export interface PolicyRefusalEvent {
  readonly job: string;
  readonly stage: StageName;
  /** The party whose request was refused: the job's guest. */
  readonly requester: PartyId;
  /** The data owner that refused it. */
  readonly refusedBy: PartyId;
  readonly code: ErrorCode;
  readonly field?: string;
  readonly message: string;
}

/** The pseudo-stage of a job-level ABORT: the coordinator ended the job as failed. */
export const JOB_STAGE = 'job';
/** The pseudo-stage of a job-level ABORT: the coordinator's operator cancelled the job. */
export const JOB_CANCEL_STAGE = 'job.cancel';
/**
 * The pseudo-stage of a job-level ABORT to one bank: the coordinator dropped it from an 'hfl' job's train
 * stage and the job goes on without it. The command's `attempt` carries the round it was dropped in.
 */
export const JOB_DROPPED_STAGE = 'job.dropped';
/** The error code a dropped bank ends its job with (its job record: failed, 'dropped'). */
export const DROPPED_CODE = 'dropped';

/** Stages that use a host's data (the arbiter's and the publish stage's do not). */
const DATA_STAGES: ReadonlySet<StageName> = new Set<StageName>(['psi', 'binning', 'train', 'evaluate']);

/**
 * One stage's use of a host's data by the job's guest, reported on both of them for the audit log. The
 * ids are the job's aligned (consented) enterprise set; the audit entry keeps only their fingerprint and
 * count.
 */
export type { DataUseEvent } from './events.ts';

/** Error codes of a refusal (the job was not allowed to use the data), audited on both sides. */
const REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['consent', 'policy']);

/**
 * A job refused by a party: by its policy (`policy`) or for missing consent (`consent`). Reported on the
 * refusing node and on the guest; never carries data values.
 */
export interface JobRefusal {
  readonly job: string;
  /** The stage refused, or 'offer' when the job was refused before any stage. */
  readonly stage: StageName | 'offer';
  /** The party that asked for the use: the job's guest. */
  readonly user: PartyId;
  /** The party that refused. */
  readonly refusedBy: PartyId;
  /** Whose data the refused use concerned (the refusing host; absent for a guest's or arbiter's policy). */
  readonly owner?: PartyId;
  readonly purpose: string;
  readonly code: ErrorCode;
  readonly field?: string;
  /** Counts of a consent refusal (enterprises in the intersection and excluded). */
  readonly counts?: Readonly<Record<string, number>>;
}

export interface JobRunnerOptions {
  readonly party: PartyId;
  readonly transport: GrpcTransport;
  readonly jobs: JobStore;
  /** This party's dataset by config name (cached by the caller). */
  readonly data: (name: string) => Promise<Table>;
  /** Whether this node has a dataset of that name (checked when a job is offered). */
  readonly hasData: (name: string) => boolean;
  readonly stateDir: string;
  readonly peerDownSeconds?: number;
  readonly maxAttempts?: number;
  /** Status poll interval of a running stage (ms; config `limits.stagePollMs`). Default 300. */
  readonly pollMs?: number;
  /** How often the store is polled for jobs to start, cancel or notify about (ms; config `limits.jobPollMs`). Default 500. */
  readonly jobPollMs?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
  readonly onDataUse?: (event: DataUseEvent) => void;
  /** As a host, run PSI only on this registry's consenting enterprises (absent: no consent check). */
  readonly consents?: ConsentRegistry;
  /** As a host, bounds on a guest's submitted PSI set (config `governance.psi`). */
  readonly psiPolicy?: PsiPolicy;
  /** What this node accepts of HE in jobs (config `he`; default: neither). */
  readonly he?: HeAcceptance;
  /** Where the train stage's packed products run (config `queue: pgboss`; absent: the threads). */
  readonly offload?: PackedProductOffload;
  /** Where a binning host's encrypted bin sums run (config `queue: pgboss`; absent: the threads). */
  readonly binSumOffload?: BinSumOffload;
  /** Where a SecureBoost host's CKKS histograms run (config `queue: pgboss`; absent: this process). */
  readonly secureBoostOffload?: SecureBoostHistogramOffload;
  /** Where this party's PSI blinding runs (config `queue: pgboss`; absent: the threads). */
  readonly psiOffload?: PsiBlindOffload;
  /** A data owner's policy refused a request of a job (on the refusing host and on the guest). */
  readonly onPolicyRefusal?: (event: PolicyRefusalEvent) => void;
  /** Publish registers each job's model here; a scoring job's parties read their model part from it. */
  readonly models?: ModelRegistry;
  /** A scoring job's guest: the credit rules its scores become bands and lines under (config `scoring.api.rules`). */
  readonly creditRules?: CreditRules;
  /** What this node accepts in a job (its config `accept`). Default: secure schemes only. */
  readonly accept?: AcceptPolicy;
  readonly onRefused?: (refusal: JobRefusal) => void;
  /**
   * A bank dropped out of a running job, which went on without it: on the coordinator, and on the
   * dropped bank when the coordinator's notice reaches it.
   */
  readonly onDropout?: (event: DropoutEvent) => void;
  /** A job was cancelled or retried by its coordinator, as a follower learns it (for its audit log). */
  readonly onJobChange?: (event: JobChangeEvent) => void;
  /** Test-only fault injection (`fault.ts`): set from FEDSCORE_TEST_* variables under NODE_ENV=test. */
  readonly testFault?: TestFault;
  /**
   * Replicas of this party on one shared store: coordinate a job only while holding its lease
   * (`JobStore.claimLease`, renewed every `renewMs`, default at every 0.5 s poll); a replica that dies
   * stops renewing, and another takes the job over once `ttlMs` has passed, resuming it from its
   * checkpoints. Unset: no leases (one node). Config: `store.leaseMs`, `store.leaseRenewMs`. `address`:
   * where the peers reach this replica (config `advertise`), recorded with each claim; a peer's message
   * for a job that another replica holds is refused with `not_lease_holder` naming the holder's.
   */
  readonly lease?: {
    readonly holder: string;
    readonly ttlMs: number;
    readonly renewMs?: number;
    readonly address?: string | undefined;
  };
}

/** A party that dropped out of a job's stage, which completed without it (no data values). */
export interface DropoutEvent {
  readonly job: string;
  readonly stage: StageName;
  /** The party that asked for the use: the job's guest. */
  readonly user: PartyId;
  /** The party that dropped out. */
  readonly party: PartyId;
  /** The round it dropped out of. */
  readonly round: number;
}

interface LocalAttempt {
  readonly job: string;
  readonly stage: StageName;
  readonly attempt: number;
  /** The coordinator's lease epoch the attempt was opened under (0 without leases). */
  readonly epoch: number;
  state: StateValue;
  error?: FedscoreError;
  done?: Promise<void>;
  /** Aborting it stops the attempt here: its sessions are revoked and its progress reports dropped. */
  readonly abort: AbortController;
  /** The attempt's local work has returned (whatever its state). */
  settled: boolean;
}

/** How often a coordinator retries telling an unreachable party that a job failed or was cancelled. */
const FAILURE_NOTICE_RETRY_MS = 5000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function asFedscoreError(e: unknown): FedscoreError {
  return isFedscoreError(e)
    ? e
    : new FedscoreError('internal', e instanceof Error ? e.message : String(e), { cause: e });
}

export class JobRunner {
  readonly #o: JobRunnerOptions;
  readonly #logger: Logger;
  readonly #attempts = new Map<string, LocalAttempt>();
  readonly #coordinating = new Set<string>();
  /** Jobs whose lease this replica holds (its last claim or renewal succeeded). */
  readonly #held = new Set<string>();
  /** The coordination loop of each job coordinated here: aborted when the job is cancelled. */
  readonly #controllers = new Map<string, AbortController>();
  /** Failed or cancelled jobs coordinated here whose end every party has acknowledged. */
  readonly #endNotified = new Set<string>();
  readonly #lastNotifyTry = new Map<string, number>();
  /** Done hfl jobs coordinated here whose every dropped bank has acknowledged its `job.dropped` notice. */
  readonly #dropNoticesDone = new Set<string>();
  readonly #lastDropNoticeTry = new Map<string, number>();
  #stopped = false;
  #poller: ReturnType<typeof setInterval> | undefined;
  #renewer: ReturnType<typeof setInterval> | undefined;

  constructor(options: JobRunnerOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'jobs', party: options.party });
    options.transport.setControlHandler((peer, req) => this.#handleControl(peer, req));
    if (options.lease !== undefined) options.transport.setSessionRouter((s) => this.#routeSession(s));
    // A write of this replica refused by the lease fence: another replica took the job over.
    options.jobs.onFenceRefused((job, epoch) => {
      this.#logger.warn('job write refused by the lease fence', { job, epoch, error: 'lease_lost' });
      this.#leaseLost(job, this.#lostError(job), 'write');
    });
  }

  get jobs(): JobStore {
    return this.#o.jobs;
  }

  /** Stage attempts running on this node now. */
  runningStages(): number {
    let n = 0;
    for (const a of this.#attempts.values()) if (a.state === State.RUNNING) n++;
    return n;
  }

  /** Stage attempts (of `job`, or of any job) whose local work has not returned yet, whatever their state. */
  unsettledStages(job?: string): number {
    let n = 0;
    for (const a of this.#attempts.values()) {
      if (a.done !== undefined && !a.settled && (job === undefined || a.job === job)) n++;
    }
    return n;
  }

  /**
   * Record a job submitted to this node (which must be its guest). It starts on the next poll; a
   * separate process (the CLI) may also insert it into the store directly.
   */
  submit(input: JobSpecInput & { id?: string }): JobRecord {
    return submitJob(this.#o.jobs, this.#o.party, input);
  }

  /**
   * Act now on a cancel request recorded for a job this node coordinates (`cancelJob`), rather than at
   * the next poll (the node's own API and console call it; a request written by another process waits
   * for the poll).
   */
  applyCancel(id: string): void {
    const j = this.#o.jobs.get(id);
    if (j === undefined || j.coordinator !== this.#o.party || j.cancelRequestedBy === undefined) return;
    if (j.status === 'submitted' || j.status === 'running') this.#cancel(j);
  }

  /** Resume coordinated jobs and watch the store for newly submitted ones. */
  start(): void {
    // A store that stops answering (a PostgreSQL database down) fails a poll, never the process: the
    // next poll tries again, and /healthz reports the store unreachable.
    let storeDown = false;
    const tick = (): void => {
      try {
        poll();
        if (storeDown) this.#logger.info('job poll recovered');
        storeDown = false;
      } catch (e) {
        if (!storeDown) this.#logger.error('job poll failed', { error: asFedscoreError(e).code });
        storeDown = true;
      }
    };
    const poll = (): void => {
      if (this.#stopped) return;
      for (const j of [...this.#o.jobs.list('submitted'), ...this.#o.jobs.list('running')]) {
        if (j.coordinator !== this.#o.party) continue;
        if (j.cancelRequestedBy !== undefined) {
          this.#cancel(j);
          continue;
        }
        const lease = this.#o.lease;
        // Renewed by `renew` below, every `lease.renewMs`.
        if (this.#coordinating.has(j.id)) continue;
        if (
          lease !== undefined &&
          !this.#o.jobs.claimLease(j.id, lease.holder, lease.ttlMs, undefined, lease.address)
        ) {
          continue;
        }
        this.#coordinating.add(j.id);
        if (lease !== undefined) this.#held.add(j.id);
        // A retried job: its earlier end's notices are history.
        this.#endNotified.delete(j.id);
        this.#lastNotifyTry.delete(j.id);
        this.#coordinate(j)
          .catch((e: unknown) => {
            this.#logger.error('job coordination crashed', { job: j.id, error: asFedscoreError(e).code });
          })
          .finally(() => {
            this.#coordinating.delete(j.id);
            this.#held.delete(j.id);
            if (lease !== undefined && !this.#stopped) this.#o.jobs.releaseLease(j.id, lease.holder);
          });
      }
      for (const j of [...this.#o.jobs.list('failed'), ...this.#o.jobs.list('cancelled')]) {
        if (j.coordinator !== this.#o.party || this.#endNotified.has(j.id)) continue;
        const last = this.#lastNotifyTry.get(j.id) ?? 0;
        if (Date.now() - last < FAILURE_NOTICE_RETRY_MS) continue;
        this.#lastNotifyTry.set(j.id, Date.now());
        this.#notifyEnd(j.spec, j.status === 'cancelled').catch((e: unknown) => {
          this.#logger.error('end notice crashed', { job: j.id, error: asFedscoreError(e).code });
        });
      }
      // A bank dropped from an hfl job that was down when told (killed, restarted later) hears it now.
      for (const j of this.#o.jobs.list('done')) {
        if (j.coordinator !== this.#o.party || j.spec.kind !== HFL_JOB_KIND) continue;
        if (this.#dropNoticesDone.has(j.id)) continue;
        const last = this.#lastDropNoticeTry.get(j.id) ?? 0;
        if (Date.now() - last < FAILURE_NOTICE_RETRY_MS) continue;
        this.#lastDropNoticeTry.set(j.id, Date.now());
        this.#notifyDropped(j.spec).catch((e: unknown) => {
          this.#logger.error('dropout notice crashed', { job: j.id, error: asFedscoreError(e).code });
        });
      }
    };
    tick();
    this.#poller = setInterval(tick, this.#o.jobPollMs ?? 500);
    this.#poller.unref();
    const lease = this.#o.lease;
    if (lease !== undefined) {
      const renew = (): void => {
        if (this.#stopped) return;
        for (const id of this.#coordinating) {
          try {
            // Losing it means this replica stalled past the lease and another took the job over: this
            // replica stops coordinating it (its writes are fenced off in the store anyway).
            if (this.#o.jobs.claimLease(id, lease.holder, lease.ttlMs, undefined, lease.address)) {
              this.#held.add(id);
            } else this.#leaseLost(id, this.#lostError(id), 'renewal');
          } catch (e) {
            this.#logger.warn('job lease renewal failed', { job: id, error: asFedscoreError(e).code });
          }
        }
      };
      this.#renewer = setInterval(renew, lease.renewMs ?? 500);
      this.#renewer.unref();
    }
  }

  /**
   * A peer's message for a session no attempt of this replica owns: when its job is one this party
   * coordinates and another replica holds the lease, refuse it with `not_lease_holder` naming the
   * holder's advertised address (none while no live replica holds it: a takeover is under way), so the
   * peer resends it there (outbox.ts); when this party follows the job and another replica prepared its
   * latest attempt (`recordAttemptHolder`), the same refusal naming that replica; else the plain
   * `job_state` refusal (undefined). Never throws: a store that does not answer leaves the plain refusal.
   */
  #routeSession(session: string): FedscoreError | undefined {
    const slash = session.indexOf('/');
    const id = slash > 0 ? session.slice(0, slash) : undefined;
    if (id === undefined || this.#held.has(id)) return undefined;
    try {
      const job = this.#o.jobs.get(id);
      if (job === undefined || ENDED_STATUSES.has(job.status)) return undefined;
      const lease = this.#o.jobs.lease(id);
      if (job.coordinator !== this.#o.party) {
        // A followed job: the replica that prepared its latest attempt, when it is another one.
        if (lease?.address === undefined || lease.holder === this.#o.lease?.holder) return undefined;
        // A record of an earlier process at this replica's own address (restarted): nowhere to send.
        if (lease.address === this.#o.lease?.address) return undefined;
        return new FedscoreError(
          'not_lease_holder',
          `another replica holds the attempts of job '${id}': send to ${lease.address}`,
          { field: 'lease', details: { job: id, holder: lease.address } },
        );
      }
      const live = lease !== undefined && lease.expiresAt > Date.now() ? lease : undefined;
      if (live?.holder === this.#o.lease?.holder) return undefined;
      // An earlier process at this replica's own address still holds it (restarted): nowhere to send.
      if (live?.address !== undefined && live.address === this.#o.lease?.address) return undefined;
      return new FedscoreError(
        'not_lease_holder',
        live?.address !== undefined
          ? `another replica coordinates job '${id}': send to ${live.address}`
          : `no replica coordinates job '${id}' now (a takeover is under way): send again later`,
        {
          field: 'lease',
          details: { job: id, ...(live?.address !== undefined && { holder: live.address }) },
        },
      );
    } catch {
      return undefined;
    }
  }

  #lostError(id: string): FedscoreError {
    return new FedscoreError('lease_lost', `job '${id}' was taken over by another replica`, {
      field: 'lease',
      details: { job: id },
    });
  }

  /**
   * This replica lost job `id`'s lease (its renewal failed, or the store refused a fenced write): stop
   * coordinating it and stop its local attempts, writing nothing more about it (another replica
   * coordinates it now; its attempt numbers are above this replica's, whose late aborts would be moot).
   */
  #leaseLost(id: string, reason: FedscoreError, via: 'renewal' | 'write' | 'peer'): void {
    if (!this.#held.delete(id)) return;
    // `via`: how this replica learned it: its renewal failed, the store refused one of its writes, or a
    // peer refused its control request (it has seen a higher lease epoch of the job).
    this.#logger.error('job lease lost to another replica: stopped coordinating it', {
      job: id,
      error: reason.code,
      via,
    });
    this.#controllers.get(id)?.abort(reason);
    for (const [k, a] of this.#attempts) if (a.job === id) this.#abortLocal(k, reason);
  }

  /**
   * This node's part in coordinating jobs on a shared store (for /healthz): `single` without leases (one
   * node), else `holder` while it holds the lease of a job it coordinates, `standby` otherwise.
   */
  leaseState(): { role: 'single' | 'holder' | 'standby'; jobs: number } {
    if (this.#o.lease === undefined) return { role: 'single', jobs: this.#coordinating.size };
    const held = this.#held.size;
    return { role: held > 0 ? 'holder' : 'standby', jobs: held };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#poller !== undefined) clearInterval(this.#poller);
    if (this.#renewer !== undefined) clearInterval(this.#renewer);
    for (const a of this.#attempts.values()) {
      this.#o.transport.revoke(attemptKey(a.job, a.stage, a.attempt), new Error('node stopping'));
    }
  }

  /** Resolve when the job is done, failed or cancelled (polling the store). */
  async waitFor(id: string, timeoutMs = 3_600_000): Promise<JobRecord> {
    const t0 = Date.now();
    for (;;) {
      const j = this.#o.jobs.require(id);
      if (ENDED_STATUSES.has(j.status)) return j;
      if (Date.now() - t0 > timeoutMs)
        throw new FedscoreError('timeout', `job '${id}' still ${j.status}`, { field: 'job' });
      await sleep(200);
    }
  }

  // ------------------------------------------------------------------------------------------ follower

  async #handleControl(
    peer: PartyId,
    req: fedscore.node.ControlRequest,
  ): Promise<fedscore.node.IControlReply> {
    if (req.offer) {
      let raw: unknown;
      try {
        raw = JSON.parse(req.offer.specJson || 'null');
      } catch (e) {
        throw new FedscoreError('wire_decode', 'the offered job spec is not JSON', {
          field: 'spec_json',
          cause: e,
        });
      }
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(req.offer.jobId ?? '')) {
        throw new FedscoreError('wire_decode', 'a malformed job id', { field: 'job_id' });
      }
      const spec = { ...validateJobSpec(raw), id: req.offer.jobId } as JobSpec;
      if (spec.guest !== peer) {
        throw new FedscoreError('peer_identity', `only the job's guest '${spec.guest}' may offer it`, {
          field: 'guest',
        });
      }
      if (!jobParties(spec).includes(this.#o.party)) {
        throw new FedscoreError('job_state', `this node (${this.#o.party}) is not a party of the job`, {
          field: 'job',
        });
      }
      this.#admit(spec);
      const name = spec.data[this.#o.party];
      if (name !== undefined && !this.#o.hasData(name)) {
        throw new FedscoreError('not_found', `no dataset '${name}' in this node's config`, {
          field: `data.${this.#o.party}`,
        });
      }
      this.#o.jobs.put(spec, peer, 'running');
      this.#checkEpoch(spec.id, req.leaseEpoch ?? 0);
      return { accepted: { jobId: spec.id } };
    }
    const cmd = req.stage ?? req.query;
    if (!cmd) throw new FedscoreError('wire_decode', 'an empty control request', { field: 'request' });
    const jobId = cmd.jobId ?? '';
    const stageName = cmd.stage ?? '';
    const attempt = cmd.attempt ?? 0;
    const job = this.#o.jobs.require(jobId);
    if (job.coordinator !== peer) {
      throw new FedscoreError(
        'peer_identity',
        `only the coordinator '${job.coordinator}' controls job '${job.id}'`,
        {
          field: 'job',
        },
      );
    }
    const epoch = req.leaseEpoch ?? 0;
    this.#checkEpoch(job.id, epoch);
    if (stageName === JOB_STAGE && req.stage?.action === Action.ABORT) {
      this.#failLocally(job);
      return { status: { jobId: job.id, stage: JOB_STAGE, attempt, state: State.ABORTED } };
    }
    if (stageName === JOB_CANCEL_STAGE && req.stage?.action === Action.ABORT) {
      this.#cancelLocally(job);
      return { status: { jobId: job.id, stage: JOB_CANCEL_STAGE, attempt, state: State.ABORTED } };
    }
    if (stageName === JOB_DROPPED_STAGE && req.stage?.action === Action.ABORT) {
      await this.#droppedLocally(job, attempt);
      return { status: { jobId: job.id, stage: JOB_DROPPED_STAGE, attempt, state: State.ABORTED } };
    }
    if (!(STAGES as readonly string[]).includes(stageName)) {
      throw new FedscoreError('invalid_argument', 'unknown stage', { field: 'stage' });
    }
    const stage = stageName as StageName;
    const key = attemptKey(job.id, stage, attempt);
    if (req.stage) {
      switch (req.stage.action) {
        case Action.PREPARE:
          this.#admit(job.spec);
          this.#prepare(job, stage, attempt, epoch);
          break;
        case Action.START:
          this.#startLocal(job, stage, attempt, epoch);
          break;
        case Action.ABORT:
          this.#abortLocal(key, new FedscoreError('channel_closed', 'aborted by the coordinator'));
          break;
        default:
          throw new FedscoreError('invalid_argument', 'unknown stage action', { field: 'action' });
      }
    }
    return { status: this.#status(job.id, stage, attempt) };
  }

  /**
   * A follower's check of the lease epoch a coordinator's control request carries (fencing at the
   * peers): below the highest this party has seen for the job, the request is refused with `lease_lost`
   * (the server audits it as a `security_event`); above it, every attempt of the job opened under a
   * lower epoch is closed here, so the messages of a coordinator replica that lost the job's lease are
   * refused from then on (`lease_lost` too: admission.ts). The test-only fault `ignoreLeaseEpoch`
   * switches the check off (the attack test's weakened configuration).
   */
  #checkEpoch(job: string, epoch: number): void {
    if (this.#o.testFault?.ignoreLeaseEpoch === true) return;
    if (!this.#o.jobs.observeCoordinatorEpoch(job, epoch)) return;
    for (const [k, a] of this.#attempts) {
      if (a.job !== job || a.epoch >= epoch) continue;
      this.#abortLocal(
        k,
        new FedscoreError(
          'lease_lost',
          `stage attempt ${k} was opened under lease epoch ${a.epoch}; the job's coordinator now presents ${epoch}`,
          { field: 'lease_epoch', details: { job, epoch: a.epoch, seen: epoch } },
        ),
      );
    }
  }

  /**
   * The lease epoch this node presents to the peers for a job it coordinates: the one its lease claim
   * fenced (a stalled replica keeps presenting its old one, which the peers refuse), else the store's
   * (0 without leases).
   */
  #epochOf(job: string): number {
    return this.#o.jobs.fenceOf(job) ?? this.#o.jobs.leaseEpoch(job);
  }

  /**
   * This node's policy check of a job (at submit/offer and before each attempt); a refusal is reported
   * (audited, as stage 'offer': the job is refused as a whole) and thrown.
   */
  #admit(spec: JobSpec): void {
    try {
      checkJobPolicy(spec, this.#o.accept ?? SECURE_ONLY, this.#o.party);
    } catch (e) {
      const fe = asFedscoreError(e);
      this.#logger.warn('job refused by policy', { job: spec.id, field: fe.field });
      this.#refused(spec, 'offer', this.#o.party, fe);
      throw fe;
    }
  }

  /** Report a refusal of `spec` by `by` (this node, or a peer as the guest learned it). */
  #refused(
    spec: JobSpec,
    stage: StageName | 'offer',
    by: PartyId,
    e: FedscoreError,
    counts?: Record<string, number>,
  ): void {
    const hook = this.#o.onRefused;
    if (hook === undefined) return;
    // The data owner of a refusal by a host is that host. The guest sees a consent refusal as "no aligned
    // enterprise has consent": the hosts' consent checks refused, each for its own data.
    const consentOfHosts = by === spec.guest && e.code === 'consent';
    const owners = spec.hosts.includes(by) ? [by] : consentOfHosts ? spec.hosts : [];
    const base = {
      job: spec.id,
      stage,
      user: spec.guest,
      refusedBy: by,
      purpose: spec.consent.purpose,
      code: e.code,
      ...(e.field !== undefined && { field: e.field }),
      ...(counts !== undefined && { counts }),
    };
    try {
      if (owners.length === 0) hook(base);
      for (const owner of owners) hook({ ...base, owner, ...(consentOfHosts && { refusedBy: owner }) });
    } catch (hookError) {
      this.#logger.error('refusal hook failed', { job: spec.id, error: asFedscoreError(hookError).code });
    }
  }

  /** The coordinator ended the job as failed: stop its attempts here and mark it failed (idempotent). */
  #failLocally(job: JobRecord): void {
    let own: FedscoreError | undefined;
    for (const [k, a] of this.#attempts) {
      if (a.job !== job.id) continue;
      if (a.state === State.FAILED && a.stage === job.stage) own = a.error;
      this.#abortLocal(k, new FedscoreError('protocol_abort', 'the job failed on its coordinator'));
    }
    if (ENDED_STATUSES.has(job.status)) return;
    this.#o.jobs.finish(job.id, {
      code: own?.code ?? 'protocol_abort',
      message: `failed on its coordinator '${job.coordinator}' at stage ${job.stage ?? 'none'}${own === undefined ? '' : ` (here: ${own.message})`}`,
    });
    this.#logger.warn('job failed on its coordinator', { job: job.id, stage: job.stage ?? undefined });
  }

  /** The coordinator cancelled the job: stop its attempts here and mark it cancelled (idempotent). */
  #cancelLocally(job: JobRecord): void {
    const reason = new FedscoreError('aborted', 'the job was cancelled on its coordinator');
    for (const [k, a] of this.#attempts) if (a.job === job.id) this.#abortLocal(k, reason);
    if (!this.#o.jobs.markCancelled(job.id)) return;
    this.#logger.warn('job cancelled on its coordinator', { job: job.id, stage: job.stage ?? undefined });
    this.#jobChange({ job: job.id, action: 'cancel', party: job.coordinator, stage: job.stage });
  }

  /**
   * The coordinator dropped this bank from the job's train stage in `round` and went on without it: stop
   * its attempts here, report the use of its rows in the rounds it took part in (its `data_use` audit; the
   * train stage never completed here, so no checkpoint recorded it) and the dropout itself (`onDropout`,
   * its `party_dropout` audit), and end the job here as failed with code 'dropped' (idempotent).
   */
  async #droppedLocally(job: JobRecord, round: number): Promise<void> {
    if (job.spec.kind !== HFL_JOB_KIND || !job.spec.hosts.includes(this.#o.party)) {
      throw new FedscoreError('job_state', 'only a bank of an hfl job can be dropped from it', {
        field: 'job',
      });
    }
    let started = false;
    const reason = new FedscoreError('protocol_abort', 'dropped from the job by its coordinator');
    for (const [k, a] of this.#attempts) {
      if (a.job !== job.id) continue;
      if (a.stage === 'train' && a.state !== State.PREPARED) started = true;
      this.#abortLocal(k, reason);
    }
    if (ENDED_STATUSES.has(job.status)) return;
    const spec = job.spec;
    const name = spec.data[this.#o.party];
    // Its role trained on its rows only if it started (a bank restarted since holds no attempt: it
    // took part in the rounds before `round`).
    if ((started || round > 1) && name !== undefined && this.#o.onDataUse !== undefined) {
      try {
        const table = await this.#o.data(name);
        const f = await this.#o.consents?.filterByConsentAsync(table.ids, {
          grantee: spec.guest,
          purpose: spec.consent.purpose,
          categories: spec.consent.categories,
          at: job.createdAt,
        });
        const use = hflDroppedDataUse(spec, this.#o.party, table, f);
        if (use !== undefined) this.#o.onDataUse(use);
      } catch (e) {
        this.#logger.error('data use of a dropped job not recorded', {
          job: job.id,
          error: asFedscoreError(e).code,
        });
      }
    }
    if (ENDED_STATUSES.has(this.#o.jobs.require(job.id).status)) return;
    this.#o.jobs.event(job.id, 'party_dropped', 'train', null, `${this.#o.party} round=${round}`);
    this.#o.jobs.finish(job.id, {
      code: DROPPED_CODE,
      message: `dropped by its coordinator '${job.coordinator}' in round ${round} of the train stage; the job went on without this bank`,
    });
    this.#logger.warn('dropped from the job by its coordinator', { job: job.id, round });
    try {
      this.#o.onDropout?.({ job: job.id, stage: 'train', user: spec.guest, party: this.#o.party, round });
    } catch (hookError) {
      this.#logger.error('dropout hook failed', { job: job.id, error: asFedscoreError(hookError).code });
    }
  }

  /** On the coordinator: cancel a job its operator asked to cancel (at the runner's poll; synchronous). */
  #cancel(job: JobRecord): void {
    const reason = new FedscoreError('aborted', 'the job was cancelled', { field: 'job' });
    this.#controllers.get(job.id)?.abort(reason);
    for (const [k, a] of this.#attempts) if (a.job === job.id) this.#abortLocal(k, reason);
    if (!this.#o.jobs.markCancelled(job.id)) return;
    this.#logger.warn('job cancelled', { job: job.id, stage: job.stage ?? undefined });
    this.#lastNotifyTry.set(job.id, Date.now());
    this.#notifyEnd(job.spec, true).catch((e: unknown) => {
      this.#logger.error('cancel notice crashed', { job: job.id, error: asFedscoreError(e).code });
    });
  }

  #jobChange(e: JobChangeEvent): void {
    try {
      this.#o.onJobChange?.(e);
    } catch (hookError) {
      this.#logger.error('job change hook failed', { job: e.job, error: asFedscoreError(hookError).code });
    }
  }

  #status(job: string, stage: StageName, attempt: number): fedscore.node.IStageStatus {
    const a = this.#attempts.get(attemptKey(job, stage, attempt));
    if (a !== undefined) {
      return {
        jobId: job,
        stage,
        attempt,
        state: a.state,
        ...(a.error !== undefined && { errorCode: a.error.code, errorMessage: a.error.message }),
      };
    }
    const cp = this.#o.jobs.checkpoint(job, stage);
    return { jobId: job, stage, attempt, state: cp?.attempt === attempt ? State.DONE : State.UNKNOWN };
  }

  #prepare(job: JobRecord, stage: StageName, attempt: number, epoch: number): LocalAttempt {
    const key = attemptKey(job.id, stage, attempt);
    let a = this.#attempts.get(key);
    if (a !== undefined) return a;
    // A new attempt supersedes every older one of the job.
    for (const [k, old] of this.#attempts) {
      if (old.job === job.id && k !== key && (old.state === State.RUNNING || old.state === State.PREPARED)) {
        this.#abortLocal(k, new FedscoreError('channel_closed', 'superseded by a newer attempt'));
      }
    }
    this.#o.transport.grant({
      key,
      parties: stageParties(job.spec, stage),
      protocols: stageProtocols(stage, job.spec),
    });
    a = {
      job: job.id,
      stage,
      attempt,
      epoch,
      state: State.PREPARED,
      abort: new AbortController(),
      settled: false,
    };
    // Aborting the attempt (a cancel, a superseding attempt, an ABORT) revokes its sessions: the protocol
    // fails at its next message.
    const revoke = (): void => this.#o.transport.revoke(key, asFedscoreError(a!.abort.signal.reason));
    a.abort.signal.addEventListener('abort', revoke, { once: true });
    this.#attempts.set(key, a);
    if (this.#o.party !== job.coordinator) {
      if (job.status === 'failed' || job.status === 'cancelled') {
        // The coordinator retried a job this node had ended.
        this.#logger.info('job retried by its coordinator', { job: job.id, stage });
        this.#jobChange({ job: job.id, action: 'retry', party: job.coordinator, stage });
      }
      this.#o.jobs.setAttempt(job.id, stage, attempt);
      // Replicas of a following party: the others name this one to a peer whose message for the job
      // reaches them (`#routeSession`).
      const lease = this.#o.lease;
      if (lease !== undefined) this.#o.jobs.recordAttemptHolder(job.id, lease.holder, lease.address);
    }
    return a;
  }

  #startLocal(job: JobRecord, stage: StageName, attempt: number, epoch: number): LocalAttempt {
    const a = this.#prepare(job, stage, attempt, epoch);
    if (a.state !== State.PREPARED) return a;
    a.state = State.RUNNING;
    const key = attemptKey(job.id, stage, attempt);
    const log = this.#logger.child({ job: job.id, stage, attempt });
    log.info('stage attempt started');
    const t0 = performance.now();
    const consents = this.#o.consents;
    const isHost = job.spec.hosts.includes(this.#o.party);
    const spec = job.spec;
    const recordProgress = progressThrottle((p) => {
      // A progress record is for display only: failing to keep it never fails the stage.
      try {
        this.#o.jobs.event(job.id, 'progress', stage, attempt, progressDetail(p));
      } catch (e) {
        const err = asFedscoreError(e);
        // Refused by the lease fence: another replica took the job over while this one stalled.
        if (err.code === 'lease_lost') this.#leaseLost(job.id, err, 'write');
        else log.debug('progress not recorded', { code: err.code });
      }
    });
    const onFailure = (e: unknown): void => {
      if (a.state !== State.RUNNING) return;
      a.error = asFedscoreError(e);
      a.state = State.FAILED;
      if (REFUSAL_CODES.has(a.error.code) && this.#o.party !== job.coordinator) {
        this.#refused(spec, stage, this.#o.party, a.error);
      }
      this.#o.transport.revoke(key, a.error);
      log.warn('stage attempt failed', { code: a.error.code, field: a.error.field });
      if (a.error.code === 'lease_lost') {
        // Fenced off: nothing more about this job is this replica's to write.
        this.#leaseLost(job.id, a.error, 'write');
        return;
      }
      this.#o.jobs.event(job.id, 'attempt_failed', stage, attempt, a.error.code);
      if (POLICY_REFUSALS.has(a.error.code) && isHost) {
        this.#policyRefusal(job.spec, stage, this.#o.party, a.error);
      }
    };
    a.done = runStageRole(stage, {
      spec,
      party: this.#o.party,
      key,
      attempt,
      channel: this.#o.transport.channel(),
      jobs: this.#o.jobs,
      data: this.#o.data,
      stateDir: this.#o.stateDir,
      logger: log,
      // A cancelled attempt reports no more progress. Coarse counters (epoch, tree, round, PSI percent)
      // are also kept as job events for the console's live view (progress.ts).
      progress: (p) => {
        if (a.abort.signal.aborted) return;
        (this.#o.progress ?? noProgress)(p);
        recordProgress(p);
      },
      ...(this.#o.testFault !== undefined && { testFault: this.#o.testFault }),
      ...(consents !== undefined &&
        isHost && {
          // `at`: when this node accepted the job, by its own clock.
          consent: async (ids: readonly string[]) => {
            const f = await consents.filterByConsentAsync(ids, {
              grantee: spec.guest,
              purpose: spec.consent.purpose,
              categories: spec.consent.categories,
              at: job.createdAt,
            });
            // No enterprise may take part: this data owner refuses the job's use of its data.
            if (f.included.length === 0 && ids.length > 0) {
              this.#refused(
                spec,
                stage,
                this.#o.party,
                new FedscoreError('consent', 'no aligned enterprise has consent for this use', {
                  field: 'consent',
                }),
                { intersection: ids.length, excluded: ids.length },
              );
            }
            return f;
          },
        }),
      ...(this.#o.psiPolicy !== undefined && isHost && { psiPolicy: this.#o.psiPolicy }),
      ...(this.#o.he !== undefined && { he: this.#o.he }),
      ...(this.#o.offload !== undefined && { offload: this.#o.offload }),
      ...(this.#o.binSumOffload !== undefined && { binSumOffload: this.#o.binSumOffload }),
      ...(this.#o.secureBoostOffload !== undefined && { secureBoostOffload: this.#o.secureBoostOffload }),
      ...(this.#o.psiOffload !== undefined && { psiOffload: this.#o.psiOffload }),
      ...(this.#o.models !== undefined && { models: this.#o.models }),
      ...(this.#o.creditRules !== undefined && { creditRules: this.#o.creditRules }),
    }).then(
      async (output) => {
        if (a.state !== State.RUNNING) return;
        try {
          await this.#stageDone(job, stage, attempt, output, a, log, t0);
        } catch (e) {
          // A write refused (e.g. `lease_lost`: another replica took the job over): the attempt failed.
          onFailure(e);
        }
      },
      (e: unknown) => onFailure(e),
    );
    a.done
      .finally(() => {
        a.settled = true;
      })
      .catch(() => {});
    return a;
  }

  /** Record a local stage attempt's success: its checkpoint, consent events and data use. */
  async #stageDone(
    job: JobRecord,
    stage: StageName,
    attempt: number,
    output: unknown,
    a: LocalAttempt,
    log: Logger,
    t0: number,
  ): Promise<void> {
    const key = attemptKey(job.id, stage, attempt);
    this.#o.jobs.saveCheckpoint(job.id, stage, attempt, output);
    if (stage === 'psi') {
      const psi = output as PsiCheckpoint;
      for (const [owner, c] of Object.entries(psi.consent ?? {})) {
        // The host's own table counts stay on the host (they are never sent).
        const own = owner === this.#o.party ? psi.consentedSet : undefined;
        this.#o.jobs.event(
          job.id,
          'consent',
          stage,
          attempt,
          `owner=${owner} enforced=${c.enforced} aligned=${c.aligned}${own === undefined ? '' : ` offered=${own.offered} excluded=${own.excludedTotal}`}`,
        );
      }
    }
    await this.#recordDataUse(job.spec, stage);
    if (stage === 'publish' && this.#o.party !== job.coordinator) this.#o.jobs.finish(job.id);
    a.state = State.DONE;
    this.#o.transport.revoke(key, new Error('stage attempt done'));
    log.info('stage attempt done', { seconds: Math.round((performance.now() - t0) / 100) / 10 });
  }

  /** Report this stage's use of each host's data (on the guest: every host's; on a host: its own). */
  async #recordDataUse(spec: JobSpec, stage: StageName): Promise<void> {
    const hook = this.#o.onDataUse;
    const name = spec.data[this.#o.party];
    if (hook === undefined || name === undefined || !DATA_STAGES.has(stage)) return;
    if (spec.kind === HFL_JOB_KIND) {
      for (const u of await hflDataUses(spec, stage, this.#o.party, this.#o.jobs, this.#o.data)) hook(u);
      return;
    }
    const psi = this.#o.jobs.checkpoint<PsiCheckpoint>(spec.id, 'psi')?.output;
    if (psi === undefined) return;
    const table = await this.#o.data(name);
    const ids = psi.rows.map((r) => normalizeUscc(table.ids[r]!));
    const owners = this.#o.party === spec.guest ? spec.hosts : [this.#o.party];
    for (const owner of owners) {
      const consent = psi.consent?.[owner];
      hook({
        job: spec.id,
        stage,
        user: spec.guest,
        owner,
        purpose: spec.consent.purpose,
        enterpriseIds: ids,
        ...(consent !== undefined && { consent }),
      });
    }
  }

  #policyRefusal(spec: JobSpec, stage: StageName, refusedBy: PartyId, e: FedscoreError): void {
    this.#o.jobs.event(spec.id, 'policy_refusal', stage, null, `by=${refusedBy} code=${e.code}`);
    this.#o.onPolicyRefusal?.({
      job: spec.id,
      stage,
      requester: spec.guest,
      refusedBy,
      code: e.code,
      ...(e.field !== undefined && e.field !== stage && { field: e.field }),
      message: e.message,
    });
  }

  #abortLocal(key: string, reason: FedscoreError): void {
    const a = this.#attempts.get(key);
    this.#o.transport.revoke(key, reason);
    if (a !== undefined && (a.state === State.RUNNING || a.state === State.PREPARED)) {
      a.state = State.ABORTED;
      a.error = reason;
      a.abort.abort(reason);
    }
  }

  // ------------------------------------------------------------------------------------------ coordinator

  async #coordinate(initial: JobRecord): Promise<void> {
    const controller = new AbortController();
    this.#controllers.set(initial.id, controller);
    try {
      await this.#coordinateJob(initial, controller.signal);
    } catch (e) {
      const err = asFedscoreError(e);
      if (err.code !== 'lease_lost') throw e;
      // A fenced write refused: another replica coordinates the job now. Stop here, and let the local
      // attempts return before the fence is dropped (`releaseLease` in the poll's finally).
      this.#leaseLost(initial.id, err, 'write');
      await Promise.all(
        [...this.#attempts.values()].filter((a) => a.job === initial.id).map((a) => a.done?.catch(() => {})),
      );
    } finally {
      if (this.#controllers.get(initial.id) === controller) this.#controllers.delete(initial.id);
    }
  }

  /**
   * The coordination loop of one job. `signal` aborts when the job is cancelled: the store then already
   * says `cancelled`, so every write below is preceded, in the same synchronous turn, by a check of it.
   */
  async #coordinateJob(initial: JobRecord, signal: AbortSignal): Promise<void> {
    const id = initial.id;
    const spec = initial.spec;
    const log = this.#logger.child({ job: id });
    const stages = jobStages(spec);
    const maxAttempts = this.#o.maxAttempts ?? 5;
    let startIndex = initial.stage === null ? 0 : stages.indexOf(initial.stage);
    if (startIndex < 0) startIndex = 0;
    log.info('coordinating job', { from: stages[startIndex], resumed: initial.status === 'running' });
    try {
      this.#admit(spec);
    } catch (e) {
      const err = asFedscoreError(e);
      this.#o.jobs.finish(id, { code: err.code, message: err.message });
      log.error('job refused by this node', { code: err.code, field: err.field });
      this.#lastNotifyTry.set(id, Date.now());
      await this.#notifyEnd(spec, false);
      return;
    }
    for (let si = startIndex; si < stages.length; si++) {
      const stage = stages[si]!;
      const current = this.#o.jobs.require(id);
      let attempt = current.stage === stage ? current.attempt + 1 : 0;
      if (current.stage === stage && current.status === 'submitted') attempt = 0;
      for (let tries = 0; ; tries++, attempt++) {
        if (this.#stopped || signal.aborted) return;
        const err = await this.#runAttempt(spec, stage, attempt, signal);
        if (signal.aborted) return;
        if (err === undefined) break;
        log.warn('stage attempt failed', { stage, attempt, code: err.code });
        if (FATAL_CODES.has(err.code) || tries + 1 >= maxAttempts) {
          if (REFUSAL_CODES.has(err.code)) {
            const by = err.details?.['peer'];
            this.#refused(
              spec,
              err.code === 'policy' ? 'offer' : stage,
              typeof by === 'string' ? by : this.#o.party,
              err,
            );
          }
          this.#o.jobs.finish(id, { code: err.code, message: `${stage}: ${err.message}` });
          log.error('job failed', { stage, code: err.code });
          this.#lastNotifyTry.set(id, Date.now());
          await this.#notifyEnd(spec, false);
          return;
        }
        try {
          await this.#awaitParties(spec, stage, signal);
        } catch (e) {
          if (signal.aborted) return;
          // A party stayed unreachable past peerDownSeconds: the job fails here, with the reason
          // recorded and the others told (rethrowing would leave it 'running' and coordinated again
          // from the tick, waiting forever for a party that is gone).
          const down = asFedscoreError(e);
          if (this.#stopped || this.#o.jobs.require(id).status === 'cancelled') return;
          this.#o.jobs.finish(id, {
            code: down.code,
            message: `${stage}: a party stayed unreachable for ${this.#o.peerDownSeconds ?? 300} s after attempt ${attempt} failed (${err.code}): ${down.message}`,
          });
          log.error('job failed: a party stayed down', { stage, code: down.code });
          this.#lastNotifyTry.set(id, Date.now());
          await this.#notifyEnd(spec, false);
          return;
        }
      }
    }
    if (signal.aborted) return;
    this.#o.jobs.finish(id);
    log.info('job done');
  }

  /** One attempt of one stage across its parties; undefined on success, else why it failed. */
  async #runAttempt(
    spec: JobSpec,
    stage: StageName,
    attempt: number,
    signal: AbortSignal,
  ): Promise<FedscoreError | undefined> {
    const job = this.#o.jobs.require(spec.id);
    if (signal.aborted) return asFedscoreError(signal.reason);
    this.#o.jobs.setAttempt(spec.id, stage, attempt);
    const others = this.#stageParties(spec, stage).filter((p) => p !== this.#o.party);
    const tolerant = dropoutTolerant(spec, stage);
    /** Parties that failed or went silent while this node's role ran on (tolerant stages only). */
    const silent = new Set<PartyId>();
    const t = this.#o.transport;
    // Every control request carries this replica's lease epoch: the peers refuse it once another
    // replica of this party has presented a higher one (`#checkEpoch`).
    const leaseEpoch = this.#epochOf(spec.id);
    try {
      this.#prepare(job, stage, attempt, leaseEpoch);
      const offer = {
        offer: { jobId: spec.id, specJson: JSON.stringify(omitId(spec)) },
        leaseEpoch,
      };
      await Promise.all(others.map((p) => this.#withPeer(p, () => t.control(p, offer), signal)));
      const cmd = (action: fedscore.node.StageCommand.Action) => ({
        stage: { jobId: spec.id, stage, attempt, action },
        leaseEpoch,
      });
      await Promise.all(
        others.map((p) => this.#withPeer(p, () => t.control(p, cmd(Action.PREPARE)), signal)),
      );
      if (signal.aborted) throw signal.reason;
      await Promise.all(others.map((p) => t.control(p, cmd(Action.START))));
      if (signal.aborted) throw signal.reason;
    } catch (e) {
      const err = asFedscoreError(e);
      if (err.code === 'lease_lost') {
        // A peer has seen a higher lease epoch of this job: another replica coordinates it now.
        this.#leaseLost(spec.id, err, 'peer');
        this.#abortLocal(attemptKey(spec.id, stage, attempt), err);
        return err;
      }
      await this.#abortEverywhere(spec, stage, attempt, others);
      return err;
    }
    const own = this.#startLocal(job, stage, attempt, leaseEpoch);
    const lost = new Map<PartyId, number>();
    for (;;) {
      await sleep(this.#o.pollMs ?? 300);
      if (this.#stopped) return new FedscoreError('channel_closed', 'node stopping');
      if (signal.aborted) {
        // Cancelled: the local attempt is aborted already; stop the others' too, and let ours return.
        // Lease lost: the others now run the new holder's attempt; leave them be.
        const reason = asFedscoreError(signal.reason);
        if (reason.code !== 'lease_lost') await this.#abortEverywhere(spec, stage, attempt, others);
        await own.done?.catch(() => {});
        return reason;
      }
      let failure: FedscoreError | undefined;
      if (own.state === State.FAILED || own.state === State.ABORTED) failure = own.error;
      let allDone = own.state === State.DONE;
      // Tolerant stage, own role done: the parties its checkpoint dropped are out of the stage.
      const dropped = tolerant && allDone ? hflDroppedHosts(this.#o.jobs, spec.id) : [];
      const ownRunning = own.state === State.RUNNING;
      for (const p of others) {
        // A party's own failure may be the consequence of another's refusal (its messages to a party
        // that gave up are refused): ask the others too, and report a fatal reason over a retryable one.
        if (failure !== undefined && FATAL_CODES.has(failure.code)) break;
        if (dropped.some((d) => d.party === p)) continue;
        if (silent.has(p)) {
          if (ownRunning) continue;
          allDone = false;
          failure ??= new FedscoreError('io', `${p} failed or stopped answering and was not dropped`, {
            field: `peers.${p}`,
          });
          continue;
        }
        // A failure or silence of a party the coordinator's role may still drop (a retry could fix it).
        const tolerate = (code: ErrorCode): boolean => {
          if (!tolerant || !ownRunning || FATAL_CODES.has(code)) return false;
          silent.add(p);
          this.#o.jobs.event(spec.id, 'party_silent', stage, attempt, `${p} ${code}`);
          return true;
        };
        try {
          const r = await t.control(p, { query: { jobId: spec.id, stage, attempt }, leaseEpoch });
          lost.delete(p);
          const s = r.status?.state ?? State.UNKNOWN;
          if (s === State.DONE) continue;
          allDone = false;
          if (s === State.FAILED || s === State.ABORTED) {
            if (tolerate((r.status?.errorCode as ErrorCode) || 'internal')) continue;
            const remote = new FedscoreError(
              (r.status?.errorCode as ErrorCode) || 'internal',
              `${p}: ${r.status?.errorMessage || 'stage failed'}`,
              { field: stage, details: { peer: p } },
            );
            if (failure === undefined || FATAL_CODES.has(remote.code)) failure = remote;
            if (POLICY_REFUSALS.has(remote.code) && spec.hosts.includes(p)) {
              this.#policyRefusal(spec, stage, p, remote);
            }
          } else if (s === State.UNKNOWN && failure === undefined) {
            if (tolerate('job_state')) continue;
            failure = new FedscoreError('job_state', `${p} lost the attempt (restarted?)`, { field: stage });
          }
        } catch (e) {
          allDone = false;
          if (asFedscoreError(e).code === 'lease_lost') this.#leaseLost(spec.id, asFedscoreError(e), 'peer');
          const n = (lost.get(p) ?? 0) + 1;
          lost.set(p, n);
          if (n >= 2 && failure === undefined) {
            if (tolerate('io')) continue;
            failure = new FedscoreError('io', `${p} stopped answering (${asFedscoreError(e).code})`, {
              field: `peers.${p}`,
            });
          }
        }
      }
      if (failure !== undefined) {
        this.#o.jobs.event(spec.id, 'attempt_failed', stage, attempt, failure.code);
        await this.#abortEverywhere(spec, stage, attempt, others);
        await own.done?.catch(() => {});
        return failure;
      }
      if (allDone) {
        this.#recordDropouts(spec, stage, attempt, dropped);
        this.#o.jobs.event(spec.id, 'stage_done', stage, attempt, null);
        return undefined;
      }
    }
  }

  /**
   * The parties of `stage` of this job: the pipeline's, less (after an 'hfl' train stage) the banks that
   * dropped out of it, which take no part in the later stages.
   */
  #stageParties(spec: JobSpec, stage: StageName): PartyId[] {
    const all = stageParties(spec, stage);
    if (spec.kind !== HFL_JOB_KIND || stage === 'train' || this.#o.party !== spec.guest) return all;
    const out = new Set(hflDroppedHosts(this.#o.jobs, spec.id).map((d) => d.party));
    return all.filter((p) => !out.has(p));
  }

  /** Record that `party` acknowledged the `job.dropped` notice of `job` (once, whichever try got through). */
  #dropoutNotified(job: string, stage: StageName, attempt: number | null, party: PartyId): void {
    if (this.#stopped) return;
    const known = this.#o.jobs.events(job).some((e) => e.kind === 'dropout_notified' && e.detail === party);
    if (!known) this.#o.jobs.event(job, 'dropout_notified', stage, attempt, party);
  }

  /**
   * On the coordinator's tick, for a done hfl job: send the `job.dropped` notice again to every bank it
   * dropped that has not acknowledged it (the first notice is best effort, and a bank that was down then,
   * e.g. killed mid-round and restarted since, still holds the job as running). A bank that does not know
   * the job (`not_found`) has nothing to end and counts as told, as in `#notifyEnd`.
   */
  async #notifyDropped(spec: JobSpec): Promise<void> {
    const notified = new Set(
      this.#o.jobs
        .events(spec.id)
        .filter((e) => e.kind === 'dropout_notified')
        .map((e) => e.detail),
    );
    const pending = hflDroppedHosts(this.#o.jobs, spec.id).filter((d) => !notified.has(d.party));
    let told = 0;
    await Promise.all(
      pending.map(async (d) => {
        try {
          await this.#o.transport.control(d.party, {
            stage: { jobId: spec.id, stage: JOB_DROPPED_STAGE, attempt: d.round, action: Action.ABORT },
            leaseEpoch: this.#epochOf(spec.id),
          });
        } catch (e) {
          if (asFedscoreError(e).code !== 'not_found') return;
        }
        this.#dropoutNotified(spec.id, 'train', null, d.party);
        told++;
      }),
    );
    if (told === pending.length && !this.#stopped) this.#dropNoticesDone.add(spec.id);
  }

  /** Stop the dropped parties' attempts and record each dropout (a job event; `onDropout`). */
  #recordDropouts(
    spec: JobSpec,
    stage: StageName,
    attempt: number,
    dropped: readonly { party: PartyId; round: number }[],
  ): void {
    for (const d of dropped) {
      // Best effort, not awaited (an unreachable party would hold the job for a call's deadline): a
      // stalled party stops its role and ends the job as dropped, a dead one hears nothing.
      this.#o.transport
        .control(d.party, {
          stage: { jobId: spec.id, stage: JOB_DROPPED_STAGE, attempt: d.round, action: Action.ABORT },
          leaseEpoch: this.#epochOf(spec.id),
        })
        .then(
          () => this.#dropoutNotified(spec.id, stage, attempt, d.party),
          () => undefined,
        );
      // The tick's retries (`#notifyDropped`) wait one retry period after this first notice.
      this.#lastDropNoticeTry.set(spec.id, Date.now());
      this.#o.jobs.event(spec.id, 'party_dropped', stage, attempt, `${d.party} round=${d.round}`);
      this.#logger.warn('party dropped out of the job', { job: spec.id, stage, dropped: d.party });
      try {
        this.#o.onDropout?.({ job: spec.id, stage, user: spec.guest, party: d.party, round: d.round });
      } catch (hookError) {
        this.#logger.error('dropout hook failed', { job: spec.id, error: asFedscoreError(hookError).code });
      }
    }
  }

  /**
   * Tell every other party that the job failed or was cancelled (each acknowledgement is a job event;
   * retried on tick). Acknowledgements of an end before the job's last retry do not count.
   */
  async #notifyEnd(spec: JobSpec, cancelled: boolean): Promise<void> {
    const kind = cancelled ? 'cancel_notified' : 'failure_notified';
    const events = this.#o.jobs.events(spec.id);
    let since = 0;
    for (const e of events) if (e.kind === 'retried') since = e.seq;
    const acknowledged = new Set(events.filter((e) => e.kind === kind && e.seq > since).map((e) => e.detail));
    const pending = jobParties(spec).filter((p) => p !== this.#o.party && !acknowledged.has(p));
    const stage = cancelled ? JOB_CANCEL_STAGE : JOB_STAGE;
    await Promise.all(
      pending.map(async (p) => {
        try {
          await this.#o.transport.control(p, {
            stage: { jobId: spec.id, stage, attempt: 0, action: Action.ABORT },
            leaseEpoch: this.#epochOf(spec.id),
          });
          // A node stopped meanwhile may have closed its store: the next start notifies again.
          if (this.#stopped) return;
          this.#o.jobs.event(spec.id, kind, null, null, p);
          acknowledged.add(p);
        } catch (e) {
          // A party that never accepted the job has nothing to mark; one that is down hears it later.
          if (asFedscoreError(e).code === 'not_found' && !this.#stopped) {
            this.#o.jobs.event(spec.id, kind, null, null, p);
            acknowledged.add(p);
          }
        }
      }),
    );
    // A retry since the notice started: the job runs again, nothing more to tell.
    if (this.#o.jobs.require(spec.id).status !== (cancelled ? 'cancelled' : 'failed')) return;
    if (jobParties(spec).every((p) => p === this.#o.party || acknowledged.has(p))) {
      this.#endNotified.add(spec.id);
    }
  }

  async #abortEverywhere(spec: JobSpec, stage: StageName, attempt: number, others: PartyId[]): Promise<void> {
    this.#abortLocal(
      attemptKey(spec.id, stage, attempt),
      new FedscoreError('channel_closed', 'attempt aborted'),
    );
    await Promise.all(
      others.map((p) =>
        this.#o.transport
          .control(p, {
            stage: { jobId: spec.id, stage, attempt, action: Action.ABORT },
            leaseEpoch: this.#epochOf(spec.id),
          })
          .catch(() => undefined),
      ),
    );
  }

  /** Wait until every party of the stage answers health checks (a restarted node is back). */
  async #awaitParties(spec: JobSpec, stage: StageName, signal?: AbortSignal): Promise<void> {
    const others = this.#stageParties(spec, stage).filter((p) => p !== this.#o.party);
    await Promise.all(others.map((p) => this.#withPeer(p, () => this.#o.transport.health(p), signal)));
  }

  /**
   * Run `fn` against `peer`, retrying while it is unreachable, for up to `peerDownSeconds` (or until
   * `signal` aborts: a job cancelled while a party is down).
   */
  async #withPeer<T>(_peer: PartyId, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const deadline = Date.now() + (this.#o.peerDownSeconds ?? 300) * 1000;
    for (let wait = 200; ; wait = Math.min(wait * 2, 2000)) {
      try {
        return await fn();
      } catch (e) {
        const fe = asFedscoreError(e);
        if ((fe.code !== 'io' && fe.code !== 'timeout') || Date.now() > deadline || this.#stopped) throw fe;
        if (signal?.aborted) throw asFedscoreError(signal.reason);
        await sleep(wait);
      }
    }
  }
}

function omitId(spec: JobSpec): Omit<JobSpec, 'id'> {
  const { id: _id, ...rest } = spec;
  return rest;
}

/** Validate a job and record it as submitted in `jobs` (used by the runner and by `fedscore node submit`). */
export function submitJob(
  jobs: JobStore,
  party: PartyId,
  input: unknown,
  file?: string,
  accept?: AcceptPolicy,
): JobRecord {
  const parsed = validateJobSpec(input, file);
  if (accept !== undefined) checkJobPolicy(parsed, accept, party);
  if (parsed.guest !== party) {
    throw new FedscoreError(
      'invalid_config',
      `submit a job to its guest's node ('${parsed.guest}'), not '${party}'`,
      {
        field: 'guest',
        ...(file !== undefined && { file }),
      },
    );
  }
  const id = parsed.id ?? `job-${randomUUID().slice(0, 8)}`;
  return jobs.put({ ...parsed, id } as JobSpec, party, 'submitted');
}
