/**
 * Host cache mode: the government node blinds its (large) id set once -- H(y)^b for every id, in a
 * secret random order -- and reuses the result across sessions and banks, so a session costs the host
 * only the blinding of the bank's ids. The Shanghai platform serves dozens of banks; without the cache
 * each session would re-blind millions of ids.
 *
 * What reuse changes (docs/protocols/psi.md, "Cache mode and key rotation"): every bank served from one
 * cache sees the same blinded points in the same order, so colluding banks can tell which of their shared
 * customers they matched at the same host position (nothing they could not learn by comparing their own
 * results), and a leak of b exposes every session run with it. Hence: one key per cache, rebuild with a
 * fresh key and a fresh shuffle on a schedule and whenever the id set changes (never append to a cache),
 * and keep the key out of the cache file unless the file is protected like the key.
 *
 * The cache is bound to the exact prepared id list and its id kind (the hash domain) by a SHA-256 digest;
 * a session with other ids, or the same strings prepared as another kind, is a `psi_cache_mismatch`
 * error rather than a silently wrong intersection.
 *
 * Rotation is enforced, not only advised (issue 11, finding 8): a cache records its key's creation
 * time and the sessions served with it, and `runPsiHost` refuses a cache past its
 * `PsiKeyRotationPolicy` (default: 30 days, 100 sessions) with `psi_key_expired`; the holder then
 * rebuilds it with a fresh key and a fresh order (the CLI does so by itself).
 */
import { createHash } from 'node:crypto';
import {
  cryptoRng,
  FedscoreError,
  isCryptoRng,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  permutation,
  type Rng,
  safeUint64,
} from '@fedscore/core';
import { fedscore } from '@fedscore/wire';
import { type PreparedIds, type PrepareIdsOptions, parsePsiHashDomain, selectPacked } from './ids.ts';
import { createPsiKey, type PsiKey, preparedOf } from './party.ts';
import { BlindingPool } from './pool.ts';
import { DEFAULT_BATCH_SIZE } from './protocol.ts';
import { POINT_BYTES, type PointBytes, SCALAR_BYTES } from './ristretto.ts';

export const HOST_CACHE_VERSION = 1;

/** A host's blinded id set and the key it was blinded with. Never sent to a peer. */
export interface PsiHostCache {
  readonly version: number;
  /** The domain tag the ids were hashed under: names their kind (`psiHashDomain`). */
  readonly hashDomain: string;
  readonly key: PsiKey;
  readonly createdMs: number;
  /** SHA-256 of the prepared ids (`preparedIdsDigest`). */
  readonly idsDigest: Uint8Array;
  readonly count: number;
  /** Shuffled position -> index into the prepared ids. */
  readonly order: Uint32Array;
  /** H(id)^key in shuffled order, 32 bytes each. */
  readonly points: PointBytes;
  /**
   * PSI sessions served with this key so far: `runPsiHost` counts each one it starts; persist the
   * cache (`encodeHostCache`) after a session so that the count survives.
   */
  sessions: number;
}

/** When a host's cached key must be retired (docs/protocols/psi.md, "Cache mode and key rotation"). */
export interface PsiKeyRotationPolicy {
  /** Oldest key served, in ms since the cache was built. Default 30 days. */
  readonly maxKeyAgeMs?: number;
  /** Most sessions served with one key. Default 100. */
  readonly maxSessionsPerKey?: number;
}

const DAY_MS = 86_400_000;
/** The default rotation policy: monthly, or after 100 sessions, whichever comes first. */
export const DEFAULT_PSI_KEY_ROTATION: Required<PsiKeyRotationPolicy> = {
  maxKeyAgeMs: 30 * DAY_MS,
  maxSessionsPerKey: 100,
};
/** Clock skew tolerated on a cache's creation time (a cache "from the future" cannot dodge the age bound). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Refuse (`psi_key_expired`, naming the field) a cache whose key is past `policy` at `nowMs`: older than
 * `maxKeyAgeMs`, dated in the future, or having served `maxSessionsPerKey` sessions already.
 */
export function checkHostCacheRotation(
  cache: PsiHostCache,
  policy: PsiKeyRotationPolicy = {},
  nowMs: number = Date.now(),
): void {
  const maxAge = policy.maxKeyAgeMs ?? DEFAULT_PSI_KEY_ROTATION.maxKeyAgeMs;
  const maxSessions = policy.maxSessionsPerKey ?? DEFAULT_PSI_KEY_ROTATION.maxSessionsPerKey;
  if (!(maxAge > 0) || !Number.isInteger(maxSessions) || maxSessions < 1) {
    throw new FedscoreError('invalid_argument', 'a rotation policy needs a positive age and session count', {
      field: 'keyRotation',
    });
  }
  const age = nowMs - cache.createdMs;
  if (age > maxAge || age < -MAX_CLOCK_SKEW_MS) {
    throw new FedscoreError(
      'psi_key_expired',
      age < 0
        ? `cache key '${cache.key.id}' is dated ${Math.round(-age / 1000)} s in the future; rebuild it`
        : `cache key '${cache.key.id}' is ${Math.floor(age / DAY_MS)} days old, past the ${Math.floor(maxAge / DAY_MS)}-day rotation; rebuild it with a fresh key`,
      { field: 'cache.createdMs', details: { ageMs: age, maxKeyAgeMs: maxAge } },
    );
  }
  if (cache.sessions >= maxSessions) {
    throw new FedscoreError(
      'psi_key_expired',
      `cache key '${cache.key.id}' has served ${cache.sessions} sessions, the rotation allows ${maxSessions}; rebuild it with a fresh key`,
      { field: 'cache.sessions', details: { sessions: cache.sessions, maxSessionsPerKey: maxSessions } },
    );
  }
}

