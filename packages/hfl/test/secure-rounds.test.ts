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

  it('bank-2 drops out mid-round 2 (after its key shares, before its masked input): the round completes and equals the plain FedAvg of the survivors', async () => {
    const data = banks(3, 1);
    const replies = new Map<string, Float64Array>();
    let round3Start: Float64Array | undefined;
    const rng = seededRng(9);
    const fit = async (ins: Parameters<typeof fitLocalLogistic>[0]) => {
      const r = fitLocalLogistic(ins, data.get(ins.client)!, rng);
      if (ins.round === 2) replies.set(ins.client, Float64Array.from(r.weights));
      if (ins.round === 3) round3Start = ins.weights;
      return r;
    };
    const result = await runSecureFederatedRounds({
      strategy: new FedAvg({ learningRate: 0.1, batchSize: 16 }),
      initialWeights: new Float64Array(5),
      clients: [...data.keys()],
      rounds: 3,
      rng: seededRng(4),
      fit,
      secureAggregator: inMemorySecureAggregator({
        phaseDeadlineMs: 500,
        simulateDropout: (round, client) =>
          round === 2 && client === 'bank-2' ? 'before-masked-input' : undefined,
      }),
    });
    const r2 = result.history[1]!;
    expect(r2.replied).toEqual(['bank-0', 'bank-1']);
    expect(r2.dropouts).toEqual(['bank-2']);
    expect(result.history[2]!.replied).toHaveLength(3);
    const n0 = data.get('bank-0')!.rows;
    const n1 = data.get('bank-1')!.rows;
    // Σ n rounds by ≤ 2·2^−25 in fixed point
    expect(Math.abs(r2.totalExamples - (n0 + n1))).toBeLessThan(1e-7);
    const w0 = replies.get('bank-0')!;
    const w1 = replies.get('bank-1')!;
    // the weights round 3 starts from = (n0·w0 + n1·w1) / (n0 + n1), to the fixed-point precision
    for (let i = 0; i < 5; i++) {
      const expected = (n0 * w0[i]! + n1 * w1[i]!) / (n0 + n1);
      expect(Math.abs(round3Start![i]! - expected)).toBeLessThan(1e-9);
    }
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
