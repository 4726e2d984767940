/**
 * Saving and loading the trained model in TensorFlow.js LayersModel format (the `model.json` +
 * `weights.bin` pair that `tf.loadLayersModel` reads in a browser or Node). The library never touches
 * files: `saveTfjsModel` hands the `ModelArtifacts` to a save handler the caller supplies (the CLI's
 * writes them to its --out directory), `layersModelFiles` turns artifacts into the two files' contents,
 * and `readLayersModelFiles` + `loadTfjsModel` turn the two files' contents back into a model spec and
 * its flat weights for `predictTfjs`.
 *
 * Format (tfjs-core io/types.ts, ModelJSON): { format: 'layers-model', generatedBy, convertedBy: null,
 * modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }],
 * userDefinedMetadata }. weights.bin is the float32 little-endian concatenation of the weights in
 * weightSpecs order.
 */
import { FedscoreError } from '@fedscore/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  getFlatWeights,
  initTfjsBackend,
  type ModelSpec,
  setFlatWeights,
} from './tfjs-client.ts';

export type ModelArtifacts = tf.io.ModelArtifacts;
export type ModelSaveResult = tf.io.SaveResult;
/** Receives the artifacts of a save (e.g. writes them to files) and reports what it stored. */
export type ModelSaveHandler = (artifacts: ModelArtifacts) => Promise<ModelSaveResult>;

/** The JSON of model.json (tfjs-core's ModelJSON with our metadata). */
export interface LayersModelJson {
  readonly format: 'layers-model';
  readonly generatedBy: string;
  readonly convertedBy: null;
  readonly modelTopology: unknown;
  readonly weightsManifest: readonly { readonly paths: readonly string[]; readonly weights: unknown[] }[];
  readonly userDefinedMetadata?: Record<string, unknown>;
}

export const WEIGHTS_FILE = 'weights.bin';

/** Build the model of `spec` with `weights` and save it through `handler` (tf.io.withSaveHandler). */
export async function saveTfjsModel(
  spec: ModelSpec,
  weights: ArrayLike<number>,
  handler: ModelSaveHandler,
): Promise<ModelSaveResult> {
  await initTfjsBackend();
  const model = buildModel(spec);
  try {
    setFlatWeights(model, weights);
    return await model.save(tf.io.withSaveHandler(handler));
  } finally {
    model.dispose();
  }
}

function weightBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((s, b) => s + b.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  return out;
}

/** model.json (as an object) and weights.bin (bytes) for `artifacts`. */
export function layersModelFiles(
  artifacts: ModelArtifacts,
  metadata: Record<string, unknown> = {},
): { readonly modelJson: LayersModelJson; readonly weightsBin: Uint8Array } {
  if (artifacts.modelTopology === undefined || artifacts.weightSpecs === undefined) {
    throw new FedscoreError('invalid_argument', 'the artifacts have no topology or weight specs', {
      field: 'artifacts',
    });
  }
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: [...artifacts.weightSpecs] }],
      userDefinedMetadata: metadata,
    },
    weightsBin: weightBytes(artifacts.weightData),
  };
}

/** Artifacts from the contents of model.json (parsed) and weights.bin; refuses malformed input. */
export function readLayersModelFiles(modelJson: unknown, weightsBin: Uint8Array): ModelArtifacts {
  const j = modelJson as Partial<LayersModelJson> | null;
  const manifest = j?.weightsManifest;
  if (
    j === null ||
    typeof j !== 'object' ||
    j.format !== 'layers-model' ||
    typeof j.modelTopology !== 'object' ||
    !Array.isArray(manifest) ||
    manifest.length !== 1
  ) {
    throw new FedscoreError(
      'invalid_argument',
      "model.json is not a one-file TensorFlow.js layers model (format 'layers-model', one weights manifest group)",
      { field: 'model.json' },
    );
  }
  const weightSpecs = manifest[0]!.weights as tf.io.WeightsManifestEntry[];
  let expected = 0;
  for (const w of weightSpecs) {
    if (w.dtype !== undefined && w.dtype !== 'float32') {
      throw new FedscoreError('unsupported', `weight ${w.name} has dtype ${w.dtype}; float32 expected`, {
        field: 'weightsManifest',
      });
    }
    expected += 4 * w.shape.reduce((a, b) => a * b, 1);
  }
  if (expected !== weightsBin.byteLength) {
    throw new FedscoreError(
      'invalid_argument',
      `weights.bin has ${weightsBin.byteLength} bytes, the manifest needs ${expected}`,
      { field: WEIGHTS_FILE },
    );
  }
  const copy = new ArrayBuffer(weightsBin.byteLength);
  new Uint8Array(copy).set(weightsBin);
  return {
    modelTopology: j.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData: copy,
    format: 'layers-model',
    ...(j.generatedBy !== undefined && { generatedBy: j.generatedBy }),
    ...(j.userDefinedMetadata !== undefined && {
      userDefinedMetadata: j.userDefinedMetadata as NonNullable<ModelArtifacts['userDefinedMetadata']>,
    }),
  };
}

/**
 * Load artifacts with tf.loadLayersModel and recover our model spec and flat weights. Only the models
 * this package trains are accepted (dense relu layers, then dense(1, sigmoid)); anything else is refused.
 */
export async function loadTfjsModel(
  artifacts: ModelArtifacts,
): Promise<{ readonly spec: ModelSpec; readonly weights: Float64Array }> {
  await initTfjsBackend();
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw new FedscoreError(
      'invalid_argument',
      `TensorFlow.js could not load the model: ${(e as Error).message}`,
      {
        field: 'model.json',
        cause: e,
      },
    );
  }
  try {
    const dense = model.layers.map((l) => l.getConfig());
    const kinds = model.layers.map((l) => l.getClassName());
    const units = dense.map((c) => c['units'] as number);
    const acts = dense.map((c) => c['activation'] as string);
    const inShape = model.inputs[0]?.shape;
    const features = inShape?.[1];
    const ok =
      kinds.every((k) => k === 'Dense') &&
      typeof features === 'number' &&
      units.at(-1) === 1 &&
      acts.at(-1) === 'sigmoid' &&
      acts.slice(0, -1).every((a) => a === 'relu');
    if (!ok) {
      throw new FedscoreError(
        'unsupported',
        'the model is not one of hfl’s (dense relu layers, then dense(1, sigmoid))',
        { field: 'modelTopology' },
      );
    }
    const hidden = units.slice(0, -1);
    const spec: ModelSpec =
      hidden.length === 0 ? { kind: 'lr', features } : { kind: 'mlp', features, hidden };
    return { spec, weights: Float64Array.from(getFlatWeights(model)) };
  } finally {
    model.dispose();
  }
}
