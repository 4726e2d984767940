/**
 * A pool of worker threads for the batch-scoring roles: the data owner's symmetric (seeded) encryption
 * and decryption, the model owner's evaluation. The HE package's pool encrypts with the public key only;
 * the data owner encrypts its OWN data and holds the secret key, so it can use SEAL's seeded symmetric
 * encryption (about a third of the cost and half the bytes: ../shared/ANCHORS.md). Work is split into one
 * contiguous chunk per worker, so results keep input order.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FedscoreError, type Logger, noopLogger } from '@fedscore/core';
import type { ScoringWorkerReply, ScoringWorkerRequest } from './worker.ts';

type Body = ScoringWorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface ScoringPoolOptions {
  /** Serialized secret context (data owner) or public context (model owner). */
  readonly context: Uint8Array;
  /** True when `context` holds the secret key. */
  readonly secret: boolean;
  /** Worker threads (default: available parallelism, at most 2). */
  readonly size?: number;
  readonly insecure?: boolean;
  readonly logger?: Logger;
}

export interface ScoringPool {
  readonly size: number;
  /** Symmetric seeded encryption of each vector (data owner). */
  encrypt(vectors: readonly Float64Array[]): Promise<Uint8Array[]>;
  /** One result ciphertext per job (model owner). */
  evaluate(
    jobs: readonly { features: Uint8Array[]; add: Float64Array }[],
    weights: readonly number[],
    rerandomize: boolean,
  ): Promise<Uint8Array[]>;
  decrypt(ciphertexts: readonly Uint8Array[]): Promise<Float64Array[]>;
  close(): Promise<void>;
}

class Handle {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly #pending = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>();
  #next = 0;
  #failed: Error | undefined;

  constructor(options: ScoringPoolOptions) {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: { context: options.context, secret: options.secret, insecure: options.insecure === true },
    });
    this.ready = new Promise((resolve, reject) => {
      this.#pending.set(-1, { resolve: (() => resolve()) as never, reject });
    });
    this.worker.on('message', (m: ScoringWorkerReply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result as never);
      else {
        p.reject(
          new FedscoreError(m.error.code as never, `scoring worker: ${m.error.message}`, {
            ...(m.error.field !== undefined && { field: m.error.field }),
          }),
        );
      }
    });
    const fail = (e: Error): void => {
      this.#failed = e;
      for (const p of this.#pending.values())
        p.reject(new FedscoreError('he_error', `scoring worker failed: ${e.message}`, { cause: e }));
      this.#pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.#pending.size > 0) fail(new Error(`exited with code ${code}`));
    });
  }

  request<R>(body: Body): Promise<R> {
    if (this.#failed)
      return Promise.reject(new FedscoreError('he_error', `scoring worker failed: ${this.#failed.message}`));
    const id = this.#next++;
    return new Promise<R>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as never, reject });
      this.worker.postMessage({ ...body, id });
    });
  }
}

export async function createScoringPool(options: ScoringPoolOptions): Promise<ScoringPool> {
  const size = options.size ?? Math.max(1, Math.min(2, availableParallelism()));
  if (!Number.isInteger(size) || size < 1 || size > 64) {
    throw new FedscoreError('out_of_range', 'pool size must be an integer in [1, 64]', { field: 'size' });
  }
  const workers = Array.from({ length: size }, () => new Handle(options));
  try {
    await Promise.all(workers.map((w) => w.ready));
  } catch (e) {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    throw e;
  }
  (options.logger ?? noopLogger).debug('scoring worker pool ready', { size, secret: options.secret });

  // Small requests (one record batch) go to the workers in turn, so concurrent requests share them.
  let turn = 0;
  async function scatter<T, R>(
    items: readonly T[],
    run: (w: Handle, part: T[]) => Promise<R[]>,
  ): Promise<R[]> {
    if (items.length === 0) return [];
    const per = Math.ceil(items.length / workers.length);
    const parts: T[][] = [];
    for (let i = 0; i < items.length; i += per) parts.push(items.slice(i, i + per));
    const start = turn;
    turn = (turn + parts.length) % workers.length;
    const results = await Promise.all(parts.map((p, i) => run(workers[(start + i) % workers.length]!, p)));
    return results.flat();
  }

  return {
    size,
    encrypt: (vectors) =>
      scatter(vectors, (w, part) => w.request<Uint8Array[]>({ op: 'encrypt', vectors: part })),
    evaluate: (jobs, weights, rerandomize) =>
      scatter(jobs, (w, part) =>
        w.request<Uint8Array[]>({ op: 'evaluate', jobs: part, weights: [...weights], rerandomize }),
      ),
    decrypt: (cts) =>
      scatter(cts, (w, part) => w.request<Float64Array[]>({ op: 'decrypt', ciphertexts: part })),
    async close() {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
