/**
 * The TensorFlow.js client: trains logistic regression or an MLP on the client's own rows and answers a
 * `FitInstruction` with its local weights as one flat vector.
 *
 * Backends. `@tensorflow/tfjs-node` cannot be installed from the npm registry alone (its install step
 * downloads libtensorflow), so the default is the WebAssembly backend `@tensorflow/tfjs-backend-wasm`,
 * whose .wasm files ship inside the package (SIMD and threads where the runtime has them); in Node the
 * wasm paths are set to that package's own `dist/` folder. When the user has installed tfjs-node it is
 * found by a dynamic import and used (backend name `tensorflow`). Every result names the backend that ran
 * (`tfjsBackend()`); the pure-JS `cpu` backend is the last resort. We depend on the scoped packages
 * (tfjs-core, tfjs-layers, tfjs-backend-wasm), not the umbrella `@tensorflow/tfjs`.
 *
 * Models (flat weight order = tfjs-layers' `getWeights()` order: kernel then bias per dense layer):
 *   - 'lr':  dense(1, sigmoid);
 *   - 'mlp': dense(h1, relu) → dense(h2, relu) → dense(1, sigmoid), default h = [32, 16].
 * Local training: mini-batch SGD on the binary cross-entropy, plus FedProx's μ/2 · ||w − w_global||²
 * (Li et al. 2020) when the instruction's μ > 0. Initial global weights come from `initialModelWeights`
 * (Glorot-uniform kernels from a seeded generator, zero biases), so every party starts from the same
 * model and runs are reproducible.
 */
import { createRequire } from 'node:module';
import { FedscoreError, type Rng, shuffleInPlace, uniform } from '@fedscore/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LocalRows } from './local-lr.ts';
import { checkRows } from './local-lr.ts';
import type { FitInstruction, FitReply } from './strategy.ts';

export type ModelKind = 'lr' | 'mlp';

export interface ModelSpec {
  readonly kind: ModelKind;
  readonly features: number;
  /** Hidden layer sizes of the MLP (default [32, 16]). */
  readonly hidden?: readonly number[];
}

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

let backendReady: Promise<string> | undefined;

async function tryTfjsNode(): Promise<boolean> {
  // A variable specifier: tfjs-node is optional and absent from our dependencies.
  const specifier = '@tensorflow/tfjs-node';
  try {
    await import(specifier);
    return tf.findBackendFactory('tensorflow') !== null;
  } catch {
    return false;
  }
}

async function setupWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@tensorflow/tfjs-backend-wasm');
  // entry = .../tfjs-backend-wasm/dist/tf-backend-wasm.node.js; the .wasm files sit beside it
  wasm.setWasmPaths(`${entry.slice(0, entry.lastIndexOf('/') + 1)}`);
}

/**
 * Choose and initialise the backend once per process; resolves with its name ('tensorflow', 'wasm' or
 * 'cpu'). 'auto': tfjs-node if installed, else wasm, else cpu.
 */
export function initTfjsBackend(preference: BackendPreference = 'auto'): Promise<string> {
  backendReady ??= (async () => {
    if ((preference === 'auto' || preference === 'tensorflow') && (await tryTfjsNode())) {
      if (await tf.setBackend('tensorflow')) return 'tensorflow';
    }
    if (preference === 'tensorflow') {
      throw new FedscoreError('unsupported', '@tensorflow/tfjs-node is not installed', { field: 'backend' });
    }
    if (preference !== 'cpu') {
      await setupWasm();
      if (await tf.setBackend('wasm')) return 'wasm';
      if (preference === 'wasm') {
        throw new FedscoreError('unsupported', 'the TensorFlow.js WASM backend did not initialise', {
          field: 'backend',
        });
      }
    }
    await import('@tensorflow/tfjs-backend-cpu');
    if (await tf.setBackend('cpu')) return 'cpu';
    throw new FedscoreError('unsupported', 'no TensorFlow.js backend initialised', { field: 'backend' });
  })();
  return backendReady;
}

/** The backend that runs now (for results and logs). */
export function tfjsBackend(): string {
  return tf.getBackend();
}

function layerSizes(spec: ModelSpec): number[] {
  if (!Number.isInteger(spec.features) || spec.features < 1) {
    throw new FedscoreError('invalid_argument', 'features must be a positive integer', { field: 'features' });
  }
  const hidden = spec.kind === 'mlp' ? [...(spec.hidden ?? [32, 16])] : [];
  if (hidden.some((h) => !Number.isInteger(h) || h < 1)) {
    throw new FedscoreError('invalid_argument', 'hidden sizes must be positive integers', {
      field: 'hidden',
    });
  }
  return [spec.features, ...hidden, 1];
}

/** Number of weights of the model (the length of its flat vector). */
export function modelWeightCount(spec: ModelSpec): number {
  const s = layerSizes(spec);
  let n = 0;
  for (let i = 1; i < s.length; i++) n += s[i - 1]! * s[i]! + s[i]!;
  return n;
}

/** Glorot-uniform kernels from `rng`, zero biases, flat. */
export function initialModelWeights(spec: ModelSpec, rng: Rng): Float64Array {
  const s = layerSizes(spec);
  const out = new Float64Array(modelWeightCount(spec));
  let o = 0;
  for (let i = 1; i < s.length; i++) {
    const limit = Math.sqrt(6 / (s[i - 1]! + s[i]!));
    for (let k = 0; k < s[i - 1]! * s[i]!; k++) out[o++] = (2 * uniform(rng) - 1) * limit;
    o += s[i]!;
  }
  return out;
}

