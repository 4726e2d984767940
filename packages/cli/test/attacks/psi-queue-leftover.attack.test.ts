/**
 * Attack: read what a PSI run left in the party's queue tables after it ended. A party that blinds on its
 * work queue (psi offload.ts) stores each task's input -- the run's ephemeral scalar and, for `psiHash`,
 * its own ids -- until a worker answers it. A run that ends before its tasks are answered (the peer
 * failed, the workers were down) would leave those inputs behind, readable by anyone with the
 * database's worker role (a worker machine, or whoever holds its password) long after the run.
 * Source: incomplete cleanup of sensitive data (MITRE CWE-459, "Incomplete Cleanup"; CWE-226, "Sensitive
 * Information in Resource Not Removed Before Reuse"), applied to this design (docs/protocols/psi.md
 * "On a work queue").
 * Recovers: the guest's PSI scalar for the run (checked equal to the key the run drew) and its raw ids.
 *
 * Setup: a throwaway PostgreSQL cluster, the guest's blinding on its queue with no worker running (its
 * tasks wait), the host failing its first blinding a second later, so the run ends with the guest's
 * tasks stored and unanswered. Weakened: the guest's offload without `dropTasks` (no cleanup at the end of
 * the run): the attacker decodes a leftover input and finds the scalar and the ids. Default (the node's
 * offload, `dropTasks`): nothing of the run is in any queue table or pg-boss job row.
 */
import { deserialize } from 'node:v8';
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  createPsiKey,
  loadSodium,
  type PsiBlindOffload,
  type PsiTask,
  type PsiTaskOutput,
  runPsiLocal,
} from '@fedscore/psi';
import { QueueExecutor } from '@fedscore/queue';
import { postgresUnavailable } from '@fedscore/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QueueRig, useQueue } from '../queue-workers.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the PSI queue leftover attack: ${unavailable}`);

let q: QueueRig;
let pool: BlindingPool;
beforeAll(async () => {
  await loadSodium();
  pool = await BlindingPool.create({ threads: 0 });
});
afterAll(async () => {
  await pool?.close();
});

const ids = generateUniqueUsccs(seededRng('leftover'), 600);
const guestIds = ids.slice(0, 300);
const hostIds = ids.slice(200);
const SEED = 'leftover-guest-key';

/** The host's blinding fails a second in: the guest's tasks are stored by then and never answered. */
const failingHost: PsiBlindOffload = {
  executor: {
    run: async () => {
      await new Promise((r) => setTimeout(r, 1000));
      throw new Error('host blinding failed');
    },
    close: async () => {},
  },
};

/** Everything a worker-role reader can see: task inputs, results, blobs, pg-boss job data. */
async function readTables(url: string): Promise<{ inputs: Buffer[]; all: Buffer }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const inputs = (await c.query<{ input: Buffer }>('SELECT input FROM fedscore_task_input')).rows.map(
      (r) => r.input,
    );
    const results = (await c.query<{ output: Buffer | null }>('SELECT output FROM fedscore_task_result'))
      .rows;
    const blobs = (await c.query<{ bytes: Buffer }>('SELECT bytes FROM fedscore_task_blob')).rows;
    const jobs = (await c.query<{ data: string }>('SELECT data::text AS data FROM pgboss.job')).rows;
    return {
      inputs,
      all: Buffer.concat([
        ...inputs,
        ...results.map((r) => r.output ?? Buffer.alloc(0)),
        ...blobs.map((b) => b.bytes),
        ...jobs.map((j) => Buffer.from(j.data)),
      ]),
    };
  } finally {
    await c.end();
  }
}

/** Run PSI with the guest on `queue` (no worker), the host failing; the run must fail. */
async function failedRun(url: string, queue: string, drop: boolean): Promise<void> {
  const executor = await QueueExecutor.create<PsiTask, PsiTaskOutput>({
    connectionString: url,
    queue,
    pollMs: 200,
    sharedFields: [],
  });
  try {
    const guest: PsiBlindOffload = {
      executor,
      taskIdPrefix: `job.bank.psi-government-${queue}`,
      batchSize: 100,
      ...(drop && { dropTasks: (p: string) => executor.dropTasks(p) }),
    };
    await expect(
      runPsiLocal(guestIds, hostIds, {
        pool,
        offload: { guest, host: failingHost },
        rng: { guest: seededRng(SEED), host: seededRng('host') },
        allowInsecureRng: true,
      }),
    ).rejects.toThrow();
  } finally {
    await executor.close();
  }
}

describe.skipIf(unavailable !== undefined)('PSI tasks left in the queue after the run', () => {
  q = useQueue();
  // The key the guest's run draws from its generator (createPsiKey is the first use of it).
  const key = () => createPsiKey({ rng: seededRng(SEED), allowInsecureRng: true });

  it('weakened (no dropTasks): a worker-role reader recovers the run key and the raw ids', async () => {
    await failedRun(q.url, 'psi-weak', false);
    const { inputs, all } = await readTables(q.url);
    expect(inputs.length).toBeGreaterThan(0);
    const env = deserialize(inputs[0]!) as { task: PsiTask };
    const recovered = env.task.scalar;
    expect(Buffer.from(recovered).equals(Buffer.from(key().scalar))).toBe(true);
    const found = guestIds.filter((id) => all.includes(Buffer.from(id)));
    expect(found.length).toBeGreaterThanOrEqual(100);
    // clean up for the defended run on the same cluster
    const c = new pg.Client({ connectionString: q.url });
    await c.connect();
    await c.query('DELETE FROM fedscore_task_input; DELETE FROM fedscore_task_result');
    await c.end();
  }, 120_000);

  it("default (dropTasks at the run's end): nothing of the run is left to read", async () => {
    await failedRun(q.url, 'psi-default', true);
    const { inputs, all } = await readTables(q.url);
    // the guest's tasks were stored during the run (pg-boss keeps their jobs: task ids only) ...
    const c = new pg.Client({ connectionString: q.url });
    await c.connect();
    const jobs = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'psi-default' AND data->>'taskId' LIKE 'job.bank.%'",
    );
    await c.end();
    expect(jobs.rows[0]!.n).toBeGreaterThan(0);
    // ... and dropped at its end: no input, no key, no id
    expect(inputs).toHaveLength(0);
    expect(all.includes(Buffer.from(key().scalar))).toBe(false);
    for (const id of guestIds) expect(all.includes(Buffer.from(id)), id).toBe(false);
  }, 120_000);
});
