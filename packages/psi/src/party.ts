/**
 * The machinery both PSI roles share (guest.ts and host.ts configure it): stream one's own blinded ids in
 * batches, blind the peer's batches as they arrive and answer with comparison keys, collect the keys of
 * one's own ids, intersect, align, and confirm. Protocol, leakage and threat model: protocol.ts.
 *
 * Memory: per party O(n) for the ids (18 B each for USCCs, their UTF-8 length for opaque ids, packed), the shuffle (4 B), and the comparison keys
 * (16 B each, own and peer); points (32 B) exist only for the batches in flight, whose number is bounded
 * by `window` per stream, so a run never holds a whole set of points.
 */
import { createHash } from 'node:crypto';
import {
  bytesToHex,
  type Channel,
  cryptoRng,
  FedscoreError,
  isCryptoRng,
  type Logger,
  noopLogger,
  noProgress,
  type PartyId,
  type ProgressCallback,
  ProtocolSession,
  permutation,
  type Rng,
  type StepDef,
} from '@fedscore/core';
import {
  type IdSetReport,
  idAt,
  type PreparedIds,
  type PrepareIdsOptions,
  type PsiIdKind,
  parsePsiHashDomain,
  prepareIds,
  selectPacked,
} from './ids.ts';
import { matchAndAlign } from './keys.ts';
import { DEFAULT_PSI_TASK_IDS, OffloadBlinder, type PsiBlindOffload } from './offload.ts';
import { BlindingPool } from './pool.ts';
import {
  DEFAULT_BATCH_SIZE,
  helloStep,
  localHello,
  MAX_BATCH_SIZE,
  PSI_MODES,
  PSI_PROTOCOL,
  PSI_VERSION,
  type PsiBatch,
  type PsiHello,
  type PsiMode,
  resultStep,
} from './protocol.ts';
import {
  POINT_BYTES,
  type PointBytes,
  randomScalar,
  type ScalarBytes,
  scalarFromWideBytes,
  wipe,
} from './ristretto.ts';

export type PsiRole = 'guest' | 'host';

/** Default cap on the set size a peer may announce (see `PsiPartyOptions.maxPeerCount`). */
export const DEFAULT_MAX_PEER_COUNT = 50_000_000;

/** A party's secret blinding key. `id` is a random label (for logs and rotation records), not derived from it. */
export interface PsiKey {
  readonly id: string;
  readonly scalar: ScalarBytes;
}

/**
 * A fresh key: `crypto_core_ristretto255_scalar_random` by default; with `rng`, 64 bytes of it reduced
 * mod l. An `rng` that is not one of core's cryptographic generators (`isCryptoRng`: a seeded one, or any
 * object merely claiming `cryptographic: true`) is refused (`insecure_rng`) unless `allowInsecureRng`
 * (reproducible tests only).
 */
export function createPsiKey(
  options: { readonly rng?: Rng; readonly allowInsecureRng?: boolean } = {},
): PsiKey {
  const rng = options.rng;
  if (rng !== undefined && !isCryptoRng(rng) && options.allowInsecureRng !== true) {
    throw new FedscoreError('insecure_rng', 'a PSI key needs a cryptographic Rng (cryptoRng())', {
      field: 'rng',
    });
  }
  const idBytes = (rng ?? cryptoRng()).fillBytes(new Uint8Array(8));
  const id = bytesToHex(idBytes);
  if (rng === undefined) return { id, scalar: randomScalar() };
  const wide = rng.fillBytes(new Uint8Array(64));
  const scalar = scalarFromWideBytes(wide);
  wipe(wide);
  return { id, scalar };
}

