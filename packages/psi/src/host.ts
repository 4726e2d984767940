/**
 * PSI host: the government / platform node. Sends its blinded ids (fresh, or from a cache built once and
 * reused across sessions and banks, cache.ts), blinds the bank's ids and returns their keys. In "both"
 * mode it learns the intersection in the aligned order; in "guest_only" mode only its size.
 *
 * Parties, message order, what each learns, threat model and papers: protocol.ts and
 * docs/protocols/psi.md.
 */
import {
  checkHostCache,
  checkHostCacheRotation,
  type PsiHostCache,
  type PsiKeyRotationPolicy,
} from './cache.ts';
import type { PreparedIds } from './ids.ts';
import {
  type PsiPartyOptions,
  type PsiPartyResult,
  preparedOf,
  type RolePlan,
  runPsiParty,
} from './party.ts';
import { guestKeysStep, guestPointsStep, hostKeysStep, hostPointsStep } from './protocol.ts';

export interface PsiHostOptions extends PsiPartyOptions {
  /**
   * The host's set blinded ahead of time (`buildHostCache`), with its key. Must have been built from
   * the same ids prepared as the same kind (checked by digest and hash domain); its key is reused,
   * so it is refused past `keyRotation` (`psi_key_expired`), and each session started with it is
   * counted in `cache.sessions` (persist the cache afterwards).
   */
  readonly cache?: PsiHostCache;
  /** When the cache's key must be retired. Default `DEFAULT_PSI_KEY_ROTATION` (30 days, 100 sessions). */
  readonly keyRotation?: PsiKeyRotationPolicy;
  /** The clock for the key's age (tests). Default `Date.now`. */
  readonly now?: () => number;
}

/** Run the host's side of one PSI session over `options.channel`. */
export function runPsiHost(
  ids: readonly string[] | PreparedIds,
  options: PsiHostOptions,
): Promise<PsiPartyResult> {
  const both = (options.mode ?? 'both') === 'both';
  const cache = options.cache;
  let prepared: readonly string[] | PreparedIds = ids;
  if (cache !== undefined) {
    prepared = preparedOf(ids, options);
    checkHostCache(cache, prepared);
    checkHostCacheRotation(cache, options.keyRotation, (options.now ?? Date.now)());
    // Counted before the run: a session that fails midway has still exposed the key's points.
    cache.sessions += 1;
  }
  const plan: RolePlan = {
    role: 'host',
    ownPoints: hostPointsStep,
    peerPoints: guestPointsStep,
    ownKeys: both ? hostKeysStep : undefined,
    peerKeys: guestKeysStep,
    learns: both,
    ...(cache !== undefined && {
      precomputed: { key: cache.key, order: cache.order, points: cache.points },
    }),
  };
  return runPsiParty(plan, prepared, options);
}
