/**
 * Per-tree checkpoints and resume of SecureBoost (checkpoint.ts): a party that fails after tree k is
 * restarted with the checkpoints it holds, the handshake resumes every party from the latest tree all
 * of them hold, and the run ends with the uninterrupted run's model.
 *
 * The reference is an uninterrupted run with the same keys (each party's draws -- the validation split,
 * the guest's row subsample and feature subsample, each host's feature subsample -- come from its key,
 * one stream per tree). Scheme 'none' (no flooding): the resumed run's guest model (every split, every
 * leaf weight as float64 bytes, the base score), every host's split records, the per-tree history
 * (training loss and validation metric, bit for bit; seconds excluded) and the kept tree count equal the
 * reference's, tolerance 0. Under CKKS (the default ckks-16384-release, one host) the flooding noise is fresh on every
 * attempt, so a host split's recorded gain (computed from decrypted, flooded sums) differs by the noise:
 * the resumed model has the same trees (every split, split id and leaf weight, exactly: leaf weights
 * come from the guest's own exact sums) and every split's recorded gain within 5e-3 relative of the
 * uninterrupted run's (measured: at most 1.1e-3, the flooding on the decrypted sums); a split could only
 * change if two candidate gains were within that reach, which this data does not have. Checkpoints go through `serializeSecureBoostCheckpoint` /
 * `parseSecureBoostCheckpoint` as a node stores them. Also: a checkpoint of another key, plan or data is
 * refused naming the field, a corrupt one is refused by its checksum, and a checkpoint holds no
 * feature value, label or gradient of any party (searched as text).
 */
import { isFedscoreError, loadRngKey, type RngKey } from '@fedscore/core';
import {
  parseSecureBoostCheckpoint,
  type SecureBoostCheckpoint,
  serializeSecureBoostCheckpoint,
  type TrainSecureBoostResult,
  trainSecureBoost,
} from '@fedscore/vfl';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const data = syntheticSplit(1200, 2, [3, 2], 41, 0.03);
const hp = {
  trees: 6,
  depth: 3,
  bins: 12,
  learningRate: 0.3,
  minNodeRows: 50,
  subsample: 0.8,
  colsampleByTree: 0.7,
  validationFraction: 0.2,
  earlyStoppingRounds: 3,
};
const PARTIES = ['guest', 'host-1', 'host-2'];
type Store = Record<string, SecureBoostCheckpoint[]>;

let keys: Record<string, RngKey>;
beforeAll(async () => {
  keys = Object.fromEntries(
    await Promise.all(
      PARTIES.map(async (p, k) => [
        p,
        await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + k * 53 + 7) & 0xff)),
      ]),
    ),
  );
});

/** One run; every checkpoint goes through bytes into `store` (the last 3 kept per party, as a node). */
function run(o: {
  store?: Store;
  resumeFrom?: Store;
  killAt?: { party: string; tree: number };
  keys?: Record<string, RngKey>;
  trees?: number;
}): Promise<TrainSecureBoostResult> {
  return trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: data.hosts.map((features) => ({ features })),
    scheme: 'none',
    hyperparams: { ...hp, ...(o.trees !== undefined && { trees: o.trees }) },
    session: 'sb-resume',
    modelId: 'sb-resume-model',
    rngKeys: o.keys ?? keys,
    ...(o.resumeFrom !== undefined && { resumeFrom: o.resumeFrom }),
    onCheckpoint: (party, cp) => {
      if (o.store !== undefined) {
        const list = o.store[party] ?? [];
        o.store[party] = list;
        list.push(parseSecureBoostCheckpoint(serializeSecureBoostCheckpoint(cp)));
        if (list.length > 3) list.shift();
      }
      if (o.killAt !== undefined && party === o.killAt.party && cp.tree === o.killAt.tree) {
        throw new Error(`${party} killed after writing tree ${cp.tree}`);
      }
    },
  });
}

