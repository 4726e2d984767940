/**
 * Worker-thread side of the packed-product pool (`product-pool.ts`): its own node-seal instance through
 * @fedscore/he, one public context loaded at start-up, and its own `DiagonalCache` for the giant steps
 * it is given. Ciphertexts cross the thread boundary as bytes; WASM objects never do. It sees only what
 * its party already holds (that party's columns, ciphertexts it received, a public context).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FedscoreError } from '@fedscore/core';
import { type CkksVector, loadCkksPublicContext } from '@fedscore/he';
import { DiagonalCache } from './diagonals.ts';
import {
  emptyWork,
  evaluatePartial,
  foldBlocks,
  type GiantTask,
  type PackedWork,
  planPackedProduct,
} from './packing.ts';

export interface ProductWorkerData {
  readonly context: Uint8Array;
  readonly insecure: boolean;
  readonly cacheBytes: number;
}

export interface ProductRequest {
  readonly id: number;
  /** The encrypted batch vector, serialized. */
  readonly d: Uint8Array;
  readonly columns: number;
  readonly width: number;
  readonly rows: number;
  readonly tasks: readonly GiantTask[];
  /** Fold the blocks here (this worker has every task of the product). */
  readonly fold: boolean;
  /** Cache identity of the batch columns; absent = do not cache. */
  readonly key?: string;
  /** The batch columns; omitted when the worker reported them cached. */
  readonly batch?: readonly Float64Array[];
}

export type ProductReply =
  | {
      readonly id: number;
      readonly ok: true;
      /** Per block: serialized partial (or folded result), null for a block without work. */
      readonly parts: (Uint8Array | null)[];
      readonly cached: boolean;
      readonly work: PackedWork;
    }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

const data = workerData as ProductWorkerData;
const port = parentPort!;
const ctx = await loadCkksPublicContext(data.context, { insecure: data.insecure });
const cache = new DiagonalCache(ctx, data.cacheBytes);

function handle(req: ProductRequest): ProductReply {
  const plan = planPackedProduct(req.columns, req.width);
  const d = ctx.deserializeVector(req.d);
  const work = emptyWork();
  let partials: (CkksVector | undefined)[] = [];
  try {
    const source =
      req.key === undefined ? cacheless(plan, req) : cache.source(req.key, plan, req.batch, req.rows);
    partials = evaluatePartial(d, plan, req.tasks, source, work);
    const results: (CkksVector | undefined)[] = req.fold ? foldBlocks(d, plan, partials, work) : partials;
    const parts = results.map((v) => (v === undefined ? null : v.serialize({ compression: 'none' })));
    for (const v of results) v?.dispose();
    return {
      id: req.id,
      ok: true,
      parts,
      cached: req.key !== undefined && cache.complete(req.key),
      work,
    };
  } catch (e) {
    for (const v of partials) v?.dispose();
    throw e;
  } finally {
    d.dispose();
  }
}

function cacheless(plan: ReturnType<typeof planPackedProduct>, req: ProductRequest) {
  if (req.batch === undefined) {
    throw new FedscoreError('internal', 'a product without a cache key needs its columns', {
      field: 'batch',
    });
  }
  const once = new DiagonalCache(ctx, 0);
  return once.source('once', plan, req.batch, req.rows);
}

port.on('message', (req: ProductRequest) => {
  let reply: ProductReply;
  try {
    reply = handle(req);
  } catch (e) {
    reply = {
      id: req.id,
      ok: false,
      code: e instanceof FedscoreError ? e.code : 'he_error',
      message: e instanceof Error ? e.message : String(e),
    };
  }
  port.postMessage(reply);
});
port.postMessage({ id: -1, ok: true, parts: [], cached: false, work: emptyWork() } satisfies ProductReply);
