/**
 * Attack: an outlier's label from the WOE of its bin (issue 11, finding 7).
 * Source: differencing / small-cell disclosure, the reason statistical agencies suppress small cells
 * (Hundepool et al. 2012, "Statistical Disclosure Control", ch. 5 on frequency tables and the minimum
 * frequency rule); for federated WOE binning, the host is the party that knows which row sits in which
 * of its bins (Yang et al. 2019, FATE's hetero feature binning, releases WOE per host bin).
 * The host plants an outlier (one row with an extreme value) in each of its columns; equal-width
 * binning puts it alone in the top bin. The guest releases the WOE of the host's bins (`releaseWoe`).
 * With FATE's 0.5 adjustment a one-row bin has WOE ln(B / 2G) if the row is bad and ln(2B / G) if it is
 * good; the host does not know B / G, but each hypothesis fixes it, and only the true one is consistent
 * with the WOE of the other bins (sum of the bads implied per bin = B). What it would recover: the label
 * of every planted row. Weakened: both sides skip the bin floor (`unsafeAllowSmallBins`). Default: the
 * host merges the one-row bin into its neighbours before publishing anything, and the guest refuses a
 * layout with a bin below max(50, 1% of rows); the host's guess no longer depends on the label (chance).
 */
import { type Column, seededRng, uniform } from '@fedscore/core';
import { assignBins, minReleasedBinRows, type WoeBinningHostResult } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { runBoth } from '../woe-binning-fixtures.ts';

const ROWS = 1000;
const FEATURES = 8;
/** The planted rows (row j is the outlier of column j) and their labels. */
const PLANTED = [1, 0, 1, 1, 0, 0, 1, 0];

function dataset(flip: boolean): { labels: Float64Array; columns: Column[] } {
  const rng = seededRng('attack/woe-outlier');
  const labels = Float64Array.from({ length: ROWS }, () => (uniform(rng) < 0.3 ? 1 : 0));
  PLANTED.forEach((y, j) => {
    labels[j] = flip ? 1 - y : y;
  });
  const columns: Column[] = Array.from({ length: FEATURES }, (_, j) => {
    // Values in [0, 10), correlated with the label; the planted row far above them.
    const values = Float64Array.from(
      { length: ROWS },
      (_, i) => 10 * uniform(rng) * (0.6 + 0.4 * labels[i]!),
    );
    values[j] = 1000;
    return { kind: 'numeric', name: `x${j}`, values, missing: 0 };
  });
  return { labels, columns };
}

/**
 * The host's guess of row j's label from its own view: its column, its final bins, their row counts and
 * the WOE the guest released. For each hypothesis h (1 = bad) the one-row bin's WOE gives rho = B / G;
 * the other bins' WOE w_i then imply b_i = n_i / (1 + e^{w_i} / rho) bads each, which must add up to
 * B = rho N / (1 + rho). The hypothesis with the smaller mismatch wins.
 */
function guessLabel(column: Column, outcome: WoeBinningHostResult['features'][number], row: number): number {
  const model = outcome.model!;
  const bin = assignBins(column, outcome.bins)[row]!;
  const w = model.woe[bin]!;
  const counts = outcome.count;
  const mismatch = (h: number): number => {
    const rho = h === 1 ? 2 * Math.exp(w) : Math.exp(w) / 2;
    let bads = h;
    counts.forEach((n, i) => {
      if (i !== bin && n > 0) bads += n / (1 + Math.exp(model.woe[i]!) / rho);
    });
    return Math.abs(bads - (rho * ROWS) / (1 + rho));
  };
  return mismatch(1) < mismatch(0) ? 1 : 0;
}

async function attack(flip: boolean, unsafe: boolean) {
  const { labels, columns } = dataset(flip);
  const { host } = await runBoth(
    { labels, scheme: 'ckks', releaseWoe: true, ...(unsafe && { unsafeAllowSmallBins: true }) },
    {
      columns,
      binning: { method: 'equal-width', bins: 10 },
      workers: 0,
      ...(unsafe && { unsafeAllowSmallBins: true }),
    },
  );
  const guesses = columns.map((c, j) => guessLabel(c, host.features[j]!, j));
  const correct = guesses.filter((g, j) => g === labels[j]).length;
  const planted = host.features.map((f, j) => f.count[assignBins(columns[j]!, f.bins)[j]!]!);
  return { correct, planted };
}

