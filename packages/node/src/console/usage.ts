/**
 * Aggregates for the Usage and Indicators pages.
 *
 * Per-bank online-scoring usage against the quota, for the Usage page: read-only aggregates over the
 * scoring quota's table (`scoring_requests`, scoring-policy/scoring-policy.ts; one row per admitted
 * request, keyed by bank and the fingerprint of the enterprise, never its id). Counts only.
 */
import type { Table } from '@fedscore/core';
import { MIN_RELEASED_BIN_ROWS } from '@fedscore/vfl';
import type { RequestWindow } from '../scoring-policy/index.ts';
import type { NodeStore } from '../store/index.ts';
import type { DatasetProfile, PolicyUsage, ScoringUsage } from './pages.ts';

export function scoringUsage(
  store: NodeStore,
  quota: { readonly requests: number; readonly windowSeconds: number },
  now: number = Date.now(),
): ScoringUsage[] {
  const exists = store.get(
    "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'scoring_requests'",
  );
  if (exists === undefined) return [];
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
      columns: t.columns.map((c) => ({
        name: c.name,
        type: c.kind,
        ...(shown && { coverage: (t.nRows - c.missing) / t.nRows }),
      })),
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
  const exists = store.get(
    "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'scoring_requests'",
  );
  if (exists !== undefined) {
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
