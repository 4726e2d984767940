/**
 * Tree models in scoring (`scoring.tree`, packages/scoring/src/tree.ts; docs/protocols/tree-scoring.md).
 * A SecureBoost model is trained by vfl (`trainSecureBoost`, scheme `none`: the model, not its training,
 * is under test) on a seeded population of a guest and one host. Checked against independent references:
 * - the private-path flow's margins equal the plain federated walk (vfl's `predictSecureBoost`) within
 *   6 flooding sd + 1e-9 (the noise is Gaussian with the sd the run reports), and without flooding
 *   within TREE_ERROR_BOUND / 8 (the measured CKKS error, which the flooding was sized from, with an 8x
 *   margin: runs have measured up to 2.57e-10, just over bound / 16 = 2.33e-10);
 * - the leaf-slot vectors: for every row and tree, guest-reachable AND host-reachable slots single out
 *   exactly the leaf the plain walk reaches;
 * - the plain flow (`runTreeScoring` `plain`) equals vfl's prediction exactly;
 * - `treeScores`: P(default) = sigmoid(margin), points = pdToScore, bands and lines = creditLines on those
 *   points (the same rules as a scorecard);
 * - what the host receives: tree-layout, tree-context and ciphertexts only; no leaf weight (as a float64
 *   in either byte order) is in any byte it receives, with a positive control (the weights
 *   ARE found in the guest's own model file bytes).
 */
import { createInMemoryNetwork, cryptoRng, ProtocolSession, seededRng } from '@fedscore/core';
import {
  creditLines,
  guestLeafWeights,
  hostLeafMask,
  pdToScore,
  runTreeScoring,
  SCORING_VERSION,
  TREE_ERROR_BOUND,
  TREE_GUEST_ID,
  TREE_HOST_ID,
  TREE_SCORING_PROTOCOL,
  TreeScoringGuest,
  treeLayout,
  treeScores,
} from '@fedscore/scoring';
import {
  applyBins,
  hostSplitBits,
  predictSecureBoost,
  type SecureBoostGuestModel,
  serializeGuestModel,
  trainSecureBoost,
} from '@fedscore/vfl';
import { envelopeCodec } from '@fedscore/wire';
import { beforeAll, describe, expect, it } from 'vitest';
import { rules, sliceRows, treePopulation } from './fixtures.ts';

const population = (n: number, seed: number) =>
  treePopulation(n, seed, { guest: [0.8, -0.6, 0], host: [1.2, 0.9, 0], intercept: -0.5 });

