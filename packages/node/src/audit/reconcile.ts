/**
 * The data owner's check of a user's claimed uses: the government node compares the `data_use` entries a
 * bank exported from its own log ("these are all the times we used your data") with the entries the
 * government's node wrote while serving those jobs. Both nodes record a use with the same fields (the user
 * as actor, the owner as dataOwner, purpose, job, the enterprise-set fingerprint and count), so a use is
 * matched on (job, purpose) and must agree on fingerprint and count.
 *
 * - `unclaimed`: uses the owner served that the user's log leaves out (the user hides a use);
 * - `unknownToOwner`: uses the user claims that the owner never served (off-platform data or a forged log);
 * - `mismatched`: the same job and purpose on different enterprise sets.
 * The claimed log's own hash chain is verified first; a broken chain makes the result not ok whatever else.
 */
import type { AuditEntry, AuditVerification } from './audit-log.ts';
import { verifyAuditEntries } from './audit-log.ts';

export interface AuditUse {
  readonly job: string;
  readonly purpose: string;
  readonly seq: number;
  readonly enterpriseFingerprint?: string;
  readonly enterpriseCount?: number;
}

export interface AuditReconciliation {
  readonly ok: boolean;
  readonly claimedChain: AuditVerification;
  readonly matched: number;
  readonly unclaimed: readonly AuditUse[];
  readonly unknownToOwner: readonly AuditUse[];
  readonly mismatched: readonly { readonly owner: AuditUse; readonly claimed: AuditUse }[];
}

export function reconcileAuditLogs(
  own: Iterable<AuditEntry>,
  claimed: readonly AuditEntry[],
  parties: { readonly dataOwner: string; readonly user: string },
): AuditReconciliation {
  const claimedChain = verifyAuditEntries(claimed);
  const relevant = (e: AuditEntry): boolean =>
    e.kind === 'data_use' && e.dataOwner === parties.dataOwner && e.actor === parties.user;
  const key = (e: AuditEntry): string => JSON.stringify([e.job ?? null, e.purpose ?? null]);
  const use = (e: AuditEntry): AuditUse => ({
    job: e.job ?? '',
    purpose: e.purpose ?? '',
    seq: e.seq,
    ...(e.enterpriseFingerprint !== undefined && { enterpriseFingerprint: e.enterpriseFingerprint }),
    ...(e.enterpriseCount !== undefined && { enterpriseCount: e.enterpriseCount }),
  });
  const claims = new Map<string, AuditEntry[]>();
  for (const e of claimed) {
    if (!relevant(e)) continue;
    const list = claims.get(key(e));
    if (list === undefined) claims.set(key(e), [e]);
    else list.push(e);
  }
  let matched = 0;
  const unclaimed: AuditUse[] = [];
  const mismatched: { owner: AuditUse; claimed: AuditUse }[] = [];
  for (const e of own) {
    if (!relevant(e)) continue;
    const list = claims.get(key(e));
    if (list === undefined || list.length === 0) {
      unclaimed.push(use(e));
      continue;
    }
    const i = list.findIndex(
      (c) => c.enterpriseFingerprint === e.enterpriseFingerprint && c.enterpriseCount === e.enterpriseCount,
    );
    if (i >= 0) {
      matched++;
      list.splice(i, 1);
    } else {
      const c = list.shift() as AuditEntry;
      mismatched.push({ owner: use(e), claimed: use(c) });
    }
  }
  const unknownToOwner = [...claims.values()].flat().map(use);
  return {
    ok: claimedChain.ok && unclaimed.length === 0 && unknownToOwner.length === 0 && mismatched.length === 0,
    claimedChain,
    matched,
    unclaimed,
    unknownToOwner,
    mismatched,
  };
}
