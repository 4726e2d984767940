/**
 * How task bytes cross PostgreSQL (@fedscore/queue copy.ts, `transfer`): binary COPY by default, base64
 * text as before.
 *
 * - `parseCopyBinary` reads PostgreSQL's binary COPY format as its documentation lays it out (a stream
 *   built here byte by byte: signature, flags, header extension, rows of length-prefixed fields, NULLs,
 *   the -1 trailer), however the stream is cut into chunks, and refuses a stream that is not one (a
 *   typed error naming the field);
 * - against a real server, `copyRows` returns exactly the bytes a parametrized INSERT stored -- every
 *   byte value, lengths 0 to 3 MiB -- checked by the server's own sha256() of the stored value;
 * - a coordinator and an in-process worker on the queue, in every pairing of the two transfers, give a
 *   task's expected output (a digest and a transform of 2 MiB of input and of a shared field), and a
 *   task's typed error (a result with no output bytes) arrives with its code and field;
 * - COPY takes no parameters, so values are inlined: a job whose data is not a task id (a quote and SQL
 *   planted in it, sent straight to pg-boss as anyone with the queue's database role could) is finished
 *   without running anything -- no result row, the tables intact, the next real task served.
 */
import { createHash } from 'node:crypto';
import { FedscoreError, seededRng, uniform } from '@fedscore/core';
import { type ByteTransfer, QueueExecutor, serveTaskQueue } from '@fedscore/queue';
import { copyRows, parseCopyBinary } from '@fedscore/queue/testing';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, postgresUnavailable, startPgCluster } from './pg-cluster.ts';

const unavailable = postgresUnavailable();

function randomBytes(n: number, seed: number): Buffer {
  const rng = seededRng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(uniform(rng) * 256);
  return b;
}

/** The binary COPY stream of `rows`, written from the format's description. */
function copyStream(rows: readonly (Buffer | null)[][], extension = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00])];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  const i16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    return b;
  };
  parts.push(u32(0), u32(extension.length), extension);
  for (const row of rows) {
    parts.push(i16(row.length));
    for (const f of row) {
      if (f === null) parts.push(u32(0xffffffff));
      else parts.push(u32(f.length), f);
    }
  }
  parts.push(i16(-1));
  return Buffer.concat(parts);
}

function cut(stream: Buffer, at: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...at, stream.length]) {
    out.push(stream.subarray(from, p));
    from = p;
  }
  return out;
}

describe('binary COPY format (no database)', () => {
  const rows = [
    [Buffer.from('task-1/ab'), randomBytes(100, 1), null],
    [Buffer.alloc(0), null, randomBytes(7, 2)],
  ];
  const stream = copyStream(rows, Buffer.from('ext'));

  it('reads rows, empty fields and NULLs however the stream is cut', () => {
    expect(parseCopyBinary([stream])).toEqual(rows);
    const rng = seededRng(9);
    for (let k = 0; k < 50; k++) {
      const at = Array.from({ length: 1 + Math.floor(uniform(rng) * 6) }, () =>
        Math.floor(uniform(rng) * stream.length),
      ).sort((a, b) => a - b);
      expect(parseCopyBinary(cut(stream, at))).toEqual(rows);
    }
    // Every single cut point, including inside the signature and the length prefixes.
    for (let p = 0; p <= stream.length; p++) expect(parseCopyBinary(cut(stream, [p]))).toEqual(rows);
  });

  it('refuses a stream that is not binary COPY data, or ends inside a field', () => {
    const bad = Buffer.from(stream);
    bad[0] = 0x51;
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as FedscoreError;
      }
      throw new Error('no error');
    };
    for (const e of [
      err(() => parseCopyBinary([bad])),
      err(() => parseCopyBinary([stream.subarray(0, 40)])),
    ]) {
      expect(e).toBeInstanceOf(FedscoreError);
      expect(e.code).toBe('wire_decode');
      expect(e.field).toBe('copy');
    }
  });
});

