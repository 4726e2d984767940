/**
 * The node's work-distribution queue (config `queue: pgboss`, docs/deploy.md section 7): the
 * `@fedscore/queue` executors the train stage hands its hetero-LR packed products to (and a binning
 * host its bin sums, a SecureBoost host its CKKS histograms), and what /metrics and /healthz say about
 * it. Its health is read every `HEALTH_SECONDS` in the background (a scrape never
 * waits on the database); pg-boss's own counts lag by up to one of its supervision passes.
 *
 * Task results are pruned here, by the coordinator (`prune`, at start and every `PRUNE_SECONDS`): task ids
 * carry their job's id (jobs/runner.ts), so the results of a job that is done go; those of jobs that may
 * still run or be retried (submitted, running, failed, cancelled) stay until `queue.resultRetentionHours`
 * has passed since they were stored, and so do untagged ones. Results this node still awaits are never
 * pruned. The shared blobs (batch columns, contexts) go once no task has named them for the same
 * retention and no task still waiting names them.
 *
 * No HE secret reaches the queue: each HE task carries the public CKKS context it is evaluated under (the
 * cipher serializes the public part) and the party's batch columns; the secret keys stay in this process.
 * PSI's blinding tasks carry the run's ephemeral PSI key and the party's own ids of the batch; they are
 * deleted when the run ends (docs/threat-model.md, docs/protocols/psi.md "On a work queue").
 */
import type { Logger } from '@fedscore/core';
import type { PackedPartsResult, PackedProductRequest } from '@fedscore/he';
import type { PsiBlindOffload, PsiTask, PsiTaskOutput } from '@fedscore/psi';
import type { AwaitedTasks, QueueExecutor, QueueHealth } from '@fedscore/queue';
import type {
  BinSumOffload,
  BinSumTask,
  BinSumWorkerOutput,
  HistogramTask,
  HistogramTaskOutput,
  PackedProductOffload,
  SecureBoostHistogramOffload,
} from '@fedscore/vfl';
import { type QueueConfig, queueUrl } from '../config/index.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { MetricSample } from './http.ts';

/** Seconds between two background reads of the queue's health. */
export const HEALTH_SECONDS = 5;
/** Seconds between two background prunes of the queue's task results. */
export const PRUNE_SECONDS = 60;

/** What one prune removed. */
export interface QueuePruneReport {
  /** Done jobs whose task results were pruned in this pass (each job once per process). */
  readonly doneJobs: number;
  /** Result rows deleted (of those jobs, and any past the retention). */
  readonly removed: number;
  /**
   * Shared blobs deleted (`fedscore_task_blob`: batch columns, contexts): those no task has named for
   * the retention and no waiting task names (`QueueExecutor.pruneBlobs`).
   */
  readonly blobsRemoved: number;
}

type PgbossConfig = Extract<QueueConfig, { kind: 'pgboss' }>;

/**
 * The node's task kinds on its queue, by the tasks' `op`: hetero-LR's packed products, binning's bin
 * sums, SecureBoost's CKKS histograms, PSI's hashing and blinding (`psi`: both of its ops). Each has its
 * own executor, so its own awaited tasks and latency.
 */
export const QUEUE_TASK_KINDS = ['packedProduct', 'binSums', 'sbHistogram', 'psi'] as const;
export type QueueTaskKind = (typeof QUEUE_TASK_KINDS)[number];

/** Tasks of one kind this node awaits: how many, and how many pg-boss holds queued or active now. */
export interface QueueKindDepth {
  readonly pending: number;
  readonly queued: number;
  readonly active: number;
}

