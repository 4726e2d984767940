/**
 * Comparison keys: the first KEY_BYTES bytes of each doubly blinded point H(id)^(ab). They are uniformly
 * distributed (ristretto255 encodings of pseudo-random group elements), so their leading bytes serve
 * directly as hash-table slots, and sorting by them gives both parties the same pseudo-random order of
 * the intersection without another message (the "aligned order").
 *
 * 16 bytes keep false matches negligible: with n and m keys a spurious equality has probability at most
 * n * m / 2^128 (< 2^-80 at 10^7 x 10^7).
 */

export const KEY_BYTES = 16;

/** An open-addressing index over fixed-width keys stored back to back (linear probing, load <= 1/2). */
export class KeyIndex {
  readonly #keys: Uint8Array;
  readonly #width: number;
  readonly #mask: number;
  /** Slot -> key index + 1 (0 = empty). */
  readonly #slots: Uint32Array;

  constructor(keys: Uint8Array, width: number) {
    this.#keys = keys;
    this.#width = width;
    const n = keys.length / width;
    let size = 2;
    while (size < 2 * n) size *= 2;
    this.#mask = size - 1;
    this.#slots = new Uint32Array(size);
    for (let i = 0; i < n; i++) {
      let s = slotOf(keys, i * width, this.#mask);
      while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
      this.#slots[s] = i + 1;
    }
  }

  /** The index of a key equal to `key[offset..offset+width)`, or -1. */
  find(key: Uint8Array, offset: number): number {
    const keys = this.#keys;
    const w = this.#width;
    let s = slotOf(key, offset, this.#mask);
    for (;;) {
      const v = this.#slots[s]!;
      if (v === 0) return -1;
      const base = (v - 1) * w;
      let k = 0;
      while (k < w && keys[base + k] === key[offset + k]) k++;
      if (k === w) return v - 1;
      s = (s + 1) & this.#mask;
    }
  }
}

function slotOf(bytes: Uint8Array, offset: number, mask: number): number {
  return (
    (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) &
    mask
  );
}

/**
 * Positions i of `own` whose key also occurs in `peer`, sorted by key (ascending bytes): the aligned
 * order. Both parties call this with the same two key sets (each with its own side as `own`) and so list
 * the intersection in the same order.
 */
export function matchAndAlign(own: Uint8Array, peer: Uint8Array, width: number = KEY_BYTES): Uint32Array {
  const index = new KeyIndex(peer, width);
  const n = own.length / width;
  const hits: number[] = [];
  for (let i = 0; i < n; i++) if (index.find(own, i * width) >= 0) hits.push(i);
  return sortByKey(own, Uint32Array.from(hits), width);
}

/** Sort positions by their keys (lexicographic bytes). */
export function sortByKey(keys: Uint8Array, positions: Uint32Array, width: number = KEY_BYTES): Uint32Array {
  // The first 6 bytes as an exact double decide almost every comparison; ties fall back to the bytes.
  const lead = new Float64Array(keys.length / width);
  for (const p of positions) {
    const b = p * width;
    let x = 0;
    for (let k = 0; k < 6; k++) x = x * 256 + keys[b + k]!;
    lead[p] = x;
  }
  return positions.slice().sort((a, b) => {
    const d = lead[a]! - lead[b]!;
    if (d !== 0) return d;
    for (let k = 6; k < width; k++) {
      const e = keys[a * width + k]! - keys[b * width + k]!;
      if (e !== 0) return e;
    }
    return 0;
  });
}
