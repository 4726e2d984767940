/**
 * SecureBoost feature importance (XGBoost's "weight" and "total_gain"), the one home the pipeline's
 * published importance builds on: `guestFeatureImportance`, `hostSplitTotals` (the guest's per-host
 * totals) and `hostFeatureImportance`, on a hand-built model whose counts and gains are worked out by
 * hand below (exact: sums of a few doubles in the same order).
 */
import { FedscoreError } from '@fedscore/core';
import {
  guestFeatureImportance,
  hostFeatureImportance,
  hostSplitGains,
  hostSplitTotals,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';

const leaf = (weight: number) => ({ kind: 'leaf' as const, weight });

// Tree 0: guest f1 (gain 2) -> host 0 split 0 (gain 1.5) | host 1 split 0 (gain 0.25).
// Tree 1: host 0 split 1 (gain 0.5) -> guest f0 (gain 0.125) | leaf.
const guest: SecureBoostGuestModel = {
  format: 'fedscore.secureboost.guest',
  version: 1,
  modelId: 'm',
  baseScore: 0,
  learningRate: 0.3,
  hosts: ['gov', 'utility'],
  features: ['revenue', 'leverage'],
  bins: [],
  trees: [
    [
      { kind: 'guest-split', feature: 1, bin: 3, gain: 2, left: 1, right: 2 },
      { kind: 'host-split', host: 0, splitId: 0, gain: 1.5, left: 3, right: 4 },
      { kind: 'host-split', host: 1, splitId: 0, gain: 0.25, left: 5, right: 6 },
      leaf(0.1),
      leaf(0.2),
      leaf(0.3),
      leaf(0.4),
    ],
    [
      { kind: 'host-split', host: 0, splitId: 1, gain: 0.5, left: 1, right: 2 },
      { kind: 'guest-split', feature: 0, bin: 1, gain: 0.125, left: 3, right: 4 },
      leaf(0.5),
      leaf(0.6),
      leaf(0.7),
    ],
  ],
};

const host: SecureBoostHostModel = {
  format: 'fedscore.secureboost.host',
  version: 1,
  modelId: 'm',
  features: ['tax_paid', 'penalties', 'staff'],
  bins: [],
  splits: [
    { splitId: 0, feature: 2, bin: 4 },
    { splitId: 1, feature: 2, bin: 7 },
  ],
};

describe('SecureBoost importance', () => {
  it("the guest's own features and its per-host totals", () => {
    expect(guestFeatureImportance(guest)).toEqual([
      { feature: 'revenue', splits: 1, gain: 0.125 },
      { feature: 'leverage', splits: 1, gain: 2 },
    ]);
    expect(hostSplitTotals(guest)).toEqual([
      { host: 'gov', splits: 2, gain: 2 },
      { host: 'utility', splits: 1, gain: 0.25 },
    ]);
  });

  it("a host's counts, and its gains only when given the guest's split gains", () => {
    expect(hostFeatureImportance(host)).toEqual([
      { feature: 'tax_paid', splits: 0 },
      { feature: 'penalties', splits: 0 },
      { feature: 'staff', splits: 2 },
    ]);
    const gains = hostSplitGains(guest, 0);
    expect([...gains]).toEqual([1.5, 0.5]);
    expect(hostFeatureImportance(host, gains)).toEqual([
      { feature: 'tax_paid', splits: 0, gain: 0 },
      { feature: 'penalties', splits: 0, gain: 0 },
      { feature: 'staff', splits: 2, gain: 2 },
    ]);
  });

  it('a split naming no host or feature of the model is a typed error, not a silent miscount', () => {
    const badHost = { ...guest, trees: [[{ ...guest.trees[0]![1]!, host: 2 }, leaf(0), leaf(0)]] };
    expect(() => hostSplitTotals(badHost as SecureBoostGuestModel)).toThrow(FedscoreError);
    const badFeature = { ...guest, trees: [[{ ...guest.trees[0]![0]!, feature: 5 }, leaf(0), leaf(0)]] };
    expect(() => guestFeatureImportance(badFeature as SecureBoostGuestModel)).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'trees' }),
    );
    const badSplit = { ...host, splits: [{ splitId: 0, feature: 3, bin: 0 }] };
    expect(() => hostFeatureImportance(badSplit)).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'splits' }),
    );
  });
});