export class NodeQueue {
  readonly offload: PackedProductOffload;
  /** The binning host's bin sums, on the same queue (a second executor: its own typed tasks). */
  readonly binSums: BinSumOffload;
  /** A SecureBoost host's CKKS histograms, on the same queue (a third executor). */
  readonly secureBoost: SecureBoostHistogramOffload;
  /**
   * This party's PSI blinding, on the same queue (a fourth executor): its tasks carry the run's ephemeral
   * PSI key and the party's own ids, and are dropped when the run ends (`dropTasks`).
   */
  readonly psi: PsiBlindOffload;
  readonly #executor: QueueExecutor<PackedProductRequest, PackedPartsResult>;
  readonly #binSums: QueueExecutor<BinSumTask, BinSumWorkerOutput>;
  readonly #secureBoost: QueueExecutor<HistogramTask, HistogramTaskOutput>;
  readonly #psi: QueueExecutor<PsiTask, PsiTaskOutput>;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #pruneTimer: ReturnType<typeof setInterval>;
  readonly #jobs: JobStore;
  readonly #retentionSeconds: number;
  /** Done jobs already pruned by this process. */
  readonly #pruned = new Set<string>();
  #pruning: Promise<QueuePruneReport> | undefined;
  #health: QueueHealth | undefined;
  #awaited: Readonly<Record<QueueTaskKind, AwaitedTasks>> | undefined;
  #up = false;

  private constructor(
    config: PgbossConfig,
    executor: QueueExecutor<PackedProductRequest, PackedPartsResult>,
    binSums: QueueExecutor<BinSumTask, BinSumWorkerOutput>,
    secureBoost: QueueExecutor<HistogramTask, HistogramTaskOutput>,
    psi: QueueExecutor<PsiTask, PsiTaskOutput>,
    jobs: JobStore,
    logger: Logger,
  ) {
    this.#executor = executor;
    this.#binSums = binSums;
    this.#secureBoost = secureBoost;
    this.#psi = psi;
    this.#jobs = jobs;
    this.#retentionSeconds = config.resultRetentionHours * 3600;
    this.offload = { executor, split: config.split, minColumns: config.minColumns };
    this.binSums = { executor: binSums };
    this.secureBoost = { executor: secureBoost };
    this.psi = { executor: psi, dropTasks: (prefix) => psi.dropTasks(prefix) };
    let reading = false;
    const read = (): void => {
      if (reading) return;
      reading = true;
      const kinds = { packedProduct: executor, binSums, sbHistogram: secureBoost, psi } as const;
      // The queue's depth (pg-boss, every kind) and, per kind, the tasks this node awaits.
      Promise.all([executor.health(), ...QUEUE_TASK_KINDS.map((k) => kinds[k].awaited())])
        .then(([h, ...awaited]) => {
          this.#health = h as QueueHealth;
          this.#awaited = Object.fromEntries(
            QUEUE_TASK_KINDS.map((k, i) => [k, awaited[i] as AwaitedTasks]),
          ) as Record<QueueTaskKind, AwaitedTasks>;
          this.#up = true;
        })
        .catch((e: unknown) => {
          if (this.#up) logger.warn('queue health read failed', { code: (e as { code?: string }).code });
          this.#up = false;
        })
        .finally(() => {
          reading = false;
        });
    };
    read();
    this.#timer = setInterval(read, HEALTH_SECONDS * 1000);
    this.#timer.unref();
    const prune = (): void => {
      this.prune().catch((e: unknown) => {
        logger.warn('queue result prune failed', { code: (e as { code?: string }).code });
      });
    };
    prune();
    this.#pruneTimer = setInterval(prune, PRUNE_SECONDS * 1000);
    this.#pruneTimer.unref();
  }

