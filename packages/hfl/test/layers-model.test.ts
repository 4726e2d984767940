/**
 * The trained model in TensorFlow.js LayersModel format: saving through a caller's save handler yields
 * artifacts whose model.json + weights.bin, after a JSON round trip, load back with tf.loadLayersModel
 * into the same spec and the same float32 weights, so the loaded model's scores equal the original's
 * exactly; tampered or foreign files are refused with typed errors.
 */
import { isFedscoreError, normal, seededRng } from '@fedscore/core';
import {
  initialModelWeights,
  layersModelFiles,
  loadTfjsModel,
  type ModelArtifacts,
  type ModelSpec,
  predictTfjs,
  readLayersModelFiles,
  saveTfjsModel,
  WEIGHTS_FILE,
} from '@fedscore/hfl';
import { describe, expect, it } from 'vitest';

const FEATURES = 7;

async function roundTrip(spec: ModelSpec) {
  const weights = initialModelWeights(spec, seededRng(3));
  // non-zero biases too, so that their order is checked
  for (let i = 0; i < weights.length; i++) if (weights[i] === 0) weights[i] = 0.01 * (i % 7) - 0.03;
  let saved: ModelArtifacts | undefined;
  const result = await saveTfjsModel(spec, weights, async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  });
  expect(result.modelArtifactsInfo.modelTopologyType).toBe('JSON');
  const files = layersModelFiles(saved!, { features: ['a', 'b'] });
  const text = JSON.stringify(files.modelJson);
  const loaded = await loadTfjsModel(readLayersModelFiles(JSON.parse(text), files.weightsBin));
  return { weights, files, loaded };
}

describe('LayersModel save and load', () => {
  for (const spec of [
    { kind: 'lr', features: FEATURES },
    { kind: 'mlp', features: FEATURES, hidden: [32, 16] },
  ] as ModelSpec[]) {
    it(`${spec.kind}: model.json + weights.bin load back to the same spec, weights and scores`, async () => {
      const { weights, files, loaded } = await roundTrip(spec);
      expect(files.modelJson.format).toBe('layers-model');
      expect(files.modelJson.weightsManifest[0]!.paths).toEqual([WEIGHTS_FILE]);
      expect(files.weightsBin.byteLength).toBe(4 * weights.length);
      expect(loaded.spec.kind).toBe(spec.kind);
      expect(loaded.spec.features).toBe(FEATURES);
      if (spec.kind === 'mlp') expect(loaded.spec.hidden).toEqual([32, 16]);
      expect(Array.from(loaded.weights)).toEqual(Array.from(Float32Array.from(weights)));
      const rng = seededRng(9);
      const x = Float64Array.from({ length: 50 * FEATURES }, () => normal(rng, 0, 1));
      expect(Array.from(predictTfjs(loaded.spec, loaded.weights, x))).toEqual(
        Array.from(predictTfjs(spec, weights, x)),
      );
    });
  }

  it('refuses a truncated weights.bin and a file that is not a layers model', async () => {
    const { files } = await roundTrip({ kind: 'lr', features: FEATURES });
    const json = JSON.parse(JSON.stringify(files.modelJson));
    for (const [run, field] of [
      [() => readLayersModelFiles(json, files.weightsBin.subarray(4)), WEIGHTS_FILE],
      [() => readLayersModelFiles({ ...json, format: 'graph-model' }, files.weightsBin), 'model.json'],
      [() => readLayersModelFiles(null, files.weightsBin), 'model.json'],
    ] as const) {
      try {
        run();
        expect.unreachable();
      } catch (e) {
        expect(isFedscoreError(e) && e.field).toBe(field);
      }
    }
  });
});
