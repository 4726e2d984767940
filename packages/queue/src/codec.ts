/**
 * Task bytes and task ids. A task's input and output cross the queue as V8 structured-clone bytes
 * (`node:v8` serialize: typed arrays, nested objects and arrays, the same values a worker thread
 * receives). Only the party's own database holds them; nothing from a peer is deserialized here.
 *
 * A task id is `<prefix>/<SHA-256 of the task's bytes>`: equal ids mean equal tasks, so a result stored
 * under an id is the result of every delivery of that task (the at-least-once argument of executor.ts).
 * The pg-boss job id is a UUID derived from the queue name and the task id, so sending a task twice makes
 * one job.
 *
 * Shared fields. A task's stored bytes are an envelope `{ task, shared }`: the fields the executor was
 * told are shared (`QueueExecutorOptions.sharedFields`, e.g. a packed product's batch columns, the same
 * every epoch) are cut out of the task, stored once in `fedscore_task_blob` under the SHA-256 of their
 * own bytes, and named in `shared` by that digest; a worker fetches each digest once and keeps the decoded
 * value in memory. The envelope holds the digests, so the task id still covers every byte of the task.
 * Measured (benchmarks/results/queue.md): a hetero-LR batch of 4096 rows x 30 columns moves 1 MB of
 * columns per task without this, which cost more than the 5 % target on its own.
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { FedscoreError } from '@fedscore/core';

/** A task's id: caller's prefix (job, epoch, batch) and the digest of its bytes. */
export type TaskId = string;

const PREFIX = /^[A-Za-z0-9._:-]{0,200}$/;

export function encodeValue(value: unknown): Uint8Array {
  try {
    return serialize(value);
  } catch (e) {
    throw new FedscoreError('invalid_argument', `task cannot be serialized: ${(e as Error).message}`, {
      field: 'task',
      cause: e,
    });
  }
}

export function decodeValue(bytes: Uint8Array, field: string): unknown {
  try {
    return deserialize(bytes);
  } catch (e) {
    throw new FedscoreError('wire_decode', `stored task bytes do not decode: ${(e as Error).message}`, {
      field,
      cause: e,
    });
  }
}

/** SHA-256 of `bytes`, hex. */
export function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A shared field's value, stored once under its digest. */
export interface TaskBlob {
  readonly hash: string;
  readonly bytes: Uint8Array;
}

/** A task ready to store: the envelope's bytes and the blobs of its shared fields. */
export interface EncodedTask {
  readonly bytes: Uint8Array;
  readonly blobs: readonly TaskBlob[];
}

/** The stored form of a task: the task without its shared fields, and their digests. */
export interface TaskEnvelope {
  readonly task: unknown;
  readonly shared: Readonly<Record<string, string>>;
}

/**
 * Cut `sharedFields` out of `task` (an object) into blobs and encode the envelope. With `memo`, a shared
 * value (an object: typed arrays, arrays of them) is encoded and digested once per identity -- a batch's
 * columns or a context's bytes are the same object in every task -- so it must not be changed in place
 * after its first task.
 */
export function encodeTask(
  task: unknown,
  sharedFields: readonly string[],
  memo?: WeakMap<object, TaskBlob>,
): EncodedTask {
  const blobs: TaskBlob[] = [];
  const shared: Record<string, string> = {};
  let rest = task;
  if (sharedFields.length > 0 && task !== null && typeof task === 'object' && !Array.isArray(task)) {
    const copy: Record<string, unknown> = { ...(task as Record<string, unknown>) };
    for (const field of sharedFields) {
      const value = copy[field];
      if (value === undefined) continue;
      let blob = typeof value === 'object' && value !== null ? memo?.get(value) : undefined;
      if (blob === undefined) {
        const bytes = encodeValue(value);
        blob = { hash: digestOf(bytes), bytes };
        if (typeof value === 'object' && value !== null) memo?.set(value, blob);
      }
      blobs.push(blob);
      shared[field] = blob.hash;
      delete copy[field];
    }
    rest = copy;
  }
  return { bytes: encodeValue({ task: rest, shared } satisfies TaskEnvelope), blobs };
}

/** Decode a stored envelope (the shared fields still to be filled in by the caller). */
export function decodeEnvelope(bytes: Uint8Array): TaskEnvelope {
  const env = decodeValue(bytes, 'input') as Partial<TaskEnvelope> | null;
  if (env === null || typeof env !== 'object' || typeof env.shared !== 'object' || env.shared === null) {
    throw new FedscoreError('wire_decode', 'stored task bytes are not a task envelope', { field: 'input' });
  }
  for (const h of Object.values(env.shared)) {
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h)) {
      throw new FedscoreError('wire_decode', 'a shared field digest is not SHA-256 hex', { field: 'shared' });
    }
  }
  return env as TaskEnvelope;
}

/** `<prefix>/<sha256 hex of bytes>` (the prefix may be empty). */
export function taskIdOf(prefix: string | undefined, bytes: Uint8Array): TaskId {
  const p = prefix ?? '';
  if (!PREFIX.test(p)) {
    throw new FedscoreError('invalid_argument', 'a task id prefix is up to 200 of [A-Za-z0-9._:-]', {
      field: 'taskId',
    });
  }
  return `${p}/${digestOf(bytes)}`;
}

/** The pg-boss job id of a task: a version-8 (custom) UUID from SHA-256(queue, task id). */
export function jobIdOf(queue: string, taskId: TaskId): string {
  const h = createHash('sha256').update(queue).update('\0').update(taskId).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
