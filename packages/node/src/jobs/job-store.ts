/**
 * Job state in the node's store (packages/node/src/store): the jobs this node takes part in, where each
 * stands, and each stage's checkpoint -- what this party produced in the stage, written in the same
 * transaction that marks the stage done, so a crash leaves either no checkpoint or a whole one.
 *
 * Tables (module 'jobs'):
 *   jobs(id, spec, coordinator, status, stage, attempt, error_code, error_message, created_at, updated_at)
 *   job_checkpoints(job_id, stage, attempt, output, created_at) -- one row per completed stage
 *   job_events(job_id, seq, time, kind, stage, attempt, detail) -- what happened, for status and tests
 *   job_epoch_checkpoints(job_id, stage, epoch, attempt, bytes, created_at) -- within-stage checkpoints
 *     (hetero-LR's per-epoch `serializeCheckpoint` bytes), the last `EPOCH_CHECKPOINTS_KEPT` per job and
 *     stage; each written (and the older ones pruned) in one transaction, so a crash mid-write leaves the
 *     previous ones intact; dropped when the job ends
 *   job_secrets(name, secret, created_at) -- this party's random secrets for jobs (the mask-seed key of
 *     `maskKeyFor`), made on first use from the CSPRNG; never sent, never logged, never exported
 *   jobs.cancel_requested_by -- who asked to cancel a running job (the coordinator's runner acts on it at
 *     its next poll; control.ts)
 *   job_leases(job_id, holder, expires_at) -- which replica of this party coordinates a job, when several
 *     share a PostgreSQL store (docs/deploy.md section 8): a replica coordinates only a job whose lease it
 *     holds, renews it while it does, and another replica takes the job over once the lease has expired
 *     (the holder died); a single node on SQLite takes no leases. `address`: the holder's advertised gRPC
 *     address (config `advertise`), written with every claim, which a replica that does not hold the job
 *     names to a peer whose message reached it (`not_lease_holder`, docs/deploy.md section 8). For a job
 *     this party FOLLOWS (another party coordinates it), the row instead names the replica that
 *     prepared the job's latest stage attempt here (`recordAttemptHolder`; `expires_at` unused), so
 *     that the party's other replicas can name it too; no fence and no epoch are involved
 *   jobs.lease_epoch -- the job's fencing token: incremented whenever a replica other than the last holder
 *     claims its lease (a takeover, or a claim after a release). A replica that claimed the lease at
 *     epoch e writes the job's state (attempt, status, checkpoints, events, its model) only while the
 *     row still says e: each such write's transaction starts with (or is) an `UPDATE jobs ... WHERE id = ?
 *     AND lease_epoch = ?`, which locks the job's row until commit, so a takeover (which updates the same
 *     row) is ordered wholly before the write -- the write is refused with `lease_lost` -- or wholly after
 *     it. A replica that stalled past its lease (a long GC or VM pause, SIGSTOP) therefore cannot write
 *     over the new holder's state when it wakes (Kleppmann, "How to do distributed locking", 2016;
 *     the fencing tokens of Burrows, "The Chubby lock service", OSDI 2006). On a follower's store (a
 *     party that does not coordinate the job) the same column holds the highest epoch the coordinator
 *     has presented in its control requests (`observeCoordinatorEpoch`): the follower refuses a request
 *     below it, so a stalled coordinator replica cannot open an attempt at the peers either
 *     (docs/deploy.md section 8, "Fencing at the peers")
 * Statuses: submitted -> running -> done | failed | cancelled; a failed or cancelled job may be retried
 * (back to running at its recorded stage, or submitted when it never started; `retry`).
 * Checkpoints hold row positions, feature names, model weights and metrics of this party only; they stay
 * in this party's state directory like its data does.
 */
import { cryptoRng, FedscoreError } from '@fedscore/core';
import type { NodeStore } from '../store/index.ts';
import { type JobSpec, STAGES, type StageName, validateJobSpec } from './spec.ts';

