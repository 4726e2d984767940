/**
 * A pool of worker threads for CKKS work: one node-seal instance per worker, the context (keys) loaded
 * once per worker at start-up. Work is split into one contiguous chunk per worker, so results come back
 * in input order and are identical to single-thread results (CKKS evaluation is deterministic; only
 * encryption draws randomness).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FedscoreError, noopLogger } from '@fedscore/core';
import { BLOB_KIND, decodeBlob } from './blob.ts';
import type { HeWorkerPool, HeWorkerPoolOptions, SerializeOptions } from './types.ts';
import type { WorkerReply, WorkerRequest } from './worker.ts';

type Pending = { resolve: (r: Uint8Array[] | Float64Array[]) => void; reject: (e: Error) => void };

type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

class WorkerHandle {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failed: Error | undefined;

  constructor(context: Uint8Array, secret: boolean, insecure: boolean) {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: { context, secret, insecure },
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(-1, { resolve: () => resolve(), reject });
    });
    this.worker.on('message', (m: WorkerReply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else {
        p.reject(
          new FedscoreError(m.error.code as never, `worker: ${m.error.message}`, {
            ...(m.error.field !== undefined && { field: m.error.field }),
          }),
        );
      }
    });
    const fail = (e: Error): void => {
      this.#failed = e;
      for (const p of this.#pending.values())
        p.reject(new FedscoreError('he_error', `HE worker failed: ${e.message}`, { cause: e }));
      this.#pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.#pending.size > 0) fail(new Error(`exited with code ${code}`));
    });
  }

  request(body: RequestBody): Promise<Uint8Array[] | Float64Array[]> {
    if (this.#failed)
      return Promise.reject(new FedscoreError('he_error', `HE worker failed: ${this.#failed.message}`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id });
    });
  }
}

function chunks<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / parts);
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Start `size` workers, each loading `context` (public or secret CKKS context bytes). */
export async function createHeWorkerPool(
  options: HeWorkerPoolOptions & { insecure?: boolean },
): Promise<HeWorkerPool> {
  const size = options.size ?? Math.max(1, Math.min(2, availableParallelism()));
  if (!Number.isInteger(size) || size < 1 || size > 64) {
    throw new FedscoreError('out_of_range', 'pool size must be an integer in [1, 64]', { field: 'size' });
  }
  let secret: boolean;
  try {
    decodeBlob(options.context, BLOB_KIND.secretContext);
    secret = true;
  } catch {
    decodeBlob(options.context, BLOB_KIND.publicContext);
    secret = false;
  }
  const logger = options.logger ?? noopLogger;
  const workers = Array.from(
    { length: size },
    () => new WorkerHandle(options.context, secret, options.insecure === true),
  );
  try {
    await Promise.all(workers.map((w) => w.ready));
  } catch (e) {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    throw e;
  }
  logger.debug('HE worker pool ready', { size, secret });

  async function scatter<T, R>(
    items: readonly T[],
    run: (w: WorkerHandle, part: T[]) => Promise<R[]>,
  ): Promise<R[]> {
    if (items.length === 0) return [];
    const parts = chunks(items, workers.length);
    const results = await Promise.all(parts.map((p, i) => run(workers[i]!, p)));
    return results.flat();
  }

  return {
    size,
    encrypt(vectors: readonly Float64Array[], opts?: SerializeOptions) {
      return scatter(
        vectors,
        (w, part) =>
          w.request({ op: 'encrypt', vectors: part, ...(opts && { options: opts }) }) as Promise<
            Uint8Array[]
          >,
      );
    },
    columnDots(ciphertexts, columns, opts?: SerializeOptions) {
      return scatter(
        columns,
        (w, part) =>
          w.request({
            op: 'columnDots',
            ciphertexts: [...ciphertexts],
            columns: part.map((c) => [...c]),
            ...(opts && { options: opts }),
          }) as Promise<Uint8Array[]>,
      );
    },
    decrypt(ciphertexts) {
      if (!secret) {
        return Promise.reject(
          new FedscoreError('unsupported', 'the pool holds a public context', { field: 'context' }),
        );
      }
      return scatter(
        ciphertexts,
        (w, part) => w.request({ op: 'decrypt', ciphertexts: part }) as Promise<Float64Array[]>,
      );
    },
    async close() {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
