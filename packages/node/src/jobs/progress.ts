/**
 * Coarse progress of a stage attempt, kept as job events (kind `progress`) so that the console's live view
 * can show "epoch 2 of 5" while the stage runs. Only counters leave a stage here: epochs (hetero-LR),
 * trees (SecureBoost), rounds (HFL) and the percentage of PSI's current step. A PSI step is reported as a
 * percentage, not as id counts, so that no table size reaches the event log; no feature, label, score or
 * weight is ever in a progress report (core's `ProgressEvent` carries a stage label and counts only).
 *
 * The protocols report far more often (per batch, per id block); a series is recorded when it starts,
 * when it ends and whenever it has advanced by a tenth of its total since the last record, so one series
 * adds at most about a dozen events however long it runs.
 */

import type { ProgressEvent } from '@fedscore/core';

/** One recorded progress point of a stage attempt. */
export interface StageProgress {
  readonly unit: 'epoch' | 'tree' | 'round' | 'percent';
  readonly done: number;
  readonly total: number;
}

/** The coarse counter a protocol's progress report stands for, or undefined for finer reports. */
export function coarseProgress(p: ProgressEvent): StageProgress | undefined {
  const total = p.total;
  if (total === undefined || !Number.isSafeInteger(total) || total <= 0) return undefined;
  if (!Number.isSafeInteger(p.done) || p.done < 0) return undefined;
  const done = Math.min(p.done, total);
  if (p.unit === 'epoch') return { unit: 'epoch', done, total };
  if (p.unit === 'trees') return { unit: 'tree', done, total };
  if (p.unit === undefined && p.stage === 'rounds') return { unit: 'round', done, total };
  if (p.unit === 'ids' && p.stage.startsWith('psi ')) {
    return { unit: 'percent', done: Math.floor((100 * done) / total), total: 100 };
  }
  return undefined;
}

/** The event detail of a progress point (`unit=epoch done=2 total=5`). */
export function progressDetail(p: StageProgress): string {
  return `unit=${p.unit} done=${p.done} total=${p.total}`;
}

const UNITS = new Set<StageProgress['unit']>(['epoch', 'tree', 'round', 'percent']);

/** A progress event's detail read back; undefined if it is not one. */
export function parseProgressDetail(detail: string | null): StageProgress | undefined {
  const m = /^unit=([a-z]+) done=(\d{1,9}) total=(\d{1,9})$/.exec(detail ?? '');
  if (m === null || !UNITS.has(m[1] as StageProgress['unit'])) return undefined;
  const done = Number(m[2]);
  const total = Number(m[3]);
  if (total <= 0 || done > total) return undefined;
  return { unit: m[1] as StageProgress['unit'], done, total };
}

/**
 * Decides which progress reports of one stage attempt are recorded: `record` is called with the points
 * to keep (a new series, its end, and every tenth of its total in between).
 */
export function progressThrottle(record: (p: StageProgress) => void): (p: ProgressEvent) => void {
  let last: StageProgress | undefined;
  return (event) => {
    const p = coarseProgress(event);
    if (p === undefined) return;
    const fresh = last === undefined || last.unit !== p.unit || last.total !== p.total || p.done < last.done;
    if (!fresh && p.done === last!.done) return;
    if (fresh || p.done === p.total || p.done - last!.done >= Math.max(1, p.total / 10)) {
      last = p;
      record(p);
    }
  };
}
