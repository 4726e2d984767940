/**
 * SecureBoost with encryption `none` (the flagged debug mode) against an independent reference: a
 * centralized plaintext histogram GBDT written in `secureboost-reference.ts` on the pooled columns with
 * the same quantile edges. Same splits (feature and bin, node by node), leaf weights and scores within
 * 1e-9 (the only difference is float summation order: the protocol derives the larger child's
 * histogram as parent - smaller child). Two hosts, missing values, joint prediction on held-out rows.
 * Also: options are range-checked with the field named, and a host refuses a plan below its row floor.
 */
import { isFedscoreError, seededRng } from '@fedscore/core';
import {
  fitBins,
  type NumericBins,
  type PartyFeatures,
  parseGuestModel,
  parseHostModel,
  predictSecureBoost,
  resolveSecureBoost,
  type SecureBoostGuestModel,
  type SecureBoostHostModel,
  serializeGuestModel,
  serializeHostModel,
  trainSecureBoost,
} from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { predictReference, type RefNode, trainReference } from './secureboost-reference.ts';
import { syntheticSplit } from './synthetic.ts';

const data = syntheticSplit(1500, 2, [3, 2], 11, 0.03);
const TRAIN = 1100;
const slice = (f: PartyFeatures, from: number, to: number): PartyFeatures => ({
  names: f.names,
  columns: f.columns.map((c) => c.slice(from, to)),
});
const parties = [data.guest, ...data.hosts];
const train = parties.map((p) => slice(p, 0, TRAIN));
const test = parties.map((p) => slice(p, TRAIN, data.labels.length));
const yTrain = data.labels.slice(0, TRAIN);
const hp = { trees: 6, depth: 3, learningRate: 0.3, bins: 16, minChildWeight: 0.5, l2: 1, minNodeRows: 50 };

function flatten(
  nodes: readonly SecureBoostGuestModel['trees'][number][number][],
  hosts: readonly SecureBoostHostModel[],
  offsets: readonly number[],
  k = 0,
): (string | number)[] {
  const n = nodes[k]!;
  if (n.kind === 'leaf') return [n.weight];
  const global =
    n.kind === 'guest-split'
      ? `f${n.feature} b${n.bin}`
      : (() => {
          const s = hosts[n.host]!.splits.find((x) => x.splitId === n.splitId)!;
          return `f${offsets[n.host + 1]! + s.feature} b${s.bin}`;
        })();
  return [global, ...flatten(nodes, hosts, offsets, n.left), ...flatten(nodes, hosts, offsets, n.right)];
}

function flattenRef(n: RefNode): (string | number)[] {
  return n.leaf ? [n.weight] : [`f${n.feature} b${n.bin}`, ...flattenRef(n.left), ...flattenRef(n.right)];
}

function pooledTrain(hosts: number): Float64Array[] {
  return train.slice(0, 1 + hosts).flatMap((p) => p.columns);
}

function fittedTrain(hosts: number, bins: number): NumericBins[] {
  return train.slice(0, 1 + hosts).flatMap((p) =>
    p.columns.map((c, j) => {
      const missing = c.reduce((a, v) => a + (Number.isNaN(v) ? 1 : 0), 0);
      return fitBins(
        { kind: 'numeric', name: p.names[j]!, values: c, missing },
        { method: 'quantile', bins },
      ) as NumericBins;
    }),
  );
}

/** The hosts' per-bin floor in the pooled columns: every feature after the guest's. */
function hostBinFloor(parties: readonly { columns: readonly unknown[] }[], rows: number) {
  const first = parties[0]!.columns.length;
  const total = parties.reduce((a, p) => a + p.columns.length, 0);
  return { rows, features: new Set(Array.from({ length: total - first }, (_, k) => first + k)) };
}