describe.skipIf(unavailable !== undefined)('byte transfer through PostgreSQL', () => {
  let cluster: PgCluster;
  let pool: pg.Pool;

  beforeAll(async () => {
    cluster = await startPgCluster();
    pool = new pg.Pool({ connectionString: cluster.url, max: 2 });
  }, 60_000);

  afterAll(async () => {
    await pool?.end();
    cluster?.stop();
  });

  it('copyRows returns the stored bytes exactly (the server hashes what it stored)', async () => {
    await pool.query('CREATE TABLE bt (id int PRIMARY KEY, b bytea)');
    const sizes = [0, 1, 255, 65_536, 3 * 2 ** 20];
    for (const [i, n] of sizes.entries()) {
      await pool.query('INSERT INTO bt VALUES ($1, $2)', [i, randomBytes(n, 100 + i)]);
    }
    await pool.query('INSERT INTO bt VALUES (99, NULL)');
    const rows = await copyRows(pool, 'SELECT id::text, b FROM bt ORDER BY id');
    const stored = await pool.query<{ id: number; h: string | null }>(
      "SELECT id, encode(sha256(b), 'hex') AS h FROM bt ORDER BY id",
    );
    expect(rows.length).toBe(sizes.length + 1);
    for (const [k, row] of rows.entries()) {
      expect(row[0]!.toString()).toBe(String(stored.rows[k]!.id));
      const h = row[1] === null ? null : createHash('sha256').update(row[1]!).digest('hex');
      expect(h).toBe(stored.rows[k]!.h);
      if (k < sizes.length) expect(row[1]!.length).toBe(sizes[k]);
    }
    // A server error rejects, and the pool's connection still serves the next query.
    await expect(copyRows(pool, 'SELECT b FROM no_such_table')).rejects.toThrow(/no_such_table/);
    expect((await copyRows(pool, "SELECT 'ok'::text"))[0]![0]!.toString()).toBe('ok');
  });

  interface Task {
    readonly op: 'digest' | 'fail';
    readonly data: Uint8Array;
    readonly table: Uint8Array;
  }
  interface Out {
    readonly hash: string;
    readonly reversed: Uint8Array;
  }

  const transfers: ByteTransfer[] = ['copy', 'base64'];
  for (const coordinator of transfers) {
    for (const worker of transfers) {
      it(`coordinator ${coordinator}, worker ${worker}: outputs and typed errors arrive intact`, async () => {
        const queue = `bt-${coordinator}-${worker}`;
        const ex = await QueueExecutor.create<Task, Out>({
          connectionString: cluster.url,
          queue,
          sharedFields: ['table'],
          transfer: coordinator,
          pollMs: 200,
        });
        const w = await serveTaskQueue<Task, Out>(
          { connectionString: cluster.url, queue, transfer: worker },
          (task) => {
            if (task.op === 'fail') {
              throw new FedscoreError('out_of_range', 'planted failure', { field: 'planted' });
            }
            return {
              hash: createHash('sha256').update(task.data).update(task.table).digest('hex'),
              reversed: Uint8Array.from(task.data).reverse(),
            };
          },
        );
        try {
          const table = randomBytes(300_000, 7);
          const data = randomBytes(2 * 2 ** 20, coordinator.length * 10 + worker.length);
          const out = await ex.run({ op: 'digest', data, table }, { taskId: 'ok' });
          expect(out.hash).toBe(createHash('sha256').update(data).update(table).digest('hex'));
          expect(Buffer.from(out.reversed).equals(Buffer.from(Uint8Array.from(data).reverse()))).toBe(true);
          const failed = await ex
            .run({ op: 'fail', data: data.subarray(0, 10), table }, { taskId: 'bad' })
            .then(
              () => undefined,
              (e: unknown) => e as FedscoreError,
            );
          expect(failed).toBeInstanceOf(FedscoreError);
          expect(failed!.code).toBe('out_of_range');
          expect(failed!.field).toBe('planted');
        } finally {
          await w.stop();
          await ex.close();
        }
      }, 60_000);
    }
  }

  it('a job whose task id carries SQL is finished without running it', async () => {
    const queue = 'bt-inject';
    const ex = await QueueExecutor.create<Task, Out>({ connectionString: cluster.url, queue, pollMs: 200 });
    let calls = 0;
    const w = await serveTaskQueue<Task, Out>({ connectionString: cluster.url, queue }, (task) => {
      calls++;
      return { hash: '', reversed: task.data };
    });
    const boss = new PgBoss({ connectionString: cluster.url, max: 1 });
    boss.on('error', () => undefined);
    await boss.start();
    try {
      const planted = `x/${'0'.repeat(64)}' UNION SELECT true, 'pwned'::bytea; DROP TABLE fedscore_task_result; --`;
      const jobId = await boss.send(queue, { taskId: planted });
      let state: string | undefined;
      for (let i = 0; i < 100 && state !== 'completed' && state !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = (await boss.getJobById(queue, jobId!))?.state;
      }
      expect(state).toBe('completed');
      expect(calls).toBe(0);
      const rows = await pool.query(
        "SELECT count(*)::int AS n FROM fedscore_task_result WHERE queue = 'bt-inject'",
      );
      expect(rows.rows[0]!.n).toBe(0);
      // The tables are intact and a real task is still served.
      const data = randomBytes(1000, 5);
      const out = await ex.run({ op: 'digest', data, table: new Uint8Array(0) }, { taskId: 'after' });
      expect(Buffer.from(out.reversed).equals(data)).toBe(true);
      expect(calls).toBe(1);
    } finally {
      await boss.stop({ graceful: false, close: true });
      await w.stop();
      await ex.close();
    }
  }, 60_000);
});
