/**
 * The Paillier backend of the additive interface (additive.ts): Paillier (1999) over paillier-bigint with
 * signed fixed-point encoding: x -> round(x 2^f) mod n, negatives as n - |m|; products with plaintexts
 * add f fraction bits (tracked per ciphertext as an exponent); values decode as signed (m > n/2 is
 * negative). Exact on the encoded values. This is the scheme FATE's hetero-LR uses; it is here as the
 * baseline every protocol is timed against.
 */
import { type CryptoRng, cryptoRng, FedscoreError, requireCryptoRng } from '@fedscore/core';
import { generateRandomKeys, PrivateKey, PublicKey } from 'paillier-bigint';
import { checkScalar, mismatch, toF64 } from './additive-input.ts';
import {
  BLOB_KIND,
  decodeBlob,
  encodeBlob,
  fingerprintOf,
  metaInt,
  packSections,
  unpackSections,
} from './blob.ts';
import { hePolicy, warnWeak } from './policy.ts';
import { PAILLIER_MIN_SECURE_BITS } from './presets.ts';
import type {
  AdditiveCiphertext,
  AdditiveHePublic,
  AdditiveHeSecret,
  ExactMask,
  ExactMasking,
  HeLoadOptions,
  PaillierOptions,
} from './types.ts';

class PaillierCiphertext implements AdditiveCiphertext {
  readonly scheme = 'paillier' as const;
  readonly values: bigint[];
  /** Number of 2^f fixed-point factors in the encoded values. */
  readonly exponent: number;
  readonly owner: string;
  constructor(values: bigint[], exponent: number, owner: string) {
    this.values = values;
    this.exponent = exponent;
    this.owner = owner;
  }
  get length(): number {
    return this.values.length;
  }
  dispose(): void {}
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n)
    throw new FedscoreError('he_error', 'value not invertible modulo n^2', { field: 'ciphertext' });
  return ((oldS % m) + m) % m;
}

function bigToBytes(x: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let v = x;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new FedscoreError('internal', 'bigint wider than its field');
  return out;
}

function bytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function paillierSecurityBits(bits: number): number {
  // NIST SP 800-57 Part 1, Table 2 (factoring-based): 1024 -> 80, 2048 -> 112, 3072 -> 128.
  if (bits >= 3072) return 128;
  if (bits >= 2048) return 112;
  if (bits >= 1024) return 80;
  return 0;
}

/** A Paillier mask: the residues R_i (secret, never sent) and the fixed-point exponent they apply at. */
interface PaillierMask extends ExactMask {
  readonly residues: readonly bigint[];
  readonly exponent: number;
  readonly owner: string;
}

export class PaillierAdditive implements AdditiveHeSecret {
  readonly scheme = 'paillier' as const;
  readonly slotCount = Number.MAX_SAFE_INTEGER;
  readonly insecure: boolean;
  readonly securityBits: number;
  readonly fingerprint: string;
  readonly description: string;
  readonly pub: PublicKey;
  readonly #priv: PrivateKey | undefined;
  readonly fractionBits: number;
  readonly #n2: bigint;
  readonly #half: bigint;
  readonly #width: number;
  readonly #rng = cryptoRng();

  constructor(pub: PublicKey, priv: PrivateKey | undefined, fractionBits: number, insecure: boolean) {
    if (pub.g !== pub.n + 1n) {
      throw new FedscoreError('invalid_argument', 'Paillier keys must use g = n + 1', { field: 'publicKey' });
    }
    this.pub = pub;
    this.#priv = priv;
    this.fractionBits = fractionBits;
    this.insecure = insecure;
    const bits = pub.bitLength;
    this.securityBits = paillierSecurityBits(bits);
    this.fingerprint = fingerprintOf(['paillier', pub.n.toString(16), String(fractionBits)]);
    this.description = `Paillier ${bits}-bit, ${fractionBits} fraction bits${insecure ? ' INSECURE' : ''}`;
    this.#n2 = pub.n * pub.n;
    this.#half = pub.n / 2n;
    this.#width = Math.ceil((2 * bits) / 8) + 1;
  }