/** Options common to both roles. */
export interface PsiPartyOptions extends PrepareIdsOptions {
  /** This party's end of the channel. */
  readonly channel: Channel;
  /** The other party's name on the channel. */
  readonly peer: PartyId;
  /** Session id shared by both parties for this run. */
  readonly session: string;
  /** Default "both". Both parties must pass the same mode. */
  readonly mode?: PsiMode;
  /** Points per batch message this party sends (default 4096). */
  readonly batchSize?: number;
  /** The blinding workers; default: a pool of `threads` workers created and closed by this call. */
  readonly pool?: BlindingPool;
  /** Workers of the default pool (default: available parallelism). Ignored with `pool`. */
  readonly threads?: number;
  /**
   * Run the blinding as tasks on a work queue instead (offload.ts): each task carries this run's
   * ephemeral scalar to the party's own worker processes. Not used with a host cache's key (a long-lived
   * key never goes to the queue: the threads blind then). The run's tasks are dropped when it ends.
   */
  readonly offload?: PsiBlindOffload;
  /** Batches in flight per stream (default 2 per worker, at least 2): bounds memory. */
  readonly window?: number;
  /** Randomness for the key and the shuffle; default: libsodium's and the platform CSPRNG. */
  readonly rng?: Rng;
  /** Allow a non-cryptographic `rng` (reproducible tests only). */
  readonly allowInsecureRng?: boolean;
  /**
   * Largest set size accepted from the peer (default 50,000,000): memory for its keys is allocated from
   * the size it announces (16 B an id), so a faulty peer must not be able to ask for gigabytes.
   */
  readonly maxPeerCount?: number;
  /**
   * This party's policy on the peer's set size (e.g. a data owner bounding how many ids a bank may
   * submit): called with the size the peer announces, after the hellos and before this party sends any
   * blinded id or allocates for the peer's; throw (a typed `FedscoreError`) to refuse the run.
   */
  readonly admitPeerCount?: (count: number) => void;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

/** What a party holds after a run. */
export interface PsiPartyResult {
  readonly role: PsiRole;
  readonly mode: PsiMode;
  /** How the ids were prepared (the same on both sides: the hello checks it). */
  readonly idKind: PsiIdKind;
  readonly caseFold: boolean;
  /** Distinct valid ids this party sent. */
  readonly ownCount: number;
  /** Distinct ids the peer sent (revealed by design). */
  readonly peerCount: number;
  readonly intersectionSize: number;
  /**
   * The intersection as normalized ids (USCCs, or opaque ids in their normal form), in the aligned order
   * both parties share. Absent for the host in "guest_only" mode, which learns the size only.
   */
  readonly intersection?: readonly string[];
  /** For each aligned position, the 0-based row of this party's input it came from. */
  readonly rows?: Uint32Array;
  /** Invalid and duplicate ids in this party's input (lines and counts only). */
  readonly report: IdSetReport;
  readonly seconds: number;
}

/** How a role uses the shared machinery. */
export interface RolePlan {
  readonly role: PsiRole;
  /** Step carrying this party's blinded ids. */
  readonly ownPoints: StepDef<PsiBatch>;
  /** Step carrying the peer's blinded ids. */
  readonly peerPoints: StepDef<PsiBatch>;
  /** Step carrying the keys of this party's ids (received), if this party learns the intersection. */
  readonly ownKeys: StepDef<PsiBatch> | undefined;
  /** Step carrying the keys of the peer's ids (sent), if the peer learns the intersection. */
  readonly peerKeys: StepDef<PsiBatch> | undefined;
  /** This party learns the intersection (computes and keeps the keys of the peer's ids). */
  readonly learns: boolean;
  /** This party's key and its blinded ids in shuffled order, when precomputed (host cache mode). */
  readonly precomputed?: { readonly key: PsiKey; readonly order: Uint32Array; readonly points: PointBytes };
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // rejections are observed where awaited; avoid unhandled-rejection noise
  return { promise, resolve, reject };
}

function checkOptions(options: PsiPartyOptions): { mode: PsiMode; batchSize: number } {
  const mode = options.mode ?? 'both';
  if (!PSI_MODES.includes(mode)) {
    throw new FedscoreError('invalid_argument', `mode must be one of ${PSI_MODES.join(', ')}`, {
      field: 'mode',
    });
  }
  const batchSize =
    options.batchSize ??
    (options.offload === undefined
      ? DEFAULT_BATCH_SIZE
      : (options.offload.batchSize ?? DEFAULT_PSI_TASK_IDS));
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new FedscoreError('out_of_range', `batchSize must be an integer in [1, ${MAX_BATCH_SIZE}]`, {
      field: 'batchSize',
    });
  }
  if (typeof options.session !== 'string' || options.session.length === 0) {
    throw new FedscoreError('invalid_argument', 'session must be a non-empty string', { field: 'session' });
  }
  return { mode, batchSize };
}

