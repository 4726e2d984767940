/**
 * Aggregates for the Usage and Indicators pages.
 *
 * Per-bank online-scoring usage against the quota, for the Usage page: read-only aggregates over the
 * scoring quota's table (`scoring_requests`, scoring-policy/scoring-policy.ts; one row per admitted
 * request, keyed by bank and the fingerprint of the enterprise, never its id). Counts only.
 */
import { type Column, normalizeUscc, type Table } from '@fedscore/core';
import { MIN_RELEASED_BIN_ROWS } from '@fedscore/vfl';
import { type AuditLog, enterpriseSetFingerprint } from '../audit/index.ts';
import type { JobRecord, JobStore } from '../jobs/job-store.ts';
import type { PsiCheckpoint } from '../jobs/stages.ts';
import type { ModelRegistry } from '../registry/index.ts';
import type { RequestWindow } from '../scoring-policy/index.ts';
import type { NodeStore } from '../store/index.ts';
import type { AlignedProfile, DatasetProfile, PolicyUsage, ScoringUsage } from './pages.ts';

export function scoringUsage(
  store: NodeStore,
  quota: { readonly requests: number; readonly windowSeconds: number },
  now: number = Date.now(),
): ScoringUsage[] {
  const exists = store.hasTable('scoring_requests');
  if (!exists) return [];
  const rows = store.all<{ grantee: string; requests: number; enterprises: number; at_quota: number }>(
    `SELECT grantee, sum(n) AS requests, count(*) AS enterprises, sum(n >= ?) AS at_quota
       FROM (SELECT grantee, enterprise_fingerprint, count(*) AS n FROM scoring_requests WHERE at > ?
             GROUP BY grantee, enterprise_fingerprint)
      GROUP BY grantee ORDER BY grantee`,
    quota.requests,
    now - quota.windowSeconds * 1000,
  );
  return rows.map((r) => ({
    bank: r.grantee,
    requests: r.requests,
    enterprises: r.enterprises,
    atQuota: r.at_quota,
    quota: quota.requests,
    windowSeconds: quota.windowSeconds,
  }));
}

/**
 * Profile this node's datasets for the indicator catalogue: per feature column its type and coverage
 * (share of rows with a value). The id and label columns are left out; no value is read out. Coverage is
 * given only for a dataset of at least `minRows` rows (default `MIN_RELEASED_BIN_ROWS`, 50: the floor of
 * a released WOE bin and of a SecureBoost node), so that a share never describes a handful of
 * enterprises. A dataset that cannot be read is left out (the node's job log reports it when a job
 * needs it).
 */
export async function profileDatasets(
  names: readonly string[],
  read: (name: string) => Promise<Table>,
  minRows: number = MIN_RELEASED_BIN_ROWS,
  /** Per dataset, what each feature means (config `data.<name>.descriptions`). */
  descriptions: Readonly<Record<string, Readonly<Record<string, string>>>> = {},
): Promise<DatasetProfile[]> {
  const out: DatasetProfile[] = [];
  for (const dataset of names) {
    let t: Table;
    try {
      t = await read(dataset);
    } catch {
      continue;
    }
    const shown = t.nRows >= minRows;
    out.push({
      dataset,
      rows: t.nRows,
      minRows,
      columns: t.columns.map((c) => {
        const description = descriptions[dataset]?.[c.name];
        return {
          name: c.name,
          type: c.kind,
          ...(shown && { coverage: (t.nRows - c.missing) / t.nRows }),
          ...(description !== undefined && { description }),
        };
      }),
    });
  }
  return out;
}

/**
 * Per bank, the use of the scoring quota and rate in their current windows (`scoring.quota`,
 * `scoring.rate`), from the quota's table (`scoring_requests`: one row per admitted request, keyed by
 * bank and the enterprise's fingerprint). `banks` are listed even with no request (e.g. the node's
 * peers). Counts only.
 */
