/**
 * The one set-up of the node's queue job tests (queue-job.test.ts: hetero-LR products on the queue,
 * queue-binning-job.test.ts: the binning host's bin sums on the queue, queue-secureboost-job.test.ts:
 * the SecureBoost host's histograms on the queue): a throwaway PostgreSQL cluster,
 * `fedscore worker` processes on it, and two in-process party nodes over gRPC + mutual TLS (bank = guest,
 * government = host; `@fedscore/node/testing`'s NodeCluster) on a generated population. The government's
 * `queue` is the test's for every run but the reference run `none`. What each test submits, checks and
 * counts in the queue's tables is its own.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readCsvFile } from '@fedscore/core/node';
import { DEFAULT_LABEL_COLUMN, ID_COLUMN, writePopulation } from '@fedscore/datasets';
import type { JobSpecInput, PartyNode, StageName } from '@fedscore/node';
import { NodeCluster, type NodeConfigOverrides, trainingConsents } from '@fedscore/node/testing';
import { type PgCluster, startPgCluster, startWorker } from '@fedscore/queue/testing';
import { afterAll, beforeAll, expect } from 'vitest';

export const PARTIES = ['bank', 'government'] as const;
export type Party = (typeof PARTIES)[number];
type Nodes = Record<Party, PartyNode>;

export interface QueueJobOptions {
  /** `writePopulation`'s sizes and seed. */
  readonly population: { enterprises: number; bankCustomers: number; seed: number };
  /** The government's `queue` in run `run` (never called for `none`), on the PostgreSQL at `url`. */
  readonly queue: (run: string, url: string) => NonNullable<NodeConfigOverrides['queue']>;
  /** The nodes' HTTP endpoint (/metrics). */
  readonly http?: boolean;
  /** The party secrets a run copies from run `none` (default hetero-LR's mask seed). */
  readonly secrets?: readonly string[];
}

export interface QueueJob {
  /** The PostgreSQL cluster's connection URL. */
  readonly url: string;
  /** A `fedscore worker` on `queue`, killed in afterAll. */
  startWorker(queue: string): Promise<ChildProcess>;
  /**
   * Run `spec` to done in run `name` (the reference run `none`'s party secrets copied, the training
   * consents granted at the government on a run's first start) and return each party's checkpoint of
   * `stage`. `during`: after the submit; `after`: once the job is done, before the nodes stop.
   */
  run<C>(
    name: string,
    spec: JobSpecInput & { id: string },
    stage: StageName,
    hooks?: { during?: (nodes: Nodes) => Promise<void>; after?: (nodes: Nodes) => Promise<void> },
  ): Promise<Record<Party, C>>;
}

/**
 * The node's /metrics text once a health read (every 5 s, in the background) has seen a completed task
 * of `kind` on `queue` (`fedscore_queue_task_latency_count` > 0), or the last scrape after ~20 s.
 */
export async function metricsAfterKind(node: PartyNode, queue: string, kind: string): Promise<string> {
  const url = `http://127.0.0.1:${node.httpPort}/metrics`;
  const done = new RegExp(
    `^fedscore_queue_task_latency_count\\{queue="${queue}",kind="${kind}"\\} [1-9]`,
    'm',
  );
  let metrics = '';
  for (let i = 0; i < 100; i++) {
    metrics = await (await fetch(url)).text();
    if (done.test(metrics)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return metrics;
}

/** The value of sample `name{queue="queue",labels}` in a /metrics text (fails the test, naming it, if absent). */
export function sampleOf(metrics: string, name: string, queue: string, labels: string): number {
  const m = metrics.match(new RegExp(`^${name}\\{queue="${queue}",${labels}\\} (\\S+)$`, 'm'));
  expect(m, `${name}{queue="${queue}",${labels}}`).not.toBeNull();
  return Number(m![1]);
}

/** Call inside a describe: the cluster, nodes and data are made in beforeAll and removed in afterAll. */
export function useQueueJob(options: QueueJobOptions): QueueJob {
  let cluster: NodeCluster<Party>;
  let db: PgCluster;
  let files: { bank: string; government: string };
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    db = await startPgCluster();
    cluster = await NodeCluster.create({
      parties: PARTIES,
      ...(options.http && { http: true }),
      config: (p, run): NodeConfigOverrides => ({
        data:
          p === 'bank'
            ? { loans: { path: files.bank, id: ID_COLUMN, label: DEFAULT_LABEL_COLUMN } }
            : { credit: { path: files.government, id: ID_COLUMN } },
        ...(p === 'government' && run !== 'none' && { queue: options.queue(run, db.url) }),
      }),
    });
    const w = await writePopulation(options.population, join(cluster.dir, 'data'));
    files = { bank: w.bank.path, government: w.government.path };
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await cluster?.close();
    db?.stop();
  });

  return {
    get url() {
      return db.url;
    },
    startWorker: (queue) => startWorker(db.url, queue, children),
    async run<C>(
      name: string,
      spec: JobSpecInput & { id: string },
      stage: StageName,
      hooks: { during?: (nodes: Nodes) => Promise<void>; after?: (nodes: Nodes) => Promise<void> } = {},
    ): Promise<Record<Party, C>> {
      if (name !== 'none') cluster.copyPartySecrets('none', name, ['bank', 'government'], options.secrets);
      const nodes = await cluster.startAll({ run: name });
      try {
        if (nodes.government.consents.list().length === 0) {
          const t = await readCsvFile(files.government, { idColumn: ID_COLUMN, impute: 'keep' });
          nodes.government.consents.grantAll(trainingConsents(t.ids, 'bank'));
        }
        nodes.bank.submit(spec);
        await hooks.during?.(nodes);
        const done = await nodes.bank.runner.waitFor(spec.id, 400_000);
        expect(done.error).toBeUndefined();
        expect(done.status).toBe('done');
        await hooks.after?.(nodes);
        return {
          bank: nodes.bank.jobs.requireCheckpoint<C>(spec.id, stage),
          government: nodes.government.jobs.requireCheckpoint<C>(spec.id, stage),
        };
      } finally {
        await cluster.stopAll(nodes);
      }
    },
  };
}
