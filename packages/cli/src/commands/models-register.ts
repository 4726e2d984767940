/**
 * `fedscore models register`: add a trained hetero-LR model to this node's registry from the files
 * `fedscore train hetero-lr --out DIR` writes (joint-model.json and this party's <party>.model.json),
 * with its evaluation metrics and lineage; or, with `--tfjs DIR`, the TensorFlow.js LayersModel that
 * `fedscore train fedavg --out DIR` writes (model.json + weights.bin, stored as the artifact).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { AuditLog, type ModelLineage, ModelRegistry } from '@fedscore/node';
import { type Command, optStr, str, strs } from '../command.ts';
import { checkStoreOptions, openStore, PARTY_OPTION, STORE_OPTIONS } from './audit-helpers.ts';

function readText(cwd: string, file: string, field: string): string {
  const path = resolve(cwd, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new FedscoreError('io', 'cannot read the file', { file: path, field, cause: e });
  }
}

/** NAME=VALUE pairs. */
function pairs(items: readonly string[], field: string, numeric: boolean): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    const key = item.slice(0, i);
    const raw = item.slice(i + 1);
    if (i <= 0 || raw === '') throw new FedscoreError('invalid_argument', 'expected NAME=VALUE', { field });
    if (numeric) {
      const v = Number(raw);
      if (!Number.isFinite(v))
        throw new FedscoreError('invalid_argument', `${key}: expected a number`, { field });
      out[key] = v;
    } else out[key] = raw;
  }
  return out;
}

/**
 * What `train fedavg --out DIR` wrote, as a registration: algorithm `hfl-<strategy>-<model>`, model id
 * from the weights' SHA-256, the clients as parties, the metadata's test metrics (explicit --metric
 * flags win), and the artifact = model.json with weights.bin inlined as base64 (one JSON text).
 */
function tfjsRegistration(cwd: string, dir: string) {
  const root = resolve(cwd, dir);
  const text = readText(root, 'model.json', '--tfjs');
  let weights: Buffer;
  try {
    weights = readFileSync(join(root, 'weights.bin'));
  } catch (e) {
    throw new FedscoreError('io', 'cannot read weights.bin', {
      file: join(root, 'weights.bin'),
      field: '--tfjs',
      cause: e,
    });
  }
  let json: {
    format?: unknown;
    userDefinedMetadata?: {
      fedscore?: {
        model?: string;
        strategy?: string;
        rounds?: number;
        backend?: string;
        clients?: string[];
        features?: string[];
        test?: Record<string, number>;
      };
    };
  };
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FedscoreError('invalid_config', 'model.json is not JSON', {
      file: join(root, 'model.json'),
      field: '--tfjs',
      cause: e,
    });
  }
  const meta = json.userDefinedMetadata?.fedscore;
  if (json.format !== 'layers-model' || meta === undefined) {
    throw new FedscoreError('invalid_config', 'not a model written by fedscore train fedavg --out', {
      file: join(root, 'model.json'),
      field: '--tfjs',
    });
  }
  const sha = createHash('sha256').update(weights).digest('hex');
  return {
    algorithm: `hfl-${meta.strategy ?? 'fedavg'}-${meta.model ?? 'model'}`,
    modelId: `hfl-${sha.slice(0, 16)}`,
    parties: [
      ...(meta.clients ?? []).map((id) => ({ id, role: 'client', featureNames: meta.features ?? [] })),
      { id: 'coordinator', role: 'coordinator' },
    ],
    parameters: {
      format: 'tfjs-layers-model',
      rounds: meta.rounds ?? 0,
      backend: meta.backend ?? 'unknown',
      weightsSha256: sha,
    },
    artifact: JSON.stringify({ modelJson: JSON.parse(text), weightsBase64: weights.toString('base64') }),
    descriptor: text,
    testMetrics: meta.test ?? {},
  };
}

