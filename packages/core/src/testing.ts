/**
 * Test support, exported as `@fedscore/core/testing` (never imported by library code): the search every
 * "this carries no secret" test uses.
 *
 * `findSecret` looks for ANY window of `window` bytes (32 by default) of a secret, at every offset of the
 * secret, anywhere in a haystack: in its raw bytes, and in the output of every zstd frame and zlib stream
 * found in it (SEAL serializes keys zstd- or zlib-compressed; a compressed copy of a key holds none of the
 * key's bytes verbatim). Windows rather than the whole secret, so a truncated, split or re-framed copy is
 * still found; every offset rather than one fixed slice, so a copy of any part of it is.
 *
 * `expectNoSecret` runs positive controls before the real search, so the check cannot pass vacuously: the
 * same search must find a window of the secret planted in a copy of the haystack as plain bytes, inside a
 * zstd frame and inside a zlib stream (each compressed control is first checked to hold no window
 * verbatim, so it exercises the decompression path). Then it searches the haystack and throws when a
 * window is there.
 *
 * Matching is a Rabin-Karp rolling hash over the haystack with a table of the secret's window hashes;
 * every hash hit is confirmed byte by byte, so a reported hit is exact.
 */
import { constants, deflateSync, inflateSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { concatBytes } from './bytes.ts';

export * from './testing-bytes.ts';

export interface SecretSearchOptions {
  /** Window length in bytes (default 32; a shorter secret is searched whole). */
  readonly window?: number;
  /** Also search the output of the zstd frames and zlib streams in the haystack (default true). */
  readonly decompress?: boolean;
}

/**
 * The bytes to search: one buffer, or several (e.g. every captured message a party received), searched as
 * their concatenation; offsets in a hit are offsets in that concatenation.
 */
export type Haystack = Uint8Array | readonly Uint8Array[];

/** Where a window of the secret was found. */
export interface SecretHit {
  /** Offset of the matching window in the secret. */
  readonly secretOffset: number;
  /** Offset of the match in the searched bytes (the haystack, or a decompressed section of it). */
  readonly offset: number;
  /** 'raw', or the compressed section the match came out of, e.g. 'zstd@1234', 'zlib@56>zstd@0'. */
  readonly layer: string;
}

const DEFAULT_WINDOW = 32;
const BASE = 0x01000193;
/** Depth of nested compressed sections followed (a zstd frame inside an inflated stream, ...). */
const MAX_DEPTH = 2;
/** A decompressed section is searched up to this many bytes (a guard against a decompression bomb). */
const MAX_OUTPUT = 1 << 28;

interface WindowTable {
  readonly w: number;
  readonly secret: Uint8Array;
  readonly offsets: Map<number, number[]>;
  /** One bit per value of a hash's top 24 bits: most haystack positions are rejected without a lookup. */
  readonly filter: Uint32Array;
  /** BASE^(w-1) mod 2^32, to roll the oldest byte out. */
  readonly top: number;
}

function windowTable(secret: Uint8Array, window: number): WindowTable {
  if (!(secret instanceof Uint8Array) || secret.length === 0)
    throw new TypeError('findSecret: the secret must be non-empty bytes');
  if (!Number.isInteger(window) || window < 8) throw new RangeError('findSecret: window must be >= 8');
  const w = Math.min(window, secret.length);
  let top = 1;
  for (let i = 1; i < w; i++) top = Math.imul(top, BASE);
  const offsets = new Map<number, number[]>();
  const filter = new Uint32Array(1 << 19);
  let h = 0;
  for (let i = 0; i < secret.length; i++) {
    if (i >= w) h = (h - Math.imul(secret[i - w]!, top)) | 0;
    h = (Math.imul(h, BASE) + secret[i]!) | 0;
    if (i >= w - 1) {
      filter[h >>> 13]! |= 1 << ((h >>> 8) & 31);
      const at = offsets.get(h);
      if (at) at.push(i - w + 1);
      else offsets.set(h, [i - w + 1]);
    }
  }
  return { w, secret, offsets, filter, top };
}

function searchRaw(hay: Uint8Array, t: WindowTable): { secretOffset: number; offset: number } | undefined {
  const { w, secret, offsets, filter, top } = t;
  if (hay.length < w) return undefined;
  let h = 0;
  for (let i = 0; i < w; i++) h = (Math.imul(h, BASE) + hay[i]!) | 0;
  for (let i = w - 1; i < hay.length; i++) {
    if (i >= w) h = (Math.imul(h - Math.imul(hay[i - w]!, top), BASE) + hay[i]!) | 0;
    if ((filter[h >>> 13]! & (1 << ((h >>> 8) & 31))) === 0) continue;
    const at = offsets.get(h);
    if (at === undefined) continue;
    const start = i - w + 1;
    for (const s of at) {
      let j = 0;
      while (j < w && hay[start + j] === secret[s + j]) j++;
      if (j === w) return { secretOffset: s, offset: start };
    }
  }
  return undefined;
}

/**
 * A zlib header as zlib's deflate writes it (SEAL's included): CMF 0x78 (deflate, 32 KiB window), no
 * preset dictionary, one of the four FLEVEL values with a valid check.
 */
function isZlibHeader(hay: Uint8Array, i: number): boolean {
  if (hay[i] !== 0x78) return false;
  const flg = hay[i + 1];
  return flg === 0x01 || flg === 0x5e || flg === 0x9c || flg === 0xda;
}

/** Output of every zstd frame and zlib stream starting in `hay` (the ones that decode to something). */
function* compressedSections(hay: Uint8Array): Generator<{ layer: string; bytes: Uint8Array }> {
  for (let i = 0; i + 4 <= hay.length; i++) {
    let out: Uint8Array | undefined;
    let kind = '';
    if (hay[i] === 0x28 && hay[i + 1] === 0xb5 && hay[i + 2] === 0x2f && hay[i + 3] === 0xfd) {
      kind = 'zstd';
      try {
        out = zstdDecompressSync(hay.subarray(i), { maxOutputLength: MAX_OUTPUT });
      } catch {}
    } else if (isZlibHeader(hay, i)) {
      kind = 'zlib';
      try {
        // Z_SYNC_FLUSH: a truncated stream still yields what it decodes to
        out = inflateSync(hay.subarray(i), {
          finishFlush: constants.Z_SYNC_FLUSH,
          maxOutputLength: MAX_OUTPUT,
        });
      } catch {}
    }
    if (out !== undefined && out.length > 0) yield { layer: `${kind}@${i}`, bytes: out };
  }
}

function searchLayers(
  hay: Uint8Array,
  t: WindowTable,
  decompress: boolean,
  layer: string,
  depth: number,
): SecretHit | undefined {
  const raw = searchRaw(hay, t);
  if (raw) return { ...raw, layer };
  if (!decompress || depth >= MAX_DEPTH) return undefined;
  for (const s of compressedSections(hay)) {
    const name = layer === 'raw' ? s.layer : `${layer}>${s.layer}`;
    const hit = searchLayers(s.bytes, t, decompress, name, depth + 1);
    if (hit) return hit;
  }
  return undefined;
}

/** The first window of `secret` found in `haystack` (raw, then inside compressed sections), if any. */
export function findSecret(
  haystack: Haystack,
  secret: Uint8Array,
  options: SecretSearchOptions = {},
): SecretHit | undefined {
  const t = windowTable(secret, options.window ?? DEFAULT_WINDOW);
  return searchLayers(joined(haystack), t, options.decompress ?? true, 'raw', 0);
}

/**
 * Low-entropy filler (letters of a 4-symbol alphabet from a fixed LCG): a compressor entropy-codes the
 * literals around a planted window, so the window is not stored verbatim in the compressed control.
 */
function filler(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = 0x41 + (x >>> 30);
  }
  return out;
}