/** The whole model of a run as one string: the guest's trees with weights as float64 bytes, host splits. */
function modelBytes(r: TrainSecureBoostResult): string {
  const f64 = (x: number) => Buffer.from(Float64Array.of(x).buffer).toString('hex');
  const trees = r.guest.trees.map((t) =>
    t.map((n) =>
      n.kind === 'leaf'
        ? `L${f64(n.weight)}`
        : n.kind === 'guest-split'
          ? `G${n.feature}/${n.bin}/${f64(n.gain)}/${n.left}/${n.right}`
          : `H${n.host}:${n.splitId}/${f64(n.gain)}/${n.left}/${n.right}`,
    ),
  );
  return JSON.stringify({
    base: f64(r.guest.baseScore),
    trees,
    hosts: r.hosts.map((h) => h.splits),
    history: r.history.map((x) => [x.tree, f64(x.trainLoss), x.splits, f64(x.validation ?? Number.NaN)]),
    kept: r.bestTrees,
    validation: Array.from(r.validationRows),
  });
}

describe('SecureBoost per-tree checkpoints and resume, scheme none (tolerance 0)', () => {
  let reference: TrainSecureBoostResult;
  const refStore: Store = {};
  beforeAll(async () => {
    reference = await run({ store: refStore });
  });

  it('the reference grows trees with subsampling and validation, and checkpoints every tree on every party', () => {
    expect(reference.resumedFrom).toBe(0);
    expect(reference.history.length).toBeGreaterThanOrEqual(4);
    // The last 3 trees on each party: the guest numbers every tree, each host the trees it took part in.
    const grown = reference.history.length;
    for (const p of PARTIES)
      expect(
        refStore[p]!.map((c) => c.tree),
        p,
      ).toEqual([grown - 2, grown - 1, grown]);
    expect(reference.guest.trees.length).toBe(reference.bestTrees);
  });

  it('the draws come from the keys: the same keys repeat the model, other keys change it', async () => {
    expect(modelBytes(await run({}))).toBe(modelBytes(reference));
    const other = Object.fromEntries(
      await Promise.all(
        PARTIES.map(async (p, k) => [
          p,
          await loadRngKey(Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + k + 3) & 0xff)),
        ]),
      ),
    );
    expect(modelBytes(await run({ keys: other }))).not.toBe(modelBytes(reference));
  });

  for (const [party, tree] of [
    ['host-1', 2],
    ['guest', 3],
    ['host-2', 1],
  ] as const) {
    it(`${party} fails after tree ${tree}: resumed from the latest tree every party holds, same model`, async () => {
      const store: Store = {};
      await expect(run({ store, killAt: { party, tree } })).rejects.toThrow();
      const held = Object.fromEntries(PARTIES.map((p) => [p, (store[p] ?? []).map((c) => c.tree)]));
      // The failed party holds `tree`; the others at most one more (they may finish the tree under way).
      expect(Math.max(...held[party]!)).toBe(tree);
      const resumed = await run({ store, resumeFrom: store });
      const common = Math.min(...PARTIES.map((p) => Math.max(0, ...held[p]!)));
      expect(resumed.resumedFrom).toBe(common);
      expect(resumed.resumedFrom).toBeGreaterThanOrEqual(1);
      expect(modelBytes(resumed)).toBe(modelBytes(reference));
    });
  }

  it('checkpoints of another key, plan or data are refused naming the field; a corrupt one by its checksum', async () => {
    const other = { ...keys, 'host-1': await loadRngKey(new Uint8Array(32).map((_, i) => i + 100)) };
    const refuse = async (o: Parameters<typeof run>[0], field: RegExp) => {
      const e = await run(o).catch((x: unknown) => x);
      expect(isFedscoreError(e), String(e)).toBe(true);
      const err = e as { code: string; field?: string; details?: Record<string, unknown> };
      const code = err.code === 'protocol_abort' ? err.details?.peerCode : err.code;
      expect(code).toBe('checkpoint');
      if (err.code === 'checkpoint') expect(err.field).toMatch(field);
    };
    await refuse({ resumeFrom: refStore, keys: other }, /rngKeyId/);
    await refuse({ resumeFrom: refStore, trees: 7 }, /planDigest/);
    const bytes = serializeSecureBoostCheckpoint(refStore.guest!.at(-1)!);
    bytes[bytes.length - 5]! ^= 0x01;
    expect(() => parseSecureBoostCheckpoint(bytes)).toThrow(/checksum/);
  });

  it('a checkpoint holds no feature value, label or gradient (searched as text)', () => {
    const text = PARTIES.flatMap((p) =>
      refStore[p]!.map((c) => new TextDecoder().decode(serializeSecureBoostCheckpoint(c))),
    );
    // Distinctive values: raw feature values of every party (the synthetic features are continuous).
    const planted = [...data.guest.columns, ...data.hosts.flatMap((h) => h.columns)].flatMap((c) =>
      Array.from(c.slice(0, 40)).filter((v) => Number.isFinite(v) && !Number.isInteger(v)),
    );
    expect(planted.length).toBeGreaterThan(100);
    for (const t of text) for (const v of planted) expect(t.includes(String(v))).toBe(false);
    // A host's checkpoint has no label-derived value: only counts and its own (feature, bin) records.
    for (const h of ['host-1', 'host-2']) {
      for (const c of refStore[h]!) {
        expect(Object.keys(c).sort()).toEqual(
          [
            'dataDigest',
            'format',
            'modelId',
            'planDigest',
            'releaseBudget',
            'released',
            'rngKeyId',
            'role',
            'splitTree',
            'splits',
            'tree',
            'version',
          ].sort(),
        );
      }
    }
  });
});

