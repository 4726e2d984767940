/**
 * PSI blinding on the work queue (issue 18): each party's hashing and blinding as `psiHash` / `psiBlind`
 * tasks on its own pg-boss queue, in its own database (two databases of a throwaway PostgreSQL cluster),
 * run by `fedscore worker` processes (psi offload.ts; the run's ephemeral key travels in the tasks).
 *
 * - Both parties offloaded, each with one worker: the intersection (and both parties' aligned rows)
 *   equals the in-process threaded run's and the plain set intersection.
 * - What the queue stored: every task input and result ever written (copied by a trigger as it is
 *   inserted, since inputs are deleted once answered) and every blob. A party's own raw ids appear in its
 *   own `psiHash` inputs only (the design; positive control: the search finds them there); the peer's
 *   ids -- raw, or as the unblinded point H(id) -- appear nowhere in a party's database, and in particular
 *   a planted guest id that is NOT in the intersection never reaches the host's. No blob is stored. When
 *   the run ends, no input (hence no key) and no result of it is left in either database.
 * - The guest's only worker SIGKILLed while it holds a task, a new one started: the run completes with
 *   the same intersection (the killed worker's job expires and is redelivered; results are keyed by the
 *   task's id).
 */
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  hashToGroupReference,
  loadSodium,
  type PsiBlindOffload,
  type PsiTask,
  type PsiTaskOutput,
  psiHashDomain,
  runPsiLocal,
} from '@fedscore/psi';
import { QueueExecutor } from '@fedscore/queue';
import { postgresUnavailable, startWorker } from '@fedscore/queue/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killNow, type QueueRig, useQueue, waitForActive } from './queue-workers.ts';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.log(`skipping the queue PSI tests: ${unavailable}`);

let q: QueueRig;
let pool: BlindingPool;

beforeAll(async () => {
  await loadSodium();
  pool = await BlindingPool.create({ threads: 1 });
});
afterAll(async () => {
  await pool?.close();
});

/** `url` with its database replaced by `db`. */
const dbUrl = (url: string, db: string) => url.replace(/\/[^/]*$/, `/${db}`);

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** A party's queue executor on its own database, and a trigger that copies every stored input/result. */
async function partyQueue(url: string, queue: string, expireInSeconds = 300) {
  const executor = await QueueExecutor.create<PsiTask, PsiTaskOutput>({
    connectionString: url,
    queue,
    pollMs: 200,
    superviseIntervalSeconds: 1,
    expireInSeconds,
    sharedFields: [],
  });
  await sql(
    url,
    `CREATE TABLE IF NOT EXISTS seen (what text, task_id text, bytes bytea);
     CREATE OR REPLACE FUNCTION seen_input() RETURNS trigger AS $$
       BEGIN INSERT INTO seen VALUES ('input', NEW.task_id, NEW.input); RETURN NEW; END $$ LANGUAGE plpgsql;
     CREATE OR REPLACE FUNCTION seen_result() RETURNS trigger AS $$
       BEGIN INSERT INTO seen VALUES ('result', NEW.task_id, NEW.output); RETURN NEW; END $$ LANGUAGE plpgsql;
     CREATE OR REPLACE TRIGGER seen_input AFTER INSERT ON fedscore_task_input FOR EACH ROW EXECUTE FUNCTION seen_input();
     CREATE OR REPLACE TRIGGER seen_result AFTER INSERT ON fedscore_task_result FOR EACH ROW EXECUTE FUNCTION seen_result();`,
  );
  return executor;
}

const offloadOf = (executor: QueueExecutor<PsiTask, PsiTaskOutput>, prefix: string): PsiBlindOffload => ({
  executor,
  taskIdPrefix: prefix,
  dropTasks: (p) => executor.dropTasks(p),
});

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(needle) >= 0;
}

const codes = generateUniqueUsccs(seededRng('queue-psi'), 4200);
// guest: 2000 ids, host: 2400, 800 shared; the planted id is the guest's first, not in the host's set
const guestIds = codes.slice(0, 2000);
const hostIds = codes.slice(1200, 3600);
const PLANTED = guestIds[0]!;
const plain = new Set(guestIds.filter((x) => new Set(hostIds).has(x)));