function joined(h: Haystack): Uint8Array {
  return h instanceof Uint8Array ? h : concatBytes(h);
}

/** A copy of `hay` with `insert` placed in its middle. */
function plantIn(hay: Uint8Array, insert: Uint8Array): Uint8Array {
  const mid = hay.length >> 1;
  return concatBytes([hay.subarray(0, mid), insert, hay.subarray(mid)]);
}

/**
 * Throw unless the search is shown to work on this haystack and secret (positive controls) and then finds
 * no window of `secret` in `haystack`. `label` names the haystack in the error.
 */
export function expectNoSecret(
  bytes: Haystack,
  secret: Uint8Array,
  label: string,
  options: Omit<SecretSearchOptions, 'decompress'> = {},
): void {
  const haystack = joined(bytes);
  const t = windowTable(secret, options.window ?? DEFAULT_WINDOW);
  const w = t.w;
  const fail = (what: string): never => {
    throw new Error(`expectNoSecret(${label}): ${what}`);
  };
  const hit = searchLayers(haystack, t, true, 'raw', 0);
  if (hit !== undefined) {
    fail(
      `holds bytes ${hit.secretOffset}..${hit.secretOffset + w} of the secret at offset ${hit.offset} (${hit.layer})`,
    );
  }
  // Positive controls on copies of the haystack: three windows at different offsets of the secret (the
  // middle, the last, the first), as plain bytes, in a zstd frame, in a zlib stream.
  const mid = (secret.length - w) >> 1;
  const windowAt = (o: number) => secret.subarray(o, o + w);
  const plain = plantIn(haystack, windowAt(mid));
  const hitPlain = searchLayers(plain, t, false, 'raw', 0);
  if (hitPlain === undefined) fail('control: a window planted as plain bytes was not found');
  const compressedControls: [string, Uint8Array][] = [
    ['zstd', zstdCompressSync(concatBytes([filler(4096, 1), windowAt(secret.length - w), filler(4096, 2)]))],
    ['zlib', deflateSync(concatBytes([filler(4096, 3), windowAt(0), filler(4096, 4)]))],
  ];
  for (const [kind, frame] of compressedControls) {
    if (searchRaw(frame, t) !== undefined)
      fail(`control: the ${kind} control holds a window verbatim, so it would not test decompression`);
    const planted = plantIn(haystack, frame);
    const hit = searchLayers(planted, t, true, 'raw', 0);
    if (hit === undefined || !hit.layer.startsWith(kind))
      fail(`control: a window planted inside a ${kind} section was not found`);
  }
}
