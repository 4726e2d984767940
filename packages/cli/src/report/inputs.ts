/**
 * Reading the report's optional inputs: the IV table (the JSON `fedscore binning --json` prints) and
 * its selection lineage. Validated with zod; errors name the file and the field.
 */
import { FedscoreError } from '@fedscore/core';
import { z } from 'zod';
import type { IvFeature } from './data.ts';

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