export function scoringPolicyUsage(
  store: NodeStore,
  policy: { readonly quota: RequestWindow; readonly rate: RequestWindow },
  banks: readonly string[] = [],
  now: number = Date.now(),
): PolicyUsage[] {
  const out = new Map<string, PolicyUsage>();
  for (const bank of banks) {
    out.set(bank, { bank, quotaRequests: 0, enterprises: 0, atQuota: 0, rateRequests: 0, atRate: 0 });
  }
  const exists = store.hasTable('scoring_requests');
  if (exists) {
    const window = (w: RequestWindow) =>
      store.all<{ grantee: string; requests: number; enterprises: number; full: number }>(
        `SELECT grantee, sum(n) AS requests, count(*) AS enterprises, sum(n >= ?) AS full
           FROM (SELECT grantee, enterprise_fingerprint, count(*) AS n FROM scoring_requests WHERE at > ?
                 GROUP BY grantee, enterprise_fingerprint)
          GROUP BY grantee`,
        w.requests,
        now - w.windowSeconds * 1000,
      );
    const row = (bank: string): PolicyUsage =>
      out.get(bank) ?? { bank, quotaRequests: 0, enterprises: 0, atQuota: 0, rateRequests: 0, atRate: 0 };
    for (const r of window(policy.quota)) {
      out.set(r.grantee, {
        ...row(r.grantee),
        quotaRequests: r.requests,
        enterprises: r.enterprises,
        atQuota: r.full,
      });
    }
    for (const r of window(policy.rate)) {
      out.set(r.grantee, { ...row(r.grantee), rateRequests: r.requests, atRate: r.full });
    }
  }
  return [...out.values()].sort((x, y) => x.bank.localeCompare(y.bank));
}

/**
 * Profile this node's datasets over the aligned set of each bank's last job that used them: per feature
 * column, the share of the job's aligned rows (`PsiCheckpoint.rows`, this party's table rows) with a
 * value. The file is read as it is now, so the profile is given only when the enterprises at those rows
 * are still the job's aligned set (their fingerprint equals the job's `alignedSet` in the model registry
 * or an enterprise-set fingerprint of the job's audit entries); else the job is left out. Coverage is
 * withheld below `minRows` aligned rows, as in `profileDatasets`. No value is read out.
 */
export async function profileAlignedSets(options: {
  readonly party: string;
  readonly jobs: JobStore;
  readonly audit: AuditLog;
  readonly models?: ModelRegistry;
  readonly names: readonly string[];
  readonly read: (name: string) => Promise<Table>;
  readonly minRows?: number;
}): Promise<AlignedProfile[]> {
  const minRows = options.minRows ?? MIN_RELEASED_BIN_ROWS;
  // Each bank's last job per dataset of this party (jobs are listed oldest first).
  const last = new Map<string, JobRecord>();
  for (const j of options.jobs.list()) {
    const dataset = j.spec.data[options.party];
    if (dataset === undefined || !options.names.includes(dataset)) continue;
    if (options.jobs.checkpoint(j.id, 'psi') === undefined) continue;
    last.set(`${dataset}\n${j.spec.guest}`, j);
  }
  const tables = new Map<string, Table | undefined>();
  const out: AlignedProfile[] = [];
  for (const [key, job] of last) {
    const dataset = key.slice(0, key.indexOf('\n'));
    if (!tables.has(dataset)) tables.set(dataset, await options.read(dataset).catch(() => undefined));
    const t = tables.get(dataset);
    const rows = options.jobs.checkpoint<PsiCheckpoint>(job.id, 'psi')!.output.rows;
    if (t === undefined || rows.some((r) => !Number.isSafeInteger(r) || r < 0 || r >= t.nRows)) continue;
    const known = new Set<string>();
    for (const e of options.audit.entries({ job: job.id })) {
      if (e.enterpriseFingerprint !== undefined) known.add(e.enterpriseFingerprint);
    }
    for (const m of options.models?.list() ?? []) {
      const aligned = m.dataFingerprints['alignedSet'];
      if (m.lineage.job === job.id && aligned !== undefined) known.add(aligned);
    }
    if (!known.has(enterpriseSetFingerprint(rows.map((r) => normalizeUscc(t.ids[r]!))))) continue;
    const shown = rows.length >= minRows;
    out.push({
      dataset,
      job: job.id,
      bank: job.spec.guest,
      rows: rows.length,
      minRows,
      columns: t.columns.map((c) => {
        if (!shown) return { name: c.name, type: c.kind };
        let present = 0;
        for (const r of rows) if (!isMissing(c, r)) present++;
        return { name: c.name, type: c.kind, coverage: present / rows.length };
      }),
    });
  }
  return out;
}

function isMissing(c: Column, row: number): boolean {
  return c.kind === 'numeric' ? Number.isNaN(c.values[row]!) : c.codes[row] === -1;
}
