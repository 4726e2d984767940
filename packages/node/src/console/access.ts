/**
 * Who sees what in the console. Every page and every object goes through one `ConsoleAccess`; an object
 * out of the account's scope is answered exactly like one that does not exist (404), so guessing a URL
 * tells a bank analyst nothing about another bank's jobs or models.
 *
 *   platform-operator  every page, every bank; submits, cancels and retries jobs, promotes and retires
 *                      models; records and revokes consents in this node's registry (audited with the user)
 *   bank-analyst       jobs whose guest (coordinator, label holder) is its bank; models whose guest party
 *                      is its bank; indicators and samples of those jobs; audit entries where its bank is
 *                      the actor or the data owner; consents granted to its bank. Submits jobs of its bank
 *                      and promotes/retires its bank's models; cancels and retries its bank's jobs.
 *                      Sees the whole loan-product pool; edits its bank's products; sees which enterprises
 *                      its own products matched, and only the count for another bank's.
 *   auditor            read-only: audit log (with chain verification), consent, usage, algorithms,
 *                      post-loan alerts
 *
 * Post-loan alerts (alerts.ts): a bank analyst sees and acknowledges the alerts about its own bank's
 * borrowers; the auditor sees them read-only; the platform operator sees counts per bank only, never
 * which enterprises another bank lends to.
 */
import type { AuditEntry } from '../audit/index.ts';
import type { ConsentRecord } from '../consent/index.ts';
import type { JobRecord } from '../jobs/job-store.ts';
import type { ModelVersion } from '../registry/index.ts';
import type { ConsoleAccount, ConsoleRole } from './accounts.ts';

export const CONSOLE_PAGES = [
  'jobs',
  'models',
  'indicators',
  'samples',
  'algorithms',
  'audit',
  'consent',
  'usage',
  'products',
  'alerts',
] as const;
export type ConsolePage = (typeof CONSOLE_PAGES)[number];

const PAGES_OF: Readonly<Record<ConsoleRole, readonly ConsolePage[]>> = {
  'platform-operator': CONSOLE_PAGES,
  'bank-analyst': [
    'jobs',
    'models',
    'indicators',
    'samples',
    'algorithms',
    'audit',
    'consent',
    'usage',
    'products',
    'alerts',
  ],
  auditor: ['algorithms', 'audit', 'consent', 'usage', 'alerts'],
};

/** The bank a job belongs to: its guest (the label holder that coordinates it). */
export function jobBank(job: JobRecord): string {
  return job.spec.guest;
}

/** The bank a model belongs to: its guest party (the job's label holder). */
export function modelBank(model: ModelVersion): string | undefined {
  return model.parties.find((p) => p.role === 'guest')?.id;
}

export interface ConsoleAccess {
  canOpen(account: ConsoleAccount, page: ConsolePage): boolean;
  canSeeJob(account: ConsoleAccount, job: JobRecord): boolean;
  canSeeModel(account: ConsoleAccount, model: ModelVersion): boolean;
  canSeeAuditEntry(account: ConsoleAccount, entry: AuditEntry): boolean;
  canSeeConsent(account: ConsoleAccount, consent: ConsentRecord): boolean;
  /** Record a grant in, or revoke a consent of, this node's consent registry (the data owner's). */
  canManageConsent(account: ConsoleAccount): boolean;
  /** Per-bank usage rows (a bank analyst sees its own bank's only). */
  canSeeBank(account: ConsoleAccount, bank: string): boolean;
  canSubmitJob(account: ConsoleAccount, guest: string): boolean;
  /** Cancel or retry a job (its bank's: the job's guest). */
  canControlJob(account: ConsoleAccount, job: JobRecord): boolean;
  canChangeModel(account: ConsoleAccount, model: ModelVersion): boolean;
  /** Create or change a loan product of `bank` (products.ts). */
  canEditProduct(account: ConsoleAccount, bank: string): boolean;
  /** See which enterprises a product of `bank` matched (others see the count only). */
  canSeeProductMatches(account: ConsoleAccount, bank: string): boolean;
  /** See the alerts `bank` received, borrower by borrower (others see per-bank counts only). */
  canSeeAlerts(account: ConsoleAccount, bank: string): boolean;
  /** Acknowledge an alert `bank` received (audited). */
  canAcknowledgeAlert(account: ConsoleAccount, bank: string): boolean;
  /**
   * See indicator coverage over a job's aligned set. The guest bank chose that set (its PSI ids), so two
   * of its jobs differing by one enterprise would tell it that enterprise's missing values: only the
   * platform operator sees it (banks see coverage over the owner's whole table).
   */
  canSeeAlignedCoverage(account: ConsoleAccount): boolean;
}

const ownBank = (a: ConsoleAccount, bank: string | undefined): boolean =>
  a.role === 'platform-operator' || (a.role === 'bank-analyst' && bank !== undefined && a.bank === bank);

/** The roles of the issue (docs/console.md). */
export const ROLE_ACCESS: ConsoleAccess = {
  canOpen: (a, page) => PAGES_OF[a.role].includes(page),
  canSeeJob: (a, job) => a.role !== 'auditor' && ownBank(a, jobBank(job)),
  canSeeModel: (a, m) => a.role !== 'auditor' && ownBank(a, modelBank(m)),
  canSeeAuditEntry: (a, e) =>
    a.role !== 'bank-analyst' || (a.bank !== undefined && (e.actor === a.bank || e.dataOwner === a.bank)),
  canSeeConsent: (a, c) => a.role !== 'bank-analyst' || c.grantee === a.bank,
  // The grantee must not authorize itself, and the auditor only reads: the platform operator alone.
  canManageConsent: (a) => a.role === 'platform-operator',
  canSeeBank: (a, bank) => a.role !== 'bank-analyst' || a.bank === bank,
  canSubmitJob: (a, guest) => ownBank(a, guest),
  canControlJob: (a, job) => ownBank(a, jobBank(job)),
  canChangeModel: (a, m) => ownBank(a, modelBank(m)),
  canEditProduct: (a, bank) => ownBank(a, bank),
  canSeeProductMatches: (a, bank) => ownBank(a, bank),
  canSeeAlerts: (a, bank) => a.role === 'auditor' || (a.role === 'bank-analyst' && a.bank === bank),
  canAcknowledgeAlert: (a, bank) => a.role === 'bank-analyst' && a.bank === bank,
  canSeeAlignedCoverage: (a) => a.role === 'platform-operator',
};
