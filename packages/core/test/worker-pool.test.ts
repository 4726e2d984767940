/**
 * The worker pool of `@fedscore/core/pool`, on real worker threads (test module:
 * fixtures/pool-worker.ts): results in input order and identical to the handler's, FIFO over the
 * workers; the queue limit refuses the task over it with `queue_full` and accepts again once the queue
 * drains; an AbortSignal cancels a queued task (it never runs) and a running one (rejected at once, the
 * worker keeps serving); typed task errors keep code and field; a worker that crashes fails its task with
 * `worker_failed` and the pool replaces it and keeps serving; a task pinned to a worker runs there only.
 */
import { FedscoreError } from '@fedscore/core';
import { WorkerPool } from '@fedscore/core/pool';
import { afterEach, describe, expect, it } from 'vitest';
import type { PoolTestTask } from './fixtures/pool-worker.ts';

const MODULE = new URL('./fixtures/pool-worker.ts', import.meta.url);

let pool: WorkerPool<PoolTestTask, unknown> | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

async function rejection(p: Promise<unknown>): Promise<FedscoreError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FedscoreError);
    return e as FedscoreError;
  }
  throw new Error('expected a rejection');
}

describe('WorkerPool', () => {
  it('answers every task, in order, across its workers', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 2, name: 'test worker' });
    const values = Array.from({ length: 200 }, (_, i) => i * 3);
    const out = await Promise.all(values.map((value) => pool!.run({ op: 'echo', value })));
    expect(out).toEqual(values);
    const threads = new Set(await Promise.all(Array.from({ length: 8 }, () => pool!.run({ op: 'thread' }))));
    expect(threads.size).toBe(2);
    const bytes = (await pool.run({ op: 'bytes', n: 1000 })) as Uint8Array;
    expect(bytes.length).toBe(1000);
    expect(bytes.every((b) => b === 7)).toBe(true);
  });

  it('passes progress and keeps a typed error typed', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 1 });
    const seen: unknown[] = [];
    expect(await pool.run({ op: 'progress', steps: 3 }, { onProgress: (v) => seen.push(v) })).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    const typed = await rejection(pool.run({ op: 'typed' }));
    expect(typed.code).toBe('out_of_range');
    expect(typed.field).toBe('x[3]');
    expect(typed.message).toBe("field 'x[3]': too big");
    const untyped = await rejection(pool.run({ op: 'untyped' }));
    expect(untyped.code).toBe('internal');
    expect(untyped.message).toContain('plain failure');
    // the worker survived both
    expect(await pool.run({ op: 'echo', value: 5 })).toBe(5);
  });

  it('refuses a task over the queue limit with queue_full, and accepts again once it drains', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 1, maxQueue: 2 });
    const running = pool.run({ op: 'sleep', ms: 300, value: 1 });
    const queued = [pool.run({ op: 'echo', value: 2 }), pool.run({ op: 'echo', value: 3 })];
    expect(pool.queued).toBe(2);
    const full = await rejection(pool.run({ op: 'echo', value: 4 }));
    expect(full.code).toBe('queue_full');
    expect(full.field).toBe('maxQueue');
    expect(await running).toBe(1);
    expect(await Promise.all(queued)).toEqual([2, 3]);
    expect(await pool.run({ op: 'echo', value: 5 })).toBe(5);
  });

  it('cancels a queued task (it never runs) and a running one (the worker keeps serving)', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 1 });
    const seen: unknown[] = [];
    const running = new AbortController();
    const queued = new AbortController();
    // The running task blocks its worker until the test releases it: a cancelled `a` must settle while
    // the worker is still blocked (no clock involved); c, queued behind it, runs once it is released.
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const a = rejection(pool.run({ op: 'block', flag, value: 1 }, { signal: running.signal }));
    const b = rejection(
      pool.run({ op: 'progress', steps: 2 }, { signal: queued.signal, onProgress: (v) => seen.push(v) }),
    );
    const c = pool.run({ op: 'echo', value: 3 });
    queued.abort();
    running.abort(new Error('user stop'));
    // Settles only if the abort rejects at once: the worker answers nothing until released below (a
    // pool that waited for the task would hang here until the test's timeout).
    const ea = await a;
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    expect(ea.code).toBe('aborted');
    expect((await b).code).toBe('aborted');
    expect(await c).toBe(3);
    expect(seen).toEqual([]); // the cancelled queued task never ran
    expect(pool.queued).toBe(0);
    // an already-aborted signal is refused up front
    expect((await rejection(pool.run({ op: 'echo', value: 1 }, { signal: AbortSignal.abort() }))).code).toBe(
      'aborted',
    );
  });

  it('runs a pinned task on its worker only, and a replaced worker gets a new generation', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 2, name: 'test worker' });
    const t0 = await pool.run({ op: 'thread' }, { worker: 0 });
    const t1 = await pool.run({ op: 'thread' }, { worker: 1 });
    expect(t0).not.toBe(t1);
    // While worker 0 is busy, a task pinned to it waits although worker 1 is idle.
    const slow = pool.run({ op: 'sleep', ms: 150, value: 1 }, { worker: 0 });
    const pinned = await Promise.all(
      Array.from({ length: 4 }, () => pool!.run({ op: 'thread' }, { worker: 0 })),
    );
    expect(new Set(pinned)).toEqual(new Set([t0]));
    expect(await slow).toBe(1);
    expect((await rejection(pool.run({ op: 'echo', value: 1 }, { worker: 2 }))).field).toBe('worker');
    expect(pool.generation(1)).toBe(1);
    expect((await rejection(pool.run({ op: 'crash' }, { worker: 1 }))).code).toBe('worker_failed');
    expect(await pool.run({ op: 'echo', value: 9 }, { worker: 1 })).toBe(9);
    expect(pool.generation(1)).toBe(2);
    expect(pool.generation(0)).toBe(1);
  });

  it('fails the task of a crashed worker with worker_failed, replaces the worker and keeps serving', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 2, name: 'test worker' });
    const before = new Set(await Promise.all(Array.from({ length: 6 }, () => pool!.run({ op: 'thread' }))));
    const others = Array.from({ length: 20 }, (_, i) => pool!.run({ op: 'echo', value: i }));
    const crash = await rejection(pool.run({ op: 'crash' }));
    expect(crash.code).toBe('worker_failed');
    expect(crash.message).toContain('test worker exited with code 3');
    expect(await Promise.all(others)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // the replacement comes up: two distinct workers again, one of them new
    await expect
      .poll(
        async () =>
          new Set(await Promise.all(Array.from({ length: 6 }, () => pool!.run({ op: 'thread' })))).size,
      )
      .toBe(2);
    const after = new Set(await Promise.all(Array.from({ length: 10 }, () => pool!.run({ op: 'thread' }))));
    expect([...after].some((t) => !before.has(t))).toBe(true);
  });

  it('without respawn, fails waiting tasks once every worker is gone', async () => {
    pool = await WorkerPool.create({ module: MODULE, size: 1, respawn: false });
    const crash = rejection(pool.run({ op: 'crash' }));
    const waiting = rejection(pool.run({ op: 'echo', value: 1 }));
    expect((await crash).code).toBe('worker_failed');
    expect((await waiting).code).toBe('worker_failed');
    expect((await rejection(pool.run({ op: 'echo', value: 2 }))).code).toBe('worker_failed');
  });

  it('checks its options and fails queued tasks on close', async () => {
    await expect(WorkerPool.create({ module: MODULE, size: 0 })).rejects.toMatchObject({
      code: 'out_of_range',
      field: 'size',
    });
    await expect(WorkerPool.create({ module: MODULE, size: 1, maxQueue: -1 })).rejects.toMatchObject({
      field: 'maxQueue',
    });
    pool = await WorkerPool.create({ module: MODULE, size: 1 });
    const a = rejection(pool.run({ op: 'sleep', ms: 200, value: 1 }));
    const b = rejection(pool.run({ op: 'echo', value: 2 }));
    await pool.close();
    expect((await a).code).toBe('channel_closed');
    expect((await b).code).toBe('channel_closed');
  });
});
