/**
 * PSI blinding as queue tasks (offload.ts), over an executor that runs `psiTaskHandler` in this process
 * with every task and answer passed through V8 structured clone (the bytes a queue stores):
 *
 * - both parties offloaded (and only one) find the same intersection and rows as the threaded run, and
 *   as the plain set intersection of the normalized ids;
 * - a task is deterministic (the same task twice gives the same bytes: a redelivery's stored result is
 *   the result of every delivery) and names its work by id prefix; the run's tasks are dropped at its end,
 *   on failure too;
 * - a peer's invalid point comes back as the stored refusal and is the same typed error as on threads;
 *   malformed tasks are refused with typed errors naming the field;
 * - a host cache's long-lived key never goes to the executor.
 */
import { deserialize, serialize } from 'node:v8';
import { generateUniqueUsccs, seededRng } from '@fedscore/core';
import {
  BlindingPool,
  buildHostCache,
  loadSodium,
  type PsiBlindOffload,
  type PsiTask,
  type PsiTaskOutput,
  prepareIds,
  psiTaskHandler,
  runPsiLocal,
} from '@fedscore/psi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let pool: BlindingPool;
beforeAll(async () => {
  await loadSodium();
  pool = await BlindingPool.create({ threads: 0 });
});
afterAll(async () => {
  await pool.close();
});

interface Recorder {
  readonly offload: PsiBlindOffload;
  readonly tasks: PsiTask[];
  readonly ids: string[];
  readonly dropped: string[];
}

/** An in-process executor of PSI tasks (structured clone both ways), recording what it was given. */
function recorder(prefix: string): Recorder {
  const tasks: PsiTask[] = [];
  const ids: string[] = [];
  const dropped: string[] = [];
  return {
    tasks,
    ids,
    dropped,
    offload: {
      taskIdPrefix: prefix,
      window: 3,
      dropTasks: async (p) => {
        dropped.push(p);
      },
      executor: {
        async run(task, options) {
          const copy = deserialize(serialize(task)) as PsiTask;
          tasks.push(deserialize(serialize(task)) as PsiTask);
          ids.push(options?.taskId ?? '');
          return deserialize(serialize(await psiTaskHandler(copy))) as PsiTaskOutput;
        },
        async close() {},
      },
    },
  };
}

const codes = generateUniqueUsccs(seededRng('offload'), 700);
const guestIds = codes.slice(0, 400);
const hostIds = codes.slice(250);

