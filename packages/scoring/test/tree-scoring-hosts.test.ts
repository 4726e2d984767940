/**
 * Private-path tree scoring of a model of several hosts (`scoring.tree` version 2, tree.ts: the
 * leaf-weight ciphertext passes from the guest through host-1 then host-2, each multiplying in its own
 * 0/1 leaf vector; the last sums, selects and floods it back). A SecureBoost model is trained by vfl
 * (`trainSecureBoost`, scheme `none`) on a seeded population of a guest and two hosts whose features
 * both carry signal, so that both hosts own splits. Checked against independent references:
 *   - the private path's margins equal vfl's plain federated prediction (`predictSecureBoost`) within 6
 *     flooding sd, and without flooding within TREE_ERROR_BOUND / 8 (the bound the flooding is sized
 *     from holds for the deeper parameters of two hosts too, with a margin of 8 where one host keeps 16); the plain flow over `runTreeScoring` equals
 *     vfl's prediction exactly;
 *   - who receives what: each host's tree-layout names only its own split ids (the other host's never
 *     reach it), host-1 -> host-2 carries ciphertexts only (tree-leaf-weights), the guest receives
 *     tree-scores from host-2 only; no leaf weight (float64, both byte orders) is in any byte a host
 *     receives, with a positive control on the guest's model file;
 *   - the parameters: one host is exactly `ckks-16384-release`; 2 and 3 hosts add one 55-bit level per
 *     host within the 438-bit bound of N = 16384; a model of 4 hosts is refused (`unsupported`).
 */
import { normal, seededRng } from '@fedscore/core';
import { encodeValue } from '@fedscore/core/testing';
import { CKKS_PRESETS } from '@fedscore/he';
import {
  runTreeScoring,
  TREE_ERROR_BOUND,
  TREE_MAX_HOSTS,
  treeFloodingStdDev,
  treeScoringParams,
} from '@fedscore/scoring';
import { type PartyFeatures, predictSecureBoost, serializeGuestModel, trainSecureBoost } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { beforeAll, describe, expect, it } from 'vitest';