describe('SecureBoost resume under CKKS (fresh flooding: same trees, host-split gains within 5e-3 relative)', () => {
  const small = syntheticSplit(500, 1, [3], 43, 0.03);
  const ckks = (o: { store?: Store; resumeFrom?: Store; killAt?: number }) =>
    trainSecureBoost({
      guest: { features: small.guest, labels: small.labels },
      hosts: [{ features: small.hosts[0]! }],
      scheme: 'ckks',
      hyperparams: { trees: 3, depth: 2, bins: 8, learningRate: 0.3, subsample: 0.9 },
      session: 'sb-resume-ckks',
      modelId: 'sb-resume-ckks',
      rngKeys: { guest: keys.guest!, 'host-1': keys['host-1']! },
      ...(o.resumeFrom !== undefined && { resumeFrom: o.resumeFrom }),
      onCheckpoint: (party, cp) => {
        if (o.store !== undefined) {
          const list = o.store[party] ?? [];
          o.store[party] = list;
          list.push(parseSecureBoostCheckpoint(serializeSecureBoostCheckpoint(cp)));
        }
        if (party === 'host-1' && cp.tree === o.killAt) throw new Error('host killed');
      },
    });
  const shape = (r: TrainSecureBoostResult) =>
    JSON.stringify({
      trees: r.guest.trees.map((t) => t.map((n) => (n.kind === 'leaf' ? n : { ...n, gain: 0 }))),
      hosts: r.hosts.map((h) => h.splits),
    });
  const gains = (r: TrainSecureBoostResult) =>
    r.guest.trees.flatMap((t) => t.flatMap((n) => (n.kind === 'leaf' ? [] : [n.gain])));

  it('a host failed after tree 1 is resumed: the same trees and leaf weights, gains within 5e-3 relative', async () => {
    const reference = await ckks({});
    const store: Store = {};
    await expect(ckks({ store, killAt: 1 })).rejects.toThrow();
    const resumed = await ckks({ resumeFrom: store });
    expect(resumed.resumedFrom).toBe(1);
    expect(gains(reference).length).toBeGreaterThan(2);
    expect(shape(resumed)).toBe(shape(reference));
    const rel = gains(resumed).map(
      (g, i) => Math.abs(g - gains(reference)[i]!) / Math.abs(gains(reference)[i]!),
    );
    for (const r of rel) expect(r).toBeLessThan(5e-3);
  }, 240_000);
});
