/**
 * ECDH-PSI over ristretto255: the steps, shared by both role files (guest.ts, host.ts).
 *
 * Parties: guest = the bank, host = the government / platform node. Each holds a set of enterprise ids
 * -- USCCs, or "opaque" ids of any other form (ids.ts) -- and a fresh secret scalar (guest a, host b;
 * the host may reuse b across sessions in cache mode, cache.ts).
 *
 * Messages in order (per direction; the two directions run concurrently):
 *   1. both:           `hello`        {mode, count, batch size, hash domain (names the id kind), key bytes}
 *   2. host -> guest:  `host_points`  H(y)^b for every host id y, in a secret random order, in batches
 *      guest -> host:  `guest_points` H(x)^a for every guest id x, in a secret random order, in batches
 *   3. host -> guest:  `guest_keys`   first 16 bytes of (H(x)^a)^b, in the order of `guest_points`
 *      guest -> host:  `host_keys`    first 16 bytes of (H(y)^b)^a, in the order of `host_points`
 *                                     ("both" mode only)
 *   4. guest -> host:  `result`       intersection size (+ digest of the aligned keys in "both" mode)
 *      host -> guest:  `result`       ("both" mode only) size + digest, so both confirm the alignment
 *
 * What each party learns:
 *   - both: the other's set size n (by design), the intersection size, the mode and the id kind.
 *   - guest: which of its own ids are in the intersection. Nothing about host ids outside it: under DDH
 *     in ristretto255 (prime order), H(y)^b and H(y)^(ab) of a non-shared y are indistinguishable from
 *     random. The host's order is shuffled, so matching positions say nothing about the host's file.
 *   - host, "both" mode: which of its own ids are in the intersection, symmetrically.
 *   - host, "guest_only" mode: only the intersection size (the guest reports it; semi-honest).
 *   - "both" mode: each side sorts the intersection by its comparison key H(id)^(ab); the two sorted lists
 *     are identical, so later protocols use row i of each side's aligned list as the same enterprise,
 *     with no further exchange.
 *
 * Threat model: semi-honest (honest-but-curious) parties; the transport authenticates and encrypts
 * (packages/node). A malicious guest could claim a false size or report a different intersection; a
 * malicious party can always put guessed ids into its own set (inherent to PSI: bound set sizes with
 * `admitPeerCount`, audit them, and put into PSI only ids the peer may learn about -- party nodes run
 * PSI on the data owner's consented set, docs/protocols/psi.md). Received points are checked to be canonical, non-identity ristretto255 elements.
 * Hashing is domain separated, by id kind too (`psiHashDomain`); USCCs (and row numbers, phone numbers,
 * ...) are a space small enough to enumerate, which is why the scalars must stay secret (a leaked b lets
 * anyone test ids against every transcript made with b). A party whose id kind differs is refused at
 * the hello (`psi_mismatch`, field 'idKind'): equal strings prepared as different kinds would never
 * match, so the run would silently find nothing.
 *
 * Follows the Diffie-Hellman PSI of C. Meadows (IEEE S&P 1986) and B. Huberman, M. Franklin, T. Hogg
 * (ACM EC 1999), in the shuffled, size-revealing form of M. Ion et al., "On Deploying Secure Computing:
 * Private Intersection-Sum-with-Cardinality" (IEEE EuroS&P 2020); group: ristretto255 (RFC 9496; M.
 * Hamburg, "Decaf", CRYPTO 2015). docs/protocols/psi.md says all of this at length.
 */
import { type StepDef, safeUint64 } from '@fedscore/core';
import { fedscore, mappedProtoStep } from '@fedscore/wire';
import { KEY_BYTES } from './keys.ts';
import { POINT_BYTES } from './ristretto.ts';

export const PSI_PROTOCOL = 'psi.ecdh-ristretto255';
export const PSI_VERSION = 1;

/** "both": both learn the intersection in one aligned order; "guest_only": the host learns its size. */
export type PsiMode = 'both' | 'guest_only';
export const PSI_MODES: readonly PsiMode[] = ['both', 'guest_only'];

/** Default points per batch message: 4096 x 32 B = 128 KiB, about half a second of one core's work. */
export const DEFAULT_BATCH_SIZE = 4096;
/** Largest batch accepted from a peer: 2^20 points = 32 MiB, under the wire's 64 MiB message limit. */
export const MAX_BATCH_SIZE = 1 << 20;
/** Largest set a peer may announce (sizes are uint64 on the wire). */
export const MAX_SET_SIZE = 2 ** 32 - 1;