  #own(a: AdditiveCiphertext, field = 'ciphertext'): PaillierCiphertext {
    if (!(a instanceof PaillierCiphertext) || a.owner !== this.fingerprint) throw mismatch(field);
    return a;
  }

  /** round(x * 2^(f*exponent)) as a residue mod n. */
  #encode(x: number, exponent: number): bigint {
    const scaled =
      BigInt(Math.round(x * 2 ** this.fractionBits)) << BigInt(this.fractionBits * (exponent - 1));
    if (scaled >= this.#half || -scaled >= this.#half) {
      throw new FedscoreError('out_of_range', 'value too large for the fixed-point encoding', {
        field: 'values',
      });
    }
    return scaled < 0n ? this.pub.n + scaled : scaled;
  }

  /** Enc(m) = (1 + m n) r^n mod n^2 (g = n + 1, so g^m needs no exponentiation). */
  #enc(m: bigint): bigint {
    const n = this.pub.n;
    let r = 0n;
    while (r === 0n) r = bytesToBig(this.#rng.fillBytes(new Uint8Array(this.#width))) % n;
    return (((1n + m * n) % this.#n2) * this.pub.multiply(r, n)) % this.#n2;
  }

  /** c^k for a signed integer k (negative: inverse of c^|k|). k = 0: a fresh encryption of 0. */
  #pow(c: bigint, k: bigint): bigint {
    if (k === 0n) return this.#enc(0n);
    if (k > 0n) return this.pub.multiply(c, k);
    return modInverse(this.pub.multiply(c, -k), this.#n2);
  }

  #raise(a: PaillierCiphertext, exponent: number): bigint[] {
    if (a.exponent === exponent) return a.values;
    const k = 1n << BigInt(this.fractionBits * (exponent - a.exponent));
    return a.values.map((c) => this.pub.multiply(c, k));
  }

  encrypt(values: ArrayLike<number>): AdditiveCiphertext {
    const v = toF64(values, 'values');
    return new PaillierCiphertext(
      Array.from(v, (x) => this.#enc(this.#encode(x, 1))),
      1,
      this.fingerprint,
    );
  }
  #addSub(a: AdditiveCiphertext, b: AdditiveCiphertext, subtract: boolean): AdditiveCiphertext {
    const x = this.#own(a, 'a');
    const y = this.#own(b, 'b');
    if (x.length !== y.length) {
      throw new FedscoreError('invalid_argument', `lengths differ (${x.length} vs ${y.length})`, {
        field: 'b',
      });
    }
    const e = Math.max(x.exponent, y.exponent);
    const xs = this.#raise(x, e);
    const ys = this.#raise(y, e);
    const n2 = this.#n2;
    return new PaillierCiphertext(
      xs.map((c, i) => (c * (subtract ? modInverse(ys[i]!, n2) : ys[i]!)) % n2),
      e,
      this.fingerprint,
    );
  }
  add(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext {
    return this.#addSub(a, b, false);
  }
  sub(a: AdditiveCiphertext, b: AdditiveCiphertext): AdditiveCiphertext {
    return this.#addSub(a, b, true);
  }
  addPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    return new PaillierCiphertext(
      x.values.map(
        (c, i) => (c * ((1n + this.#encode(v[i]!, x.exponent) * this.pub.n) % this.#n2)) % this.#n2,
      ),
      x.exponent,
      this.fingerprint,
    );
  }
  #fixed(s: number): bigint {
    return BigInt(Math.round(s * 2 ** this.fractionBits));
  }
  mulScalar(a: AdditiveCiphertext, scalar: number): AdditiveCiphertext {
    const x = this.#own(a);
    const k = this.#fixed(checkScalar(scalar));
    return new PaillierCiphertext(
      x.values.map((c) => this.#pow(c, k)),
      x.exponent + 1,
      this.fingerprint,
    );
  }
  mulPlain(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    return new PaillierCiphertext(
      x.values.map((c, i) => this.#pow(c, this.#fixed(v[i]!))),
      x.exponent + 1,
      this.fingerprint,
    );
  }
  sum(a: AdditiveCiphertext): AdditiveCiphertext {
    const x = this.#own(a);
    let acc = this.pub.addition(this.#enc(0n), ...x.values);
    acc %= this.#n2;
    return new PaillierCiphertext([acc], x.exponent, this.fingerprint);
  }
  #dotValues(x: PaillierCiphertext, v: Float64Array): bigint {
    // Positive and negative weights apart: one modular inverse per dot product instead of one per term.
    let pos = 1n;
    let neg = 1n;
    const n2 = this.#n2;
    for (let i = 0; i < x.values.length; i++) {
      const k = this.#fixed(v[i]!);
      if (k > 0n) pos = (pos * this.pub.multiply(x.values[i]!, k)) % n2;
      else if (k < 0n) neg = (neg * this.pub.multiply(x.values[i]!, -k)) % n2;
    }
    // Re-randomize: all-zero weights would otherwise give the trivial encryption 1.
    const r = this.#enc(0n);
    return (((pos * (neg === 1n ? 1n : modInverse(neg, n2))) % n2) * r) % n2;
  }
  dot(a: AdditiveCiphertext, values: ArrayLike<number>): AdditiveCiphertext {
    const x = this.#own(a);
    const v = toF64(values, 'values', x.length);
    return new PaillierCiphertext([this.#dotValues(x, v)], x.exponent + 1, this.fingerprint);
  }
  dotColumns(a: AdditiveCiphertext, columns: readonly ArrayLike<number>[]): AdditiveCiphertext {
    const x = this.#own(a);
    const cols = columns.map((c, j) => toF64(c, `columns[${j}]`, x.length));
    return new PaillierCiphertext(
      cols.map((c) => this.#dotValues(x, c)),
      x.exponent + 1,
      this.fingerprint,
    );
  }
  serializeCiphertext(a: AdditiveCiphertext): Uint8Array {
    const x = this.#own(a);
    return encodeBlob({
      kind: BLOB_KIND.additiveCiphertext,
      scheme: 'paillier',
      insecure: this.insecure,
      fingerprint: this.fingerprint,
      meta: { length: x.length, exponent: x.exponent, width: this.#width },
      payload: packSections(x.values.map((c) => bigToBytes(c, this.#width))),
    });
  }
  deserializeCiphertext(bytes: Uint8Array): AdditiveCiphertext {
    const blob = decodeBlob(bytes, BLOB_KIND.additiveCiphertext, this.fingerprint);
    const parts = unpackSections(blob.payload, metaInt(blob.meta, 'length'), 'ciphertext parts');
    const values = parts.map((p) => {
      const c = bytesToBig(p);
      if (c <= 0n || c >= this.#n2) throw new FedscoreError('he_corrupt', 'Paillier ciphertext out of range');
      return c;
    });
    return new PaillierCiphertext(values, metaInt(blob.meta, 'exponent'), this.fingerprint);
  }
  serializePublic(): Uint8Array {
    return encodeBlob({
      kind: BLOB_KIND.publicContext,
      scheme: 'paillier',
      insecure: this.insecure,
      fingerprint: this.fingerprint,
      meta: { fractionBits: this.fractionBits, n: this.pub.n.toString(16) },
      payload: new Uint8Array(0),
    });
  }
  #privKey(): PrivateKey {
    if (this.#priv === undefined) {
      throw new FedscoreError('unsupported', 'this is a public context: it cannot decrypt', {
        field: 'context',
      });
    }
    return this.#priv;
  }
  decrypt(a: AdditiveCiphertext): Float64Array {
    const x = this.#own(a);
    const priv = this.#privKey();
    const div = 2 ** (this.fractionBits * x.exponent);
    return Float64Array.from(x.values, (c) => {
      let m = priv.decrypt(c);
      if (m > this.#half) m -= this.pub.n;
      return Number(m) / div;
    });
  }
  decryptForRelease(a: AdditiveCiphertext): Float64Array {
    // Paillier decryption is exact: it reveals the plaintext and nothing about the key.
    return this.decrypt(a);
  }
  decryptResidues(a: AdditiveCiphertext): Uint8Array[] {
    const x = this.#own(a);
    const priv = this.#privKey();
    return x.values.map((c) => bigToBytes(priv.decrypt(c), this.#residueWidth));
  }
  get #residueWidth(): number {
    return Math.ceil(this.pub.bitLength / 8);
  }
  /** Uniform in [0, n) by rejection from `rng` (one draw of the modulus' width, top bits masked). */
  #uniformModN(rng: CryptoRng): bigint {
    const n = this.pub.n;
    const bits = this.pub.bitLength;
    const bytes = new Uint8Array(Math.ceil(bits / 8));
    const top = bits % 8 === 0 ? 0xff : (1 << (bits % 8)) - 1;
    for (;;) {
      rng.fillBytes(bytes);
      bytes[0]! &= top;
      const r = bytesToBig(bytes);
      if (r < n) return r;
    }
  }
  readonly exact: ExactMasking = {
    addUniformMask: (a, rng) => {
      const x = this.#own(a);
      const r = requireCryptoRng(rng, 'rng');
      const n = this.pub.n;
      const residues = x.values.map(() => this.#uniformModN(r));
      // Enc(m) * g^R = Enc(m + R mod n); g = n + 1, so g^R = 1 + R n mod n^2.
      const masked = x.values.map((c, i) => (c * ((1n + residues[i]! * n) % this.#n2)) % this.#n2);
      const mask: PaillierMask = {
        length: residues.length,
        residues,
        exponent: x.exponent,
        owner: this.fingerprint,
      };
      return { masked: new PaillierCiphertext(masked, x.exponent, this.fingerprint), mask };
    },
    unmaskResidues: (bytes, mask) => {
      const m = mask as PaillierMask;
      if (m.owner !== this.fingerprint || !Array.isArray(m.residues)) throw mismatch('mask');
      if (!Array.isArray(bytes) || bytes.length !== m.length) {
        throw new FedscoreError('wire_decode', `expected ${m.length} residues`, { field: 'residues' });
      }
      const n = this.pub.n;
      const div = 2 ** (this.fractionBits * m.exponent);
      return Float64Array.from(bytes, (b, i) => {
        if (!(b instanceof Uint8Array) || b.length !== this.#residueWidth) {
          throw new FedscoreError('wire_decode', `residue ${i}: expected ${this.#residueWidth} bytes`, {
            field: 'residues',
          });
        }
        const v = bytesToBig(b);
        if (v >= n)
          throw new FedscoreError('wire_decode', `residue ${i} out of range`, { field: 'residues' });
        let x = (v - m.residues[i]! + n) % n;
        if (x > this.#half) x -= n;
        return Number(x) / div;
      });
    },
  };
  toPublic(): AdditiveHePublic {
    return new PaillierAdditive(this.pub, undefined, this.fractionBits, this.insecure);
  }
  serializeSecret(): Uint8Array {
    const priv = this.#privKey();
    return encodeBlob({
      kind: BLOB_KIND.secretContext,
      scheme: 'paillier',
      insecure: this.insecure,
      fingerprint: this.fingerprint,
      meta: {
        fractionBits: this.fractionBits,
        n: this.pub.n.toString(16),
        lambda: priv.lambda.toString(16),
        mu: priv.mu.toString(16),
        // p and q let decryption use the CRT (about 3x faster).
        p: (priv as unknown as { _p: bigint })._p.toString(16),
        q: (priv as unknown as { _q: bigint })._q.toString(16),
      },
      payload: new Uint8Array(0),
    });
  }
  dispose(): void {}
}

/**
 * A new Paillier key set. Defaults to 2048 bits; below needs `allowWeakParameters`. Weak parameters
 * always warn (policy.ts).
 */
export async function createPaillier(o: PaillierOptions): Promise<PaillierAdditive> {
  const bits = o.bits ?? 2048;
  if (!Number.isInteger(bits) || bits < 512 || bits > 8192) {
    throw new FedscoreError('out_of_range', 'Paillier bits must be an integer in [512, 8192]', {
      field: 'bits',
    });
  }
  if (bits < PAILLIER_MIN_SECURE_BITS && !hePolicy(o).allowWeakParameters) {
    throw new FedscoreError(
      'he_insecure_params',
      `Paillier-${bits} is below ${PAILLIER_MIN_SECURE_BITS} bits; pass { allowWeakParameters: true } only for comparisons`,
      { field: 'bits' },
    );
  }
  const f = o.fractionBits ?? 32;
  if (!Number.isInteger(f) || f < 1 || f > 64) {
    throw new FedscoreError('out_of_range', 'fractionBits must be an integer in [1, 64]', {
      field: 'fractionBits',
    });
  }
  // Simple variant: g = n + 1, lambda = phi(n), mu = phi(n)^-1 mod n (Paillier 1999, section 4).
  const { publicKey, privateKey } = await generateRandomKeys(bits, true);
  const insecure = bits < PAILLIER_MIN_SECURE_BITS;
  if (insecure) warnWeak(o.logger, 'HE context with INSECURE parameters', { scheme: 'paillier', bits });
  return new PaillierAdditive(publicKey, privateKey, f, insecure);
}

/** Meta fields of a Paillier context blob: public ones, and those only a secret context may carry. */
const PAILLIER_PUBLIC_META = ['fractionBits', 'n'];
const PAILLIER_SECRET_META = ['lambda', 'mu', 'p', 'q'];

/**
 * Load a Paillier context, judging the key by itself (issue 11, finding 8): the modulus size is read
 * from n, never from the sender's `insecure` flag, refused below 2048 bits unless the receiver allows
 * weak parameters, and checked against the plan's size when the receiver states one.
 */
export function loadPaillier(bytes: Uint8Array, secret: boolean, options: HeLoadOptions): PaillierAdditive {
  const blob = decodeBlob(bytes, secret ? BLOB_KIND.secretContext : BLOB_KIND.publicContext);
  const policy = hePolicy(options);
  for (const k of Object.keys(blob.meta)) {
    if (PAILLIER_PUBLIC_META.includes(k)) continue;
    if (PAILLIER_SECRET_META.includes(k)) {
      if (secret) continue;
      throw new FedscoreError(
        'he_corrupt',
        `a public Paillier context carries secret key material ('${k}')`,
        {
          field: 'secretKey',
        },
      );
    }
    throw new FedscoreError('he_corrupt', `unknown Paillier context field '${k}'`, { field: `meta.${k}` });
  }
  const hex = (k: string): bigint => {
    const v = blob.meta[k];
    if (typeof v !== 'string' || !/^[0-9a-f]+$/.test(v))
      throw new FedscoreError('he_corrupt', `meta '${k}'`, { field: k === 'n' || !secret ? k : 'secretKey' });
    return BigInt(`0x${v}`);
  };
  const n = hex('n');
  if (n < 3n || n % 2n === 0n)
    throw new FedscoreError('he_corrupt', 'a Paillier modulus is odd', { field: 'n' });
  const pub = new PublicKey(n, n + 1n);
  const bits = pub.bitLength;
  const expected = options.expected?.paillierBits;
  if (expected !== undefined && bits !== expected) {
    throw new FedscoreError(
      'he_context_mismatch',
      `the peer's Paillier key has a ${bits}-bit modulus, the plan says ${expected} bits`,
      { field: 'n', details: { bits, expected } },
    );
  }
  const insecure = bits < PAILLIER_MIN_SECURE_BITS;
  if (insecure && !policy.allowWeakParameters) {
    throw new FedscoreError(
      'he_insecure_params',
      `the peer's Paillier key has a ${bits}-bit modulus, below ${PAILLIER_MIN_SECURE_BITS} bits (its sender's insecure flag is not what decides: allowWeakParameters is)`,
      { field: 'n', details: { bits, min: PAILLIER_MIN_SECURE_BITS } },
    );
  }
  if (blob.insecure !== insecure) {
    throw new FedscoreError('he_corrupt', "the blob's insecure flag contradicts its modulus size", {
      field: 'flags.insecure',
    });
  }
  const f = metaInt(blob.meta, 'fractionBits');
  if (f < 1 || f > 64)
    throw new FedscoreError('he_corrupt', 'fractionBits outside [1, 64]', { field: 'fractionBits' });
  let priv: PrivateKey | undefined;
  if (secret) {
    const p = hex('p');
    const q = hex('q');
    if (p * q !== n) throw new FedscoreError('he_corrupt', 'p q is not n', { field: 'secretKey' });
    priv = new PrivateKey(hex('lambda'), hex('mu'), pub, p, q);
  }
  const he = new PaillierAdditive(pub, priv, f, insecure);
  if (he.fingerprint !== blob.fingerprint)
    throw new FedscoreError('he_corrupt', 'Paillier fingerprint', { field: 'fingerprint' });
  if (insecure)
    warnWeak(policy.logger, 'loaded an HE context with INSECURE parameters', { scheme: 'paillier', bits });
  return he;
}
