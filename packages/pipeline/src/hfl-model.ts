/**
 * A registered HFL model (the TensorFlow.js LayersModel an `hfl` job's publish wrote: model.json with
 * the weights inlined as base64, as the model registry's artifact holds it) as the scoring package's
 * `ProbabilityModel`, so it scores, bands and decides credit lines through @fedscore/scoring.
 */
import { FedscoreError } from '@fedscore/core';
import { loadTfjsModel, predictTfjs, readLayersModelFiles } from '@fedscore/hfl';
import type { ProbabilityModel } from '@fedscore/scoring';

/** The registry artifact of an HFL model: `{ modelJson, weightsBase64 }` (JSON text). */
export async function hflProbabilityModel(artifact: string): Promise<ProbabilityModel> {
  let parsed: { modelJson?: unknown; weightsBase64?: unknown };
  try {
    parsed = JSON.parse(artifact) as typeof parsed;
  } catch (e) {
    throw new FedscoreError('invalid_argument', 'the model artifact is not JSON', {
      field: 'artifact',
      cause: e,
    });
  }
  if (
    typeof parsed.modelJson !== 'object' ||
    parsed.modelJson === null ||
    typeof parsed.weightsBase64 !== 'string'
  ) {
    throw new FedscoreError('invalid_argument', 'expected { modelJson, weightsBase64 }', {
      field: 'artifact',
    });
  }
  const weights = Uint8Array.from(Buffer.from(parsed.weightsBase64, 'base64'));
  const loaded = await loadTfjsModel(readLayersModelFiles(parsed.modelJson, weights));
  const meta = (parsed.modelJson as { userDefinedMetadata?: { fedscore?: { features?: unknown } } })
    .userDefinedMetadata?.fedscore;
  const features = meta?.features;
  if (!Array.isArray(features) || !features.every((f) => typeof f === 'string')) {
    throw new FedscoreError('invalid_argument', "the model's metadata names no input columns", {
      field: 'userDefinedMetadata.fedscore.features',
    });
  }
  return {
    format: 'tfjs-layers-model',
    features,
    predict: async (x, rows) => {
      if (x.length !== rows * loaded.spec.features) {
        throw new FedscoreError('invalid_argument', 'expected rows x features values', { field: 'x' });
      }
      return predictTfjs(loaded.spec, loaded.weights, x);
    },
  };
}
