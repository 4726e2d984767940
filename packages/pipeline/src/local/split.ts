/**
 * The train/test split of an in-process run, by ids: given id lists (checked by the caller), or a seeded
 * label-stratified split (core's `stratifiedHoldout`, the same hold-out a node job draws).
 */
import { type Rng, stratifiedHoldout } from '@fedscore/core';

export interface SplitIds {
  readonly train: string[];
  readonly test: string[];
  /** How the split was made, for reports. */
  readonly how: string;
}

/** Per class, a seeded shuffle puts round(fraction x class size) rows in test; both keep `joined` order. */
export function stratifiedSplit(
  joined: readonly string[],
  labelOf: ReadonlyMap<string, number>,
  fraction: number,
  rng: Rng,
  seed: number,
): SplitIds {
  const held = stratifiedHoldout(
    joined.map((id) => labelOf.get(id) ?? Number.NaN),
    fraction,
    rng,
  );
  const isTest = new Uint8Array(joined.length);
  for (const r of held) isTest[r] = 1;
  const train: string[] = [];
  const test: string[] = [];
  joined.forEach((id, r) => {
    (isTest[r] === 1 ? test : train).push(id);
  });
  return { train, test, how: `stratified ${Math.round(fraction * 100)}% test, seed ${seed}` };
}
