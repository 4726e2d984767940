/**
 * Encoded plaintext diagonals kept across epochs. Batch membership is fixed for a run (only the order
 * of the batches changes per epoch, `fixedBatches`), so the diagonals of a batch's columns are the same
 * every epoch: encoding them once saves an encode (~0.7 ms at N=8192) per plaintext product.
 *
 * Memory: one plaintext at level l takes N * (l + 1) * 8 bytes (128 KiB at N=8192, level 1). The cache
 * holds at most `budgetBytes`; diagonals beyond it are encoded per use and freed (slower, same result).
 *
 * Two policies at the budget. `keep` (the default; the node's HE threads, whose keys are the run's fixed
 * batches, swept every epoch): what is held stays, and diagonals beyond the budget are encoded per use --
 * for a sweep over more than fits this keeps budget/total of the products cached, where least-recently-
 * used eviction would keep none. `lru` (a queue worker, `@fedscore/queue`, whose tasks come from any job
 * on the queue, so an old job's diagonals must make room for the next's): a product that does not fit
 * evicts the least recently used other products (whole entries) until it does; a product larger than the
 * whole budget is encoded per use beyond it, as under `keep`.
 */
import { FedscoreError } from '@fedscore/core';
import { blockDiagonal, type DiagonalSource } from './packing.ts';
import type { CkksPlaintext, CkksPublicContext, PackedProductPlan } from './types.ts';

interface Entry {
  level: number;
  /** Diagonal index within the product (block offset + k) -> plaintext, or null when all zero. */
  readonly plaintexts: Map<number, CkksPlaintext | null>;
  complete: boolean;
}

/**
 * Default budget of a diagonal cache, MiB: each node's HE thread (hetero-LR `runtime.diagonalCacheMiB`)
 * and each context a queue worker has loaded (`fedscore worker --diagonal-cache-mib`).
 */
export const DEFAULT_DIAGONAL_CACHE_MIB = 1024;

/** Options of `DiagonalCache`. */
export interface DiagonalCacheOptions {
  /** What happens at the budget (module comment): `keep` (default) or `lru`. */
  readonly evict?: 'keep' | 'lru';
}

/** Counts since a cache was made (`DiagonalCache.stats`). */
export interface DiagonalCacheStats {
  /** Diagonals served from the cache. */
  readonly hits: number;
  /** Diagonals encoded (held or, beyond the budget, encoded per use). */
  readonly encodes: number;
  /** Products (entries) evicted to make room (`lru` only). */
  readonly evictions: number;
}

export class DiagonalCache {
  readonly #ctx: CkksPublicContext;
  readonly #budget: number;
  readonly #lru: boolean;
  /** Insertion order is recency order under `lru` (a used entry is moved to the end). */
  readonly #entries = new Map<string, Entry>();
  #used = 0;
  #hits = 0;
  #encodes = 0;
  #evictions = 0;

  constructor(ctx: CkksPublicContext, budgetBytes: number, options: DiagonalCacheOptions = {}) {
    if (options.evict !== undefined && options.evict !== 'keep' && options.evict !== 'lru') {
      throw new FedscoreError('invalid_argument', "evict is 'keep' or 'lru'", { field: 'evict' });
    }
    this.#ctx = ctx;
    this.#budget = Number.isFinite(budgetBytes) ? Math.max(0, budgetBytes) : 0;
    this.#lru = options.evict === 'lru';
  }

  /** Bytes of encoded plaintexts held. */
  get bytes(): number {
    return this.#used;
  }

  /** The budget, bytes. */
  get budgetBytes(): number {
    return this.#budget;
  }

  /** Products (keys) held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Hits, encodes and evictions since the cache was made. */
  get stats(): DiagonalCacheStats {
    return { hits: this.#hits, encodes: this.#encodes, evictions: this.#evictions };
  }

  #plaintextBytes(level: number): number {
    return this.#ctx.slotCount * 2 * (level + 1) * 8;
  }

  /** Whether every diagonal of the product `key` that was asked for so far is held. */
  complete(key: string): boolean {
    return this.#entries.get(key)?.complete === true;
  }

  /**
   * The diagonals of the product `key` (one batch's columns). `columns` may be omitted only when the
   * cache already holds all of them (`complete(key)`).
   */
  source(
    key: string,
    plan: PackedProductPlan,
    columns: readonly Float64Array[] | undefined,
    rows: number,
  ): DiagonalSource {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { level: -1, plaintexts: new Map(), complete: true };
      this.#entries.set(key, entry);
    } else if (this.#lru) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    const e = entry;
    const offsets: number[] = [];
    let off = 0;
    for (const b of plan.blocks) {
      offsets.push(off);
      off += b.diagonals;
    }
    return (block, k, level) => {
      if (e.level !== level) this.#reset(e, level);
      const idx = offsets[block]! + k;
      const held = e.plaintexts.get(idx);
      if (held === null) return undefined;
      if (held !== undefined) {
        this.#hits++;
        return { plaintext: held, owned: false };
      }
      if (columns === undefined) {
        throw new FedscoreError('internal', `diagonal ${idx} of '${key}' is not cached and no columns came`, {
          field: 'columns',
        });
      }
      const v = blockDiagonal(columns, rows, plan.blocks[block]!, plan.width, k, this.#ctx.slotCount);
      if (v === undefined) {
        e.plaintexts.set(idx, null);
        return undefined;
      }
      const pt = this.#ctx.encode(v, level);
      this.#encodes++;
      const size = this.#plaintextBytes(level);
      if (this.#lru && this.#used + size > this.#budget && size <= this.#budget) this.#evictFor(e, size);
      if (this.#used + size <= this.#budget) {
        this.#used += size;
        e.plaintexts.set(idx, pt);
        return { plaintext: pt, owned: false };
      }
      e.complete = false;
      return { plaintext: pt, owned: true };
    };
  }

  /**
   * Evict least recently used entries other than `current` (whose plaintexts the running product holds)
   * until `size` more bytes fit or only `current` is left. Products evaluate synchronously, so no other
   * product holds an evicted entry's plaintexts.
   */
  #evictFor(current: Entry, size: number): void {
    for (const [k, e] of this.#entries) {
      if (this.#used + size <= this.#budget) return;
      if (e === current) continue;
      this.#reset(e, -1);
      this.#entries.delete(k);
      this.#evictions++;
    }
  }

  #reset(e: Entry, level: number): void {
    for (const pt of e.plaintexts.values()) {
      if (pt === null) continue;
      this.#used -= this.#plaintextBytes(pt.level);
      pt.dispose();
    }
    e.plaintexts.clear();
    e.level = level;
    e.complete = true;
  }

  dispose(): void {
    for (const e of this.#entries.values()) this.#reset(e, -1);
    this.#entries.clear();
    this.#used = 0;
  }
}
