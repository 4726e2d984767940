/**
 * Secure aggregation: the steps of protocol `hfl.secagg`, shared by client.ts and server.ts.
 *
 * Parties: one server (the coordinator / platform) and n clients (banks), each holding a vector x_u of
 * `length` floats (its sample-count weighted model update). The server learns Σ_{u∈U3} x_u over the
 * clients U3 whose masked input it received, and nothing else about any single x_u.
 *
 * Messages in order (all client↔server; clients never talk directly, the server relays encrypted shares):
 *   1. client → server  `advertise-keys`   [c_pk_u, s_pk_u]: two fresh X25519 public keys (share
 *                                           encryption, mask agreement).                        → U1
 *   2. server → client  `neighbour-keys`   the two public keys of each of u's neighbours in U1.
 *   3. client → server  `encrypted-shares` for each neighbour v: secretbox under KA(c_sk_u, c_pk_v) of
 *                                           (u, v, share_v(s_sk_u), share_v(b_u)), t-of-(k+1) Shamir
 *                                           shares of the mask secret key and of a fresh self-mask seed
 *                                           b_u (the (k+1)-th share stays with u).                    → U2
 *   4. server → client  `forwarded-shares` the boxes addressed to u from its neighbours in U2.
 *   5. client → server  `masked-input`     y_u = x̄_u + PRG(b_u) + Σ_{v∈P(u), u<v} PRG(s_uv)
 *                                           − Σ_{v∈P(u), u>v} PRG(s_uv)  (mod 2^64), x̄ = fixed point,
 *                                           P(u) = neighbours whose shares u received, s_uv = KA(s_sk_u, s_pk_v). → U3
 *   6. server → client  `unmask-request`   (alive = U3, dropped = U2 \ U3).
 *   7. client → server  `unmask-shares`    for each v ∈ P(u) ∪ {u}: its share of b_v if v is alive, of s_sk_v if
 *                                           v dropped; never both kinds for one v (the client refuses a
 *                                           request that names v in both lists, names u itself as
 *                                           dropped, has fewer than t alive, or comes twice).       → U4
 *   The server rebuilds b_v for v ∈ U3 and s_sk_v for v ∈ U2 \ U3 from ≥ t shares, removes the
 *   self-masks and the dropped clients' pairwise masks, and decodes Σ x̄_u.
 *
 * Who learns what (docs/protocols/secure-aggregation.md has the table):
 *   - server: the sum over U3; the sets U1..U4 (who took part and who dropped); public keys; encrypted
 *     shares it cannot open; masked inputs, each uniformly random on its own (a self-mask PRG(b_u) is
 *     added to every input, and the server gets b_u's shares only for u whose input it holds, s_sk_u's
 *     only for u whose input it does not). Sizes: n, the vector length.
 *   - client: its neighbours' public keys and indices, the sets in the unmask request, and shares of its
 *     neighbours' secrets (fewer than t of any secret say nothing). Never another client's input.
 *
 * Threat model: honest-but-curious server and up to t − 1 colluding clients (who together hold fewer
 * than t shares of any honest client's secrets). The server relays and cannot read the shares
 * (authenticated encryption under a key agreed between the two clients). A malicious server that lies
 * about who dropped is stopped only partly (it can ask different clients different questions; the
 * consistency-check round with signatures of the malicious-model protocol is not implemented). The
 * transport (packages/node) authenticates the parties; the public keys here are not signed.
 *
 * Papers: K. Bonawitz, V. Ivanov, B. Kreuter, A. Marcedone, H. B. McMahan, S. Patel, D. Ramage,
 * A. Segal, K. Seth, "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017
 * (the semi-honest protocol, double masking); J. Bell, K. Bonawitz, A. Gascón, T. Lepoint, M. Raykova,
 * "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020 (SecAgg+: a k-regular
 * neighbour graph instead of the complete one).
 */
import { FedscoreError, type StepDef } from '@fedscore/core';
import { bytesListStep } from '@fedscore/wire';
import { KEY_BYTES, NONCE_BYTES } from './crypto.ts';
import { checkScaleBits, DEFAULT_SCALE_BITS } from './fixed-point.ts';
import { neighbourGraph } from './graph.ts';
import { SHARE_BYTES } from './shamir.ts';

export const SECAGG_PROTOCOL = 'hfl.secagg';
export const SECAGG_VERSION = 1;

/**
 * Deliberately weakened maskings, for attack tests only: 'none' sends x̄_u in the clear; 'pairwise-only'
 * drops the self-mask (so a server that claims u dropped after receiving y_u can unmask it).
 */
export type InsecureMasking = 'none' | 'pairwise-only';

/** The parameters every party of one aggregation holds (from the job spec). */
export interface SecAggConfig {
  /** Client party ids; the position is the client's index. */
  readonly clients: readonly string[];
  readonly server: string;
  /** Vector length. */
  readonly length: number;
  /** Shares needed to rebuild a secret (t), of its k + 1 holders (neighbours and owner): (k+1)/2 < t ≤ k + 1. */
  readonly threshold: number;
  /** Neighbours per client (k; n − 1 = complete graph, the original SecAgg). */
  readonly neighbours: number;
  /** Public randomness of the neighbour graph. */
  readonly graphSeed: number;
  /** Fixed-point scale 2^scaleBits (default 24). */
  readonly scaleBits?: number;
  /** Weakened configuration for attack tests; never set in production. */
  readonly insecureMasking?: InsecureMasking;
}