export const JOB_MIGRATIONS = {
  module: 'jobs',
  steps: [
    `CREATE TABLE jobs (
       id TEXT PRIMARY KEY,
       spec TEXT NOT NULL,
       coordinator TEXT NOT NULL,
       status TEXT NOT NULL,
       stage TEXT,
       attempt INTEGER NOT NULL DEFAULT 0,
       error_code TEXT,
       error_message TEXT,
       created_at INTEGER NOT NULL,
       updated_at INTEGER NOT NULL
     ) STRICT;
     CREATE TABLE job_checkpoints (
       job_id TEXT NOT NULL REFERENCES jobs(id),
       stage TEXT NOT NULL,
       attempt INTEGER NOT NULL,
       output TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       PRIMARY KEY (job_id, stage)
     ) STRICT;
     CREATE TABLE job_events (
       job_id TEXT NOT NULL REFERENCES jobs(id),
       seq INTEGER NOT NULL,
       time INTEGER NOT NULL,
       kind TEXT NOT NULL,
       stage TEXT,
       attempt INTEGER,
       detail TEXT,
       PRIMARY KEY (job_id, seq)
     ) STRICT;`,
    `CREATE TABLE job_epoch_checkpoints (
       job_id TEXT NOT NULL REFERENCES jobs(id),
       stage TEXT NOT NULL,
       epoch INTEGER NOT NULL,
       attempt INTEGER NOT NULL,
       bytes BLOB NOT NULL,
       created_at INTEGER NOT NULL,
       PRIMARY KEY (job_id, stage, epoch)
     ) STRICT;
     CREATE TABLE job_secrets (
       name TEXT PRIMARY KEY,
       secret BLOB NOT NULL,
       created_at INTEGER NOT NULL
     ) STRICT;`,
    'ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;',
    `CREATE TABLE job_leases (
       job_id TEXT PRIMARY KEY REFERENCES jobs(id),
       holder TEXT NOT NULL,
       expires_at INTEGER NOT NULL
     ) STRICT;`,
    'ALTER TABLE jobs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;',
    'ALTER TABLE job_leases ADD COLUMN address TEXT;',
  ],
} as const;

/** A replica's hold on coordinating a job (`JobStore.claimLease`). */
export interface JobLease {
  readonly holder: string;
  /** Epoch milliseconds after which another replica may take the job over. */
  readonly expiresAt: number;
  /** The job's fencing token (`jobs.lease_epoch`): incremented at each change of holder. */
  readonly epoch: number;
  /** Where the peers reach the holder (its config `advertise`; absent when it advertises none). */
  readonly address?: string;
}

/** Within-stage checkpoints kept per job and stage (a party killed mid-epoch lags the others by one). */
export const EPOCH_CHECKPOINTS_KEPT = 3;

/** One stored within-stage checkpoint (the bytes are the algorithm's own format). */
export interface EpochCheckpointRecord {
  readonly epoch: number;
  /** The stage attempt that wrote it. */
  readonly attempt: number;
  readonly bytes: Uint8Array;
  readonly createdAt: number;
}

