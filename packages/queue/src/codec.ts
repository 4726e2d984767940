/**
 * Task bytes and task ids. A task's input and output cross the queue as V8 structured-clone bytes
 * (`node:v8` serialize: typed arrays, nested objects and arrays, the same values a worker thread
 * receives). Only the party's own database holds them; nothing from a peer is deserialized here.
 *
 * A task id is `<prefix>/<SHA-256 of the task's bytes>`: equal ids mean equal tasks, so a result stored
 * under an id is the result of every delivery of that task (the at-least-once argument of executor.ts).
 * The pg-boss job id is a UUID derived from the queue name and the task id, so sending a task twice makes
 * one job.
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

/** `<prefix>/<sha256 hex of bytes>` (the prefix may be empty). */
export function taskIdOf(prefix: string | undefined, bytes: Uint8Array): TaskId {
  const p = prefix ?? '';
  if (!PREFIX.test(p)) {
    throw new FedscoreError('invalid_argument', 'a task id prefix is up to 200 of [A-Za-z0-9._:-]', {
      field: 'taskId',
    });
  }
  return `${p}/${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The pg-boss job id of a task: a version-8 (custom) UUID from SHA-256(queue, task id). */
export function jobIdOf(queue: string, taskId: TaskId): string {
  const h = createHash('sha256').update(queue).update('\0').update(taskId).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
