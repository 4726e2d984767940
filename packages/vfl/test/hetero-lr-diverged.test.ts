/**
 * Bad numbers in hetero-LR (issue 12): a value near ±1.8e308 in one training row used to make the
 * standard deviation infinite, zero the feature and write "scale": null into the model; a learning rate
 * far too large ended in NaN scores or an encoding error deep in the protocol. Now standardization
 * refuses non-finite moments naming the column, and training stops with `diverged`, its epoch and the
 * hyperparameter to lower -- in plaintext mode and under CKKS, as guest or host.
 */
import { FedscoreError } from '@fedscore/core';
import { fitStandardization, trainHeteroLr } from '@fedscore/vfl';
import { describe, expect, it } from 'vitest';
import { syntheticSplit } from './synthetic.ts';

const hyper = { batchSize: 64, maxEpochs: 30, learningRate: 0.5, seed: 3, classWeight: 'none' as const };

async function failure(p: Promise<unknown>): Promise<FedscoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FedscoreError) return e;
    throw e;
  }
  throw new Error('expected a FedscoreError');
}

describe('hetero-LR refuses numbers it cannot hold', () => {
  it('standardization: 1e308 in one row is an out_of_range error naming the column', () => {
    const col = Float64Array.from({ length: 20 }, (_, i) => i);
    col[7] = 1e308;
    const rows = Uint32Array.from({ length: 20 }, (_, i) => i);
    const e = (() => {
      try {
        fitStandardization([Float64Array.from(col, (_, i) => i), col], rows, ['fine', 'revenue']);
      } catch (x) {
        return x as FedscoreError;
      }
      throw new Error('expected an error');
    })();
    expect([e.code, e.field]).toEqual(['out_of_range', 'revenue']);
    // -1e308 and +1e308 together: the mean is finite, the variance is not.
    col[8] = -1e308;
    expect(() => fitStandardization([col], rows, ['revenue'])).toThrow(/variance/);
    // Large but representable values still standardize, with a finite scale.
    const big = Float64Array.from({ length: 20 }, (_, i) => 1e150 * (i - 10));
    const s = fitStandardization([big], rows, ['big']);
    expect(Number.isFinite(s.scale[0]!)).toBe(true);
  });

  it('training with 1e308 in a host row names the host column, never writes scale null', async () => {
    const data = syntheticSplit(300, 2, [2], 5);
    data.hosts[0]!.columns[1]![17] = 1e308;
    const e = await failure(
      trainHeteroLr({
        guest: { features: data.guest, labels: data.labels },
        hosts: data.hosts.map((features) => ({ features })),
        scheme: 'none',
        hyperparams: hyper,
      }),
    );
    expect(e.code).toBe('out_of_range');
    expect(e.field).toBe(data.hosts[0]!.names[1]);
  });

  for (const scheme of ['none', 'ckks'] as const) {
    it(`a learning rate far too large stops with 'diverged', the epoch and the hint (${scheme})`, async () => {
      const data = syntheticSplit(300, 2, [2], 5);
      const e = await failure(
        trainHeteroLr({
          guest: { features: data.guest, labels: data.labels },
          hosts: data.hosts.map((features) => ({ features })),
          scheme,
          mode: scheme === 'ckks' ? 'two-party' : 'arbiter',
          hyperparams: { ...hyper, learningRate: 1e200, lrSchedule: 'constant' },
        }),
      );
      expect(e.code, e.message).toBe('diverged');
      expect(e.field).toBe('learningRate');
      expect(e.message).toContain('lower the learning rate');
      expect(e.details?.['epoch']).toBeGreaterThanOrEqual(1);
    });
  }

  it('a sane learning rate on the same data trains without the check firing', async () => {
    const data = syntheticSplit(300, 2, [2], 5);
    const r = await trainHeteroLr({
      guest: { features: data.guest, labels: data.labels },
      hosts: data.hosts.map((features) => ({ features })),
      scheme: 'none',
      hyperparams: { ...hyper, maxEpochs: 5 },
    });
    expect(r.guest.weights.every(Number.isFinite)).toBe(true);
  });
});
