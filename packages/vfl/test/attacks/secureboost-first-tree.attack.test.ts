/**
 * Attack: a host infers the guest's labels from the instance space of the first tree.
 * Source: Cheng et al. 2019, "SecureBoost: A Lossless Federated Learning Framework", section 6 (the
 * passive parties learn each tree's instance spaces; those of the first tree, grown on g = p0 - y with
 * one p0 for every row, follow the labels, hence Reduced-Leakage SecureBoost: the first tree built by the
 * active party alone); the label-inference setting of Fu et al. 2022, "Label Inference Attacks Against
 * Vertical Federated Learning" (USENIX Security), where the attacker knows a few labels.
 * What it would recover: which aligned enterprises default, scored by the default rate (among the 5 %
 * of rows whose labels the host knows) of the group of rows the guest told it reach the same nodes of
 * the first tree (level-tasks: row -> node).
 * Weakened configuration: guestOnlyTrees 0 (today's default): the host sees tree 1's nodes and ranks
 * the unknown rows with AUC 0.79. Defence: guestOnlyTrees 1: the host receives no message of tree 1 at
 * all, and the attack on it has nothing to group (AUC 0.5).
 * Limit, measured here and stated in docs/protocols/secureboost.md: the same attack on the first tree
 * the host does take part in (tree 2) still ranks with AUC about 0.8 at learning rate 0.3 (residuals of
 * one shrunken tree still follow the labels): guest-only first trees hide those trees, not the labels.
 */
import { auc, seededRng, uniform } from '@fedscore/core';
import { trainSecureBoost } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from '../synthetic.ts';

const N = 3000;
const data = syntheticSplit(N, 3, [3], 31);

/** The host's attack on tree `target` (0-based), from the messages it received only. */
function attack(toHost: readonly { step: string; payload: Uint8Array }[], target: number) {
  const path = Array.from({ length: N }, () => '');
  let tree = -1;
  let seen = false;
  for (const m of toHost) {
    if (m.step === 'tree-start') {
      const start = fedscore.secureboost.TreeStart.decode(m.payload);
      tree = start.stop ? -1 : start.tree;
    }
    if (tree !== target || m.step !== 'level-tasks') continue;
    const lv = fedscore.secureboost.LevelTasks.decode(m.payload);
    for (let i = 0; i < N; i++) {
      if (lv.nodeOfRow[i]! >= 0) {
        path[i] = `${path[i]}/${lv.nodeOfRow[i]}`;
        seen = true;
      }
    }
  }
  // The labels the host knows: 5 % of the rows (a fixed draw).
  const rng = seededRng(4);
  const known = Array.from({ length: N }, () => uniform(rng) < 0.05);
  const groups = new Map<string, { pos: number; n: number }>();
  let pos = 0;
  let count = 0;
  for (let i = 0; i < N; i++) {
    if (!known[i]) continue;
    const s = groups.get(path[i]!) ?? { pos: 0, n: 0 };
    groups.set(path[i]!, { pos: s.pos + data.labels[i]!, n: s.n + 1 });
    pos += data.labels[i]!;
    count++;
  }
  const prior = pos / count;
  const y: number[] = [];
  const score: number[] = [];
  for (let i = 0; i < N; i++) {
    if (known[i]) continue;
    const s = groups.get(path[i]!) ?? { pos: 0, n: 0 };
    y.push(data.labels[i]!);
    score.push((s.pos + 2 * prior) / (s.n + 2));
  }
  return { auc: auc(y, score), seen };
}

async function hostView(guestOnlyTrees: number) {
  const run = await trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: [{ features: data.hosts[0]! }],
    scheme: 'none',
    hyperparams: { trees: 3, depth: 3, bins: 16, learningRate: 0.3, guestOnlyTrees },
    capture: true,
  });
  return run.captured.filter((m) => m.to === 'host-1');
}

describe('attack: label inference from the first tree instance space (guest-only first trees)', () => {
  it('recovers labels from tree 1 when the host takes part in it (guestOnlyTrees 0)', async () => {
    const got = attack(await hostView(0), 0);
    expect(got.seen).toBe(true);
    expect(got.auc).toBeGreaterThan(0.75);
  }, 60_000);

  it('has nothing to work on with guestOnlyTrees 1; the next tree still leaks (documented limit)', async () => {
    const view = await hostView(1);
    const first = attack(view, 0);
    expect(first.seen).toBe(false);
    expect(first.auc).toBe(0.5);
    const next = attack(view, 1);
    expect(next.seen).toBe(true);
    expect(next.auc).toBeGreaterThan(0.7);
  }, 60_000);
});
