/**
 * The TensorFlow.js client (WASM backend in Node): FedAvg of three banks with non-IID rows reaches the
 * test AUC of the same model trained on the pooled rows, for logistic regression and an MLP (32, 16).
 * Tolerances are stated per model below. The backend that ran is asserted and reported.
 */
import { auc, normal, seededRng, uniform } from '@fedscore/core';
import {
  FedAvg,
  FedProx,
  fitTfjs,
  initialModelWeights,
  initTfjsBackend,
  type LocalRows,
  type ModelSpec,
  modelWeightCount,
  predictTfjs,
  runFederatedRounds,
  tfjsMemoryBytes,
} from '@fedscore/hfl';
import { describe, expect, it } from 'vitest';

const D = 6;

/** A non-linear credit-like target; three banks in different regions (shifted features, base rates). */
function banks(seed: number): { banks: LocalRows[]; test: LocalRows } {
  const rng = seededRng(seed);
  const make = (rows: number, shift: number, intercept: number): LocalRows => {
    const x = new Float64Array(rows * D);
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const v = Array.from({ length: D }, (_, j) => normal(rng, j < 2 ? shift : 0, 1));
      v.forEach((val, j) => {
        x[r * D + j] = val;
      });
      const z =
        intercept + 1.1 * v[0]! - 0.9 * v[1]! + 0.8 * v[2]! * v[3]! + 0.7 * Math.abs(v[4]!) - 0.3 * v[5]!;
      y[r] = uniform(rng) < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    }
    return { x, y, rows, features: D };
  };
  return {
    banks: [make(500, -0.8, -1.2), make(700, 0, -0.8), make(400, 0.9, -0.4)],
    test: make(3000, 0, -0.8),
  };
}

function pool(bs: readonly LocalRows[]): LocalRows {
  return {
    x: Float64Array.from(bs.flatMap((b) => Array.from(b.x))),
    y: Float64Array.from(bs.flatMap((b) => Array.from(b.y))),
    rows: bs.reduce((s, b) => s + b.rows, 0),
    features: D,
  };
}

async function federatedVsPooled(spec: ModelSpec, rounds: number, lr: number, mu = 0) {
  const { banks: bs, test } = banks(31);
  const byName = new Map(bs.map((b, i) => [`bank-${i}`, b]));
  const init = initialModelWeights(spec, seededRng(1));
  const trainRng = seededRng(2);
  const training = { localEpochs: 1, learningRate: lr, batchSize: 32 };
  const strategy = mu > 0 ? new FedProx({ ...training, proximalMu: mu }) : new FedAvg(training);
  let backend = '';
  const fed = await runFederatedRounds({
    strategy,
    initialWeights: init,
    clients: [...byName.keys()],
    rounds,
    rng: seededRng(3),
    fit: async (ins) => {
      const r = await fitTfjs(spec, ins, byName.get(ins.client)!, trainRng);
      backend = r.backend;
      return r;
    },
  });
  const pooled = await fitTfjs(
    spec,
    { client: 'pooled', round: 1, weights: init, ...training, localEpochs: rounds, proximalMu: 0 },
    pool(bs),
    seededRng(2),
  );
  const labels = test.y;
  return {
    backend,
    fedAuc: auc(labels, predictTfjs(spec, fed.weights, test.x)),
    pooledAuc: auc(labels, predictTfjs(spec, pooled.weights, test.x)),
  };
}

describe('TensorFlow.js client', () => {
  it('runs on the WASM backend in Node (tfjs-node is not installed here)', async () => {
    expect(await initTfjsBackend()).toBe('wasm');
    expect(modelWeightCount({ kind: 'mlp', features: D })).toBe(D * 32 + 32 + 32 * 16 + 16 + 16 + 1);
    expect(modelWeightCount({ kind: 'lr', features: D })).toBe(D + 1);
  });

  it('federated LR on non-IID banks: test AUC within 0.005 of pooled LR', async () => {
    const r = await federatedVsPooled({ kind: 'lr', features: D }, 15, 0.1);
    expect(r.backend).toBe('wasm');
    expect(r.pooledAuc).toBeGreaterThan(0.7);
    expect(Math.abs(r.fedAuc - r.pooledAuc)).toBeLessThan(0.005);
  });

  it('federated MLP (32, 16) on non-IID banks: test AUC within 0.01 of the pooled MLP, and beats LR', async () => {
    const before = tfjsMemoryBytes();
    const mlp = await federatedVsPooled({ kind: 'mlp', features: D }, 15, 0.1);
    const lr = await federatedVsPooled({ kind: 'lr', features: D }, 15, 0.1);
    expect(Math.abs(mlp.fedAuc - mlp.pooledAuc)).toBeLessThan(0.01);
    expect(mlp.fedAuc).toBeGreaterThan(lr.fedAuc);
    // every tensor of the runs was disposed
    expect(tfjsMemoryBytes()).toBe(before);
  });

  it('FedProx (μ = 0.01) trains the MLP to the same AUC within 0.01', async () => {
    const r = await federatedVsPooled({ kind: 'mlp', features: D }, 15, 0.1, 0.01);
    expect(Math.abs(r.fedAuc - r.pooledAuc)).toBeLessThan(0.01);
  });
});
