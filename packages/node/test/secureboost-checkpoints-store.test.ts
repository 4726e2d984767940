/**
 * SecureBoost's per-tree checkpoints and host release count through the node's job store, on both
 * backends (embedded SQLite and PostgreSQL; `describeStores`): each party's own store as the pipeline
 * sees it (`jobPipelineStore`, what the node's train stage gets), the checkpoints written with the store's
 * within-stage checkpoints (the last 3 per party), the host's count with pipeline's `releaseLedgerOf`
 * (job events written before each release).
 *   - the guest fails after tree 3 of 5; the next attempt reads back each party's stored checkpoints and
 *     resumes from the latest tree all hold: the model equals the uninterrupted run's (scheme `none`,
 *     tolerance 0: every node of every tree as JSON, float64 in round-trip form, and every host split);
 *   - the host's release count went on across the two attempts: the guest failed between trees, so no
 *     histogram was released twice and the total over both attempts is the uninterrupted run's exactly (a
 *     count reset by the new attempt would end at that total less the first attempt's); its last event is
 *     the total the second attempt reports; a third attempt under another plan (a different budget) is
 *     refused (`release_budget`). (A failure mid-tree, which does release a level twice, is the node
 *     test's: secureboost-resume.test.ts.)
 */
import { createHash } from 'node:crypto';
import { loadRngKey, normal, type RngKey, seededRng, uniform } from '@fedscore/core';
import { type JobSpec, JobStore, jobPipelineStore, validateJobSpec } from '@fedscore/node';
import { type PipelineStore, releaseLedgerOf } from '@fedscore/pipeline';
import {
  parseSecureBoostCheckpoint,
  type SecureBoostCheckpoint,
  serializeSecureBoostCheckpoint,
  type TrainSecureBoostResult,
  trainSecureBoost,
} from '@fedscore/vfl';
import { beforeAll, expect, it } from 'vitest';
import { describeStores } from './store-backends.ts';

/** 800 rows: 2 guest and 3 host features (test data: a seeded generator), labels from all five. */
const data = (() => {
  const rng = seededRng(19);
  const n = 800;
  const cols = Array.from({ length: 5 }, () => Float64Array.from({ length: n }, () => normal(rng)));
  const labels = Float64Array.from({ length: n }, (_, i) => {
    const z =
      0.9 * cols[0]![i]! - 0.6 * cols[1]![i]! + 1.1 * cols[2]![i]! + 0.5 * cols[3]![i]! * cols[4]![i]!;
    return uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
  return {
    guest: { names: ['g0', 'g1'], columns: cols.slice(0, 2) },
    hosts: [{ names: ['h0', 'h1', 'h2'], columns: cols.slice(2) }],
    labels,
  };
})();
const HP = { trees: 5, depth: 3, bins: 12, subsample: 0.8, colsampleByTree: 0.7 };
const JOB = 'sb-store';
const spec = (): JobSpec =>
  ({
    ...validateJobSpec({ guest: 'guest', hosts: ['host-1'], data: { guest: 'loans', 'host-1': 'credit' } }),
    id: JOB,
  }) as JobSpec;

let keys: Record<string, RngKey>;
beforeAll(async () => {
  keys = {
    guest: await loadRngKey(createHash('sha256').update('guest key').digest()),
    'host-1': await loadRngKey(createHash('sha256').update('host key').digest()),
  };
});

function run(
  stores: Record<string, PipelineStore> | undefined,
  o: { killGuestAt?: number; trees?: number; fresh?: boolean } = {},
): Promise<TrainSecureBoostResult> {
  const held = (p: string) =>
    stores === undefined || o.fresh === true
      ? []
      : stores[p]!.epochCheckpoints('train').map((r) => parseSecureBoostCheckpoint(r.bytes));
  return trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: [
      {
        features: data.hosts[0]!,
        ...(stores !== undefined && { releaseLedger: releaseLedgerOf(stores['host-1']!) }),
      },
    ],
    scheme: 'none',
    hyperparams: { ...HP, ...(o.trees !== undefined && { trees: o.trees }) },
    modelId: JOB,
    rngKeys: keys,
    resumeFrom: { guest: held('guest'), 'host-1': held('host-1') },
    onCheckpoint: (party: string, cp: SecureBoostCheckpoint) => {
      stores?.[party]?.saveEpochCheckpoint('train', cp.tree, serializeSecureBoostCheckpoint(cp));
      if (party === 'guest' && cp.tree === o.killGuestAt) throw new Error('guest killed');
    },
  });
}

describeStores('SecureBoost per-tree checkpoints in the job store', (backend) => {
  it('a run failed after tree 3 resumes from the stored checkpoints with the same model; the release count goes on', async () => {
    const reference = await run(undefined);
    const refReleased = reference.hostRuns[0]!.released;
    const jobs = { guest: new JobStore(backend.newStore()), 'host-1': new JobStore(backend.newStore()) };
    for (const j of Object.values(jobs)) j.put(spec(), 'guest');
    const attempt = (n: number) =>
      Object.fromEntries(
        Object.entries(jobs).map(([p, j]) => [p, jobPipelineStore(j, JOB, n, '/nonexistent')]),
      );
    await expect(run(attempt(0), { killGuestAt: 3 })).rejects.toThrow();
    const held = (p: 'guest' | 'host-1') => jobs[p].epochCheckpoints(JOB, 'train').map((r) => r.epoch);
    expect(held('guest')).toEqual([1, 2, 3]);
    const firstCount = jobs['host-1'].lastEvent(JOB, 'histograms_released')!.detail!;
    const resumed = await run(attempt(1));
    expect(resumed.resumedFrom).toBe(3);
    expect(JSON.stringify(resumed.guest)).toBe(JSON.stringify(reference.guest));
    expect(JSON.stringify(resumed.hosts)).toBe(JSON.stringify(reference.hosts));
    // The count over both attempts: the second started from the first's.
    const host = resumed.hostRuns[0]!;
    const first = Number(/released=(\d+)/.exec(firstCount)![1]);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(refReleased);
    expect(jobs['host-1'].lastEvent(JOB, 'histograms_released')!.detail).toBe(
      `released=${host.released} budget=${host.releaseBudget}`,
    );
    expect(host.released).toBe(refReleased);
    expect(host.released).toBeLessThanOrEqual(host.releaseBudget);
    // Another plan (its checkpoints left out: they would be refused first) would change the budget: refused.
    const e = await run(attempt(2), { trees: 9, fresh: true }).catch((x: unknown) => x);
    expect(JSON.stringify(e)).toMatch(/release_budget/);
  });
});