function population(n: number, seed: number) {
  const rng = seededRng(seed);
  const col = () => Float64Array.from({ length: n }, () => normal(rng));
  const guest: PartyFeatures = { names: ['g0', 'g1'], columns: [col(), col()] };
  const h1: PartyFeatures = { names: ['a0', 'a1'], columns: [col(), col()] };
  const h2: PartyFeatures = { names: ['b0', 'b1'], columns: [col(), col()] };
  const labels = Float64Array.from({ length: n }, (_, i) => {
    const z =
      0.7 * guest.columns[0]![i]! +
      1.2 * h1.columns[0]![i]! -
      1.1 * h2.columns[0]![i]! +
      0.6 * h2.columns[1]![i]!;
    return rng.nextUint32() / 2 ** 32 < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
  return { guest, h1, h2, labels };
}

const slice = (f: PartyFeatures, from: number, to: number): PartyFeatures => ({
  names: f.names,
  columns: f.columns.map((c) => c.slice(from, to)),
});

describe('private-path tree scoring with several hosts', () => {
  const pop = population(1400, 5);
  const TRAIN = 1000;
  const SCORE = 50;
  const score = {
    guest: slice(pop.guest, TRAIN, TRAIN + SCORE),
    h1: slice(pop.h1, TRAIN, TRAIN + SCORE),
    h2: slice(pop.h2, TRAIN, TRAIN + SCORE),
  };
  let trained: Awaited<ReturnType<typeof trainSecureBoost>>;
  let plain: Float64Array;

  beforeAll(async () => {
    trained = await trainSecureBoost({
      guest: { features: slice(pop.guest, 0, TRAIN), labels: pop.labels.subarray(0, TRAIN) },
      hosts: [{ features: slice(pop.h1, 0, TRAIN) }, { features: slice(pop.h2, 0, TRAIN) }],
      scheme: 'none',
      hyperparams: { trees: 5, depth: 3, bins: 16, learningRate: 0.3 },
    });
    plain = (
      await predictSecureBoost({
        guest: { model: trained.guest, features: score.guest },
        hosts: [
          { model: trained.hosts[0]!, features: score.h1 },
          { model: trained.hosts[1]!, features: score.h2 },
        ],
      })
    ).margins;
  }, 120_000);

  const hosts = () => [
    { model: trained.hosts[0]!, features: score.h1 },
    { model: trained.hosts[1]!, features: score.h2 },
  ];

  it('both hosts own splits, and the plain flow equals vfl prediction', async () => {
    const owners = new Set(
      trained.guest.trees.flat().flatMap((n) => (n.kind === 'host-split' ? [n.host] : [])),
    );
    expect([...owners].sort()).toEqual([0, 1]);
    const r = await runTreeScoring({
      flow: 'plain',
      guest: { model: trained.guest, features: score.guest },
      hosts: hosts(),
    });
    expect([...r.margins]).toEqual([...plain]);
  });

  it('private path: the plain scores within 6 flooding sd, unflooded within the error bound / 8; who receives what', async () => {
    const r = await runTreeScoring({
      flow: 'private-path',
      guest: { model: trained.guest, features: score.guest },
      hosts: hosts(),
      capture: true,
    });
    const sd = treeFloodingStdDev(1);
    let maxDiff = 0;
    for (let i = 0; i < SCORE; i++) maxDiff = Math.max(maxDiff, Math.abs(r.margins[i]! - plain[i]!));
    expect(maxDiff).toBeLessThan(6 * sd + 1e-9);
    expect(maxDiff).toBeGreaterThan(0);

    const raw = await runTreeScoring({
      flow: 'private-path',
      guest: { model: trained.guest, features: score.guest },
      hosts: hosts(),
      unsafeNoFlooding: true,
    });
    let err = 0;
    for (let i = 0; i < SCORE; i++) err = Math.max(err, Math.abs(raw.margins[i]! - plain[i]!));
    // One more plaintext product than one host's circuit: measured 1.5e-11 to 3.0e-10 (bound / 12 at worst) where one host
    // measures 1.1e-10 to 1.8e-10; the flooding is sized from the bound, so a margin of 8 is kept.
    expect(err).toBeLessThan(TREE_ERROR_BOUND / 8);
    console.log(
      `tree scoring, 2 hosts: ${SCORE} applicants, CKKS error max ${err.toExponential(2)}, flooded max diff ${maxDiff.toExponential(2)}; bytes guest -> hosts ${r.bytesToHost}, hosts -> guest ${r.bytesToGuest}`,
    );

    // Each host's layout names only its own split ids.
    for (const [j, id] of ['host-1', 'host-2'].entries()) {
      const layouts = r.captured.filter((m) => m.to === id && m.step === 'tree-layout');
      expect(layouts).toHaveLength(1);
      const layout = fedscore.scoring.TreeLayout.decode(layouts[0]!.payload);
      const own = new Set(trained.hosts[j]!.splits.map((s) => s.splitId));
      const used = new Set(
        trained.guest.trees
          .flat()
          .flatMap((n) => (n.kind === 'host-split' && n.host === j ? [n.splitId] : [])),
      );
      const sent = layout.splits.map((s) => s.splitId ?? -1);
      expect(sent.length).toBeGreaterThan(0);
      for (const x of sent) expect(own.has(x)).toBe(true);
      expect(new Set(sent)).toEqual(used);
      expect(layout.hosts).toBe(2);
    }
    const steps = (from: string, to: string) =>
      [...new Set(r.captured.filter((m) => m.from === from && m.to === to).map((m) => m.step))].sort();
    expect(steps('host-1', 'host-2')).toEqual(['tree-leaf-weights']);
    expect(steps('host-2', 'host-1')).toEqual([]);
    expect(steps('host-1', 'guest')).toEqual([]);
    expect(steps('host-2', 'guest')).toEqual(['tree-scores']);

    // No leaf weight in any byte a host receives (positive control: the guest's model file has them).
    const weights = trained.guest.trees.flat().flatMap((n) => (n.kind === 'leaf' ? [n.weight] : []));
    const toHosts = Buffer.concat(
      r.captured.filter((m) => m.to !== 'guest').map((m) => Buffer.from(m.bytes)),
    );
    const file = Buffer.from(serializeGuestModel(trained.guest));
    let control = 0;
    for (const w of weights) {
      for (const p of [encodeValue(w, 'f64le'), encodeValue(w, 'f64be')]) expect(toHosts.indexOf(p)).toBe(-1);
      if (file.indexOf(Buffer.from(String(w))) >= 0) control++;
    }
    expect(control).toBe(weights.length);
  }, 240_000);

  it('parameters per host count; a model of more hosts than the parameters carry is refused', async () => {
    const release = CKKS_PRESETS['ckks-16384-release'];
    expect(treeScoringParams(1).coeffModulusBits).toEqual(release.coeffModulusBits);
    for (let h = 2; h <= TREE_MAX_HOSTS; h++) {
      const p = treeScoringParams(h);
      expect(p.coeffModulusBits.length).toBe(release.coeffModulusBits.length + h - 1);
      expect(p.coeffModulusBits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(438);
    }
    expect(() => treeScoringParams(TREE_MAX_HOSTS + 1)).toThrow(
      expect.objectContaining({ code: 'unsupported' }),
    );
    const four = { ...trained.guest, hosts: ['host-1', 'host-2', 'host-3', 'host-4'] };
    await expect(
      runTreeScoring({
        flow: 'private-path',
        guest: { model: four, features: score.guest },
        hosts: [...hosts(), ...hosts()],
      }),
    ).rejects.toMatchObject({ code: 'unsupported', field: 'hosts' });
  });
});
