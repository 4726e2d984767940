/**
 * Both PSI parties in one process over core's in-memory network (the real wire codec, real byte
 * counts), sharing one blinding pool: for trying PSI out (`fedscore psi`), benchmarks and tests. Party
 * nodes run the roles apart (packages/node); nothing here is needed for that.
 */
import {
  type CapturedMessage,
  createInMemoryNetwork,
  type InMemoryNetwork,
  type Logger,
  noopLogger,
  noProgress,
  type ProgressCallback,
  type Rng,
  runParties,
} from '@fedscore/core';
import { envelopeCodec } from '@fedscore/wire';
import type { PsiHostCache, PsiKeyRotationPolicy } from './cache.ts';
import { runPsiGuest } from './guest.ts';
import { runPsiHost } from './host.ts';
import type { PreparedIds, PrepareIdsOptions, PsiIdKind } from './ids.ts';
import type { PsiBlindOffload } from './offload.ts';
import type { PsiPartyResult } from './party.ts';
import { BlindingPool, type BlindingPoolStats } from './pool.ts';
import type { PsiMode } from './protocol.ts';

export interface LocalPsiOptions {
  readonly mode?: PsiMode;
  /** The id kind of both parties (default 'uscc'); `guestIds` / `hostIds` may override it per side. */
  readonly idKind?: PsiIdKind;
  /** Opaque ids: fold case on both sides (default false). */
  readonly caseFold?: boolean;
  readonly batchSize?: number;
  /** Shared by both parties; default: a pool of `threads` workers created and closed here. */
  readonly pool?: BlindingPool;
  readonly threads?: number;
  /** A party's blinding on a task executor instead of the pool (offload.ts; tests and benchmarks). */
  readonly offload?: { readonly guest?: PsiBlindOffload; readonly host?: PsiBlindOffload };
  readonly hostCache?: PsiHostCache;
  /** The host cache's key rotation (default `DEFAULT_PSI_KEY_ROTATION`) and its clock (tests). */
  readonly hostKeyRotation?: PsiKeyRotationPolicy;
  readonly now?: () => number;
  /** Preparation of the guest's and the host's ids (invalid-id policy, file names, line numbers). */
  readonly guestIds?: PrepareIdsOptions;
  readonly hostIds?: PrepareIdsOptions;
  /** Keep every message in `network.captured` (privacy tests). */
  readonly capture?: boolean;
  readonly rng?: { readonly guest: Rng; readonly host: Rng };
  readonly allowInsecureRng?: boolean;
  readonly session?: string;
  readonly logger?: Logger;
  readonly progress?: ProgressCallback;
}

export interface LocalPsiResult {
  readonly guest: PsiPartyResult;
  readonly host: PsiPartyResult;
  readonly seconds: number;
  /** Encoded envelope bytes each way. */
  readonly bytes: { readonly guestToHost: number; readonly hostToGuest: number };
  readonly messages: number;
  readonly pool: BlindingPoolStats;
  /** Every message, with `capture: true`. */
  readonly captured: readonly CapturedMessage[];
}

export const GUEST = 'guest';
export const HOST = 'host';

/** Run guest and host concurrently in this process. */
export async function runPsiLocal(
  guestIds: readonly string[] | PreparedIds,
  hostIds: readonly string[] | PreparedIds,
  options: LocalPsiOptions = {},
): Promise<LocalPsiResult> {
  const t0 = performance.now();
  const network: InMemoryNetwork = createInMemoryNetwork([GUEST, HOST], envelopeCodec, {
    capture: options.capture === true,
  });
  const pool =
    options.pool ??
    (await BlindingPool.create(options.threads === undefined ? {} : { threads: options.threads }));
  const session = options.session ?? 'psi-local';
  const logger = options.logger ?? noopLogger;
  const progress = options.progress ?? noProgress;
  const common = {
    session,
    pool,
    ...(options.mode !== undefined && { mode: options.mode }),
    ...(options.batchSize !== undefined && { batchSize: options.batchSize }),
    ...(options.allowInsecureRng !== undefined && { allowInsecureRng: options.allowInsecureRng }),
    logger,
    progress,
  };
  const kind = {
    ...(options.idKind !== undefined && { idKind: options.idKind }),
    ...(options.caseFold !== undefined && { caseFold: options.caseFold }),
  };
  try {
    const { guest, host } = await runParties(network, {
      guest: () =>
        runPsiGuest(guestIds, {
          ...kind,
          ...options.guestIds,
          ...common,
          channel: network.channel(GUEST),
          peer: HOST,
          ...(options.rng && { rng: options.rng.guest }),
          ...(options.offload?.guest && { offload: options.offload.guest }),
        }),
      host: () =>
        runPsiHost(hostIds, {
          ...kind,
          ...options.hostIds,
          ...common,
          channel: network.channel(HOST),
          peer: GUEST,
          ...(options.rng && { rng: options.rng.host }),
          ...(options.offload?.host && { offload: options.offload.host }),
          ...(options.hostCache && { cache: options.hostCache }),
          ...(options.hostKeyRotation !== undefined && { keyRotation: options.hostKeyRotation }),
          ...(options.now !== undefined && { now: options.now }),
        }),
    });
    const stats = network.channel(GUEST).stats();
    return {
      guest,
      host,
      seconds: (performance.now() - t0) / 1000,
      bytes: { guestToHost: stats.bytesSent[HOST] ?? 0, hostToGuest: stats.bytesReceived[HOST] ?? 0 },
      messages: (stats.messagesSent[HOST] ?? 0) + (stats.messagesReceived[HOST] ?? 0),
      pool: pool.stats(),
      captured: network.captured,
    };
  } finally {
    if (options.pool === undefined) await pool.close();
  }
}
