/**
 * Reading the report's optional inputs: the IV table (the JSON `fedscore binning --json` prints) and
 * its selection lineage. Validated with zod; errors name the file and the field.
 */
import { FedscoreError } from '@fedscore/core';
import { z } from 'zod';
import type { ImportanceRow, IvFeature } from './data.ts';

const featureSchema = z.object({
  party: z.string().min(1),
  name: z.string().min(1),
  iv: z.number().refine(Number.isFinite, 'must be a finite number'),
  strength: z.string().optional(),
  bins: z.array(z.unknown()).optional(),
});

const ivSchema = z.object({
  features: z.array(featureSchema).min(1, 'at least one feature'),
  selection: z
    .object({
      selected: z.array(z.object({ party: z.string(), name: z.string() })),
      dropped: z.array(z.object({ party: z.string(), name: z.string(), reason: z.string() })).default([]),
    })
    .optional(),
});

/** The IV table from parsed JSON (the object of `fedscore binning --json`, or an `{ error }` is refused). */
export function parseIvTable(value: unknown, file: string): IvFeature[] {
  const r = ivSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new FedscoreError(
      'invalid_config',
      `not an IV table (expected the JSON of 'fedscore binning --json'): ${issue.message}`,
      { file, field: field.replace(/^\./, '') || 'features' },
    );
  }
  const key = (p: string, n: string): string => `${p}\u0000${n}`;
  const sel = r.data.selection;
  const selected = new Set(sel?.selected.map((s) => key(s.party, s.name)));
  const dropped = new Map(sel?.dropped.map((s) => [key(s.party, s.name), s.reason]));
  return r.data.features.map((f) => {
    const k = key(f.party, f.name);
    return {
      party: f.party,
      name: f.name,
      iv: f.iv,
      strength: f.strength,
      bins: f.bins?.length,
      selected: sel === undefined ? undefined : selected.has(k),
      dropReason: dropped.get(k)?.replaceAll('_', ' '),
    };
  });
}

const splitSchema = z.object({
  splits: z.number().int().nonnegative(),
  gain: z.number().refine(Number.isFinite, 'must be a finite number').optional(),
});

const importanceSchema = z.object({
  party: z.string().min(1),
  role: z.enum(['guest', 'host']),
  features: z.record(z.string(), splitSchema),
  hosts: z.record(z.string(), splitSchema).optional(),
});

/** A party's tree-model importance (`<party>.importance.json`) as report rows. */
export function parseImportance(value: unknown, file: string): ImportanceRow[] {
  const r = importanceSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new FedscoreError(
      'invalid_config',
      `not a feature importance file (expected a <party>.importance.json of a tree model): ${issue.message}`,
      { file, field: field.replace(/^\./, '') || 'features' },
    );
  }
  const d = r.data;
  const row = (name: string, kind: ImportanceRow['kind'], v: z.infer<typeof splitSchema>): ImportanceRow => ({
    party: d.party,
    name,
    kind,
    splits: v.splits,
    ...(v.gain !== undefined && { gain: v.gain }),
  });
  return [
    ...Object.entries(d.features).map(([name, v]) => row(name, 'feature', v)),
    ...Object.entries(d.hosts ?? {}).map(([name, v]) => row(name, 'host', v)),
  ];
}