export interface PsiHello {
  readonly mode: PsiMode;
  readonly count: number;
  readonly batchSize: number;
  /**
   * The hash-to-group domain tag, which names the id kind and case folding (`psiHashDomain`): the wire
   * field `hash_domain` carries the kind, since the two must agree anyway.
   */
  readonly hashDomain: string;
  readonly keyBytes: number;
}

export interface PsiBatch {
  readonly index: number;
  /** Concatenated 32-byte points (PointBatch) or key prefixes (KeyBatch). */
  readonly bytes: Uint8Array;
}

export interface PsiResultMessage {
  readonly intersection: number;
  /** SHA-256 of the aligned keys ("both" mode), else empty. */
  readonly alignedDigest: Uint8Array;
}

/** A copy: decoded payloads are views into the received envelope, which the receiver must not keep. */
function own(bytes: Uint8Array | null | undefined): Uint8Array {
  return bytes ? new Uint8Array(bytes) : new Uint8Array(0);
}

export const helloStep: StepDef<PsiHello> = mappedProtoStep('hello', fedscore.psi.Hello, {
  check: (m) => {
    if (!(PSI_MODES as readonly string[]).includes(m.mode ?? '')) return `mode: unknown mode '${m.mode}'`;
    const count = safeUint64(m.count ?? 0, 'count');
    if (!Number.isSafeInteger(count) || count > MAX_SET_SIZE) return `count: ${count} is out of range`;
    const batch = m.batchSize ?? 0;
    if (batch < 1 || batch > MAX_BATCH_SIZE) return `batchSize: ${batch} is outside [1, ${MAX_BATCH_SIZE}]`;
    if (!m.hashDomain) return 'hashDomain: required';
    const kb = m.keyBytes ?? 0;
    if (kb < 8 || kb > POINT_BYTES) return `keyBytes: ${kb} is outside [8, ${POINT_BYTES}]`;
    return null;
  },
  toWire: (v: PsiHello) => ({
    mode: v.mode,
    count: v.count,
    batchSize: v.batchSize,
    hashDomain: v.hashDomain,
    keyBytes: v.keyBytes,
  }),
  fromWire: (m) => ({
    mode: m.mode as PsiMode,
    count: safeUint64(m.count ?? 0, 'count'),
    batchSize: m.batchSize,
    hashDomain: m.hashDomain,
    keyBytes: m.keyBytes,
  }),
});

function pointStep(name: string): StepDef<PsiBatch> {
  return mappedProtoStep(name, fedscore.psi.PointBatch, {
    check: (m) => {
      const n = m.points?.length ?? 0;
      if (n === 0 || n % POINT_BYTES !== 0)
        return `points: ${n} bytes is not a positive multiple of ${POINT_BYTES}`;
      return null;
    },
    toWire: (v: PsiBatch) => ({ index: v.index, points: v.bytes }),
    fromWire: (m) => ({ index: m.index, bytes: own(m.points) }),
  });
}

function keyStep(name: string): StepDef<PsiBatch> {
  return mappedProtoStep(name, fedscore.psi.KeyBatch, {
    check: (m) => ((m.keys?.length ?? 0) === 0 ? 'keys: empty batch' : null),
    toWire: (v: PsiBatch) => ({ index: v.index, keys: v.bytes }),
    fromWire: (m) => ({ index: m.index, bytes: own(m.keys) }),
  });
}

/** Host's blinded ids H(y)^b, host -> guest. */
export const hostPointsStep = pointStep('host_points');
/** Guest's blinded ids H(x)^a, guest -> host. */
export const guestPointsStep = pointStep('guest_points');
/** Keys of the guest's ids, (H(x)^a)^b truncated, host -> guest. */
export const guestKeysStep = keyStep('guest_keys');
/** Keys of the host's ids, (H(y)^b)^a truncated, guest -> host ("both" mode). */
export const hostKeysStep = keyStep('host_keys');

export const resultStep: StepDef<PsiResultMessage> = mappedProtoStep('result', fedscore.psi.Result, {
  check: (m) => {
    const d = m.alignedDigest?.length ?? 0;
    return d === 0 || d === 32 ? null : `alignedDigest: expected 0 or 32 bytes, got ${d}`;
  },
  toWire: (v: PsiResultMessage) => ({ intersection: v.intersection, alignedDigest: v.alignedDigest }),
  fromWire: (m) => ({
    intersection: safeUint64(m.intersection ?? 0, 'intersection'),
    alignedDigest: own(m.alignedDigest),
  }),
});

/** The parameters this build speaks, for ids prepared under `hashDomain` (their kind's tag). */
export function localHello(mode: PsiMode, count: number, batchSize: number, hashDomain: string): PsiHello {
  return { mode, count, batchSize, hashDomain, keyBytes: KEY_BYTES };
}