describe('tree models in scoring', () => {
  const pop = population(1400, 11);
  const TRAIN = 1000;
  const SCORE = 60;
  const guestScore = sliceRows(pop.guest, TRAIN, TRAIN + SCORE);
  const hostScore = sliceRows(pop.host, TRAIN, TRAIN + SCORE);
  let trained: Awaited<ReturnType<typeof trainSecureBoost>>;
  let plain: Float64Array;

  beforeAll(async () => {
    trained = await trainSecureBoost({
      guest: { features: sliceRows(pop.guest, 0, TRAIN), labels: pop.labels.subarray(0, TRAIN) },
      hosts: [{ features: sliceRows(pop.host, 0, TRAIN) }],
      scheme: 'none',
      hyperparams: { trees: 6, depth: 3, bins: 16, learningRate: 0.3 },
    });
    plain = (
      await predictSecureBoost({
        guest: { model: trained.guest, features: guestScore },
        hosts: [{ model: trained.hosts[0]!, features: hostScore }],
      })
    ).margins;
  }, 120_000);

  it('the leaf slots: guest-reachable AND host-reachable is exactly the leaf the plain walk reaches', () => {
    const model = trained.guest;
    const layout = treeLayout(model, cryptoRng());
    const gIndex = applyBins(guestScore, model.bins).index;
    const hIndex = applyBins(hostScore, trained.hosts[0]!.bins).index;
    const left = hostSplitBits(
      trained.hosts[0]!,
      hIndex,
      SCORE,
      layout.splits.map((s) => s.splitId),
    );
    const width = layout.trees * layout.slotsPerTree;
    const c = new Float64Array(width);
    const b = new Float64Array(width);
    let hostSplitsOnPaths = 0;
    for (let i = 0; i < SCORE; i++) {
      guestLeafWeights(model, layout, gIndex, i, c, 0);
      hostLeafMask(layout, left, i, b, 0);
      let sum = model.baseScore;
      model.trees.forEach((tree, t) => {
        // both-reachable slots with a leaf: exactly one per tree
        let reached = 0;
        for (let s = 0; s < layout.slotsPerTree; s++) {
          const leaf = layout.slotNode[t]![s]!;
          // a reachable leaf's weight is non-zero here (a weight of exactly 0 would hide it)
          const guestOk = c[t * layout.slotsPerTree + s] !== 0;
          if (leaf >= 0 && guestOk && b[t * layout.slotsPerTree + s] === 1) reached++;
        }
        expect(reached).toBe(1);
        hostSplitsOnPaths += tree.filter((n) => n.kind === 'host-split').length;
      });
      for (let k = 0; k < width; k++) sum += c[k]! * b[k]!;
      expect(Math.abs(sum - plain[i]!)).toBeLessThan(1e-12);
    }
    expect(hostSplitsOnPaths).toBeGreaterThan(0);
  });

  it('private path: the scores of the plain walk within 6 flooding sd; unflooded within the error bound / 8', async () => {
    const r = await runTreeScoring({
      flow: 'private-path',
      guest: { model: trained.guest, features: guestScore },
      host: { model: trained.hosts[0]!, features: hostScore },
      capture: true,
    });
    // 60 applicants in one group (block 64 -> 128 per ciphertext): sd = sqrt(12) 2^15 2^-28
    const sd = Math.sqrt(12) * 2 ** 15 * TREE_ERROR_BOUND;
    let maxDiff = 0;
    for (let i = 0; i < SCORE; i++) maxDiff = Math.max(maxDiff, Math.abs(r.margins[i]! - plain[i]!));
    expect(maxDiff).toBeLessThan(6 * sd + 1e-9);
    expect(maxDiff).toBeGreaterThan(0); // flooded: not the exact sum

    const raw = await runTreeScoring({
      flow: 'private-path',
      guest: { model: trained.guest, features: guestScore },
      host: { model: trained.hosts[0]!, features: hostScore },
      unsafeNoFlooding: true,
    });
    let err = 0;
    for (let i = 0; i < SCORE; i++) err = Math.max(err, Math.abs(raw.margins[i]! - plain[i]!));
    expect(err).toBeLessThan(TREE_ERROR_BOUND / 8);
    console.log(
      `tree scoring: ${SCORE} applicants, CKKS error max ${err.toExponential(2)} (bound ${TREE_ERROR_BOUND.toExponential(2)}), flooded max diff ${maxDiff.toExponential(2)}; bytes to host ${r.bytesToHost}, to guest ${r.bytesToGuest}`,
    );

    // What the host receives: the layout, the context and ciphertexts; no leaf weight in any byte.
    const toHost = r.captured.filter((m) => m.to === TREE_HOST_ID);
    expect([...new Set(toHost.map((m) => m.step))].sort()).toEqual([
      'tree-context',
      'tree-layout',
      'tree-leaf-weights',
    ]);
    // ... and the guest receives the flooded sums only, one ciphertext per group (60 applicants: one)
    const toGuest = r.captured.filter((m) => m.to === TREE_GUEST_ID);
    expect(toGuest.map((m) => m.step)).toEqual(['tree-scores']);
    const weights = trained.guest.trees.flat().flatMap((n) => (n.kind === 'leaf' ? [n.weight] : []));
    // float64 in either byte order (8 bytes: a chance match in ~40 MB of ciphertext has probability
    // ~2^-38 per needle; 4-byte float32 needles would match random bytes by chance)
    const needles = weights.flatMap((w) => {
      const d = new DataView(new ArrayBuffer(8));
      const out: Uint8Array[] = [];
      for (const le of [true, false]) {
        d.setFloat64(0, w, le);
        out.push(new Uint8Array(d.buffer.slice(0)));
      }
      return out;
    });
    const contains = (hay: Uint8Array, needle: Uint8Array) =>
      Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
    // positive control: a float64 of every weight is in a buffer that holds them
    const control = new Uint8Array(Float64Array.from(weights).buffer);
    expect(weights.every((_w, k) => contains(control, needles[2 * k]!))).toBe(true);
    for (const m of toHost) {
      for (const n of needles) expect(contains(m.bytes, n)).toBe(false);
      expect(new TextDecoder().decode(m.bytes)).not.toContain(
        serializeGuestModel(trained.guest).slice(0, 40),
      );
    }
  }, 120_000);

  it('refusals name the field: hosts the model does not have, a leaf weight out of range, a seeded generator', async () => {
    const twoHosts = {
      ...trained.guest,
      hosts: ['gov', 'utility'],
      trees: trained.guest.trees.map((t) => t.map((n) => (n.kind === 'host-split' ? { ...n, host: 1 } : n))),
    };
    // Several hosts are scored (tree-scoring-hosts.test.ts): each split keeps its host's index.
    expect(treeLayout(twoHosts, cryptoRng()).splits.every((x) => x.host === 1)).toBe(true);
    const strayHost = {
      ...trained.guest,
      trees: trained.guest.trees.map((t) => t.map((n) => (n.kind === 'host-split' ? { ...n, host: 2 } : n))),
    };
    expect(() => treeLayout(strayHost, cryptoRng())).toThrow(
      expect.objectContaining({ code: 'invalid_config', field: 'trees' }),
    );
    const network = createInMemoryNetwork([TREE_GUEST_ID, TREE_HOST_ID], envelopeCodec);
    const session = new ProtocolSession(network.channel(TREE_GUEST_ID), {
      protocol: TREE_SCORING_PROTOCOL,
      version: SCORING_VERSION,
      session: 'refusals',
    });
    const guest = (model: SecureBoostGuestModel, extra: object = {}) =>
      new TreeScoringGuest({
        session,
        host: TREE_HOST_ID,
        model,
        rows: SCORE,
        features: guestScore,
        ...extra,
      }).run();
    // A model of two hosts with one host named; a model of more hosts than the parameters carry.
    await expect(guest(twoHosts)).rejects.toMatchObject({ code: 'invalid_argument', field: 'hosts' });
    const fourHosts = { ...trained.guest, hosts: ['a', 'b', 'c', 'd'] };
    await expect(guest(fourHosts)).rejects.toMatchObject({ code: 'unsupported', field: 'hosts' });
    const heavy = {
      ...trained.guest,
      trees: [[{ kind: 'leaf' as const, weight: 17 }]],
    };
    await expect(guest(heavy)).rejects.toMatchObject({ code: 'out_of_range', field: 'trees' });
    await expect(guest(trained.guest, { rng: seededRng(1) })).rejects.toMatchObject({ field: 'rng' });
    // nothing was sent by a refused run
    expect(network.channel(TREE_GUEST_ID).stats().bytesSent[TREE_HOST_ID] ?? 0).toBe(0);
  });

  it('the plain flow equals vfl prediction; tree scores become points, bands and credit lines', async () => {
    const r = await runTreeScoring({
      flow: 'plain',
      guest: { model: trained.guest, features: guestScore },
      host: { model: trained.hosts[0]!, features: hostScore },
    });
    expect([...r.margins]).toEqual([...plain]);
    const ids = Array.from({ length: SCORE }, (_, i) => `e${i}`);
    const figures = {
      turnover: Float64Array.from({ length: SCORE }, (_, i) => 1e6 + 1e5 * i),
      tax_paid: Float64Array.from({ length: SCORE }, (_, i) => 5e4 + 1e3 * i),
      loans: new Float64Array(SCORE).fill(2e5),
    };
    const out = treeScores(r.margins, { ids, rules: rules(), figures });
    const pd = Float64Array.from(plain, (z) => 1 / (1 + Math.exp(-z)));
    for (let i = 0; i < SCORE; i++) expect(out.pd[i]!).toBeCloseTo(pd[i]!, 12);
    const points = pdToScore(pd);
    for (let i = 0; i < SCORE; i++) expect(out.scores[i]!).toBeCloseTo(points[i]!, 9);
    expect(out.lines).toEqual(creditLines(rules(), ids, out.scores, figures));
    expect(out.lines!.map((l) => l.id)).toEqual(ids);
    expect(() => treeScores([Number.NaN])).toThrow(expect.objectContaining({ field: 'margins[0]' }));
    expect(() => treeScores([0.1], { rules: rules() })).toThrow(expect.objectContaining({ field: 'ids' }));
  });
});
