/** `fedscore models promote`: make a version the serving one (the previous production version is archived). */
import { AuditLog, ModelRegistry } from '@fedscore/node';
import { type Command, optStr, str } from '../command.ts';
import { openStore, PARTY_OPTION, STORE_OPTION } from './audit-helpers.ts';

export const command: Command = {
  path: ['models', 'promote'],
  summary: 'make a version the serving one (the previous production version is archived)',
  options: {
    store: STORE_OPTION,
    party: PARTY_OPTION,
    reason: { type: 'string', placeholder: 'TEXT', description: 'kept in the version history' },
  },
  positionals: [{ name: 'REF', description: "the model reference ('name@VERSION')", required: true }],
  async run(options, positionals, ctx) {
    const store = openStore(ctx.cwd, str(options, 'store'), true);
    try {
      const registry = new ModelRegistry(store, { audit: new AuditLog(store), party: str(options, 'party') });
      const reason = optStr(options, 'reason');
      const model = registry.promote(positionals[0] ?? '', reason === undefined ? {} : { reason });
      ctx.print(`${model.ref} is now ${model.status}`);
      return { model };
    } finally {
      store.close();
    }
  },
};