describe.skipIf(unavailable !== undefined)('PSI blinding on fedscore worker processes', () => {
  q = useQueue();

  it('equals the in-process intersection; the queue holds a party its own raw ids only, and nothing after', async () => {
    expect(plain.has(PLANTED)).toBe(false);
    expect(plain.size).toBe(800);
    const guestUrl = dbUrl(q.url, 'guestdb');
    const hostUrl = dbUrl(q.url, 'hostdb');
    await sql(q.url, 'CREATE DATABASE guestdb');
    await sql(q.url, 'CREATE DATABASE hostdb');
    const g = await partyQueue(guestUrl, 'psi');
    const h = await partyQueue(hostUrl, 'psi');
    try {
      // one worker per party's database
      await Promise.all([
        startWorker(guestUrl, 'psi', q.workers.children),
        startWorker(hostUrl, 'psi', q.workers.children),
      ]);
      const ref = await runPsiLocal(guestIds, hostIds, { pool, batchSize: 512 });
      const r = await runPsiLocal(guestIds, hostIds, {
        pool,
        batchSize: 512,
        offload: { guest: offloadOf(g, 'job1.guest.psi-host'), host: offloadOf(h, 'job1.host.psi-guest') },
      });
      expect(new Set(r.guest.intersection)).toEqual(plain);
      expect(new Set(r.host.intersection)).toEqual(plain);
      expect(new Set(ref.guest.intersection)).toEqual(plain);
      const sorted = (a: Uint32Array) => [...a].sort((x, y) => x - y);
      expect(sorted(r.guest.rows!)).toEqual(sorted(ref.guest.rows!));
      expect(sorted(r.host.rows!)).toEqual(sorted(ref.host.rows!));

      const enc = new TextEncoder();
      const domain = psiHashDomain('uscc');
      for (const [who, url, own, peer] of [
        ['guest', guestUrl, guestIds, hostIds],
        ['host', hostUrl, hostIds, guestIds],
      ] as const) {
        const seen = (await sql(url, 'SELECT what, task_id, bytes FROM seen')).rows as {
          what: string;
          task_id: string;
          bytes: Buffer | null;
        }[];
        // own ids in batches of 512: 4 (guest) / 5 (host) hash tasks; the peer's points in its batches
        const inputs = seen.filter((s) => s.what === 'input');
        expect(inputs.length).toBe(Math.ceil(own.length / 512) + Math.ceil(peer.length / 512));
        expect(seen.filter((s) => s.what === 'result').length).toBe(inputs.length);
        // positive control: this party's own raw ids are in its own hash inputs (the design), all of them
        const all = Buffer.concat(seen.map((s) => s.bytes ?? Buffer.alloc(0)));
        for (const id of own.slice(0, 50))
          expect(contains(all, enc.encode(id)), `${who} own ${id}`).toBe(true);
        // the peer's ids: never raw, never as H(id) (nor its first 16 bytes, a comparison key's length)
        const peerOnly = peer.filter((x) => !own.includes(x));
        for (const id of peer) {
          if (contains(all, enc.encode(id)) && !own.includes(id))
            throw new Error(`${who} holds peer id ${id}`);
          const point = hashToGroupReference(id, domain);
          if (contains(all, point.subarray(0, 16))) throw new Error(`${who} holds H(${id})`);
        }
        expect(peerOnly.length).toBeGreaterThan(0);
        if (who === 'host') {
          expect(contains(all, enc.encode(PLANTED))).toBe(false);
          expect(contains(all, hashToGroupReference(PLANTED, domain).subarray(0, 16))).toBe(false);
        }
        // nothing of the run is left: no input (so no key), no result, no blob
        const left = await sql(
          url,
          `SELECT (SELECT count(*) FROM fedscore_task_input)::int AS inputs,
                  (SELECT count(*) FROM fedscore_task_result)::int AS results,
                  (SELECT count(*) FROM fedscore_task_blob)::int AS blobs`,
        );
        expect(left.rows[0], who).toEqual({ inputs: 0, results: 0, blobs: 0 });
      }
    } finally {
      await Promise.all([g.close(), h.close()]);
    }
  }, 240_000);

  it('completes with the same intersection when its only worker is SIGKILLed holding a task', async () => {
    const url = dbUrl(q.url, 'killdb');
    await sql(q.url, 'CREATE DATABASE killdb');
    const g = await partyQueue(url, 'psi-kill', 4);
    try {
      const first = await startWorker(url, 'psi-kill', q.workers.children);
      // 16384-id tasks (the offload default): ~2 s each, long enough to be killed inside one
      const big = generateUniqueUsccs(seededRng('queue-psi-kill'), 21_000);
      const guest = big.slice(0, 20_000);
      const host = big.slice(19_000);
      const run = runPsiLocal(guest, host, { pool, offload: { guest: offloadOf(g, 'job2.guest.psi-host') } });
      run.catch(() => undefined);
      expect(await waitForActive(url, 'psi-kill', 'job2.guest.psi-host')).toBeGreaterThan(0);
      await killNow(first);
      await startWorker(url, 'psi-kill', q.workers.children);
      const r = await run;
      expect(r.guest.intersectionSize).toBe(1000);
      expect(new Set(r.guest.intersection)).toEqual(new Set(big.slice(19_000, 20_000)));
      const left = await sql(url, 'SELECT count(*)::int AS n FROM fedscore_task_input');
      expect(left.rows[0]).toEqual({ n: 0 });
      // the killed task ran again: some delivery came after the first (pg-boss retried an expired job)
      const retried = await sql(
        url,
        `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'psi-kill' AND retry_count > 0`,
      );
      expect(retried.rows[0].n).toBeGreaterThan(0);
    } finally {
      await g.close();
    }
  }, 240_000);
});