async function compareWithReference(opts: typeof hp & { minLeafRows?: number }, hosts: number) {
  const run = await trainSecureBoost({
    guest: { features: train[0]!, labels: yTrain },
    hosts: train.slice(1, 1 + hosts).map((features) => ({ features })),
    scheme: 'none',
    hyperparams: opts,
  });
  const used = train.slice(0, 1 + hosts);
  const fitted = used.flatMap((p) =>
    p.columns.map((c, j) => {
      const missing = c.reduce((a, v) => a + (Number.isNaN(v) ? 1 : 0), 0);
      return fitBins(
        { kind: 'numeric', name: p.names[j]!, values: c, missing },
        { method: 'quantile', bins: opts.bins },
      ) as NumericBins;
    }),
  );
  const ref = trainReference(
    used.flatMap((p) => p.columns),
    fitted.map((b) => b.edges),
    fitted.map((b) => b.missing),
    yTrain,
    {
      ...opts,
      childRows: Math.max(opts.minLeafRows ?? 1, opts.minNodeRows),
      binFloor: hostBinFloor(used, Math.max(opts.minLeafRows ?? 1, opts.minNodeRows)),
    },
  );
  const offsets = [0];
  for (const p of used) offsets.push(offsets[offsets.length - 1]! + p.columns.length);
  let splits = 0;
  run.guest.trees.forEach((tree, t) => {
    const ours = flatten(tree, run.hosts, offsets);
    const theirs = flattenRef(ref.trees[t]!);
    expect(ours.length, `tree ${t}`).toBe(theirs.length);
    ours.forEach((x, i) => {
      if (typeof x === 'string') {
        splits++;
        expect(x, `tree ${t} token ${i}`).toBe(theirs[i]);
      } else expect(Math.abs(x - (theirs[i] as number)), `tree ${t} leaf ${i}`).toBeLessThan(1e-9);
    });
  });
  return { run, ref, splits };
}

