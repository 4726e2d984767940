import { auc, isFedscoreError, normal, seededRng, uniform } from '@fedscore/core';
import {
  collectByDeadline,
  FedAvg,
  FedProx,
  type FitInstruction,
  type FitReply,
  fitLocalLogistic,
  type LocalRows,
  logisticScores,
  runFederatedRounds,
  sampleClients,
  scheduledLearningRate,
} from '@fedscore/hfl';
import { describe, expect, it } from 'vitest';

const reply = (client: string, weights: number[], numExamples: number): FitReply => ({
  client,
  weights: Float64Array.from(weights),
  numExamples,
});

describe('FedAvg aggregation (McMahan et al. 2017): sample-count weighted mean', () => {
  it('matches a hand-computed weighted average', () => {
    // (100·[1,2,3] + 300·[5,6,7] + 600·[−1,0,2]) / 1000 = [100+1500−600, 200+1800+0, 300+2100+1200]/1000
    const agg = new FedAvg().aggregateFit(
      1,
      [reply('a', [1, 2, 3], 100), reply('b', [5, 6, 7], 300), reply('c', [-1, 0, 2], 600)],
      new Float64Array(3),
    );
    expect(Array.from(agg.weights)).toEqual([1.0, 2.0, 3.6]);
    expect(agg.totalExamples).toBe(1000);
    expect(agg.clients).toBe(3);
  });

  it('the secure-aggregation path (weighted sum) gives the same weights as the plain path', () => {
    const s = new FedAvg();
    const plain = s.aggregateFit(1, [reply('a', [0.5, -2], 3), reply('b', [1.5, 4], 1)], new Float64Array(2));
    const viaSum = s.aggregateSum(
      1,
      { weightedWeights: Float64Array.from([3 * 0.5 + 1.5, 3 * -2 + 4]), totalExamples: 4, clients: 2 },
      new Float64Array(2),
    );
    expect(Array.from(viaSum.weights)).toEqual(Array.from(plain.weights));
    expect(Array.from(plain.weights)).toEqual([0.75, -0.5]);
  });

  it('refuses replies of the wrong length, non-finite weights, and an empty round (typed errors)', () => {
    const s = new FedAvg();
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isFedscoreError(e) ? e.field : 'untyped';
      }
      return 'no error';
    };
    expect(field(() => s.aggregateFit(1, [reply('a', [1], 1)], new Float64Array(2)))).toBe('weights');
    expect(field(() => s.aggregateFit(1, [reply('a', [Number.NaN, 1], 1)], new Float64Array(2)))).toBe(
      'weights',
    );
    expect(field(() => s.aggregateFit(1, [reply('a', [1, 1], 0)], new Float64Array(2)))).toBe('numExamples');
    expect(field(() => s.aggregateFit(1, [], new Float64Array(2)))).toBe('replies');
    expect(field(() => new FedProx({ proximalMu: 0 }))).toBe('proximalMu');
    expect(field(() => new FedAvg({ fractionFit: 0 }))).toBe('fractionFit');
  });
});

