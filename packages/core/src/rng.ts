/**
 * Random number generators. Every randomized function in fedscore takes an `Rng` so that tests are exact:
 * pass `seededRng(seed)` for reproducible data and tests; anything secret (keys, masks, flooding noise,
 * blinding scalars, shuffles that hide positions) takes a `CryptoRng`: `cryptoRng()` (the platform
 * CSPRNG) or a generator derived from a 256-bit secret (`loadRngKey(...).derive(...)`, keyed-rng.ts),
 * which is reproducible for whoever holds the secret and unpredictable for everyone else.
 *
 * The two kinds are distinct types: a `SeededRng` does not type-check where a `CryptoRng` is required,
 * and `requireCryptoRng` refuses at run time anything that core's own cryptographic constructors did
 * not make (an object that merely claims `cryptographic: true` included).
 */
import { FedscoreError } from './errors.ts';

export interface Rng {
  /** True only for the cryptographic generators; secret material must check this (`requireCryptoRng`). */
  readonly cryptographic: boolean;
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** Fill `out` with uniform random bytes and return it. */
  fillBytes(out: Uint8Array): Uint8Array;
}

declare const CRYPTO_RNG_BRAND: unique symbol;

/** A cryptographic generator (made only by `cryptoRng()` or a `RngKey`): the only Rng secrets may use. */
export interface CryptoRng extends Rng {
  readonly cryptographic: true;
  readonly [CRYPTO_RNG_BRAND]: true;
}

/** A reproducible, NON-cryptographic generator (xoshiro128**): data, shuffles of public values, tests. */
export interface SeededRng extends Rng {
  readonly cryptographic: false;
}

/** Every generator core's cryptographic constructors made (the run-time half of the brand). */
const cryptoGenerators = new WeakSet<object>();

/** Register a generator as cryptographic. Internal to core (cryptoRng, keyed-rng.ts). */
export function brandCryptoRng(rng: Omit<Rng, 'cryptographic'>): CryptoRng {
  const branded = Object.freeze({ ...rng, cryptographic: true as const });
  cryptoGenerators.add(branded);
  return branded as unknown as CryptoRng;
}

/** True when `rng` is one of core's cryptographic generators. */
export function isCryptoRng(rng: unknown): rng is CryptoRng {
  return typeof rng === 'object' && rng !== null && cryptoGenerators.has(rng);
}

/**
 * `rng` if it is a cryptographic generator; otherwise `FedscoreError('insecure_rng')` naming `field`.
 * Masks, flooding noise and keys call this on whatever they were handed (a seeded generator, or any
 * object claiming `cryptographic: true`, is refused).
 */
export function requireCryptoRng(rng: unknown, field: string): CryptoRng {
  if (!isCryptoRng(rng)) {
    throw new FedscoreError(
      'insecure_rng',
      'a secret value needs a cryptographic generator (cryptoRng() or a key-derived one), not a seeded one',
      { field },
    );
  }
  return rng;
}

const TWO_POW_32 = 4294967296;

/** Uniform double in [0, 1) with 53 random bits. */
export function uniform(rng: Rng): number {
  const hi = rng.nextUint32() >>> 5; // 27 bits
  const lo = rng.nextUint32() >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/** Uniform integer in [0, n), without modulo bias. */
export function uniformInt(rng: Rng, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) throw new RangeError(`uniformInt: bad bound ${n}`);
  const limit = TWO_POW_32 - (TWO_POW_32 % n);
  for (;;) {
    const x = rng.nextUint32();
    if (x < limit) return x % n;
  }
}

/** Standard normal deviate (Box-Muller). */
export function normal(rng: Rng, mean = 0, sd = 1): number {
  let u = 0;
  while (u === 0) u = uniform(rng);
  const v = uniform(rng);
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fisher-Yates shuffle in place. */
export function shuffleInPlace<T>(rng: Rng, items: T[] | Int32Array | Uint32Array | Float64Array): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = uniformInt(rng, i + 1);
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t as never;
  }
}

/** A random permutation of 0..n-1. */
export function permutation(rng: Rng, n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  shuffleInPlace(rng, p);
  return p;
}

/**
 * A label-stratified hold-out: for class 0 then class 1, the positions of that class (in order) are
 * shuffled with `rng` and the first round(fraction x class size) are held out. Returns the held-out
 * positions, ascending. The one hold-out of the code base: the pipeline's train/test split and
 * hetero-LR's validation rows both draw it, each from its own seeded generator.
 */
export function stratifiedHoldout(labels: ArrayLike<number>, fraction: number, rng: Rng): Uint32Array {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new FedscoreError('out_of_range', `a hold-out fraction must be in [0, 1), got ${fraction}`, {
      field: 'fraction',
    });
  }
  const out: number[] = [];
  if (fraction === 0) return new Uint32Array(0);
  for (const cls of [0, 1]) {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) idx.push(i);
    shuffleInPlace(rng, idx);
    for (let k = 0; k < Math.round(fraction * idx.length); k++) out.push(idx[k]!);
  }
  return Uint32Array.from(out.sort((a, b) => a - b));
}

/**
 * Seeded generator: xoshiro128** (Blackman & Vigna 2018) with its state filled by splitmix32 from the
 * seed. Fast and statistically good; NOT for secrets.
 */
export function seededRng(seed: number | string): SeededRng {
  let s = typeof seed === 'number' ? seed >>> 0 : hashString(seed);
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  if ((a | b | c | d) === 0) a = 1;
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return {
    cryptographic: false as const,
    nextUint32: next,
    fillBytes(out: Uint8Array): Uint8Array {
      for (let i = 0; i < out.length; i += 4) {
        const x = next();
        out[i] = x & 0xff;
        if (i + 1 < out.length) out[i + 1] = (x >>> 8) & 0xff;
        if (i + 2 < out.length) out[i + 2] = (x >>> 16) & 0xff;
        if (i + 3 < out.length) out[i + 3] = x >>> 24;
      }
      return out;
    },
  };
}

/** Derive an independent seeded stream, e.g. one per party, from a parent seed and a label. */
export function deriveSeed(seed: number | string, label: string): string {
  return `${seed}/${label}`;
}

/** The platform CSPRNG (Web Crypto, available in Node 22 and browsers). */
export function cryptoRng(): CryptoRng {
  const buf = new Uint32Array(256);
  let pos = buf.length;
  return brandCryptoRng({
    nextUint32(): number {
      if (pos >= buf.length) {
        globalThis.crypto.getRandomValues(buf);
        pos = 0;
      }
      return buf[pos++]!;
    },
    fillBytes(out: Uint8Array): Uint8Array {
      for (let off = 0; off < out.length; off += 65536) {
        globalThis.crypto.getRandomValues(
          out.subarray(off, Math.min(out.length, off + 65536)) as Uint8Array<ArrayBuffer>,
        );
      }
      return out;
    },
  });
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a 32-bit, to turn string seeds into numbers. */
function hashString(str: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
