/**
 * Horizontal FL on values it cannot hold (issue 12, "huge finite values" and "a diverging learning rate
 * surfaces as a wire or NaN error"). HFL trains on the features as they are, so 1e308 in one bank's row
 * made its local weights NaN and the run failed sending them ("cannot send an invalid
 * fedscore.common.Float64Vector"), naming an internal message field; a learning rate far too large did
 * the same. Now the first is `out_of_range` naming the column before any round, the second `diverged`
 * naming the round and `learningRate`, both under plain and secure aggregation.
 */
import { createTable, FedscoreError, normal, numericColumn, seededRng, uniform } from '@fedscore/core';
import { type HflPlan, runHflInProcess } from '@fedscore/pipeline';
import { describe, expect, it } from 'vitest';

function bankTable(seed: number, rows: number, prefix: string, huge?: number) {
  const rng = seededRng(seed);
  const x = Array.from({ length: 3 }, () => new Float64Array(rows));
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    for (const c of x) c[r] = normal(rng, 0, 1);
    y[r] = uniform(rng) < 1 / (1 + Math.exp(-(-0.6 + 1.2 * x[0]![r]! - 0.8 * x[1]![r]!))) ? 1 : 0;
  }
  if (huge !== undefined) x[1]![7] = huge;
  return createTable({
    ids: Array.from({ length: rows }, (_, r) => `${prefix}-${r}`),
    label: y,
    columns: [numericColumn('x0', x[0]!), numericColumn('x1', x[1]!), numericColumn('x2', x[2]!)],
  });
}

const plan = (over: Partial<HflPlan>): HflPlan => ({
  columns: ['x0', 'x1', 'x2'],
  model: 'lr',
  rounds: 3,
  localEpochs: 1,
  learningRate: 0.3,
  batchSize: 32,
  proximalMu: 0,
  secureAgg: false,
  ...over,
});

async function failure(run: Promise<unknown>): Promise<FedscoreError> {
  const e = await run.then(
    () => new Error('the run succeeded'),
    (x: unknown) => x,
  );
  if (!(e instanceof FedscoreError)) throw e;
  return e;
}

describe('HFL refuses values it cannot hold', () => {
  for (const secureAgg of [false, true]) {
    it(`1e308 in a bank's row: out_of_range naming the column (secureAgg ${secureAgg})`, async () => {
      const e = await failure(
        runHflInProcess({
          coordinator: 'platform',
          test: bankTable(4, 100, 't'),
          banks: [
            { id: 'bank-1', table: bankTable(11, 120, 'b1') },
            { id: 'bank-2', table: bankTable(12, 120, 'b2', 1e308) },
          ],
          seed: 3,
          plan: plan({ secureAgg }),
        }),
      );
      expect(e.code, e.message).toBe('out_of_range');
      expect(e.field).toBe('x1');
      expect(e.message).not.toContain('Float64Vector');
    });

    it(`a learning rate of 1e200: diverged in round 1, naming learningRate (secureAgg ${secureAgg})`, async () => {
      const e = await failure(
        runHflInProcess({
          coordinator: 'platform',
          test: bankTable(4, 100, 't'),
          banks: [
            { id: 'bank-1', table: bankTable(11, 120, 'b1') },
            { id: 'bank-2', table: bankTable(12, 120, 'b2') },
          ],
          seed: 3,
          plan: plan({ secureAgg, learningRate: 1e200 }),
        }),
      );
      expect(e.code, e.message).toBe('diverged');
      expect(e.field).toBe('learningRate');
      expect(e.details).toMatchObject({ round: 1 });
    });
  }

  it('the same banks with a sane learning rate and an outlier of 40 train (neither check fires)', async () => {
    const run = await runHflInProcess({
      coordinator: 'platform',
      test: bankTable(4, 100, 't'),
      banks: [
        { id: 'bank-1', table: bankTable(11, 120, 'b1') },
        { id: 'bank-2', table: bankTable(12, 120, 'b2', 40) },
      ],
      seed: 3,
      plan: plan({}),
    });
    expect(run.train.weights.every((w) => Number.isFinite(w))).toBe(true);
    expect(run.train.history.length).toBe(3);
  });
});