export const JOB_STATUSES = ['submitted', 'running', 'done', 'failed', 'cancelled'] as const;
/** Statuses of a job that no longer runs (until it is retried). */
export const ENDED_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>(['done', 'failed', 'cancelled']);
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobRecord {
  readonly id: string;
  readonly spec: JobSpec;
  readonly coordinator: string;
  readonly status: JobStatus;
  readonly stage: StageName | null;
  readonly attempt: number;
  readonly error?: { readonly code: string; readonly message: string };
  /** Who asked to cancel the job while it ran (until the coordinator cancels it or it is retried). */
  readonly cancelRequestedBy?: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface JobEvent {
  readonly seq: number;
  readonly time: number;
  readonly kind: string;
  readonly stage: string | null;
  readonly attempt: number | null;
  readonly detail: string | null;
}

interface JobRow {
  id: string;
  spec: string;
  coordinator: string;
  status: string;
  stage: string | null;
  attempt: number;
  error_code: string | null;
  error_message: string | null;
  cancel_requested_by: string | null;
  created_at: number;
  updated_at: number;
}

function toRecord(r: JobRow): JobRecord {
  const spec = { ...validateJobSpec(JSON.parse(r.spec)), id: r.id } as JobSpec;
  return {
    id: r.id,
    spec,
    coordinator: r.coordinator,
    status: r.status as JobStatus,
    stage: (STAGES as readonly string[]).includes(r.stage ?? '') ? (r.stage as StageName) : null,
    attempt: r.attempt,
    ...(r.error_code !== null && { error: { code: r.error_code, message: r.error_message ?? '' } }),
    ...(r.cancel_requested_by !== null && { cancelRequestedBy: r.cancel_requested_by }),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class JobStore {
  readonly store: NodeStore;
  /**
   * The lease epoch under which this replica coordinates each job (set by a successful `claimLease`,
   * cleared by `releaseLease`): while set, every write of the job's state is fenced by it.
   */
  readonly #fences = new Map<string, number>();
  readonly #refusedListeners: ((job: string, epoch: number) => void)[] = [];

  constructor(store: NodeStore) {
    this.store = store;
    store.migrate(JOB_MIGRATIONS);
  }

  /** Record a job (idempotent for the same spec; a different spec under the same id is refused). */
  put(spec: JobSpec, coordinator: string, status: JobStatus = 'submitted'): JobRecord {
    const json = canonicalJson(spec);
    return this.store.transaction(() => {
      const old = this.store.get<JobRow>('SELECT * FROM jobs WHERE id = ?', spec.id);
      if (old !== undefined) {
        if (old.spec !== json || old.coordinator !== coordinator) {
          throw new FedscoreError('job_state', `job '${spec.id}' exists with another spec`, { field: 'id' });
        }
        return toRecord(old);
      }
      const now = Date.now();
      this.store.run(
        'INSERT INTO jobs (id, spec, coordinator, status, stage, attempt, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, 0, ?, ?)',
        spec.id,
        json,
        coordinator,
        status,
        now,
        now,
      );
      this.event(spec.id, 'created', null, null, `coordinator=${coordinator}`);
      return this.get(spec.id)!;
    });
  }

  get(id: string): JobRecord | undefined {
    const r = this.store.get<JobRow>('SELECT * FROM jobs WHERE id = ?', id);
    return r === undefined ? undefined : toRecord(r);
  }

  require(id: string): JobRecord {
    const j = this.get(id);
    if (j === undefined)
      throw new FedscoreError('not_found', `no job '${id}' on this node`, { field: 'job' });
    return j;
  }

  list(status?: JobStatus): JobRecord[] {
    const rows =
      status === undefined
        ? this.store.all<JobRow>('SELECT * FROM jobs ORDER BY created_at, id')
        : this.store.all<JobRow>('SELECT * FROM jobs WHERE status = ? ORDER BY created_at, id', status);
    return rows.map(toRecord);
  }

  /** Move the job to `stage`/`attempt` (running). */
  setAttempt(id: string, stage: StageName, attempt: number): void {
    this.store.transaction(() => {
      this.#fencedUpdate(
        id,
        "UPDATE jobs SET status = 'running', stage = ?, attempt = ?, updated_at = ? WHERE id = ?",
        stage,
        attempt,
        Date.now(),
        id,
      );
      this.event(id, 'attempt', stage, attempt, null);
    });
  }

  /** Mark the job done (or failed with `error`); its within-stage checkpoints are no longer needed. */
  finish(id: string, error?: { code: string; message: string }): void {
    this.store.transaction(() => {
      this.#fencedUpdate(
        id,
        'UPDATE jobs SET status = ?, error_code = ?, error_message = ?, updated_at = ? WHERE id = ?',
        error === undefined ? 'done' : 'failed',
        error?.code ?? null,
        error?.message ?? null,
        Date.now(),
        id,
      );
      this.store.run('DELETE FROM job_epoch_checkpoints WHERE job_id = ?', id);
      this.event(id, error === undefined ? 'done' : 'failed', null, null, error?.code ?? null);
    });
  }

  /**
   * Record that `by` asks to cancel a submitted or running job (its coordinator's runner cancels it at its
   * next poll). Returns the job; refuses a job that has ended.
   */
  requestCancel(id: string, by: string): JobRecord {
    return this.store.transaction(() => {
      const j = this.require(id);
      if (j.status !== 'submitted' && j.status !== 'running') {
        throw new FedscoreError(
          'job_state',
          `job '${id}' is ${j.status}: only a submitted or running job is cancelled`,
          {
            field: 'job',
          },
        );
      }
      if (j.cancelRequestedBy !== undefined) return j;
      this.store.run(
        'UPDATE jobs SET cancel_requested_by = ?, updated_at = ? WHERE id = ?',
        by,
        Date.now(),
        id,
      );
      this.event(id, 'cancel_requested', j.stage, j.attempt, null);
      return this.require(id);
    });
  }

  /**
   * Mark a submitted or running job cancelled (false when it had already ended). Its within-stage
   * checkpoints are kept: a retry resumes from them.
   */
  markCancelled(id: string): boolean {
    return this.store.transaction(() => {
      const j = this.require(id);
      if (j.status !== 'submitted' && j.status !== 'running') return false;
      this.store.run(
        "UPDATE jobs SET status = 'cancelled', cancel_requested_by = NULL, updated_at = ? WHERE id = ?",
        Date.now(),
        id,
      );
      this.event(id, 'cancelled', j.stage, j.attempt, null);
      return true;
    });
  }

  /**
   * Put a failed or cancelled job back to run: at its recorded stage with a new attempt (the earlier
   * stages' checkpoints stand), or from the start when it never started a stage.
   */
  retry(id: string): JobRecord {
    return this.store.transaction(() => {
      const j = this.require(id);
      if (j.status !== 'failed' && j.status !== 'cancelled') {
        throw new FedscoreError(
          'job_state',
          `job '${id}' is ${j.status}: only a failed or cancelled job is retried`,
          {
            field: 'job',
          },
        );
      }
      this.store.run(
        'UPDATE jobs SET status = ?, error_code = NULL, error_message = NULL, cancel_requested_by = NULL, updated_at = ? WHERE id = ?',
        j.stage === null ? 'submitted' : 'running',
        Date.now(),
        id,
      );
      this.event(id, 'retried', j.stage, j.attempt, null);
      return this.require(id);
    });
  }

  /**
   * Take or renew the lease on coordinating job `id` for `holder` until `now + ttlMs`: true when `holder`
   * now holds it (it was free, expired, or already `holder`'s), false while another holder's lease runs.
   * One transaction, so two replicas claiming at once cannot both win (the store's write lock).
   *
   * A claim by a holder other than the last one increments the job's lease epoch (the fencing token);
   * on success this store fences its later writes of the job with the epoch it now holds. A renewal
   * (this store already holds a fence for the job) fails once the epoch has moved on, even when the
   * new holder's lease has expired in turn: a replica that lost the job never silently gets it back
   * while its old coordination loop still runs. `address`: where the peers reach `holder` (recorded for
   * the other replicas to name to a misrouted peer; `lease()`).
   */
  claimLease(
    id: string,
    holder: string,
    ttlMs: number,
    now: number = Date.now(),
    address?: string | undefined,
  ): boolean {
    if (typeof holder !== 'string' || holder.length === 0 || holder.length > 200) {
      throw new FedscoreError('invalid_argument', 'a lease holder is 1-200 characters', { field: 'holder' });
    }
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      throw new FedscoreError('out_of_range', `${ttlMs} is not a positive integer`, { field: 'ttlMs' });
    }
    return this.store.transaction(() => {
      const held = this.lease(id);
      const fence = this.#fences.get(id);
      const epoch = this.leaseEpoch(id);
      // A renewal by a replica whose job was taken over since (whatever the lease row says now).
      if (fence !== undefined && fence !== epoch) return false;
      if (held !== undefined && held.holder !== holder && held.expiresAt > now) return false;
      this.#writeLeaseRow(id, holder, now + ttlMs, address);
      let next = epoch;
      if (held === undefined || held.holder !== holder) {
        next = epoch + 1;
        this.store.run('UPDATE jobs SET lease_epoch = ? WHERE id = ? AND lease_epoch = ?', next, id, epoch);
      }
      this.#fences.set(id, next);
      if (held !== undefined && held.holder !== holder) {
        this.event(id, 'lease_taken_over', null, this.require(id).attempt, `epoch=${next}`);
      }
      return true;
    });
  }

  /**
   * A job this party follows: `holder` (at `address`) prepared its latest stage attempt here, so the
   * other replicas of the party name it to a peer whose message for the job reaches them. Not a lease:
   * no expiry, no epoch, no fence (the coordinator's next PREPARE, wherever it lands, records anew).
   */
  recordAttemptHolder(
    id: string,
    holder: string,
    address: string | undefined,
    now: number = Date.now(),
  ): void {
    this.#writeLeaseRow(id, holder, now, address);
  }

  /** Job `id`'s lease row: its holder, expiry and advertised address, inserted or replaced. */
  #writeLeaseRow(id: string, holder: string, expiresAt: number, address: string | undefined): void {
    this.store.run(
      `INSERT INTO job_leases (job_id, holder, expires_at, address) VALUES (?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
         address = excluded.address`,
      id,
      holder,
      expiresAt,
      address ?? null,
    );
  }

  /** Give up `holder`'s lease on job `id` (nothing when another holds it); its writes are no longer fenced. */
  releaseLease(id: string, holder: string): void {
    this.#fences.delete(id);
    this.store.run('DELETE FROM job_leases WHERE job_id = ? AND holder = ?', id, holder);
  }

  /** The current lease on job `id`, expired or not. */
  lease(id: string): JobLease | undefined {
    const r = this.store.get<{ holder: string; expires_at: number; address: string | null }>(
      'SELECT holder, expires_at, address FROM job_leases WHERE job_id = ?',
      id,
    );
    return r === undefined
      ? undefined
      : {
          holder: r.holder,
          expiresAt: r.expires_at,
          epoch: this.leaseEpoch(id),
          ...(r.address !== null && { address: r.address }),
        };
  }

  /** Job `id`'s fencing token (0 before any lease was claimed). */
  leaseEpoch(id: string): number {
    const r = this.store.get<{ lease_epoch: number }>('SELECT lease_epoch FROM jobs WHERE id = ?', id);
    if (r === undefined) {
      throw new FedscoreError('not_found', `no job '${id}' on this node`, { field: 'job' });
    }
    return Number(r.lease_epoch);
  }

  /**
   * On a follower: check the lease epoch job `id`'s coordinator presented in a control request against
   * the highest one it presented before (kept in the job's `lease_epoch`, which a follower's replicas
   * share), in one transaction. Below it: `lease_lost` (a coordinator replica that lost the job's lease
   * to another), nothing written. Above it: recorded, and true (the caller closes the attempts opened
   * under the lower epoch). Equal: false.
   */
  observeCoordinatorEpoch(id: string, epoch: number): boolean {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new FedscoreError('wire_decode', `lease epoch ${epoch} is not a non-negative integer`, {
        field: 'lease_epoch',
      });
    }
    // The common case (the epoch it presented before) reads, without taking the store's write lock.
    if (epoch === this.leaseEpoch(id)) return false;
    return this.store.transaction(() => {
      const seen = this.leaseEpoch(id);
      if (epoch < seen) {
        throw new FedscoreError(
          'lease_lost',
          `job '${id}': the coordinator's request carries lease epoch ${epoch}, below the ${seen} its coordinator has presented already (a replica that lost the job's lease)`,
          { field: 'lease_epoch', details: { job: id, epoch, seen } },
        );
      }
      if (epoch === seen) return false;
      this.store.run('UPDATE jobs SET lease_epoch = ? WHERE id = ? AND lease_epoch = ?', epoch, id, seen);
      return true;
    });
  }

  /** The lease epoch this store fences job `id`'s writes with (undefined: it holds no lease on it). */
  fenceOf(id: string): number | undefined {
    return this.#fences.get(id);
  }

  /**
   * Run `fn` in one transaction that first checks this replica still holds job `id`'s lease epoch (when
   * it holds one): the job's other writes outside this store's tables (its model in the registry, with
   * that registry's audit entry) are fenced like the job's own. Throws `lease_lost` without running `fn`.
   */
  fenced<T>(id: string, fn: () => T): T {
    return this.store.transaction(() => {
      this.#guard(id);
      return fn();
    });
  }

  /**
   * Inside a transaction: refuse the job's writes when this store holds a fence for job `id` that the
   * job's row no longer carries. The UPDATE locks the row until commit (see the file comment).
   */
  #guard(id: string): void {
    const fence = this.#fences.get(id);
    if (fence === undefined) return;
    const r = this.store.run(
      'UPDATE jobs SET lease_epoch = lease_epoch WHERE id = ? AND lease_epoch = ?',
      id,
      fence,
    );
    if (r.changes !== 1) throw this.#lost(id, fence);
  }

  /** An UPDATE of job `id`'s row, with `AND lease_epoch = <fence>` appended when this store holds one. */
  #fencedUpdate(id: string, sql: string, ...params: (string | number | null)[]): void {
    const fence = this.#fences.get(id);
    if (fence === undefined) {
      this.store.run(sql, ...params);
      return;
    }
    const r = this.store.run(`${sql} AND lease_epoch = ?`, ...params, fence);
    if (r.changes !== 1) throw this.#lost(id, fence);
  }

  /**
   * Call `listener` whenever this store refuses a write of a job because its lease epoch moved on (before
   * the `lease_lost` error is thrown): the job runner logs it and stops coordinating the job.
   */
  onFenceRefused(listener: (job: string, epoch: number) => void): void {
    this.#refusedListeners.push(listener);
  }

  #lost(id: string, fence: number): FedscoreError {
    for (const listener of this.#refusedListeners) {
      try {
        listener(id, fence);
      } catch {
        // A listener's failure never changes the refusal.
      }
    }
    return new FedscoreError(
      'lease_lost',
      `job '${id}' was taken over by another replica (lease epoch ${fence} is no longer current); this replica's write is refused`,
      { field: 'lease', details: { job: id, epoch: fence } },
    );
  }

  /** Persist this party's output of a stage (replacing an earlier attempt's). */
  saveCheckpoint(id: string, stage: StageName, attempt: number, output: unknown): void {
    this.store.transaction(() => {
      this.#guard(id);
      this.store.run(
        `INSERT INTO job_checkpoints (job_id, stage, attempt, output, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (job_id, stage) DO UPDATE
           SET attempt = excluded.attempt, output = excluded.output, created_at = excluded.created_at`,
        id,
        stage,
        attempt,
        JSON.stringify(output),
        Date.now(),
      );
      this.event(id, 'checkpoint', stage, attempt, null);
    });
  }

  checkpoint<T>(id: string, stage: StageName): { attempt: number; output: T } | undefined {
    const r = this.store.get<{ attempt: number; output: string }>(
      'SELECT attempt, output FROM job_checkpoints WHERE job_id = ? AND stage = ?',
      id,
      stage,
    );
    return r === undefined ? undefined : { attempt: r.attempt, output: JSON.parse(r.output) as T };
  }

  requireCheckpoint<T>(id: string, stage: StageName): T {
    const c = this.checkpoint<T>(id, stage);
    if (c === undefined) {
      throw new FedscoreError('job_state', `job '${id}' has no checkpoint of stage '${stage}' on this node`, {
        field: 'stage',
      });
    }
    return c.output;
  }

  /**
   * Persist this party's checkpoint of `epoch` within a stage and keep only the latest `keep` epochs
   * (one transaction: a crash leaves the previous set whole). Epochs above `epoch` are dropped too: they
   * belong to a run this one resumed before, and the one being written supersedes them.
   */
  saveEpochCheckpoint(
    id: string,
    stage: StageName,
    attempt: number,
    epoch: number,
    bytes: Uint8Array,
    keep: number = EPOCH_CHECKPOINTS_KEPT,
  ): void {
    if (!Number.isSafeInteger(epoch) || epoch < 1) {
      throw new FedscoreError('out_of_range', `epoch ${epoch} is not a positive integer`, { field: 'epoch' });
    }
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new FedscoreError('out_of_range', `keep ${keep} is not a positive integer`, { field: 'keep' });
    }
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new FedscoreError('invalid_argument', 'expected checkpoint bytes', { field: 'bytes' });
    }
    this.store.transaction(() => {
      this.#guard(id);
      this.store.run(
        'DELETE FROM job_epoch_checkpoints WHERE job_id = ? AND stage = ? AND epoch >= ?',
        id,
        stage,
        epoch,
      );
      this.store.run(
        'INSERT INTO job_epoch_checkpoints (job_id, stage, epoch, attempt, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        id,
        stage,
        epoch,
        attempt,
        bytes,
        Date.now(),
      );
      this.store.run(
        `DELETE FROM job_epoch_checkpoints WHERE job_id = ? AND stage = ? AND epoch NOT IN (
           SELECT epoch FROM job_epoch_checkpoints WHERE job_id = ? AND stage = ? ORDER BY epoch DESC LIMIT ?)`,
        id,
        stage,
        id,
        stage,
        keep,
      );
      this.event(id, 'epoch_checkpoint', stage, attempt, `epoch=${epoch}`);
    });
  }

  /** This party's within-stage checkpoints of a job, by ascending epoch. */
  epochCheckpoints(id: string, stage: StageName): EpochCheckpointRecord[] {
    return this.store
      .all<{ epoch: number; attempt: number; bytes: Uint8Array; created_at: number }>(
        'SELECT epoch, attempt, bytes, created_at FROM job_epoch_checkpoints WHERE job_id = ? AND stage = ? ORDER BY epoch',
        id,
        stage,
      )
      .map((r) => ({ epoch: r.epoch, attempt: r.attempt, bytes: r.bytes, createdAt: r.created_at }));
  }

  /** Remove one stored within-stage checkpoint (one that no longer parses). */
  dropEpochCheckpoint(id: string, stage: StageName, epoch: number): void {
    this.store.transaction(() => {
      this.#guard(id);
      this.store.run(
        'DELETE FROM job_epoch_checkpoints WHERE job_id = ? AND stage = ? AND epoch = ?',
        id,
        stage,
        epoch,
      );
    });
  }

  /**
   * This party's 32-byte secret `name`, made from the CSPRNG on first use and kept in the store. It never
   * leaves this node: callers derive per-job values from it (`maskKeyFor`).
   */
  partySecret(name: string): Uint8Array {
    if (typeof name !== 'string' || !/^[a-z][a-z0-9.-]{0,63}$/.test(name)) {
      throw new FedscoreError('invalid_argument', 'a secret name is a lowercase identifier', {
        field: 'name',
      });
    }
    return this.store.transaction(() => {
      const old = this.store.get<{ secret: Uint8Array }>(
        'SELECT secret FROM job_secrets WHERE name = ?',
        name,
      );
      if (old !== undefined) {
        // A stored secret must be the full 256 bits it was made with (a truncated row is refused).
        if (!(old.secret instanceof Uint8Array) || old.secret.length !== 32) {
          throw new FedscoreError('store', `party secret '${name}' is not 32 bytes`, {
            field: 'job_secrets',
          });
        }
        return old.secret;
      }
      const secret = cryptoRng().fillBytes(new Uint8Array(32));
      this.store.run(
        'INSERT INTO job_secrets (name, secret, created_at) VALUES (?, ?, ?)',
        name,
        secret,
        Date.now(),
      );
      return secret;
    });
  }

  event(id: string, kind: string, stage: string | null, attempt: number | null, detail: string | null): void {
    this.store.transaction(() => {
      this.#guard(id);
      const next = this.store.get<{ n: number | null }>(
        'SELECT max(seq) AS n FROM job_events WHERE job_id = ?',
        id,
      );
      this.store.run(
        'INSERT INTO job_events (job_id, seq, time, kind, stage, attempt, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
        id,
        (next?.n ?? 0) + 1,
        Date.now(),
        kind,
        stage,
        attempt,
        detail,
      );
    });
  }

  /** The job's latest event of this kind (the console's live view reads `progress` this way). */
  lastEvent(id: string, kind: string): JobEvent | undefined {
    return this.store.get<JobEvent>(
      'SELECT seq, time, kind, stage, attempt, detail FROM job_events WHERE job_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1',
      id,
      kind,
    );
  }

  events(id: string): JobEvent[] {
    return this.store.all<JobEvent>(
      'SELECT seq, time, kind, stage, attempt, detail FROM job_events WHERE job_id = ? ORDER BY seq',
      id,
    );
  }
}

/** JSON with object keys sorted, so that equal specs compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value));
}
