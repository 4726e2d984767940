/**
 * Worker thread of the scoring pool: its own node-seal instance (through @fedscore/he), one context
 * loaded at start-up (the data owner's secret context, or the model owner's public context), requests
 * answered one at a time. Only bytes and numbers cross the thread boundary; every WASM object made for a
 * request is freed before the reply (weight plaintexts are cached for the last model).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FedscoreError } from '@fedscore/core';
import {
  type CkksPlaintext,
  type CkksPublicContext,
  type CkksSecretContext,
  loadCkksPublicContext,
  loadCkksSecretContext,
} from '@fedscore/he';
import { loadVectors } from './he-io.ts';
import { encodeWeights, evaluateLinear } from './linear-he.ts';

export type ScoringWorkerRequest =
  | { id: number; op: 'encrypt'; vectors: Float64Array[] }
  | {
      id: number;
      op: 'evaluate';
      jobs: { features: Uint8Array[]; add: Float64Array }[];
      weights: number[];
      rerandomize: boolean;
    }
  | { id: number; op: 'decrypt'; ciphertexts: Uint8Array[] };

export type ScoringWorkerReply =
  | { id: number; ok: true; result: Uint8Array[] | Float64Array[] }
  | { id: number; ok: false; error: { code: string; message: string; field?: string } };

const data = workerData as { context: Uint8Array; secret: boolean; insecure: boolean };
const port = parentPort!;
const ctx: CkksPublicContext = data.secret
  ? await loadCkksSecretContext(data.context, { insecure: data.insecure })
  : await loadCkksPublicContext(data.context, { insecure: data.insecure });

let cachedKey = '';
let cached: (CkksPlaintext | undefined)[] = [];

function weightsFor(weights: number[]): (CkksPlaintext | undefined)[] {
  const key = weights.join(',');
  if (key !== cachedKey) {
    for (const p of cached) p?.dispose();
    cached = encodeWeights(ctx, weights);
    cachedKey = key;
  }
  return cached;
}

function secret(): CkksSecretContext {
  if (!data.secret)
    throw new FedscoreError('unsupported', 'the pool holds a public context', { field: 'context' });
  return ctx as CkksSecretContext;
}

function handle(req: ScoringWorkerRequest): Uint8Array[] | Float64Array[] {
  if (req.op === 'encrypt') {
    const sk = secret();
    return req.vectors.map((v) => sk.encryptSymmetricSerialized(v, { compression: 'none' }));
  }
  if (req.op === 'evaluate') {
    const w = weightsFor(req.weights);
    return req.jobs.map((job) => {
      const cts = loadVectors(ctx, job.features);
      try {
        const r = evaluateLinear(ctx, cts, w, job.add, req.rerandomize);
        try {
          return r.serialize({ compression: 'none' });
        } finally {
          r.dispose();
        }
      } finally {
        for (const c of cts) c.dispose();
      }
    });
  }
  if (req.op === 'decrypt') {
    const sk = secret();
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

port.on('message', (req: ScoringWorkerRequest) => {
  let reply: ScoringWorkerReply;
  try {
    reply = { id: req.id, ok: true, result: handle(req) };
  } catch (e) {
    const fe = e instanceof FedscoreError ? e : undefined;
    reply = {
      id: req.id,
      ok: false,
      error: {
        code: fe?.code ?? 'he_error',
        message: e instanceof Error ? e.message : String(e),
        ...(fe?.field !== undefined && { field: fe.field }),
      },
    };
  }
  port.postMessage(reply);
});
port.postMessage({ id: -1, ok: true, result: [] });
