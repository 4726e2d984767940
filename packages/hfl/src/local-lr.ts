/**
 * A plain-TypeScript local trainer for logistic regression: mini-batch SGD on the client's own rows,
 * with FedProx's proximal term (Li et al. 2020). It is the reference client of the strategy tests and a
 * dependency-free client for small models; the TensorFlow.js client trains the same model and an MLP.
 *
 * Weights are flat: [w_1..w_d, bias]. Loss per batch: mean log-loss + μ/2 · ||w − w_global||² (the
 * proximal term covers the bias too, as in the paper's formulation over all parameters).
 */
import { FedscoreError, type Rng, shuffleInPlace } from '@fedscore/core';
import type { FitInstruction, FitReply } from './strategy.ts';

export interface LocalRows {
  /** Row-major features, rows × features. */
  readonly x: Float64Array;
  readonly y: Float64Array | Uint8Array;
  readonly rows: number;
  readonly features: number;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function checkRows(data: LocalRows): void {
  if (data.x.length !== data.rows * data.features || data.y.length !== data.rows || data.rows < 1) {
    throw new FedscoreError('invalid_argument', 'x must hold rows × features values and y one label a row', {
      field: 'x',
    });
  }
}

/** One FitInstruction on local rows: `localEpochs` epochs of mini-batch SGD (batch order from `rng`). */
export function fitLocalLogistic(instruction: FitInstruction, data: LocalRows, rng: Rng): FitReply {
  checkRows(data);
  const d = data.features;
  if (instruction.weights.length !== d + 1) {
    throw new FedscoreError(
      'invalid_argument',
      `expected ${d + 1} weights, got ${instruction.weights.length}`,
      {
        field: 'weights',
      },
    );
  }
  const global = instruction.weights;
  const w = Float64Array.from(global);
  const grad = new Float64Array(d + 1);
  const order = new Uint32Array(data.rows);
  for (let i = 0; i < data.rows; i++) order[i] = i;
  const mu = instruction.proximalMu;
  let lossSum = 0;
  for (let epoch = 0; epoch < instruction.localEpochs; epoch++) {
    shuffleInPlace(rng, order);
    lossSum = 0;
    for (let start = 0; start < data.rows; start += instruction.batchSize) {
      const end = Math.min(data.rows, start + instruction.batchSize);
      grad.fill(0);
      for (let k = start; k < end; k++) {
        const r = order[k]!;
        let z = w[d]!;
        for (let j = 0; j < d; j++) z += w[j]! * data.x[r * d + j]!;
        const p = sigmoid(z);
        const y = data.y[r]!;
        lossSum -= y * Math.log(Math.max(p, 1e-15)) + (1 - y) * Math.log(Math.max(1 - p, 1e-15));
        const e = p - y;
        for (let j = 0; j < d; j++) grad[j]! += e * data.x[r * d + j]!;
        grad[d]! += e;
      }
      const m = end - start;
      for (let j = 0; j <= d; j++) {
        w[j]! -= instruction.learningRate * (grad[j]! / m + mu * (w[j]! - global[j]!));
      }
    }
  }
  return {
    client: instruction.client,
    weights: w,
    numExamples: data.rows,
    metrics: { loss: lossSum / data.rows },
  };
}

/** Probabilities of the model `weights` ([w, bias]) on row-major `x`. */
export function logisticScores(weights: Float64Array, x: Float64Array, features: number): Float64Array {
  const rows = x.length / features;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = weights[features]!;
    for (let j = 0; j < features; j++) z += weights[j]! * x[r * features + j]!;
    out[r] = sigmoid(z);
  }
  return out;
}
