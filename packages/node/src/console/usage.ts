/**
 * Aggregates for the Usage and Indicators pages.
 *
 * Per-bank online-scoring usage against the quota, for the Usage page: read-only aggregates over the
 * scoring quota's table (`scoring_requests`, scoring-policy/scoring-policy.ts; one row per admitted
 * request, keyed by bank and the fingerprint of the enterprise, never its id). Counts only.
 */
import type { Table } from '@fedscore/core';
import type { NodeStore } from '../store/index.ts';
import type { DatasetProfile, ScoringUsage } from './pages.ts';

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
 * (share of rows with a value). The id and label columns are left out; no value is read out. A dataset
 * that cannot be read is left out (the node's job log reports it when a job needs it).
 */
export async function profileDatasets(
  names: readonly string[],
  read: (name: string) => Promise<Table>,
): Promise<DatasetProfile[]> {
  const out: DatasetProfile[] = [];
  for (const dataset of names) {
    let t: Table;
    try {
      t = await read(dataset);
    } catch {
      continue;
    }
    out.push({
      dataset,
      rows: t.nRows,
      columns: t.columns.map((c) => ({
        name: c.name,
        type: c.kind,
        coverage: t.nRows === 0 ? 0 : (t.nRows - c.missing) / t.nRows,
      })),
    });
  }
  return out;
}
