/**
 * The federated WOE-binning protocol against the centralized computation: per-bin counts exact, IV to
 * 1e-9 (the tolerance), under CKKS (packed sums decrypted and rounded), Paillier and plaintext.
 */
import { seededRng } from '@fedscore/core';
import { describe, expect, it } from 'vitest';
import { centralized, QUANTILE_10, runBoth, synthetic } from './woe-binning-fixtures.ts';

const IV_TOL = 1e-9;

describe('woe binning protocol', () => {
  const data = synthetic(9000);

  it('ckks: host bins counted exactly, IV equals the centralized IV to 1e-9 (in-thread)', async () => {
    const { guest, host } = await runBoth(
      { labels: data.labels, scheme: 'ckks', releaseWoe: true },
      { columns: data.host, binning: QUANTILE_10, workers: 0, rng: seededRng(1) },
    );
    expect(guest.features).toHaveLength(4);
    guest.features.forEach((f, i) => {
      const ref = centralized(data.host[i]!, host.features[i]!.bins, data.labels);
      expect(f.good).toEqual(ref.good);
      expect(f.bad).toEqual(ref.bad);
      expect(Math.abs(f.table.iv - ref.iv)).toBeLessThan(IV_TOL);
      expect(host.features[i]!.iv).toBe(f.table.iv);
      expect(host.features[i]!.model?.woe).toEqual(f.table.bins.map((b) => b.woe));
    });
    expect(host.cost!.products).toBeGreaterThan(0);
  }, 120_000);

  it('ckks with two worker threads gives the same counts as none', async () => {
    const ckks = await runBoth(
      { labels: data.labels, scheme: 'ckks' },
      { columns: data.host, binning: QUANTILE_10, workers: 2 },
    );
    const none = await runBoth(
      { labels: data.labels, scheme: 'none', insecure: true },
      { columns: data.host, binning: QUANTILE_10, allowSchemes: ['none'], insecure: true },
    );
    expect(ckks.guest.features.map((f) => [f.good, f.bad])).toEqual(
      none.guest.features.map((f) => [f.good, f.bad]),
    );
    expect(ckks.guest.features.map((f) => f.table.iv)).toEqual(none.guest.features.map((f) => f.table.iv));
    // The host gets no WOE unless the guest releases it.
    expect(ckks.host.features.every((f) => f.model === undefined)).toBe(true);
  }, 180_000);

  it('chimerge + monotone: the guest plans the merge of the host fine bins; equals centralized', async () => {
    const binning = { method: 'chimerge' as const, bins: 6, monotone: true };
    const { guest, host } = await runBoth(
      { labels: data.labels, scheme: 'ckks', merge: { bins: 6, monotone: true }, releaseWoe: true },
      { columns: data.host, binning, workers: 0 },
    );
    guest.features.forEach((f, i) => {
      const bins = host.features[i]!.bins;
      const ref = centralized(data.host[i]!, bins, data.labels);
      expect(f.bad).toEqual(ref.bad);
      expect(Math.abs(f.table.iv - ref.iv)).toBeLessThan(IV_TOL);
      // Monotone bad rate over the value bins of numeric features (missing bin excluded).
      const valueBins = f.missingBin ? f.count.length - 1 : f.count.length;
      const rates = f.bad.slice(0, valueBins).map((b, j) => (b + 0.5) / (f.count[j]! + 1));
      const up = rates.every((r, j) => j === 0 || r >= rates[j - 1]!);
      const down = rates.every((r, j) => j === 0 || r <= rates[j - 1]!);
      if (!f.categorical) expect(up || down).toBe(true);
      expect(valueBins).toBeLessThanOrEqual(6);
    });
  }, 120_000);

  it('paillier (1024-bit, insecure, small data) equals the centralized counts', async () => {
    // The columns without missing values: at 240 rows a 10% or 5% missing bin is below the 50-row floor.
    const small = synthetic(240, 3);
    const columns = small.host.filter((c) => c.missing === 0);
    const { guest, host } = await runBoth(
      { labels: small.labels, scheme: 'paillier', paillierBits: 1024, insecure: true },
      { columns, binning: { method: 'quantile', bins: 4 }, insecure: true },
    );
    expect(guest.features).toHaveLength(2);
    guest.features.forEach((f, i) => {
      expect(Math.min(...f.count)).toBeGreaterThanOrEqual(50);
      const ref = centralized(columns[i]!, host.features[i]!.bins, small.labels);
      expect(f.bad).toEqual(ref.bad);
      expect(Math.abs(f.table.iv - ref.iv)).toBeLessThan(IV_TOL);
    });
  }, 120_000);

  it("refuses scheme 'none' unless both sides opt in", async () => {
    await expect(
      runBoth({ labels: data.labels, scheme: 'none' }, { columns: data.host, binning: QUANTILE_10 }),
    ).rejects.toMatchObject({ code: 'he_insecure_params' });
    await expect(
      runBoth(
        { labels: data.labels, scheme: 'none', insecure: true },
        { columns: data.host, binning: QUANTILE_10 },
      ),
    ).rejects.toMatchObject({ code: 'protocol_abort', field: 'scheme' });
  });

  it('rejects labels other than 0/1 and a row-count mismatch', async () => {
    await expect(
      runBoth({ labels: [0, 2], scheme: 'none', insecure: true }, { columns: data.host }),
    ).rejects.toMatchObject({ code: 'invalid_argument', field: 'labels' });
    await expect(
      runBoth(
        { labels: data.labels.subarray(0, 100), scheme: 'none', insecure: true },
        { columns: data.host, allowSchemes: ['none'], insecure: true },
      ),
    ).rejects.toMatchObject({ code: 'protocol_abort', field: 'rows' });
  });
});
