/**
 * FedAvg through secure aggregation gives the plain FedAvg weights (to the fixed-point precision), and
 * DP-FedAvg reports the (ε, δ) of its RDP accountant.
 */
import { cryptoRng, normal, seededRng, uniform } from '@fedscore/core';
import {
  computeRdp,
  DEFAULT_RDP_ORDERS,
  FedAvg,
  fitLocalLogistic,
  inMemorySecureAggregator,
  type LocalRows,
  rdpToEpsilon,
  runSecureFederatedRounds,
} from '@fedscore/hfl';
import { describe, expect, it } from 'vitest';

function banks(n: number, seed: number): Map<string, LocalRows> {
  const rng = seededRng(seed);
  const d = 4;
  const out = new Map<string, LocalRows>();
  for (let b = 0; b < n; b++) {
    const rows = 150 + 50 * b;
    const x = new Float64Array(rows * d);
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let z = -0.5 + 0.3 * b;
      for (let j = 0; j < d; j++) {
        const v = normal(rng, b * 0.3, 1);
        x[r * d + j] = v;
        z += (j % 2 === 0 ? 1 : -1) * v;
      }
      y[r] = uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    }
    out.set(`bank-${b}`, { x, y, rows, features: d });
  }
  return out;
}

describe('FedAvg rounds under secure aggregation', () => {
  it('3 banks, 3 rounds: the same global weights as plain FedAvg within 1e-6', async () => {
    const data = banks(3, 1);
    const common = {
      strategy: new FedAvg({ learningRate: 0.1, batchSize: 16 }),
      initialWeights: new Float64Array(5),
      clients: [...data.keys()],
      rounds: 3,
    };
    const fit = (seed: number) => {
      const rng = seededRng(seed);
      return async (ins: Parameters<typeof fitLocalLogistic>[0]) =>
        fitLocalLogistic(ins, data.get(ins.client)!, rng);
    };
    const plain = await runSecureFederatedRounds({ ...common, fit: fit(9), rng: seededRng(4) });
    const secure = await runSecureFederatedRounds({
      ...common,
      fit: fit(9),
      rng: seededRng(4),
      secureAggregator: inMemorySecureAggregator(),
    });
    // per round: Σ n·w rounds by ≤ 3·2^−25, Σ n by the same; divided by Σ n ≈ 750: far below 1e-6
    for (let i = 0; i < 5; i++) expect(Math.abs(secure.weights[i]! - plain.weights[i]!)).toBeLessThan(1e-6);
    const last = secure.history[2]!;
    expect(last.replied).toEqual(['bank-0', 'bank-1', 'bank-2']);
    expect(Object.keys(last.bytesPerClient ?? {})).toHaveLength(3);
    for (const b of Object.values(last.bytesPerClient!)) expect(b).toBeGreaterThan(0);
  });

  it('DP-FedAvg (clip 1, σ = 1.1, 4 of 8 banks a round): ε from the RDP accountant is reported each round', async () => {
    const data = banks(8, 2);
    const rng = seededRng(5);
    const result = await runSecureFederatedRounds({
      strategy: new FedAvg({ learningRate: 0.1, batchSize: 16, fractionFit: 0.5 }),
      initialWeights: new Float64Array(5),
      clients: [...data.keys()],
      rounds: 4,
      rng: seededRng(6),
      fit: async (ins) => fitLocalLogistic(ins, data.get(ins.client)!, rng),
      secureAggregator: inMemorySecureAggregator({ neighbours: () => 2, threshold: () => 2 }),
      dp: { clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5, rng: cryptoRng() },
    });
    const expected = rdpToEpsilon(DEFAULT_RDP_ORDERS, computeRdp(0.5, 1.1, 4), 1e-5).epsilon;
    expect(result.privacy?.epsilon).toBeCloseTo(expected, 10);
    expect(result.history.map((h) => h.epsilon! > 0)).toEqual([true, true, true, true]);
    expect(result.history[3]!.epsilon).toBeCloseTo(expected, 10);
    // each round's total "examples" is the number of clients (DP-FedAvg's equal weights)
    expect(result.history.map((h) => Math.round(h.totalExamples))).toEqual([4, 4, 4, 4]);
  });
});