export interface CheckedConfig extends SecAggConfig {
  readonly scaleBits: number;
  readonly graph: readonly (readonly number[])[];
}

export function checkConfig(config: SecAggConfig): CheckedConfig {
  const n = config.clients.length;
  if (new Set(config.clients).size !== n || config.clients.includes(config.server)) {
    throw new FedscoreError('invalid_config', 'client ids must be unique and differ from the server', {
      field: 'clients',
    });
  }
  if (!Number.isInteger(config.length) || config.length < 1) {
    throw new FedscoreError('invalid_config', 'length must be a positive integer', { field: 'length' });
  }
  const graph = neighbourGraph(n, config.neighbours, config.graphSeed);
  const k = config.neighbours;
  // Each secret has k + 1 holders (the neighbours and the owner); more than half are needed.
  if (!Number.isInteger(config.threshold) || config.threshold <= (k + 1) / 2 || config.threshold > k + 1) {
    throw new FedscoreError(
      'invalid_config',
      `threshold must be in (${(k + 1) / 2}, ${k + 1}] for ${k} neighbours`,
      {
        field: 'threshold',
      },
    );
  }
  const scaleBits = config.scaleBits ?? DEFAULT_SCALE_BITS;
  checkScaleBits(scaleBits);
  return { ...config, scaleBits, graph };
}

/** Share kinds in `unmask-shares`. */
export const SHARE_KIND = { selfMaskSeed: 0, maskKey: 1 } as const;
export type ShareKind = (typeof SHARE_KIND)[keyof typeof SHARE_KIND];

export const U32 = 4;
/** [index u32 LE ‖ c_pk ‖ s_pk] */
export const NEIGHBOUR_KEY_BYTES = U32 + 2 * KEY_BYTES;
/** Plaintext of one encrypted share pair: [from u32 ‖ to u32 ‖ share of s_sk ‖ share of b]. */
export const SHARE_PLAIN_BYTES = 2 * U32 + 2 * SHARE_BYTES;
/** Secretbox overhead (Poly1305 tag). */
export const BOX_TAG_BYTES = 16;
/** [peer index u32 ‖ nonce ‖ box] */
export const ENCRYPTED_SHARE_BYTES = U32 + NONCE_BYTES + SHARE_PLAIN_BYTES + BOX_TAG_BYTES;
/** [owner index u32 ‖ kind u8 ‖ share y] */
export const UNMASK_SHARE_BYTES = U32 + 1 + SHARE_BYTES;

export const ADVERTISE_KEYS: StepDef<Uint8Array[]> = bytesListStep('advertise-keys', {
  count: 2,
  itemBytes: KEY_BYTES,
});
export const NEIGHBOUR_KEYS: StepDef<Uint8Array[]> = bytesListStep('neighbour-keys', {
  itemBytes: NEIGHBOUR_KEY_BYTES,
});
export const ENCRYPTED_SHARES: StepDef<Uint8Array[]> = bytesListStep('encrypted-shares', {
  itemBytes: ENCRYPTED_SHARE_BYTES,
});
export const FORWARDED_SHARES: StepDef<Uint8Array[]> = bytesListStep('forwarded-shares', {
  itemBytes: ENCRYPTED_SHARE_BYTES,
});
/** One item: the masked vector, 8 bytes a value, little-endian. */
export const MASKED_INPUT: StepDef<Uint8Array[]> = bytesListStep('masked-input', { count: 1 });
/** Two items: alive indices, dropped indices (u32 LE each). */
export const UNMASK_REQUEST: StepDef<Uint8Array[]> = bytesListStep('unmask-request', { count: 2 });
export const UNMASK_SHARES: StepDef<Uint8Array[]> = bytesListStep('unmask-shares', {
  itemBytes: UNMASK_SHARE_BYTES,
});

export function writeU32(out: Uint8Array, offset: number, v: number): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(offset, v, true);
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, true);
}

export function encodeIndices(indices: readonly number[]): Uint8Array {
  const out = new Uint8Array(U32 * indices.length);
  indices.forEach((v, i) => {
    writeU32(out, U32 * i, v);
  });
  return out;
}

export function decodeIndices(bytes: Uint8Array, clients: number, field: string): number[] {
  if (bytes.length % U32 !== 0) {
    throw new FedscoreError('wire_decode', `${field}: not a list of u32`, { field });
  }
  const out: number[] = [];
  for (let o = 0; o < bytes.length; o += U32) {
    const v = readU32(bytes, o);
    if (v >= clients)
      throw new FedscoreError('wire_decode', `${field}: client index ${v} out of range`, { field });
    out.push(v);
  }
  if (new Set(out).size !== out.length) {
    throw new FedscoreError('wire_decode', `${field}: repeated client index`, { field });
  }
  return out;
}

export function encodeWords(words: BigUint64Array): Uint8Array {
  const out = new Uint8Array(8 * words.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setBigUint64(8 * i, words[i]!, true);
  return out;
}

export function decodeWords(bytes: Uint8Array, length: number, field: string): BigUint64Array {
  if (bytes.length !== 8 * length) {
    throw new FedscoreError('wire_decode', `${field}: expected ${8 * length} bytes, got ${bytes.length}`, {
      field,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new BigUint64Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getBigUint64(8 * i, true);
  return out;
}