function checkPeerHello(mine: PsiHello, peer: PsiHello, peerName: string): void {
  const differ = (field: string, theirs: unknown, ours: unknown, hint = ''): never => {
    throw new FedscoreError(
      'psi_mismatch',
      `${peerName} runs PSI with ${field} '${String(theirs)}', this party with '${String(ours)}'${hint}`,
      { field },
    );
  };
  if (peer.mode !== mine.mode) differ('mode', peer.mode, mine.mode);
  if (peer.hashDomain !== mine.hashDomain) {
    // The tag names the id kind: say which of the two differs, so the user knows which flag to change.
    const theirs = parsePsiHashDomain(peer.hashDomain);
    const ours = parsePsiHashDomain(mine.hashDomain);
    if (theirs !== undefined && ours !== undefined) {
      if (theirs.idKind !== ours.idKind) {
        differ(
          'idKind',
          theirs.idKind,
          ours.idKind,
          "; both parties must prepare their ids as the same kind (with 'auto' each party decides from its own ids: 'uscc' when most are valid USCCs), so name it explicitly (CLI: --id-kind)",
        );
      }
      if (theirs.caseFold !== ours.caseFold) {
        differ('caseFold', theirs.caseFold, ours.caseFold, '; both parties must fold case alike');
      }
    }
    differ('hashDomain', peer.hashDomain, mine.hashDomain);
  }
  if (peer.keyBytes !== mine.keyBytes) differ('keyBytes', peer.keyBytes, mine.keyBytes);
}

/** Ids prepared here, or prepared by the caller (then options naming another kind are an error). */
export function preparedOf(ids: readonly string[] | PreparedIds, options: PrepareIdsOptions): PreparedIds {
  if (Array.isArray(ids)) return prepareIds(ids as readonly string[], options);
  const prepared = ids as PreparedIds;
  if (options.idKind !== undefined && options.idKind !== prepared.idKind) {
    throw new FedscoreError(
      'invalid_argument',
      `ids were prepared as '${prepared.idKind}', options name '${options.idKind}'`,
      { field: 'idKind' },
    );
  }
  if (options.caseFold !== undefined && options.caseFold !== prepared.caseFold) {
    throw new FedscoreError('invalid_argument', 'ids were prepared with another caseFold', {
      field: 'caseFold',
    });
  }
  return prepared;
}

