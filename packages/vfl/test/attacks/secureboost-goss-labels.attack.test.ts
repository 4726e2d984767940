/**
 * Attack: a host reads the guest's labels off GOSS's row sample.
 * Source: GOSS, Ke et al. 2017, "LightGBM: A Highly Efficient Gradient Boosting Decision Tree"
 * (Algorithm 2: keep the top a of rows by |g|), put in a vertical setting where the host is told each
 * tree's instance space (Cheng et al. 2019, SecureBoost, section 5). At the first tree every row has the
 * same prediction p0, so |g| = |p0 - y| takes two values: the top rows by |g| are the minority class.
 * What it would recover: which aligned enterprises default, from nothing but which rows the guest
 * placed at the root of tree 1 (level-tasks: row -> node), with no label known to the host.
 * Weakened configuration: GOSS on (a = 0.2, b = 0.1; needs `acceptGossLabelLeakage`), a generated
 * credit population with a 15 % default rate: the top 20 % by |g| hold every defaulter, so scoring the
 * rows in the sample 1 and the others 0 ranks defaulters with AUC > 0.85. Default: GOSS off, every
 * training row is at every root, and the same attack ranks at AUC 0.5.
 */
import { auc, type Table } from '@fedscore/core';
import { generatePopulation } from '@fedscore/datasets';
import { type PartyFeatures, trainSecureBoost } from '@fedscore/vfl';
import { fedscore } from '@fedscore/wire';
import { describe, expect, it } from 'vitest';

// A generated credit population (default rate 15 %), bank = guest, government = host.
const pop = generatePopulation({
  enterprises: 2000,
  overlap: 1,
  bankOnlyFraction: 0,
  defaultRate: 0.15,
  seed: 41,
});
const govRow = new Map(pop.government.ids.map((id, i) => [id, i]));
const rows = pop.bank.ids.map((_, i) => i).filter((i) => govRow.has(pop.bank.ids[i]!));
const N = rows.length;
function numeric(t: Table, order: readonly number[]): PartyFeatures {
  const cols = t.columns.filter((c) => c.kind === 'numeric').slice(0, 3);
  return {
    names: cols.map((c) => c.name),
    columns: cols.map((c) => Float64Array.from(order, (r) => (c.kind === 'numeric' ? c.values[r]! : 0))),
  };
}
const data = {
  labels: Float64Array.from(rows, (r) => pop.bank.label![r]!),
  guest: numeric(pop.bank, rows),
  hosts: [
    numeric(
      pop.government,
      rows.map((r) => govRow.get(pop.bank.ids[r]!)!),
    ),
  ],
};

async function attack(goss: boolean): Promise<number> {
  const run = await trainSecureBoost({
    guest: { features: data.guest, labels: data.labels },
    hosts: [{ features: data.hosts[0]! }],
    scheme: 'none',
    hyperparams: {
      trees: 1,
      depth: 2,
      bins: 8,
      ...(goss && { gossTopRate: 0.2, gossOtherRate: 0.1, acceptGossLabelLeakage: true }),
    },
    capture: true,
  });
  // The host's view: the first level-tasks of tree 1 (the root's rows).
  const first = run.captured.find((m) => m.to === 'host-1' && m.step === 'level-tasks')!;
  const root = fedscore.secureboost.LevelTasks.decode(first.payload).nodeOfRow;
  return auc(
    data.labels,
    Float64Array.from({ length: N }, (_, i) => (root[i]! >= 0 ? 1 : 0)),
  );
}

describe('attack: labels from the GOSS row sample', () => {
  it('recovers the defaulters from tree 1 sample with GOSS on', async () => {
    const rate = data.labels.reduce((a, b) => a + b, 0) / N;
    expect(rate).toBeLessThan(0.2);
    const got = await attack(true);
    console.log(`GOSS attack AUC ${got}`);
    expect(got).toBeGreaterThan(0.85);
  }, 60_000);

  it('learns nothing with GOSS off (the default): every row is at the root', async () => {
    expect(await attack(false)).toBe(0.5);
  }, 60_000);
});