/** A tfjs-layers model of `spec` (weights not set). */
export function buildModel(spec: ModelSpec): tfl.Sequential {
  const s = layerSizes(spec);
  const model = tfl.sequential();
  for (let i = 1; i < s.length; i++) {
    const last = i === s.length - 1;
    model.add(
      tfl.layers.dense({
        units: s[i]!,
        activation: last ? 'sigmoid' : 'relu',
        ...(i === 1 && { inputShape: [s[0]!] }),
      }),
    );
  }
  return model;
}

export function setFlatWeights(model: tfl.LayersModel, flat: ArrayLike<number>): void {
  const tensors: tf.Tensor[] = [];
  let o = 0;
  for (const w of model.getWeights()) {
    const n = w.size;
    tensors.push(
      tf.tensor(
        Float32Array.from({ length: n }, (_, i) => flat[o + i]!),
        w.shape,
      ),
    );
    o += n;
  }
  if (o !== flat.length) {
    tf.dispose(tensors);
    throw new FedscoreError('invalid_argument', `expected ${o} weights, got ${flat.length}`, {
      field: 'weights',
    });
  }
  model.setWeights(tensors);
  tf.dispose(tensors);
}

export function getFlatWeights(model: tfl.LayersModel): Float32Array {
  const parts = model.getWeights().map((w) => w.dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Probabilities of the model with flat `weights` on row-major `x`. */
export function predictTfjs(spec: ModelSpec, weights: ArrayLike<number>, x: Float64Array): Float64Array {
  const model = buildModel(spec);
  try {
    setFlatWeights(model, weights);
    const rows = x.length / spec.features;
    const p = tf.tidy(
      () => model.predict(tf.tensor2d(Float32Array.from(x), [rows, spec.features])) as tf.Tensor,
    );
    const out = Float64Array.from(p.dataSync());
    p.dispose();
    return out;
  } finally {
    model.dispose();
  }
}

/**
 * Run one instruction on local rows: `localEpochs` epochs of mini-batch SGD (batch order from `rng`),
 * with the FedProx term when μ > 0. Weights out as float64 copies of the model's float32 weights.
 */
export async function fitTfjs(
  spec: ModelSpec,
  instruction: FitInstruction,
  data: LocalRows,
  rng: Rng,
): Promise<FitReply & { readonly backend: string }> {
  checkRows(data);
  if (data.features !== spec.features) {
    throw new FedscoreError(
      'invalid_argument',
      `rows have ${data.features} features, model ${spec.features}`,
      {
        field: 'features',
      },
    );
  }
  const backend = await initTfjsBackend();
  const model = buildModel(spec);
  const x = tf.tensor2d(Float32Array.from(data.x), [data.rows, data.features]);
  const y = tf.tensor2d(Float32Array.from(data.y), [data.rows, 1]);
  const optimizer = tf.train.sgd(instruction.learningRate);
  const mu = instruction.proximalMu;
  try {
    setFlatWeights(model, instruction.weights);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const globals = vars.map((v) => tf.keep(tf.tensor(getSlice(model, instruction.weights, v), v.shape)));
    const order = new Int32Array(data.rows);
    for (let i = 0; i < data.rows; i++) order[i] = i;
    let lastLoss = 0;
    for (let epoch = 0; epoch < instruction.localEpochs; epoch++) {
      shuffleInPlace(rng, order as unknown as Uint32Array);
      let lossSum = 0;
      for (let start = 0; start < data.rows; start += instruction.batchSize) {
        const idx = order.subarray(start, Math.min(data.rows, start + instruction.batchSize));
        const loss = tf.tidy(() => {
          const ids = tf.tensor1d(idx, 'int32');
          const xb = tf.gather(x, ids);
          const yb = tf.gather(y, ids);
          return optimizer.minimize(
            () => {
              const p = model.apply(xb, { training: true }) as tf.Tensor;
              let l = tf.mean(tfl.metrics.binaryCrossentropy(yb, p)) as tf.Scalar;
              if (mu > 0) {
                const prox = tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, globals[i]!)))));
                l = tf.add(l, tf.mul(mu / 2, prox)) as tf.Scalar;
              }
              return l;
            },
            true,
            vars,
          ) as tf.Scalar;
        });
        lossSum += loss.dataSync()[0]! * idx.length;
        loss.dispose();
      }
      lastLoss = lossSum / data.rows;
    }
    tf.dispose(globals);
    return {
      client: instruction.client,
      weights: Float64Array.from(getFlatWeights(model)),
      numExamples: data.rows,
      metrics: { loss: lastLoss },
      backend,
    };
  } finally {
    optimizer.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
}

/** The part of the flat vector that belongs to trainable variable `v` (weights are in layer order). */
function getSlice(model: tfl.LayersModel, flat: Float64Array, v: tf.Variable): Float32Array {
  let o = 0;
  for (const w of model.trainableWeights) {
    const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    if ((w.read() as tf.Variable) === v) return Float32Array.from(flat.subarray(o, o + size));
    o += size;
  }
  throw new FedscoreError('internal', 'variable not found in the model');
}

/** Bytes the tfjs engine holds now (for the memory test and logs). */
export function tfjsMemoryBytes(): number {
  return tf.memory().numBytes;
}
