/**
 * Test support for the work-queue tests of this package: `fedscore worker` processes (the command a
 * deployment runs) on a throwaway PostgreSQL cluster (`useQueue`, one per describe block), HE-task
 * executors on it, and the wait for a worker that holds a task.
 */
import type { ChildProcess } from 'node:child_process';
import { HE_TASK_SHARED_FIELDS, QueueExecutor } from '@fedscore/queue';
import { type PgCluster, startPgCluster, startWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

/** Worker processes started by a test file (kill them all in afterAll). */
export class Workers {
  readonly #url: string;
  readonly children: ChildProcess[] = [];

  constructor(url: string) {
    this.#url = url;
  }

  /** A `fedscore worker` serving `queue`, resolved once it is ready. */
  start(queue: string): Promise<ChildProcess> {
    return startWorker(this.#url, queue, this.children);
  }

  /** SIGKILL every worker still running. */
  killAll(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** The queue of one describe block: its PostgreSQL cluster and its workers (set in beforeAll). */
export interface QueueRig {
  readonly url: string;
  readonly workers: Workers;
}

/**
 * Call inside a describe: a throwaway PostgreSQL cluster and a `Workers` on it, started in beforeAll;
 * the workers SIGKILLed and the cluster stopped in afterAll.
 */
export function useQueue(): QueueRig {
  let cluster: PgCluster | undefined;
  let workers: Workers | undefined;
  beforeAll(async () => {
    cluster = await startPgCluster();
    workers = new Workers(cluster.url);
  }, 120_000);
  afterAll(() => {
    workers?.killAll();
    cluster?.stop();
  });
  return {
    get url() {
      return cluster!.url;
    },
    get workers() {
      return workers!;
    },
  };
}

/** A coordinator's executor of HE tasks on `queue` (fast polling and supervision for tests). */
export function heTaskExecutor<Req, Out>(
  url: string,
  queue: string,
  extra: { expireInSeconds?: number } = {},
): Promise<QueueExecutor<Req, Out>> {
  return QueueExecutor.create<Req, Out>({
    connectionString: url,
    queue,
    pollMs: 200,
    superviseIntervalSeconds: 1,
    sharedFields: HE_TASK_SHARED_FIELDS,
    ...extra,
  });
}

/**
 * Wait until a worker holds a task of `queue` whose id starts with `prefix` (pg-boss state 'active', read
 * from the job table: the queue's cached counts lag) and return how many it holds; 0 after `ms`.
 */
export async function waitForActive(
  url: string,
  queue: string,
  prefix: string,
  ms = 60_000,
): Promise<number> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const r = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pgboss.job
         WHERE name = $1 AND state = 'active' AND data->>'taskId' LIKE $2`,
        [queue, `${prefix}%`],
      );
      if (r.rows[0]!.n > 0) return r.rows[0]!.n;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 0;
  } finally {
    await db.end();
  }
}

/** Kill `child` with SIGKILL and wait for it to exit. */
export async function killNow(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