describe('attack: an outlier alone in a bin gives its label away through the WOE (finding 7)', () => {
  it('weakened (floor off): every planted label is recovered, whichever it is', async () => {
    let correct = 0;
    for (const flip of [false, true]) {
      const r = await attack(flip, true);
      expect(r.planted.every((n) => n === 1)).toBe(true); // alone in its bin
      correct += r.correct;
    }
    expect(correct).toBe(2 * FEATURES);
  }, 120_000);

  it('default: the outlier shares a bin of >= 50 rows, and the guess is at chance', async () => {
    let correct = 0;
    for (const flip of [false, true]) {
      const r = await attack(flip, false);
      expect(Math.min(...r.planted)).toBeGreaterThanOrEqual(minReleasedBinRows(ROWS));
      correct += r.correct;
    }
    // The same guess whatever the planted label (flipping one label in a bin of >= 50 rows moves its
    // WOE by ~1/50 of what a one-row bin shows): 8 of 16 is chance; allow one either side.
    expect(correct).toBeGreaterThanOrEqual(FEATURES - 1);
    expect(correct).toBeLessThanOrEqual(FEATURES + 1);
  }, 120_000);

  it('default, every method: no bin below the floor is published, and the guest refuses one that is', async () => {
    const { labels, columns } = dataset(false);
    const floor = minReleasedBinRows(ROWS);
    const withMissing: Column = {
      kind: 'numeric',
      name: 'sparse',
      values: Float64Array.from({ length: ROWS }, (_, i) => (i < 5 ? Number.NaN : i)),
      missing: 5,
    };
    const rare: Column = {
      kind: 'categorical',
      name: 'sector',
      codes: Int32Array.from({ length: ROWS }, (_, i) => (i < 3 ? 2 : i % 2)),
      categories: ['a', 'b', 'rare'],
      missing: 0,
    };
    for (const binning of [
      { method: 'quantile' as const, bins: 200 },
      { method: 'equal-width' as const, bins: 50 },
      { method: 'chimerge' as const, bins: 20, fineBins: 200, minBinFraction: 0 },
    ]) {
      const { guest, network } = await runBoth(
        { labels, scheme: 'none', insecure: true, releaseWoe: true },
        { columns: [...columns, rare], binning, allowSchemes: ['none'], insecure: true },
        true,
      );
      const layout = network.captured.find((m) => m.step === 'host-layout');
      expect(layout).toBeDefined();
      for (const f of guest.features) {
        for (const n of f.count)
          if (n > 0) expect(n, `${binning.method} ${f.name}`).toBeGreaterThanOrEqual(floor);
      }
    }
    // A missing bin of 5 rows cannot join an interval: its rows are published (counted, summed, their
    // WOE released) with the largest value bin, and keep that bin's WOE in the host's model.
    for (const binning of [
      { method: 'quantile' as const, bins: 4 },
      { method: 'chimerge' as const, bins: 3, fineBins: 20 },
    ]) {
      const sparse = await runBoth(
        { labels, scheme: 'none', insecure: true, releaseWoe: true, merge: { bins: 3 } },
        { columns: [withMissing], binning, allowSchemes: ['none'], insecure: true },
      );
      const view = sparse.guest.features[0]!;
      expect(view.missingBin).toBe(false);
      expect(Math.min(...view.count)).toBeGreaterThanOrEqual(floor);
      const own = sparse.host.features[0]!;
      expect(own.bins.missing).toBe(true);
      expect(own.count.at(-1)).toBe(5);
      const woe = own.model!.woe;
      const values = own.count.slice(0, -1);
      expect(woe).toHaveLength(own.count.length);
      // Quantile: the largest value bin's WOE; ChiMerge: that of the final bin its largest fine bin joined.
      if (binning.method === 'quantile') expect(woe.at(-1)).toBe(woe[values.indexOf(Math.max(...values))]);
      else expect(woe.slice(0, -1)).toContain(woe.at(-1));
    }
    // A column with fewer non-missing rows than the floor: nothing to fold them into; refused by name.
    const mostlyMissing: Column = {
      kind: 'numeric',
      name: 'mostly_missing',
      values: Float64Array.from({ length: ROWS }, (_, i) => (i < 990 ? Number.NaN : i)),
      missing: 990,
    };
    await expect(
      runBoth(
        { labels, scheme: 'none', insecure: true },
        { columns: [mostlyMissing], allowSchemes: ['none'], insecure: true },
      ),
    ).rejects.toMatchObject({ code: 'out_of_range', field: 'mostly_missing' });
    // A host that skips its floor: the guest refuses the layout before it encrypts a label.
    const refused = await runBoth(
      { labels, scheme: 'none', insecure: true },
      {
        columns,
        binning: { method: 'equal-width', bins: 10 },
        allowSchemes: ['none'],
        insecure: true,
        unsafeAllowSmallBins: true,
      },
      true,
    ).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'out_of_range', field: 'features[0].counts' });
  }, 120_000);
});