describe('PSI blinding on a task executor', () => {
  it('equals the threaded run and the plain intersection, with either or both parties offloaded', async () => {
    const ref = await runPsiLocal(guestIds, hostIds, { pool, batchSize: 64 });
    const hostSet = new Set(hostIds);
    const plain = guestIds.filter((x) => hostSet.has(x));
    expect(new Set(ref.guest.intersection)).toEqual(new Set(plain));
    for (const which of ['both', 'guest', 'host'] as const) {
      const g = recorder('job.guest.psi');
      const h = recorder('job.host.psi');
      const r = await runPsiLocal(guestIds, hostIds, {
        pool,
        batchSize: 64,
        offload: {
          ...(which !== 'host' && { guest: g.offload }),
          ...(which !== 'guest' && { host: h.offload }),
        },
      });
      expect(r.guest.intersectionSize).toBe(plain.length);
      expect(new Set(r.guest.intersection)).toEqual(new Set(plain));
      expect(new Set(r.host.intersection)).toEqual(new Set(plain));
      expect([...r.guest.rows!].sort((a, b) => a - b)).toEqual([...ref.guest.rows!].sort((a, b) => a - b));
      expect([...r.host.rows!].sort((a, b) => a - b)).toEqual([...ref.host.rows!].sort((a, b) => a - b));
      if (which !== 'host') {
        // own ids: ceil(400 / 64) hash tasks; the host's points: ceil(450 / 64) blind tasks
        expect(g.tasks.filter((t) => t.op === 'psiHash')).toHaveLength(7);
        expect(g.tasks.filter((t) => t.op === 'psiBlind')).toHaveLength(8);
        // one prefix per run: the given one and the run's random key label; dropped at the run's end
        expect(g.dropped).toHaveLength(1);
        expect(g.dropped[0]).toMatch(/^job\.guest\.psi\.[0-9a-f]{16}$/);
        expect(g.ids.every((id) => id === g.dropped[0])).toBe(true);
      }
      if (which !== 'guest') {
        expect(h.dropped).toHaveLength(1);
        expect(h.dropped[0]).toMatch(/^job\.host\.psi\.[0-9a-f]{16}$/);
      }
    }
  });

  it('runs each task deterministically (a redelivery gives the same bytes)', async () => {
    const g = recorder('p');
    await runPsiLocal(guestIds.slice(0, 50), hostIds.slice(0, 50), {
      pool,
      batchSize: 32,
      offload: { guest: g.offload },
    });
    for (const t of g.tasks) {
      const a = (await psiTaskHandler(deserialize(serialize(t)) as PsiTask)) as { out: Uint8Array };
      const b = (await psiTaskHandler(deserialize(serialize(t)) as PsiTask)) as { out: Uint8Array };
      expect(Buffer.from(a.out).equals(Buffer.from(b.out))).toBe(true);
    }
    // the handler wipes its copy of the scalar
    const t = deserialize(serialize(g.tasks[0]!)) as PsiTask;
    await psiTaskHandler(t);
    expect(t.scalar.every((b) => b === 0)).toBe(true);
  });

  it('returns a peer point it refuses as a stored refusal, the same typed error as on threads', async () => {
    const scalar = new Uint8Array(32);
    scalar[0] = 7;
    const points = new Uint8Array(96);
    points.set(
      (
        (await psiTaskHandler({
          op: 'psiHash',
          ids: new TextEncoder().encode('ab'),
          offsets: Uint32Array.of(0, 1, 2),
          scalar: new Uint8Array(scalar),
          domain: 'd',
        })) as { out: Uint8Array }
      ).out,
    );
    points[64] = 1; // not a canonical encoding at index 2
    const out = await psiTaskHandler({
      op: 'psiBlind',
      points,
      scalar: new Uint8Array(scalar),
      outBytes: 16,
    });
    expect(out).toEqual({ rejected: 2 });
    const { OffloadBlinder } = await import('@fedscore/psi');
    const blinder = new OffloadBlinder(recorder('x').offload);
    await expect(
      blinder.blind(points, scalar, { field: 'host_points', indexBase: 64 }),
    ).rejects.toMatchObject({
      code: 'psi_invalid_point',
      field: 'host_points[66]',
    });
    await expect(pool.blind(points, scalar, { field: 'host_points', indexBase: 64 })).rejects.toMatchObject({
      code: 'psi_invalid_point',
      field: 'host_points[66]',
    });
  });

  it('refuses malformed tasks with typed errors naming the field', async () => {
    const scalar = () => new Uint8Array(32).fill(3);
    const cases: [unknown, string][] = [
      [null, 'op'],
      [{ op: 'psiNope', scalar: scalar() }, 'op'],
      [{ op: 'psiBlind', points: new Uint8Array(32), scalar: new Uint8Array(5), outBytes: 16 }, 'scalar'],
      [{ op: 'psiBlind', points: new Uint8Array(31), scalar: scalar(), outBytes: 16 }, 'points'],
      [{ op: 'psiBlind', points: new Uint8Array(32), scalar: scalar(), outBytes: 33 }, 'outBytes'],
      [{ op: 'psiHash', ids: 'ab', offsets: Uint32Array.of(0, 2), scalar: scalar(), domain: 'd' }, 'ids'],
      [
        {
          op: 'psiHash',
          ids: new Uint8Array(2),
          offsets: Uint32Array.of(0, 3),
          scalar: scalar(),
          domain: 'd',
        },
        'offsets[1]',
      ],
      [
        {
          op: 'psiHash',
          ids: new Uint8Array(2),
          offsets: Uint32Array.of(0, 2),
          scalar: scalar(),
          domain: '',
        },
        'domain',
      ],
    ];
    for (const [task, field] of cases) {
      await expect(psiTaskHandler(task as PsiTask)).rejects.toMatchObject({
        code: 'invalid_argument',
        field,
      });
    }
  });

  it('drops the run tasks when the run fails too, and never sends a host cache key to the executor', async () => {
    const g = recorder('failing');
    const failing: PsiBlindOffload = {
      ...g.offload,
      executor: {
        run: async () => {
          throw new Error('queue down');
        },
        close: async () => {},
      },
    };
    await expect(
      runPsiLocal(guestIds.slice(0, 40), hostIds.slice(0, 40), { pool, offload: { guest: failing } }),
    ).rejects.toThrow();
    expect(g.dropped).toHaveLength(1);
    expect(g.dropped[0]).toMatch(/^failing\.[0-9a-f]{16}$/);

    const prepared = prepareIds(hostIds.slice(0, 100));
    const cache = await buildHostCache(prepared, { pool });
    const h = recorder('cached');
    const r = await runPsiLocal(guestIds.slice(200, 300), prepared, {
      pool,
      hostCache: cache,
      offload: { host: h.offload },
    });
    expect(r.guest.intersectionSize).toBe(50);
    expect(h.tasks).toHaveLength(0);
  });
});
