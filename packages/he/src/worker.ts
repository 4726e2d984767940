/**
 * Worker-thread side of the HE pool: its own node-seal instance, the context loaded once at start-up,
 * then requests answered one at a time. Inputs and outputs are serialized ciphertexts (bytes cross the
 * thread boundary; WASM objects never do). Every object made for a request is freed before replying.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FedscoreError } from '@fedscore/core';
import { loadCkksPublicContext, loadCkksSecretContext } from './ckks.ts';
import { columnDot } from './packing.ts';
import type { CkksPublicContext, CkksSecretContext, CkksVector, SerializeOptions } from './types.ts';

export type WorkerRequest =
  | { id: number; op: 'encrypt'; vectors: Float64Array[]; options?: SerializeOptions }
  | {
      id: number;
      op: 'columnDots';
      ciphertexts: Uint8Array[];
      columns: Float64Array[][];
      options?: SerializeOptions;
    }
  | { id: number; op: 'decrypt'; ciphertexts: Uint8Array[] };

export type WorkerReply =
  | { id: number; ok: true; result: Uint8Array[] | Float64Array[] }
  | { id: number; ok: false; error: { code: string; message: string; field?: string } };

const data = workerData as { context: Uint8Array; secret: boolean; insecure: boolean };
const port = parentPort!;

const ctx: CkksPublicContext = data.secret
  ? await loadCkksSecretContext(data.context, { insecure: data.insecure })
  : await loadCkksPublicContext(data.context, { insecure: data.insecure });

function handle(req: WorkerRequest): Uint8Array[] | Float64Array[] {
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
    if (!data.secret)
      throw new FedscoreError('unsupported', 'the pool holds a public context', { field: 'context' });
    const sk = ctx as CkksSecretContext;
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

port.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
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
