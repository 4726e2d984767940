/**
 * Key-derived cryptographic generators: a 256-bit secret, a label and a context (job, party, epoch,
 * batch, digests, ...) determine a ChaCha20 keystream. Whoever holds the secret can re-derive the same
 * stream (a resumed training run repeats an epoch's masks exactly); nobody else can predict a bit of it.
 *
 * Construction (libsodium, the same library PSI uses):
 *   subkey = BLAKE2b-256(key = secret, message = "fedscore/keyed-rng/1" || enc(label) || enc(context))
 *   stream = ChaCha20-IETF(subkey, nonce = 0^96, counter = 0, 1, 2, ...)      (RFC 8439 keystream)
 * `enc` length-prefixes every field (4-byte little-endian length) and sorts the context by name, so two
 * different contexts never encode to the same message. BLAKE2b keyed with a uniform 256-bit secret is a
 * PRF (Aumasson et al., "BLAKE2", 2013; RFC 7693), so each context gets an independent uniform subkey;
 * since a subkey is used for exactly one stream, the all-zero nonce is never reused under one key.
 *
 * Why not the seeded generator: `seededRng` squeezes its seed into 32 bits (FNV-1a) and xoshiro128**'s
 * state is recoverable from a few outputs -- a 2^32 search recovered hetero-LR masks in ~30 s per core
 * (issue 11; packages/vfl/test/attacks/mask-seed-brute-force.attack.test.ts).
 */
import sodium from 'libsodium-wrappers-sumo';
import { lengthPrefixed } from './bytes.ts';
import { FedscoreError } from './errors.ts';
import { brandCryptoRng, type CryptoRng } from './rng.ts';

/** Bytes of a generator secret: 256 bits. */
export const RNG_KEY_BYTES = 32;

/** A context field: a name and a string, a non-negative safe integer or bytes (e.g. a digest). */
export type RngContext = Readonly<Record<string, string | number | Uint8Array>>;

/** A loaded 256-bit secret from which cryptographic generators are derived. Never serialize it. */
export interface RngKey {
  /**
   * A one-way fingerprint of the secret (BLAKE2b-128, hex): lets a party check that a stored
   * checkpoint was made under the same secret without storing the secret. Not a secret, but keep it
   * local (it identifies the key).
   */
  readonly id: string;
  /** The generator of (label, context): the same arguments always give the same stream. */
  derive(label: string, context?: RngContext): CryptoRng;
}

const DOMAIN = 'fedscore/keyed-rng/1';
const ID_DOMAIN = 'fedscore/keyed-rng/key-id/1';
/** Keystream bytes produced per refill (a multiple of the 64-byte ChaCha20 block). */
const CHUNK = 1024;

let ready: Promise<void> | undefined;

/** Load libsodium's WASM once per thread (idempotent). */
export function keyedRngReady(): Promise<void> {
  ready ??= sodium.ready;
  return ready;
}

/**
 * Load a 256-bit secret (exactly `RNG_KEY_BYTES` bytes, from a CSPRNG: e.g. `cryptoRng().fillBytes`).
 * The bytes are copied; a secret of another length, or one whose bytes are all equal (an unset
 * buffer), is `FedscoreError('invalid_argument')` naming `field`.
 */
export async function loadRngKey(secret: Uint8Array, field = 'secret'): Promise<RngKey> {
  if (!(secret instanceof Uint8Array) || secret.length !== RNG_KEY_BYTES) {
    throw new FedscoreError(
      'invalid_argument',
      `expected a ${RNG_KEY_BYTES * 8}-bit secret (${RNG_KEY_BYTES} bytes)`,
      {
        field,
      },
    );
  }
  if (secret.every((b) => b === secret[0])) {
    throw new FedscoreError('invalid_argument', 'the secret is constant bytes, not random', { field });
  }
  await keyedRngReady();
  const key = Uint8Array.from(secret);
  const id = sodium.crypto_generichash(16, encodeFields([ID_DOMAIN]), key, 'hex');
  return {
    id,
    derive(label: string, context: RngContext = {}): CryptoRng {
      if (typeof label !== 'string' || label.length === 0) {
        throw new FedscoreError('invalid_argument', 'a generator label is a non-empty string', {
          field: 'label',
        });
      }
      const subkey = sodium.crypto_generichash(
        32,
        encodeFields([DOMAIN, label, ...contextFields(context)]),
        key,
      );
      return chachaStream(subkey);
    },
  };
}

function chachaStream(subkey: Uint8Array): CryptoRng {
  const nonce = new Uint8Array(12);
  const zeros = new Uint8Array(CHUNK);
  let block = 0; // ChaCha20 block counter of the next refill
  let buf: Uint8Array = new Uint8Array(0);
  let pos = 0;
  const refill = (): void => {
    buf = sodium.crypto_stream_chacha20_ietf_xor_ic(zeros, nonce, block, subkey);
    block += CHUNK / 64;
    if (block > 0xffffffff - CHUNK / 64) {
      // 2^38 bytes: no run comes close; refuse rather than wrap the counter.
      throw new FedscoreError('internal', 'keyed generator exhausted', { field: 'rng' });
    }
    pos = 0;
  };
  const byte = (): number => {
    if (pos >= buf.length) refill();
    return buf[pos++]!;
  };
  return brandCryptoRng({
    nextUint32(): number {
      if (pos + 4 > buf.length) {
        const x = byte() | (byte() << 8) | (byte() << 16) | (byte() << 24);
        return x >>> 0;
      }
      const x = buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24);
      pos += 4;
      return x >>> 0;
    },
    fillBytes(out: Uint8Array): Uint8Array {
      let off = 0;
      while (off < out.length) {
        if (pos >= buf.length) refill();
        const n = Math.min(out.length - off, buf.length - pos);
        out.set(buf.subarray(pos, pos + n), off);
        pos += n;
        off += n;
      }
      return out;
    },
  });
}

function contextFields(context: RngContext): (string | Uint8Array)[] {
  if (typeof context !== 'object' || context === null) {
    throw new FedscoreError('invalid_argument', 'expected a context object', { field: 'context' });
  }
  const out: (string | Uint8Array)[] = [];
  for (const name of Object.keys(context).sort()) {
    const v = context[name];
    out.push(name);
    if (typeof v === 'string') out.push(`s:${v}`);
    else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) out.push(`n:${v}`);
    else if (v instanceof Uint8Array)
      out.push(Uint8Array.of(0x62, 0x3a, ...v)); // 'b:' + bytes
    else {
      throw new FedscoreError('invalid_argument', 'a context value is a string, a count or bytes', {
        field: `context.${name}`,
      });
    }
  }
  return out;
}

const utf8 = new TextEncoder();

/** Length-prefixed fields (`lengthPrefixed`): injective on field lists. */
function encodeFields(fields: readonly (string | Uint8Array)[]): Uint8Array {
  return lengthPrefixed(fields.map((f) => (typeof f === 'string' ? utf8.encode(f) : f)));
}
