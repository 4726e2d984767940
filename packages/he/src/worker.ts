/**
 * Worker-thread side of the HE pool: its own node-seal instance, the context loaded once at start-up,
 * then requests answered one at a time. Inputs and outputs are serialized ciphertexts (bytes cross the
 * thread boundary; WASM objects never do). Every object made for a request is freed before replying,
 * except the encoded weights of the last linear combination (kept for the next call with equal weights).
 * A secret context reaches this thread from the pool of the same process only (see pool.ts).
 */
import { workerData } from 'node:worker_threads';
import { FedscoreError } from '@fedscore/core';
import { serveTasks } from '@fedscore/core/pool';
import { loadCkksPublicContext, loadCkksSecretContext } from './ckks/index.ts';
import { DiagonalCache } from './diagonals.ts';
import { evaluateLinearRequest, type LinearCombinationsRequest, LinearWeightCache } from './linear-task.ts';
import type { PackedBabiesRequest, PackedPartsResult, PackedProductRequest } from './packed-pool.ts';
import { evaluateBabiesRequest, evaluatePackedRequest } from './packed-task.ts';
import { columnDot } from './packing.ts';
import type {
  CkksPublicContext,
  CkksSecretContext,
  CkksVector,
  HeThreadTaskKinds,
  SerializeOptions,
  SymmetricEncryptOptions,
} from './types.ts';

export type WorkerRequest =
  | { id: number; op: 'encrypt'; vectors: Float64Array[]; options?: SerializeOptions }
  | { id: number; op: 'encryptSymmetric'; vectors: Float64Array[]; options?: SymmetricEncryptOptions }
  | ({ id: number } & LinearCombinationsRequest)
  | {
      id: number;
      op: 'columnDots';
      ciphertexts: Uint8Array[];
      columns: Float64Array[][];
      options?: SerializeOptions;
    }
  | { id: number; op: 'decrypt'; ciphertexts: Uint8Array[] }
  | ({ id: number } & PackedProductRequest)
  | ({ id: number } & PackedBabiesRequest)
  /** A task of the pool's `taskKinds` module (`HeWorkerPool.executor`), evaluated by its kind's handler. */
  | { id: number; op: 'kind'; task: { readonly op: string } };

export type WorkerResult = Uint8Array[] | Float64Array[] | PackedPartsResult;

const data = workerData as {
  context: Uint8Array;
  secret: boolean;
  insecure: boolean;
  /** This worker's share of the pool's diagonal-cache budget (packed products). */
  diagonalCacheBytes: number;
  /** The URL of the pool's `taskKinds` module, if any. */
  taskKinds?: string;
};

const ctx: CkksPublicContext = data.secret
  ? await loadCkksSecretContext(data.context, { allowWeakParameters: data.insecure })
  : await loadCkksPublicContext(data.context, { allowWeakParameters: data.insecure });

// The task kinds of higher packages (HeWorkerPoolOptions.taskKinds): handlers made on first use.
const kinds: HeThreadTaskKinds =
  data.taskKinds === undefined
    ? {}
    : ((await import(data.taskKinds)) as { taskKinds: HeThreadTaskKinds }).taskKinds;
const handlers = new Map<string, (task: never) => unknown>();

function kindTask(task: { readonly op: string }): unknown {
  const op = task !== null && typeof task === 'object' ? task.op : undefined;
  if (typeof op !== 'string' || !Object.hasOwn(kinds, op)) {
    throw new FedscoreError('invalid_argument', 'no handler for this task kind', { field: 'op' });
  }
  let handler = handlers.get(op);
  if (handler === undefined) {
    handler = kinds[op]!(ctx);
    handlers.set(op, handler);
  }
  return handler(task as never);
}

// Encoded diagonals of packed products, kept across calls with the same cache key.
const diagonals = new DiagonalCache(ctx, data.diagonalCacheBytes);

/** This worker's share of a packed product (pool.ts `packedProduct`, packed-pool.ts, packed-task.ts). */
function packedProduct(req: PackedProductRequest): PackedPartsResult {
  return evaluatePackedRequest(ctx, diagonals, req);
}

function secretContext(): CkksSecretContext {
  if (!data.secret)
    throw new FedscoreError('unsupported', 'the pool holds a public context', { field: 'context' });
  return ctx as CkksSecretContext;
}

// Weights of the last linear combination, encoded once (a model is applied to many batches).
const weights = new LinearWeightCache(ctx);

function handle(req: WorkerRequest): WorkerResult {
  if (req.op === 'packedProduct') return packedProduct(req);
  if (req.op === 'packedBabies') return evaluateBabiesRequest(ctx, req);
  // A kind's result is what its handler returns (the executor's caller knows its type).
  if (req.op === 'kind') return kindTask(req.task) as WorkerResult;
  if (req.op === 'encryptSymmetric') {
    const sk = secretContext();
    return req.vectors.map((v) => sk.encryptSymmetricSerialized(v, req.options));
  }
  if (req.op === 'linearCombinations') {
    return evaluateLinearRequest(ctx, weights, req);
  }
  if (req.op === 'encrypt') {
    return req.vectors.map((v) => {
      const ct = ctx.encrypt(v);
      try {
        return ct.serialize(req.options);
      } finally {
        ct.dispose();
      }
    });
  }
  if (req.op === 'columnDots') {
    const cts: CkksVector[] = [];
    try {
      for (const b of req.ciphertexts) cts.push(ctx.deserializeVector(b));
      return req.columns.map((batches) => {
        const col = new Float64Array(batches.reduce((a, b) => a + b.length, 0));
        let off = 0;
        for (const b of batches) {
          col.set(b, off);
          off += b.length;
        }
        const r = columnDot(ctx, cts, col);
        try {
          return r.serialize(req.options);
        } finally {
          r.dispose();
        }
      });
    } finally {
      for (const c of cts) c.dispose();
    }
  }
  if (req.op === 'decrypt') {
    const sk = secretContext();
    return req.ciphertexts.map((b) => {
      const v = sk.deserializeVector(b);
      try {
        return sk.decrypt(v);
      } finally {
        v.dispose();
      }
    });
  }
  throw new FedscoreError('invalid_argument', 'unknown worker request', { field: 'op' });
}

// Errors keep their code and field across the thread boundary (core/src/pool.ts).
serveTasks<WorkerRequest, WorkerResult>(handle);
