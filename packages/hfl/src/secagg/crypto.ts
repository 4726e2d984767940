/**
 * The symmetric and key-agreement pieces of secure aggregation, all from libsodium:
 *   - X25519 key pairs (`crypto_scalarmult_base`) from the caller's cryptographic generator;
 *   - key agreement: X25519(sk_u, pk_v) hashed with BLAKE2b (`crypto_generichash`) together with both
 *     public keys (lower index first) and a purpose label, so the mask key and the share-encryption key
 *     of a pair are independent and both ends derive the same bytes;
 *   - the pseudorandom generator that expands a 32-byte seed into a mask: the ChaCha20 keystream
 *     (`crypto_stream_chacha20`, fresh keys every session, so a fixed nonce is safe), read as
 *     little-endian 64-bit words;
 *   - authenticated encryption of the shares between two clients through the server:
 *     XSalsa20-Poly1305 (`crypto_secretbox_easy`) with a random nonce.
 */
import { FedscoreError, type Rng, requireCryptoRng } from '@fedscore/core';
import sodium from 'libsodium-wrappers-sumo';

let ready: Promise<void> | undefined;
/** Load libsodium's WASM once. */
export function secAggReady(): Promise<void> {
  ready ??= sodium.ready;
  return ready;
}

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export function generateKeyPair(rng: Rng): KeyPair {
  requireCryptoRng(rng, 'rng');
  const secretKey = rng.fillBytes(new Uint8Array(KEY_BYTES));
  return { publicKey: sodium.crypto_scalarmult_base(secretKey), secretKey };
}

export type AgreementPurpose = 'mask' | 'share-encryption';

/** The 32-byte key both u and v derive: BLAKE2b(purpose ‖ X25519(sk_u, pk_v) ‖ pk_low ‖ pk_high). */
export function agreeKey(
  secretKey: Uint8Array,
  ownPublic: Uint8Array,
  ownIndex: number,
  peerPublic: Uint8Array,
  peerIndex: number,
  purpose: AgreementPurpose,
): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = sodium.crypto_scalarmult(secretKey, peerPublic);
  } catch (e) {
    throw new FedscoreError('wire_decode', 'a peer public key is a low-order point', {
      field: 'publicKey',
      cause: e,
    });
  }
  const [lo, hi] = ownIndex < peerIndex ? [ownPublic, peerPublic] : [peerPublic, ownPublic];
  const label = new TextEncoder().encode(`fedscore.hfl.secagg.${purpose}.v1`);
  const input = new Uint8Array(label.length + 3 * KEY_BYTES);
  input.set(label, 0);
  input.set(shared, label.length);
  input.set(lo, label.length + KEY_BYTES);
  input.set(hi, label.length + 2 * KEY_BYTES);
  return sodium.crypto_generichash(KEY_BYTES, input, null);
}

const ZERO_NONCE = new Uint8Array(8);

/** `length` pseudorandom 64-bit words from `seed` (ChaCha20 keystream). */
export function expandMask(seed: Uint8Array, length: number): BigUint64Array {
  const key = sodium.crypto_generichash(
    KEY_BYTES,
    seed,
    new TextEncoder().encode('fedscore.hfl.secagg.prg.v1'),
  );
  const bytes = sodium.crypto_stream_chacha20(length * 8, key, ZERO_NONCE);
  const out = new BigUint64Array(length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < length; i++) out[i] = view.getBigUint64(8 * i, true);
  return out;
}

export function seal(plain: Uint8Array, key: Uint8Array, rng: Rng): Uint8Array {
  const nonce = rng.fillBytes(new Uint8Array(NONCE_BYTES));
  const box = sodium.crypto_secretbox_easy(plain, nonce, key);
  const out = new Uint8Array(NONCE_BYTES + box.length);
  out.set(nonce, 0);
  out.set(box, NONCE_BYTES);
  return out;
}

export function open(sealed: Uint8Array, key: Uint8Array, field: string): Uint8Array {
  try {
    return sodium.crypto_secretbox_open_easy(
      sealed.subarray(NONCE_BYTES),
      sealed.subarray(0, NONCE_BYTES),
      key,
    );
  } catch (e) {
    throw new FedscoreError('wire_decode', 'an encrypted share does not authenticate', { field, cause: e });
  }
}

export function randomSeed(rng: Rng): Uint8Array {
  return rng.fillBytes(new Uint8Array(KEY_BYTES));
}