export const command: Command = {
  path: ['models', 'register'],
  summary: 'register a trained model: hetero-LR (joint descriptor, own part) or HFL (TensorFlow.js)',
  description: `
Example:
  fedscore models register --store ./state/bank --party bank-a --name sme-credit-line \\
    --joint out/joint-model.json --own out/bank-a.model.json --metric auc=0.781 --metric ks=0.43 \\
    --data trainingSet=<fingerprint> --job job-17 --binning binning-job-16
  fedscore models register --store ./state/platform --party platform --name sme-hfl --tfjs out/hfl`,
  options: {
    ...STORE_OPTIONS,
    party: PARTY_OPTION,
    name: { type: 'string', required: true, placeholder: 'NAME', description: 'product-level model name' },
    joint: { type: 'string', placeholder: 'FILE', description: 'joint-model.json (hetero-LR)' },
    tfjs: {
      type: 'string',
      placeholder: 'DIR',
      description: 'instead of --joint: the TensorFlow.js model of fedscore train fedavg --out DIR',
    },
    own: { type: 'string', placeholder: 'FILE', description: "this party's <party>.model.json (kept local)" },
    metric: { type: 'string', multiple: true, placeholder: 'NAME=VALUE', description: 'evaluation metric' },
    data: {
      type: 'string',
      multiple: true,
      placeholder: 'NAME=FINGERPRINT',
      description: 'data fingerprint',
    },
    job: { type: 'string', placeholder: 'ID', description: 'the training job' },
    binning: { type: 'string', placeholder: 'REF', description: 'the binning run it used' },
    selection: {
      type: 'string',
      placeholder: 'FILE',
      description: 'IV selection lineage JSON (from fedscore binning)',
    },
    parent: { type: 'string', placeholder: 'REF', description: 'the model it replaces' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const own = optStr(options, 'own');
    const job = optStr(options, 'job');
    const binning = optStr(options, 'binning');
    const parent = optStr(options, 'parent');
    const selectionFile = optStr(options, 'selection');
    let selection: ModelLineage['selection'];
    if (selectionFile !== undefined) {
      try {
        const parsed = JSON.parse(readText(ctx.cwd, selectionFile, '--selection')) as Record<string, unknown>;
        selection = (parsed['selection'] ?? parsed) as ModelLineage['selection'];
      } catch (e) {
        if (e instanceof FedscoreError) throw e;
        throw new FedscoreError('invalid_config', 'not JSON', {
          file: selectionFile,
          field: '--selection',
          cause: e,
        });
      }
      if (selection?.kind !== 'feature-selection') {
        throw new FedscoreError(
          'invalid_config',
          "expected a feature-selection lineage (kind 'feature-selection')",
          {
            file: selectionFile,
            field: '--selection',
          },
        );
      }
    }
    const lineage: ModelLineage = {
      ...(job !== undefined && { job }),
      ...(binning !== undefined && { binning }),
      ...(selection !== undefined && { selection }),
      ...(parent !== undefined && { parent }),
    };
    const store = openStore(ctx.cwd, options, true);
    try {
      const registry = new ModelRegistry(store, { audit: new AuditLog(store), party: str(options, 'party') });
      const tfjsDir = optStr(options, 'tfjs');
      const jointFile = optStr(options, 'joint');
      if ((tfjsDir === undefined) === (jointFile === undefined)) {
        throw new FedscoreError('invalid_argument', 'give exactly one of --joint and --tfjs', {
          field: '--joint',
        });
      }
      if (tfjsDir !== undefined) {
        const { testMetrics, ...registration } = tfjsRegistration(ctx.cwd, tfjsDir);
        const model = registry.register({
          name: str(options, 'name'),
          ...registration,
          metrics: {
            ...testMetrics,
            ...(pairs(strs(options, 'metric'), '--metric', true) as Record<string, number>),
          },
          dataFingerprints: pairs(strs(options, 'data'), '--data', false) as Record<string, string>,
          lineage,
        });
        ctx.print(`registered ${model.ref} (${model.status})`);
        return { model };
      }
      const model = registry.registerHeteroLr({
        name: str(options, 'name'),
        jointModel: readText(ctx.cwd, jointFile!, '--joint'),
        ...(own !== undefined && { partyModel: readText(ctx.cwd, own, '--own') }),
        metrics: pairs(strs(options, 'metric'), '--metric', true) as Record<string, number>,
        dataFingerprints: pairs(strs(options, 'data'), '--data', false) as Record<string, string>,
        lineage,
      });
      ctx.print(`registered ${model.ref} (${model.status})`);
      return { model };
    } finally {
      store.close();
    }
  },
};
