/** `fedscore models show`: one version in full, with its lifecycle history. */
import { ModelRegistry } from '@fedscore/node';
import type { Command } from '../command.ts';
import { checkStoreOptions, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['models', 'show'],
  summary: 'show a model version: parties, metrics, parameters, data fingerprints, lineage, history',
  description: `
REF is 'name@VERSION', 'name@production' or 'name' (the newest version).

Example:
  fedscore models show sme-credit-line@production --store ./state/bank --json`,
  options: { ...STORE_OPTIONS },
  positionals: [{ name: 'REF', description: 'the model reference', required: true }],
  check: checkStoreOptions,
  async run(options, positionals, ctx) {
    const store = openStore(ctx.cwd, options, false);
    try {
      const registry = new ModelRegistry(store);
      const model = registry.get(positionals[0] ?? '');
      const history = registry.history(model.ref);
      ctx.print(JSON.stringify({ ...model, history }, null, 2));
      return { model, history };
    } finally {
      store.close();
    }
  },
};