export interface BuildHostCacheOptions extends PrepareIdsOptions {
  /** Blinding workers; default: a pool created and closed by this call. */
  readonly pool?: BlindingPool;
  readonly threads?: number;
  /** The key to blind with; default: a fresh one. */
  readonly key?: PsiKey;
  readonly rng?: Rng;
  readonly allowInsecureRng?: boolean;
  readonly batchSize?: number;
  /** Creation time to record (default: now). */
  readonly nowMs?: number;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

/** SHA-256 over the hash domain (the id kind) and the prepared ids (lengths and bytes, in input order). */
export function preparedIdsDigest(prepared: PreparedIds): Uint8Array {
  const h = createHash('sha256');
  h.update(`${prepared.hashDomain}\u0000ids\u0000`);
  const { offsets, bytes } = prepared.packed;
  h.update(new Uint8Array(offsets.buffer, offsets.byteOffset, offsets.byteLength));
  h.update(bytes);
  return new Uint8Array(h.digest());
}

/** Blind a host's ids once for reuse across sessions. */
export async function buildHostCache(
  ids: readonly string[] | PreparedIds,
  options: BuildHostCacheOptions = {},
): Promise<PsiHostCache> {
  const prepared = preparedOf(ids, options);
  const rng = options.rng ?? cryptoRng();
  if (!isCryptoRng(rng) && options.allowInsecureRng !== true) {
    throw new FedscoreError('insecure_rng', 'a PSI cache needs a cryptographic Rng (cryptoRng())', {
      field: 'rng',
    });
  }
  const key =
    options.key ??
    createPsiKey(options.rng === undefined ? {} : { rng, allowInsecureRng: options.allowInsecureRng });
  const n = prepared.count;
  const order = permutation(rng, n);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const progress = options.progress ?? noProgress;
  const logger = options.logger ?? noopLogger;
  const t0 = performance.now();
  const pool =
    options.pool ??
    (await BlindingPool.create(options.threads === undefined ? {} : { threads: options.threads }));
  try {
    const points = new Uint8Array(n * POINT_BYTES);
    const jobs: Promise<void>[] = [];
    let done = 0;
    const window = Math.max(2, 2 * pool.threads);
    for (let from = 0; from < n; from += batchSize) {
      if (jobs.length >= window) await jobs.shift();
      const to = Math.min(n, from + batchSize);
      const job = pool
        .hashToGroup(selectPacked(prepared.packed, order.subarray(from, to)), key.scalar, prepared.hashDomain)
        .then((out) => {
          points.set(out, from * POINT_BYTES);
          done += to - from;
          progress({ stage: 'psi host: build cache', done, total: n, unit: 'ids' });
        });
      job.catch(() => {}); // observed when awaited in order; a later failure must not go unhandled
      jobs.push(job);
    }
    await Promise.all(jobs);
    logger.info('psi cache built', {
      ids: n,
      idKind: prepared.idKind,
      keyId: key.id,
      seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
    });
    return {
      version: HOST_CACHE_VERSION,
      hashDomain: prepared.hashDomain,
      key,
      createdMs: options.nowMs ?? Date.now(),
      idsDigest: preparedIdsDigest(prepared),
      count: n,
      order,
      points,
      sessions: 0,
    };
  } finally {
    if (options.pool === undefined) await pool.close();
  }
}

/** Refuse a cache built for other ids, another id kind (hash domain) or format. */
export function checkHostCache(cache: PsiHostCache, prepared: PreparedIds): void {
  if (cache.version !== HOST_CACHE_VERSION) {
    throw new FedscoreError(
      'psi_cache_mismatch',
      `cache format ${cache.version}, expected ${HOST_CACHE_VERSION}`,
      {
        field: 'cache.version',
      },
    );
  }
  if (cache.hashDomain !== prepared.hashDomain) {
    const kind = parsePsiHashDomain(cache.hashDomain);
    throw new FedscoreError(
      'psi_cache_mismatch',
      kind === undefined
        ? 'cache was hashed under a domain tag this version does not use; rebuild it'
        : `cache was built for ${kind.idKind} ids${kind.caseFold ? ' (case-folded)' : ''}, the input is prepared as ${prepared.idKind}${prepared.caseFold ? ' (case-folded)' : ''}`,
      { field: 'cache.hashDomain' },
    );
  }
  if (
    cache.count !== prepared.count ||
    cache.order.length !== cache.count ||
    cache.points.length !== cache.count * POINT_BYTES
  ) {
    throw new FedscoreError(
      'psi_cache_mismatch',
      `cache holds ${cache.count} ids, the input has ${prepared.count} distinct valid ids`,
      { field: 'cache.count' },
    );
  }
  const digest = preparedIdsDigest(prepared);
  if (digest.length !== cache.idsDigest.length || digest.some((b, i) => b !== cache.idsDigest[i])) {
    throw new FedscoreError(
      'psi_cache_mismatch',
      'cache was built from other ids (digest differs); rebuild it',
      {
        field: 'cache.idsDigest',
      },
    );
  }
}

export interface EncodeHostCacheOptions {
  /** Write the secret scalar into the bytes (default false: store the key separately). */
  readonly includeSecretKey?: boolean;
}

/** Serialize a cache (protobuf `fedscore.psi.HostCache`). The secret key is left out unless asked for. */
export function encodeHostCache(cache: PsiHostCache, options: EncodeHostCacheOptions = {}): Uint8Array {
  const order = new Uint8Array(cache.count * 4);
  const view = new DataView(order.buffer);
  for (let i = 0; i < cache.count; i++) view.setUint32(i * 4, cache.order[i]!, true);
  return fedscore.psi.HostCache.encode({
    version: cache.version,
    hashDomain: cache.hashDomain,
    keyId: cache.key.id,
    scalar: options.includeSecretKey === true ? cache.key.scalar : new Uint8Array(0),
    createdMs: cache.createdMs,
    idsDigest: cache.idsDigest,
    count: cache.count,
    order,
    points: cache.points,
    sessions: cache.sessions,
  }).finish();
}

export interface DecodeHostCacheOptions {
  /** The key, when the bytes were written without it (its id must match the cache's). */
  readonly key?: PsiKey;
}

/** Parse a serialized cache; every inconsistency is a typed error naming the field. */
export function decodeHostCache(bytes: Uint8Array, options: DecodeHostCacheOptions = {}): PsiHostCache {
  let m: fedscore.psi.HostCache;
  try {
    m = fedscore.psi.HostCache.decode(bytes);
  } catch (e) {
    throw new FedscoreError('wire_decode', 'not a PSI host cache', {
      field: 'fedscore.psi.HostCache',
      cause: e,
    });
  }
  const count = safeUint64(m.count ?? 0, 'HostCache.count');
  const bad = (field: string, why: string): never => {
    throw new FedscoreError('wire_decode', `PSI host cache: ${why}`, { field: `HostCache.${field}` });
  };
  if (!Number.isSafeInteger(count) || count < 0) bad('count', 'invalid count');
  if ((m.order?.length ?? 0) !== count * 4) bad('order', `expected ${count * 4} bytes`);
  if ((m.points?.length ?? 0) !== count * POINT_BYTES) bad('points', `expected ${count * POINT_BYTES} bytes`);
  if ((m.idsDigest?.length ?? 0) !== 32) bad('idsDigest', 'expected 32 bytes');
  const view = new DataView(m.order.buffer, m.order.byteOffset, m.order.byteLength);
  const order = new Uint32Array(count);
  const seen = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const v = view.getUint32(i * 4, true);
    if (v >= count || seen[v] === 1) bad('order', `not a permutation (position ${i})`);
    seen[v] = 1;
    order[i] = v;
  }
  let key: PsiKey;
  if (m.scalar && m.scalar.length > 0) {
    if (m.scalar.length !== SCALAR_BYTES) bad('scalar', `expected ${SCALAR_BYTES} bytes`);
    key = { id: m.keyId, scalar: new Uint8Array(m.scalar) };
  } else if (options.key !== undefined) {
    if (options.key.id !== m.keyId) {
      throw new FedscoreError(
        'psi_cache_mismatch',
        `cache was blinded with key '${m.keyId}', not '${options.key.id}'`,
        {
          field: 'key',
        },
      );
    }
    key = options.key;
  } else {
    throw new FedscoreError(
      'psi_cache_mismatch',
      `cache was written without its secret key '${m.keyId}'; pass it`,
      {
        field: 'key',
      },
    );
  }
  return {
    version: m.version,
    hashDomain: m.hashDomain,
    key,
    createdMs: safeUint64(m.createdMs ?? 0, 'HostCache.createdMs'),
    idsDigest: new Uint8Array(m.idsDigest),
    count,
    order,
    points: new Uint8Array(m.points),
    sessions: safeUint64(m.sessions ?? 0, 'HostCache.sessions'),
  };
}