describe('client sampling and instructions', () => {
  const clients = Array.from({ length: 10 }, (_, i) => `bank-${i}`);

  it('samples ceil(fraction · n) distinct clients, reproducibly from a seed', () => {
    const s = new FedAvg({ fractionFit: 0.35, minFitClients: 2 });
    const a = s.configureFit(1, new Float64Array(2), clients, seededRng(7));
    const b = s.configureFit(1, new Float64Array(2), clients, seededRng(7));
    expect(a.length).toBe(4);
    expect(a.map((i) => i.client)).toEqual(b.map((i) => i.client));
    expect(new Set(a.map((i) => i.client)).size).toBe(4);
    // minFitClients wins over a small fraction
    expect(
      new FedAvg({ fractionFit: 0.05, minFitClients: 3 }).configureFit(
        1,
        new Float64Array(1),
        clients,
        seededRng(1),
      ),
    ).toHaveLength(3);
    // every client is chosen about equally often over many rounds (uniform sampling)
    const counts = new Map<string, number>();
    const rng = seededRng(99);
    for (let r = 0; r < 2000; r++)
      for (const c of sampleClients(rng, clients, 3)) counts.set(c, (counts.get(c) ?? 0) + 1);
    for (const c of clients) expect(Math.abs((counts.get(c) ?? 0) - 600)).toBeLessThan(90); // 600 ± ~4.5 sd
  });

  it('FedProx sends μ to every client; FedAvg sends 0; instructions carry a copy of the global weights', () => {
    const w = Float64Array.from([1, 2]);
    const prox = new FedProx({ proximalMu: 0.01, localEpochs: 2, learningRate: 0.05, batchSize: 16 });
    const ins = prox.configureFit(3, w, ['a', 'b'], seededRng(1));
    expect(
      ins.map((i) => [i.client, i.round, i.proximalMu, i.localEpochs, i.learningRate, i.batchSize]),
    ).toEqual([
      ['a', 3, 0.01, 2, 0.05, 16],
      ['b', 3, 0.01, 2, 0.05, 16],
    ]);
    ins[0]!.weights[0] = 42;
    expect(w[0]).toBe(1);
    expect(new FedAvg().configureFit(1, w, ['a'], seededRng(1))[0]!.proximalMu).toBe(0);
  });
});

describe('round deadlines', () => {
  it('a reply after the deadline is a dropout and is left out of the average', async () => {
    const late = new Promise<number>((resolve) => setTimeout(() => resolve(3), 300));
    const out = await collectByDeadline([Promise.resolve(1), late, Promise.reject(new Error('crashed'))], 50);
    expect(out).toEqual([1, undefined, undefined]);

    const weightsOf: Record<string, number> = { a: 1, b: 3, c: 100 };
    const result = await runFederatedRounds({
      strategy: new FedAvg(),
      initialWeights: new Float64Array(1),
      clients: ['a', 'b', 'c'],
      rounds: 1,
      rng: seededRng(1),
      roundDeadlineMs: 80,
      fit: async (ins: FitInstruction) => {
        if (ins.client === 'c') await new Promise((r) => setTimeout(r, 400));
        return reply(ins.client, [weightsOf[ins.client]!], ins.client === 'a' ? 1 : 3);
      },
      evaluate: (_round, w) => ({ w0: w[0]! }),
    });
    // (1·1 + 3·3) / 4 = 2.5: c's late reply (weight 100) is ignored
    expect(result.weights[0]).toBe(2.5);
    expect(result.history[0]!.dropouts).toEqual(['c']);
    expect(result.history[0]!.replied).toEqual(['a', 'b']);
    expect(result.history[0]!.evaluation).toEqual({ w0: 2.5 });
  });

  it('fewer on-time replies than minReplies is a typed timeout', async () => {
    await expect(
      runFederatedRounds({
        strategy: new FedAvg(),
        initialWeights: new Float64Array(1),
        clients: ['a', 'b'],
        rounds: 1,
        rng: seededRng(1),
        roundDeadlineMs: 30,
        minReplies: 2,
        fit: async (ins) => {
          if (ins.client === 'b') await new Promise((r) => setTimeout(r, 200));
          return reply(ins.client, [1], 1);
        },
      }),
    ).rejects.toMatchObject({ code: 'timeout', field: 'roundDeadlineMs' });
  });
});

/** Three banks with different regions: shifted feature means and different base rates (non-IID). */
function nonIidBanks(seed: number): { banks: LocalRows[]; test: LocalRows; truth: number[] } {
  const rng = seededRng(seed);
  const truth = [1.2, -0.8, 0.5, 0, 0.9];
  const d = truth.length;
  const make = (rows: number, shift: number, intercept: number): LocalRows => {
    const x = new Float64Array(rows * d);
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let z = intercept;
      for (let j = 0; j < d; j++) {
        const v = normal(rng, j === 0 ? shift : 0, 1);
        x[r * d + j] = v;
        z += truth[j]! * v;
      }
      y[r] = uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    }
    return { x, y, rows, features: d };
  };
  return {
    banks: [make(400, -1, -1.5), make(700, 0, -1), make(300, 1.2, -0.5)],
    test: make(3000, 0, -1),
    truth,
  };
}

