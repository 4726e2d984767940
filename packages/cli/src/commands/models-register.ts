/**
 * `fedscore models register`: add a trained hetero-LR model to this node's registry from the files
 * `fedscore train hetero-lr --out DIR` writes (joint-model.json and this party's <party>.model.json),
 * with its evaluation metrics and lineage.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { AuditLog, type ModelLineage, ModelRegistry } from '@fedscore/node';
import { type Command, optStr, str, strs } from '../command.ts';
import { openStore, PARTY_OPTION, STORE_OPTION } from './audit-helpers.ts';

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

export const command: Command = {
  path: ['models', 'register'],
  summary: 'register a trained hetero-LR model (joint descriptor, own part, metrics, lineage)',
  description: `
Example:
  fedscore models register --store ./state/bank --party bank-a --name sme-credit-line \\
    --joint out/joint-model.json --own out/bank-a.model.json --metric auc=0.781 --metric ks=0.43 \\
    --data trainingSet=<fingerprint> --job job-17 --binning binning-job-16`,
  options: {
    store: STORE_OPTION,
    party: PARTY_OPTION,
    name: { type: 'string', required: true, placeholder: 'NAME', description: 'product-level model name' },
    joint: { type: 'string', required: true, placeholder: 'FILE', description: 'joint-model.json' },
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
    const store = openStore(ctx.cwd, str(options, 'store'), true);
    try {
      const registry = new ModelRegistry(store, { audit: new AuditLog(store), party: str(options, 'party') });
      const model = registry.registerHeteroLr({
        name: str(options, 'name'),
        jointModel: readText(ctx.cwd, str(options, 'joint'), '--joint'),
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