  /**
   * Delete the task results of done jobs (not pruned before by this process) and those older than the
   * retention; one pass at a time (a call during a pass gets that pass's report).
   */
  prune(): Promise<QueuePruneReport> {
    if (this.#pruning !== undefined) return this.#pruning;
    const pass = (async (): Promise<QueuePruneReport> => {
      const done = this.#jobs
        .list('done')
        .map((j) => j.id)
        .filter((id) => !this.#pruned.has(id));
      const removed = await this.#executor.pruneResults({
        prefixes: done,
        olderThanSeconds: this.#retentionSeconds,
        // The executors share the queue's result table: keep what the other two await too.
        keep: [
          ...this.#binSums.pendingTaskIds(),
          ...this.#secureBoost.pendingTaskIds(),
          ...this.#psi.pendingTaskIds(),
        ],
      });
      for (const id of done) this.#pruned.add(id);
      // Both executors store blobs in the one table; each marks what it sends (executor.ts). The
      // retention (at least an hour) is above the queue's BLOB_MIN_RETENTION_SECONDS.
      const blobsRemoved = await this.#executor.pruneBlobs({ olderThanSeconds: this.#retentionSeconds });
      return { doneJobs: done.length, removed, blobsRemoved };
    })();
    this.#pruning = pass;
    void pass
      .finally(() => {
        if (this.#pruning === pass) this.#pruning = undefined;
      })
      .catch(() => undefined);
    return this.#pruning;
  }

  /** Connect to the party's database and create the queue (a typed error naming `queue.url` if not). */
  static async open(
    config: PgbossConfig,
    jobs: JobStore,
    logger: Logger,
    env: Readonly<Record<string, string | undefined>> = process.env,
  ): Promise<NodeQueue> {
    const url = queueUrl(config, env);
    // Loaded only by a node with a queue: others never load pg and pg-boss.
    const { HE_TASK_SHARED_FIELDS, QueueExecutor } = await import('@fedscore/queue');
    let executor: QueueExecutor<PackedProductRequest, PackedPartsResult>;
    let binSums: QueueExecutor<BinSumTask, BinSumWorkerOutput>;
    let secureBoost: QueueExecutor<HistogramTask, HistogramTaskOutput>;
    let psi: QueueExecutor<PsiTask, PsiTaskOutput>;
    try {
      const options = {
        connectionString: url,
        queue: config.name,
        expireInSeconds: config.expireSeconds,
        sharedFields: HE_TASK_SHARED_FIELDS,
      };
      executor = await QueueExecutor.create<PackedProductRequest, PackedPartsResult>(options);
      binSums = await QueueExecutor.create<BinSumTask, BinSumWorkerOutput>(options).catch(
        async (e: unknown) => {
          await executor.close();
          throw e;
        },
      );
      secureBoost = await QueueExecutor.create<HistogramTask, HistogramTaskOutput>(options).catch(
        async (e: unknown) => {
          await Promise.all([executor.close(), binSums.close()]);
          throw e;
        },
      );
      // No shared fields: a PSI task's fields are its own batch (and a blob would outlive the run).
      psi = await QueueExecutor.create<PsiTask, PsiTaskOutput>({ ...options, sharedFields: [] }).catch(
        async (e: unknown) => {
          await Promise.all([executor.close(), binSums.close(), secureBoost.close()]);
          throw e;
        },
      );
    } catch (e) {
      const fe = e as { code?: string; message?: string };
      const { FedscoreError } = await import('@fedscore/core');
      throw new FedscoreError(
        fe.code === 'store' ? 'store' : 'invalid_config',
        `queue: ${fe.message ?? 'cannot start'}`,
        { field: 'queue.url', cause: e },
      );
    }
    if (config.workerRole !== undefined) {
      // After the tables and the queue exist: the grants cover them (and pg-boss's later tables).
      try {
        await executor.grantWorkerRole(config.workerRole);
      } catch (e) {
        await Promise.allSettled([executor.close(), binSums.close(), secureBoost.close(), psi.close()]);
        const fe = e as { code?: string; message?: string };
        const { FedscoreError } = await import('@fedscore/core');
        throw new FedscoreError(
          fe.code === 'store' ? 'store' : 'invalid_config',
          `queue: ${fe.message ?? 'cannot grant the worker role'}`,
          { field: fe.code === 'store' ? 'queue.url' : 'queue.workerRole', cause: e },
        );
      }
    }
    return new NodeQueue(config, executor, binSums, secureBoost, psi, jobs, logger);
  }

  /**
   * For /healthz: whether the last read reached the database, the queue's depth (every kind: pg-boss's
   * counts), the tasks this node awaits (`pending`, every kind) and, per kind, its awaited tasks.
   */
  health(): {
    up: boolean;
    queued: number;
    active: number;
    pending: number;
    kinds: Record<QueueTaskKind, QueueKindDepth>;
  } {
    const h = this.#health;
    const a = this.#awaited;
    const kinds = Object.fromEntries(
      QUEUE_TASK_KINDS.map((k) => [
        k,
        { pending: a?.[k].pending ?? 0, queued: a?.[k].queued ?? 0, active: a?.[k].active ?? 0 },
      ]),
    ) as Record<QueueTaskKind, QueueKindDepth>;
    const pending = QUEUE_TASK_KINDS.reduce((n, k) => n + kinds[k].pending, 0);
    return { up: this.#up, queued: h?.queued ?? 0, active: h?.active ?? 0, pending, kinds };
  }

  /** Samples for /metrics (no task contents, no ids: the queue's name only). */
  metrics(): MetricSample[] {
    const h = this.#health;
    const queue = this.#executor.queue;
    const out: MetricSample[] = [
      {
        name: 'fedscore_queue_up',
        help: "1 when the last read of the work queue's health reached its database.",
        type: 'gauge',
        labels: { queue },
        value: this.#up ? 1 : 0,
      },
    ];
    const a = this.#awaited;
    if (h === undefined || a === undefined) return out;
    const pending = QUEUE_TASK_KINDS.reduce((n, k) => n + a[k].pending, 0);
    for (const [state, value] of [
      ['queued', h.queued],
      ['active', h.active],
      ['failed', h.failed],
      ['pending', pending],
    ] as const) {
      out.push({
        name: 'fedscore_queue_tasks',
        help: 'Work queue tasks by state, every kind (queued/active/failed: pg-boss, lags one supervision pass; pending: awaited by this node).',
        type: 'gauge',
        labels: { queue, state },
        value,
      });
    }
    for (const kind of QUEUE_TASK_KINDS) {
      for (const state of ['pending', 'queued', 'active'] as const) {
        out.push({
          name: 'fedscore_queue_kind_tasks',
          help: 'Tasks of one kind this node awaits (pending), and of those how many are queued or active now (live).',
          type: 'gauge',
          labels: { queue, kind, state },
          value: a[kind][state],
        });
      }
    }
    out.push({
      name: 'fedscore_queue_retries_total',
      help: 'Deliveries of work queue tasks after their first (expired or failed deliveries retried).',
      type: 'counter',
      labels: { queue },
      value: h.retries,
    });
    const quantiles = (s: QueueHealth['taskMs']) =>
      [
        ['0.5', s.p50],
        ['0.95', s.p95],
        ['1', s.max],
      ] as const;
    for (const kind of QUEUE_TASK_KINDS) {
      const s = a[kind].latencyMs;
      for (const [quantile, value] of quantiles(s)) {
        out.push({
          name: 'fedscore_queue_task_latency_ms',
          help: 'Enqueue-to-result milliseconds of recent tasks of one kind, at this node (last 1,000).',
          type: 'gauge',
          labels: { queue, kind, quantile },
          value,
        });
      }
      out.push({
        name: 'fedscore_queue_task_latency_count',
        help: 'How many recent tasks of one kind the latency quantiles cover (0: none completed yet).',
        type: 'gauge',
        labels: { queue, kind },
        value: s.count,
      });
    }
    for (const [quantile, value] of quantiles(h.taskMs)) {
      out.push({
        name: 'fedscore_queue_task_run_ms',
        help: 'Milliseconds workers spent in recent tasks, every kind.',
        type: 'gauge',
        labels: { queue, quantile },
        value,
      });
    }
    return out;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#pruneTimer);
    await this.#pruning?.catch(() => undefined);
    await Promise.all([
      this.#executor.close(),
      this.#binSums.close(),
      this.#secureBoost.close(),
      this.#psi.close(),
    ]);
  }
}