describe('SecureBoost, scheme none, against a centralized histogram GBDT', () => {
  it('matches with a leaf minimum above the floor, depth 4, one host', async () => {
    const { run, ref, splits } = await compareWithReference(
      { ...hp, trees: 4, depth: 4, minLeafRows: 90 },
      1,
    );
    expect(splits).toBeGreaterThan(10);
    // The hosts' per-bin floor shaped these trees: without it the reference grows other ones.
    const unfloored = trainReference(
      pooledTrain(1),
      fittedTrain(1, hp.bins).map((b) => b.edges),
      fittedTrain(1, hp.bins).map((b) => b.missing),
      yTrain,
      { ...hp, trees: 4, depth: 4, childRows: 90 },
    );
    expect(JSON.stringify(unfloored.trees)).not.toBe(JSON.stringify(ref.trees));
    // Every leaf keeps >= 90 of the 1,100 rows: at most 12 leaves per tree.
    for (const t of run.guest.trees)
      expect(t.filter((n) => n.kind === 'leaf').length).toBeLessThanOrEqual(12);
  }, 60_000);

  it('grows the same trees and gives the same scores (1e-9), two hosts, joint prediction', async () => {
    const run = await trainSecureBoost({
      guest: { features: train[0]!, labels: yTrain },
      hosts: [{ features: train[1]! }, { features: train[2]! }],
      scheme: 'none',
      hyperparams: hp,
    });
    expect(run.insecure).toBe(true);
    const pooled = train.flatMap((p) => p.columns);
    const fitted = train.flatMap((p) =>
      p.columns.map((c, j) => {
        const missing = c.reduce((a, v) => a + (Number.isNaN(v) ? 1 : 0), 0);
        return fitBins(
          { kind: 'numeric', name: p.names[j]!, values: c, missing },
          { method: 'quantile', bins: hp.bins },
        ) as NumericBins;
      }),
    );
    const ref = trainReference(
      pooled,
      fitted.map((b) => b.edges),
      fitted.map((b) => b.missing),
      yTrain,
      { ...hp, childRows: hp.minNodeRows, binFloor: hostBinFloor(train, hp.minNodeRows) },
    );
    const offsets = [0, train[0]!.columns.length, train[0]!.columns.length + train[1]!.columns.length];
    expect(run.guest.trees.length).toBe(hp.trees);
    let splits = 0;
    run.guest.trees.forEach((tree, t) => {
      const ours = flatten(tree, run.hosts, offsets);
      const theirs = flattenRef(ref.trees[t]!);
      expect(ours.length, `tree ${t}`).toBe(theirs.length);
      ours.forEach((x, i) => {
        if (typeof x === 'string') {
          splits++;
          expect(x, `tree ${t} token ${i}`).toBe(theirs[i]);
        } else expect(Math.abs(x - (theirs[i] as number)), `tree ${t} leaf ${i}`).toBeLessThan(1e-9);
      });
    });
    // Non-trivial trees, with splits owned by both hosts and the guest.
    expect(splits).toBeGreaterThan(20);
    const kinds = new Set(
      run.guest.trees.flat().map((n) => (n.kind === 'host-split' ? `h${n.host}` : n.kind)),
    );
    expect(kinds).toEqual(new Set(['leaf', 'guest-split', 'h0', 'h1']));

    for (const [rows, labelSet] of [
      [train, 'train'],
      [test, 'test'],
    ] as const) {
      const joint = await predictSecureBoost({
        guest: { model: run.guest, features: rows[0]! },
        hosts: [
          { model: run.hosts[0]!, features: rows[1]! },
          { model: run.hosts[1]!, features: rows[2]! },
        ],
      });
      const expected = predictReference(
        ref,
        rows.flatMap((p) => p.columns),
      );
      let worst = 0;
      for (let i = 0; i < expected.length; i++)
        worst = Math.max(worst, Math.abs(joint.margins[i]! - expected[i]!));
      expect(worst, labelSet).toBeLessThan(1e-9);
    }
    // Model files per party round-trip; the guest's holds no host edge (its host splits are opaque ids).
    expect(parseGuestModel(serializeGuestModel(run.guest))).toEqual(run.guest);
    for (const h of run.hosts) expect(parseHostModel(serializeHostModel(h))).toEqual(h);
    const guestFile = serializeGuestModel(run.guest);
    for (const h of run.hosts) {
      for (const b of h.bins) {
        if (b.kind === 'numeric')
          for (const e of b.edges) expect(guestFile.includes(JSON.stringify(e))).toBe(false);
      }
    }
    expect(() => parseHostModel(guestFile)).toThrow(/not a fedscore.secureboost.host model/);
    // Training loss falls tree by tree.
    const losses = run.history.map((h) => h.trainLoss);
    for (let t = 1; t < losses.length; t++) expect(losses[t]!).toBeLessThan(losses[t - 1]!);
  }, 120_000);

  it('row subsampling runs with a cryptographic sampler only; a seeded one is refused by name', async () => {
    // Row subsampling changes which rows a tree sees; with a seeded sampler the run is repeatable.
    const opts = { ...hp, trees: 3, subsample: 0.6, minLeafRows: 80 };
    const go = () =>
      trainSecureBoost({
        guest: { features: train[0]!, labels: yTrain },
        hosts: [{ features: train[1]! }],
        scheme: 'none',
        hyperparams: opts,
        rng: seededRng(5) as never,
      }).catch((e: unknown) => e);
    // A seeded generator is refused for the sampler (cryptographic only): typed, naming the field.
    const refused = await go();
    expect(isFedscoreError(refused, 'insecure_rng')).toBe(true);
    const run = await trainSecureBoost({
      guest: { features: train[0]!, labels: yTrain },
      hosts: [{ features: train[1]! }],
      scheme: 'none',
      hyperparams: opts,
    });
    expect(run.history.length).toBe(3);
    // With 60 % of 1,100 rows and 80 rows per child, no tree can have more than 8 leaves.
    for (const t of run.guest.trees) expect(t.filter((n) => n.kind === 'leaf').length).toBeLessThanOrEqual(8);
    expect(run.history[2]!.trainLoss).toBeLessThan(run.history[0]!.trainLoss);
  }, 60_000);

  it('refuses bad options naming the field, and a plan below the host floor', async () => {
    for (const [field, value] of [
      ['trees', 0],
      ['depth', 13],
      ['learningRate', 0],
      ['bins', 1],
      ['l2', -1],
      ['subsample', 1.5],
      ['minNodeRows', 0],
    ] as const) {
      const err = (() => {
        try {
          resolveSecureBoost({ [field]: value });
        } catch (e) {
          return e;
        }
      })();
      expect(isFedscoreError(err, 'out_of_range'), field).toBe(true);
      expect((err as { field?: string }).field).toBe(field);
    }
    const low = await trainSecureBoost({
      guest: { features: train[0]!, labels: yTrain },
      hosts: [{ features: train[1]! }],
      scheme: 'none',
      hyperparams: { ...hp, trees: 1, minNodeRows: 5 },
    }).catch((e: unknown) => e);
    expect(isFedscoreError(low, 'protocol_abort') || isFedscoreError(low, 'privacy_floor')).toBe(true);
  });
});
