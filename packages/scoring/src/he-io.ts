/**
 * Ciphertexts in and out of wire batches, with the checks a receiver owes: the scheme, the parameters'
 * fingerprint (a ciphertext made under other keys is refused before SEAL sees it), and the shape.
 */
import { FedscoreError, hexToBytes } from '@fedscore/core';
import type { CkksPublicContext, CkksVector } from '@fedscore/he';
import type { CiphertextBatch } from '@fedscore/wire';

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Serialized CKKS ciphertexts as a wire batch of `items.length` items of `slotsPerItem` values each. */
export function toBatch(
  ctx: Pick<CkksPublicContext, 'fingerprint'>,
  items: readonly Uint8Array[],
  slotsPerItem: number,
  scale: number,
  level = 0,
): CiphertextBatch {
  return {
    scheme: 'ckks',
    paramsFingerprint: hexToBytes(ctx.fingerprint),
    items,
    valueCount: items.length * slotsPerItem,
    slotsPerItem,
    scale,
    level,
  };
}

/** Check a received batch against our context and expected shape; returns its items. */
export function checkBatch(
  ctx: Pick<CkksPublicContext, 'fingerprint'>,
  batch: CiphertextBatch,
  field: string,
  expect: { items?: number; slotsPerItem?: number } = {},
): readonly Uint8Array[] {
  if (batch.scheme !== 'ckks') {
    throw new FedscoreError('protocol_step', `expected a CKKS batch, got '${batch.scheme}'`, {
      field: `${field}.scheme`,
    });
  }
  if (!sameBytes(batch.paramsFingerprint, hexToBytes(ctx.fingerprint))) {
    throw new FedscoreError('he_context_mismatch', 'ciphertexts made under other keys or parameters', {
      field: `${field}.paramsFingerprint`,
    });
  }
  if (expect.items !== undefined && batch.items.length !== expect.items) {
    throw new FedscoreError(
      'protocol_step',
      `expected ${expect.items} ciphertexts, got ${batch.items.length}`,
      {
        field: `${field}.items`,
      },
    );
  }
  if (expect.slotsPerItem !== undefined && batch.slotsPerItem !== expect.slotsPerItem) {
    throw new FedscoreError(
      'protocol_step',
      `expected ${expect.slotsPerItem} values per item, got ${batch.slotsPerItem}`,
      {
        field: `${field}.slotsPerItem`,
      },
    );
  }
  return batch.items;
}

/** Deserialize every item (disposing the ones already loaded if one fails). */
export function loadVectors(ctx: CkksPublicContext, items: readonly Uint8Array[]): CkksVector[] {
  const out: CkksVector[] = [];
  try {
    for (const b of items) out.push(ctx.deserializeVector(b));
  } catch (e) {
    for (const v of out) v.dispose();
    throw e;
  }
  return out;
}

/**
 * A cache of loaded contexts keyed by their serialized bytes, so that a party serving the same peer
 * again does not rebuild SEAL objects (context creation is the costliest step: ANCHORS.md, 253 ms).
 */
export class ContextCache<T> {
  readonly #entries = new Map<string, { bytes: Uint8Array; value: T }[]>();

  static key(bytes: Uint8Array): string {
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i += 7) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
    return `${bytes.length}:${h}`;
  }

  get(bytes: Uint8Array): T | undefined {
    for (const e of this.#entries.get(ContextCache.key(bytes)) ?? [])
      if (sameBytes(e.bytes, bytes)) return e.value;
    return undefined;
  }

  set(bytes: Uint8Array, value: T): void {
    const k = ContextCache.key(bytes);
    const list = this.#entries.get(k) ?? [];
    list.push({ bytes: bytes.slice(), value });
    this.#entries.set(k, list);
  }

  values(): T[] {
    return [...this.#entries.values()].flat().map((e) => e.value);
  }

  clear(): void {
    this.#entries.clear();
  }
}
