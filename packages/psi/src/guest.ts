/**
 * PSI guest: the bank. Sends its blinded ids, blinds the government node's, and always learns the
 * intersection (which of its own ids are shared). In "both" mode it also returns the keys of the host's
 * ids so that the host learns the intersection too, in the same aligned order.
 *
 * Parties, message order, what each learns, threat model and papers: protocol.ts and
 * docs/protocols/psi.md.
 */
import type { PreparedIds } from './ids.ts';
import { type PsiPartyOptions, type PsiPartyResult, type RolePlan, runPsiParty } from './party.ts';
import { guestKeysStep, guestPointsStep, hostKeysStep, hostPointsStep } from './protocol.ts';

export type PsiGuestOptions = PsiPartyOptions;

/** Run the guest's side of one PSI session over `options.channel`. */
export function runPsiGuest(
  ids: readonly string[] | PreparedIds,
  options: PsiGuestOptions,
): Promise<PsiPartyResult> {
  const both = (options.mode ?? 'both') === 'both';
  const plan: RolePlan = {
    role: 'guest',
    ownPoints: guestPointsStep,
    peerPoints: hostPointsStep,
    ownKeys: guestKeysStep,
    peerKeys: both ? hostKeysStep : undefined,
    learns: true,
  };
  return runPsiParty(plan, ids, options);
}
