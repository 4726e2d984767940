/**
 * A SecureBoost job whose host node has `queue: pgboss` runs its CKKS histograms on the queue (issue
 * 18): two in-process party nodes (bank = guest, government = host) over gRPC + mutual TLS, CKKS (the
 * default scheme; one tree of depth 2, as secureboost-job.test.ts's CKKS case), the government's
 * histograms as `sbHistogram` tasks evaluated by one `fedscore worker` process holding the bank's public
 * context only.
 *
 * Both runs share the parties' SecureBoost key (copied from the reference run: the same keyed draws);
 * each run draws fresh flooding noise (the host's cryptographic generator), so the two runs' released
 * sums differ by it; the job's test AUC must equal the `queue: none` run's within 1e-3 (the issue's CKKS
 * tolerance, as secureboost-job.test.ts). The queue's result table holds the histogram tasks, none
 * failed, each id under the job's prefix (`<job>.government.sb/`: pruned with the job). The government
 * node's /metrics exports the histograms' own enqueue-to-result latency (kind `sbHistogram`).
 */
import type { EvaluateCheckpoint, JobSpecInput, PartyNode } from '@fedscore/node';
import { SECUREBOOST_RNG_SECRET } from '@fedscore/pipeline';
import { postgresUnavailable } from '@fedscore/queue/testing';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { metricsAfterKind, type Party, sampleOf, useQueueJob } from './queue-job-fixture.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue SecureBoost job test: ${unavailable}`);

const QUEUE = 'he-sbt';

describe.skipIf(unavailable !== undefined)(
  'a SecureBoost job with queue: pgboss: the host histograms on the queue',
  () => {
    const JOB = 'queued-sbt';
    const spec: JobSpecInput & { id: string } = {
      id: JOB,
      kind: 'secureboost',
      guest: 'bank',
      hosts: ['government'],
      data: { bank: 'loans', government: 'credit' },
      seed: 7,
      model: 'sme-trees',
      train: { scheme: 'ckks' },
      secureboost: { trees: 1, depth: 2, bins: 16, learningRate: 0.3 },
    };

    const q = useQueueJob({
      population: { enterprises: 1500, bankCustomers: 900, seed: 11 },
      http: true,
      queue: (_run, url) => ({ kind: 'pgboss', url, name: QUEUE, expireSeconds: 60 }),
      // The same keyed draws (validation split, row and feature samples) in both runs.
      secrets: [SECUREBOOST_RNG_SECRET],
    });
    const run = (name: string, after?: (nodes: Record<Party, PartyNode>) => Promise<void>) =>
      q.run<EvaluateCheckpoint>(name, spec, 'evaluate', { after });

    it('the test AUC equals the queue: none run within 1e-3; the histograms were queue tasks', async () => {
      const reference = await run('none');
      await q.startWorker(QUEUE);
      let metrics = '';
      const queued = await run('queued', async (nodes) => {
        metrics = await metricsAfterKind(nodes.government, QUEUE, 'sbHistogram');
      });
      const sample = (name: string, labels: string): number => sampleOf(metrics, name, QUEUE, labels);
      expect(sample('fedscore_queue_task_latency_count', 'kind="sbHistogram"')).toBeGreaterThan(0);
      const p50 = sample('fedscore_queue_task_latency_ms', 'kind="sbHistogram",quantile="0.5"');
      const max = sample('fedscore_queue_task_latency_ms', 'kind="sbHistogram",quantile="1"');
      console.log(
        `queue SecureBoost job: histogram latency p50 ${p50.toFixed(0)} ms, max ${max.toFixed(0)} ms`,
      );
      expect(p50).toBeGreaterThan(0);
      expect(max).toBeGreaterThanOrEqual(p50);
      expect(queued.bank.auc).toBeDefined();
      expect(Math.abs(queued.bank.auc! - reference.bank.auc!)).toBeLessThanOrEqual(1e-3);
      const c = new pg.Client({ connectionString: q.url });
      await c.connect();
      try {
        const r = await c.query<{ ok: number; failed: number; other: number }>(
          `SELECT count(*) FILTER (WHERE error IS NULL)::int AS ok,
                count(*) FILTER (WHERE error IS NOT NULL)::int AS failed,
                count(*) FILTER (WHERE task_id NOT LIKE $2)::int AS other
         FROM fedscore_task_result WHERE queue = $1`,
          [QUEUE, `${JOB}.government.sb/%`],
        );
        const counts = r.rows[0]!;
        console.log(
          `queue SecureBoost job: ${counts.ok} histogram task(s); AUC ${queued.bank.auc} vs ${reference.bank.auc}`,
        );
        expect(counts.ok).toBeGreaterThan(0);
        expect(counts.failed).toBe(0);
        expect(counts.other).toBe(0);
      } finally {
        await c.end();
      }
    }, 900_000);
  },
);