describe('FedAvg and FedProx training with the reference logistic client', () => {
  it('federated LR reaches the AUC of pooled training within 0.005 on non-IID banks', async () => {
    const { banks, test } = nonIidBanks(11);
    const d = test.features;
    const byName = new Map(banks.map((b, i) => [`bank-${i}`, b]));
    for (const strategy of [
      new FedAvg({ localEpochs: 1, learningRate: 0.1, batchSize: 32 }),
      new FedProx({ proximalMu: 0.05, localEpochs: 1, learningRate: 0.1, batchSize: 32 }),
    ]) {
      const fedRng = seededRng(5);
      const result = await runFederatedRounds({
        strategy,
        initialWeights: new Float64Array(d + 1),
        clients: [...byName.keys()],
        rounds: 20,
        rng: seededRng(3),
        fit: async (ins) => fitLocalLogistic(ins, byName.get(ins.client)!, fedRng),
      });
      // pooled: the same trainer, same total epochs, on all rows at once
      const pooled: LocalRows = {
        x: Float64Array.from(banks.flatMap((b) => Array.from(b.x))),
        y: Float64Array.from(banks.flatMap((b) => Array.from(b.y))),
        rows: banks.reduce((s, b) => s + b.rows, 0),
        features: d,
      };
      const pooledFit = fitLocalLogistic(
        {
          client: 'pooled',
          round: 1,
          weights: new Float64Array(d + 1),
          localEpochs: 20,
          learningRate: 0.1,
          batchSize: 32,
          proximalMu: 0,
        },
        pooled,
        seededRng(5),
      );
      const labels = Array.from(test.y);
      const fedAuc = auc(labels, logisticScores(result.weights, test.x, d));
      const pooledAuc = auc(labels, logisticScores(pooledFit.weights, test.x, d));
      expect(Math.abs(fedAuc - pooledAuc)).toBeLessThan(0.005);
      expect(pooledAuc).toBeGreaterThan(0.75);
    }
  });

  it('the FedProx term pulls local weights toward the global model (larger μ, smaller drift)', () => {
    const { banks } = nonIidBanks(12);
    const global = new Float64Array(6);
    const drift = (mu: number) => {
      const r = fitLocalLogistic(
        {
          client: 'a',
          round: 1,
          weights: global,
          localEpochs: 5,
          learningRate: 0.1,
          batchSize: 16,
          proximalMu: mu,
        },
        banks[2]!,
        seededRng(1),
      );
      return Math.hypot(...Array.from(r.weights));
    };
    const d0 = drift(0);
    const d1 = drift(1);
    const d5 = drift(5);
    expect(d1).toBeLessThan(d0);
    expect(d5).toBeLessThan(d1);
  });
});

describe('learning-rate decay (Li et al., ICLR 2020: FedAvg converges with a 1/t step)', () => {
  it('round r instructs learningRate / (1 + decay · (r − 1)); decay 0 is constant; a negative decay is typed', () => {
    const s = new FedAvg({ learningRate: 0.2, learningRateDecay: 0.5 });
    const at = (r: number) =>
      s.configureFit(r, new Float64Array(2), ['a', 'b'], seededRng(1))[0]!.learningRate;
    expect(at(1)).toBe(0.2);
    expect(at(2)).toBeCloseTo(0.2 / 1.5, 15);
    expect(at(11)).toBeCloseTo(0.2 / 6, 15);
    expect(scheduledLearningRate(0.2, 0.5, 11)).toBe(at(11));
    const c = new FedAvg({ learningRate: 0.2 });
    expect(c.configureFit(9, new Float64Array(2), ['a'], seededRng(1))[0]!.learningRate).toBe(0.2);
    expect(() => new FedAvg({ learningRateDecay: -1 })).toThrow(
      expect.objectContaining({ code: 'invalid_argument', field: 'learningRateDecay' }),
    );
    expect(() => new FedProx({ proximalMu: 0.1, learningRateDecay: Number.NaN })).toThrow(
      expect.objectContaining({ field: 'learningRateDecay' }),
    );
  });
});