function batchCount(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

/** Run one role. Ids are prepared here unless already prepared. */
export async function runPsiParty(
  plan: RolePlan,
  ids: readonly string[] | PreparedIds,
  options: PsiPartyOptions,
): Promise<PsiPartyResult> {
  const t0 = performance.now();
  const { mode, batchSize } = checkOptions(options);
  const logger = (options.logger ?? noopLogger).child({ protocol: PSI_PROTOCOL, role: plan.role });
  const progress = options.progress ?? noProgress;
  const prepared = preparedOf(ids, options);
  const n = prepared.count;

  const rng = options.rng ?? cryptoRng();
  if (!isCryptoRng(rng) && options.allowInsecureRng !== true) {
    throw new FedscoreError('insecure_rng', 'PSI needs a cryptographic Rng (cryptoRng())', {
      field: 'rng',
    });
  }
  let key: PsiKey;
  let order: Uint32Array;
  if (plan.precomputed) {
    key = plan.precomputed.key;
    order = plan.precomputed.order;
  } else {
    key = createPsiKey(options.rng === undefined ? {} : { rng, allowInsecureRng: options.allowInsecureRng });
    order = permutation(rng, n);
  }

  // Each run's tasks get a prefix of their own (the random key label appended), which it drops at its end.
  const offload =
    plan.precomputed || options.offload === undefined
      ? undefined
      : {
          ...options.offload,
          taskIdPrefix: `${(options.offload.taskIdPrefix ?? 'psi').slice(0, 180)}.${key.id}`,
        };
  const ownPool = options.pool === undefined && offload === undefined;
  const pool: Pick<BlindingPool, 'threads' | 'hashToGroup' | 'blind'> & { close?: () => Promise<void> } =
    offload !== undefined
      ? new OffloadBlinder(offload)
      : (options.pool ??
        (await BlindingPool.create(options.threads === undefined ? {} : { threads: options.threads })));
  const window = options.window ?? Math.max(2, 2 * pool.threads);
  const session = new ProtocolSession(options.channel, {
    protocol: PSI_PROTOCOL,
    version: PSI_VERSION,
    session: options.session,
  });
  const peer = options.peer;

  try {
    const hello = localHello(mode, n, batchSize, prepared.hashDomain);
    logger.info('psi start', {
      ids: n,
      mode,
      idKind: prepared.idKind,
      caseFold: prepared.caseFold,
      batchSize,
      keyId: key.id,
      cached: plan.precomputed !== undefined,
    });
    await session.send(peer, helloStep, hello);
    const peerHello = await session.receive(peer, helloStep);
    checkPeerHello(hello, peerHello, peer);
    const m = peerHello.count;
    const maxPeer = options.maxPeerCount ?? DEFAULT_MAX_PEER_COUNT;
    if (m > maxPeer) {
      throw new FedscoreError('out_of_range', `${peer} announces ${m} ids, above maxPeerCount ${maxPeer}`, {
        field: 'hello.count',
      });
    }
    options.admitPeerCount?.(m);
    const ownBatches = batchCount(n, batchSize);
    const peerBatches = batchCount(m, peerHello.batchSize);
    const keyBytes = hello.keyBytes;

    // Keys of the peer's ids, computed here: (peer's point)^key, truncated. Kept if this party learns.
    const peerKeys = new Uint8Array(plan.learns ? m * keyBytes : 0);
    const peerKeyBatches: (Uint8Array | undefined)[] = new Array(peerBatches);
    const peerBatchDone = Array.from({ length: peerBatches }, deferred);
    // Keys of this party's ids, received from the peer, in this party's shuffled order.
    const ownKeys = new Uint8Array(plan.ownKeys ? n * keyBytes : 0);
    const failAll = (e: unknown): void => {
      for (const d of peerBatchDone) d.reject(e);
    };

    // --- outgoing: own points, then (if the peer learns) the keys of the peer's ids, in batch order.
    const sendAll = async (): Promise<void> => {
      const inFlight: Promise<PointBytes>[] = [];
      let sentIds = 0;
      const stage = `psi ${plan.role}: blind own ids`;
      const startBatch = (b: number): Promise<PointBytes> => {
        const from = b * batchSize;
        const to = Math.min(n, from + batchSize);
        if (plan.precomputed) {
          return Promise.resolve(plan.precomputed.points.subarray(from * POINT_BYTES, to * POINT_BYTES));
        }
        return pool.hashToGroup(
          selectPacked(prepared.packed, order.subarray(from, to)),
          key.scalar,
          prepared.hashDomain,
        );
      };
      let next = 0;
      for (let b = 0; b < ownBatches; b++) {
        while (next < ownBatches && next < b + window) {
          const job = startBatch(next++);
          job.catch(() => {}); // observed when awaited in order; a later failure must not go unhandled
          inFlight.push(job);
        }
        const points = await inFlight.shift()!;
        await session.send(peer, plan.ownPoints, { index: b, bytes: points });
        sentIds += points.length / POINT_BYTES;
        progress({ stage, done: sentIds, total: n, unit: 'ids' });
      }
      if (plan.peerKeys) {
        for (let b = 0; b < peerBatches; b++) {
          await peerBatchDone[b]!.promise;
          const keys = peerKeyBatches[b]!;
          peerKeyBatches[b] = undefined;
          await session.send(peer, plan.peerKeys, { index: b, bytes: keys });
        }
      }
    };

    // --- incoming: the peer's points (blinded here as they arrive), then the keys of own ids.
    const receiveAll = async (): Promise<void> => {
      const stage = `psi ${plan.role}: blind peer ids`;
      let done = 0;
      const running: Promise<void>[] = [];
      for (let b = 0; b < peerBatches; b++) {
        if (running.length >= window) await running.shift();
        const batch = await session.receive(peer, plan.peerPoints);
        const expected = Math.min(peerHello.batchSize, m - b * peerHello.batchSize);
        checkBatch(batch, b, expected, POINT_BYTES, plan.peerPoints.name);
        const base = b * peerHello.batchSize;
        const job = pool
          .blind(batch.bytes, key.scalar, {
            outBytes: keyBytes,
            field: plan.peerPoints.name,
            indexBase: base,
          })
          .then((keys) => {
            if (plan.learns) peerKeys.set(keys, base * keyBytes);
            if (plan.peerKeys) peerKeyBatches[b] = keys;
            done += expected;
            progress({ stage, done, total: m, unit: 'ids' });
            peerBatchDone[b]!.resolve();
          });
        job.catch(failAll);
        running.push(job);
      }
      await Promise.all(running);
      if (plan.ownKeys) {
        const stageKeys = `psi ${plan.role}: receive keys`;
        for (let b = 0; b < ownBatches; b++) {
          const batch = await session.receive(peer, plan.ownKeys);
          const expected = Math.min(batchSize, n - b * batchSize);
          checkBatch(batch, b, expected, keyBytes, plan.ownKeys.name);
          ownKeys.set(batch.bytes, b * batchSize * keyBytes);
          progress({ stage: stageKeys, done: Math.min(n, (b + 1) * batchSize), total: n, unit: 'ids' });
        }
      }
    };

    await Promise.all([
      sendAll().catch((e: unknown) => {
        failAll(e);
        throw e;
      }),
      receiveAll().catch((e: unknown) => {
        failAll(e);
        throw e;
      }),
    ]);

    // --- result
    let intersection: string[] | undefined;
    let rows: Uint32Array | undefined;
    let size: number;
    let digest = new Uint8Array(0);
    if (plan.learns) {
      const aligned = matchAndAlign(ownKeys, peerKeys, keyBytes);
      size = aligned.length;
      intersection = new Array<string>(size);
      rows = new Uint32Array(size);
      const hash = createHash('sha256');
      for (let i = 0; i < size; i++) {
        const pos = aligned[i]!;
        const idx = order[pos]!;
        intersection[i] = idAt(prepared.packed, idx);
        rows[i] = prepared.rows[idx]!;
        hash.update(ownKeys.subarray(pos * keyBytes, (pos + 1) * keyBytes));
      }
      if (mode === 'both') digest = new Uint8Array(hash.digest());
    } else {
      size = -1;
    }

    if (plan.role === 'guest') {
      await session.send(peer, resultStep, { intersection: size, alignedDigest: digest });
      if (mode === 'both') confirm(await session.receive(peer, resultStep), size, digest, peer);
    } else {
      const peerResult = await session.receive(peer, resultStep);
      if (mode === 'both') {
        await session.send(peer, resultStep, { intersection: size, alignedDigest: digest });
        confirm(peerResult, size, digest, peer);
      } else {
        size = peerResult.intersection;
        if (size > Math.min(n, m)) {
          throw new FedscoreError(
            'psi_mismatch',
            `${peer} reports ${size} common ids, more than either set`,
            {
              field: 'intersection',
            },
          );
        }
      }
    }

    const seconds = (performance.now() - t0) / 1000;
    logger.info('psi done', { ids: n, peerIds: m, intersection: size, seconds: Number(seconds.toFixed(3)) });
    return {
      role: plan.role,
      mode,
      idKind: prepared.idKind,
      caseFold: prepared.caseFold,
      ownCount: n,
      peerCount: m,
      intersectionSize: size,
      ...(intersection !== undefined && { intersection }),
      ...(rows !== undefined && { rows }),
      report: prepared.report,
      seconds,
    };
  } finally {
    if (!plan.precomputed) wipe(key.scalar);
    if (ownPool) await pool.close?.();
    if (offload?.dropTasks !== undefined) {
      await offload.dropTasks(offload.taskIdPrefix).catch((e: unknown) => {
        logger.warn("psi: dropping the run's queue tasks failed", { code: (e as { code?: string }).code });
      });
    }
  }
}

function checkBatch(batch: PsiBatch, index: number, expected: number, width: number, step: string): void {
  if (batch.index !== index) {
    throw new FedscoreError('protocol_sequence', `${step}: expected batch ${index}, got ${batch.index}`, {
      field: `${step}.index`,
    });
  }
  if (batch.bytes.length !== expected * width) {
    throw new FedscoreError(
      'wire_decode',
      `${step}: batch ${index} should carry ${expected} x ${width} bytes, got ${batch.bytes.length}`,
      { field: step },
    );
  }
}

function confirm(
  peer: { intersection: number; alignedDigest: Uint8Array },
  size: number,
  digest: Uint8Array,
  peerName: string,
): void {
  if (peer.intersection !== size) {
    throw new FedscoreError(
      'psi_mismatch',
      `${peerName} found ${peer.intersection} common ids, this party ${size}`,
      {
        field: 'intersection',
      },
    );
  }
  if (peer.alignedDigest.length !== digest.length || peer.alignedDigest.some((b, i) => b !== digest[i])) {
    throw new FedscoreError(
      'psi_mismatch',
      `${peerName} holds a different aligned order of the intersection`,
      {
        field: 'alignedDigest',
      },
    );
  }
}
