/**
 * default_credit (../shared/data, UCI, Yeh & Lien 2009; FATE's vertical split): the host's 10 features
 * binned under CKKS and under `none` give identical counts and IV, equal to the centralized IV to 1e-9.
 * Skips with a printed reason where the shared data is absent.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCsvFile } from '@fedscore/core/node';
import { woeBinningLocal } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { centralized, QUANTILE_10, runBoth } from './woe-binning-fixtures.ts';

const DIR = join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'data', 'default_credit');
const GUEST = join(DIR, 'default_credit_hetero_guest.csv');
const HOST = join(DIR, 'default_credit_hetero_host.csv');
const present = existsSync(GUEST) && existsSync(HOST);
if (!present) console.log(`woe-binning-data: skipped, ${DIR} is absent (shared data exists on CI only)`);

describe.skipIf(!present)('woe binning on default_credit', () => {
  it('ckks and none agree exactly; IV equals the centralized IV to 1e-9', async () => {
    const guest = await readCsvFile(GUEST, { idColumn: 'id', labelColumn: 'y' });
    const host = await readCsvFile(HOST, { idColumn: 'id' });
    // Align the host to the guest's row order (the files share ids; PSI would give the same order).
    const pos = new Map(host.ids.map((id, i) => [id, i]));
    const order = guest.ids.map((id) => pos.get(id)!);
    const columns = host.columns.map((c) => {
      if (c.kind !== 'numeric') throw new Error('numeric host columns expected');
      return { ...c, values: Float64Array.from(order, (i) => c.values[i]!) };
    });
    const labels = guest.label!;
    const ckks = await runBoth({ labels, scheme: 'ckks' }, { columns, binning: QUANTILE_10, workers: 2 });
    const none = await runBoth(
      { labels, scheme: 'none', insecure: true },
      { columns, binning: QUANTILE_10, allowSchemes: ['none'], insecure: true },
    );
    expect(ckks.guest.features.map((f) => f.bad)).toEqual(none.guest.features.map((f) => f.bad));
    expect(ckks.guest.features.map((f) => f.table.iv)).toEqual(none.guest.features.map((f) => f.table.iv));
    ckks.guest.features.forEach((f, i) => {
      const ref = centralized(columns[i]!, ckks.host.features[i]!.bins, labels);
      expect(f.bad).toEqual(ref.bad);
      expect(Math.abs(f.table.iv - ref.iv)).toBeLessThan(1e-9);
    });
    // PAY_0 (x5 on the host) is the strongest single predictor of this data set.
    const best = ckks.guest.features.reduce((a, b) => (b.table.iv > a.table.iv ? b : a));
    expect(best.name).toBe('x5');
    // The guest's own features, locally: the same formula, no protocol.
    const local = woeBinningLocal('guest', guest.columns, labels, QUANTILE_10);
    local.forEach((l, i) => {
      const ref = centralized(guest.columns[i]!, l.model.bins, labels);
      expect(Math.abs(l.table.iv - ref.iv)).toBeLessThan(1e-9);
    });
  }, 300_000);
});
