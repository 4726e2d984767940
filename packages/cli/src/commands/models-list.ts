/** `fedscore models list`: the model registry's versions, newest first. */
import { MODEL_STATUSES, ModelRegistry, type ModelStatus } from '@fedscore/node';
import { type Command, optStr } from '../command.ts';
import { checkStoreOptions, isoTime, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['models', 'list'],
  summary: 'list registered model versions (name, version, status, metrics)',
  options: {
    ...STORE_OPTIONS,
    name: { type: 'string', placeholder: 'NAME', description: 'only this model name' },
    status: { type: 'string', choices: [...MODEL_STATUSES], description: 'only this status' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const store = openStore(ctx.cwd, options, false);
    try {
      const name = optStr(options, 'name');
      const status = optStr(options, 'status') as ModelStatus | undefined;
      const models = new ModelRegistry(store).list({
        ...(name !== undefined && { name }),
        ...(status !== undefined && { status }),
      });
      for (const m of models) {
        const metrics = Object.entries(m.metrics)
          .map(([k, v]) => `${k}=${v.toFixed(4)}`)
          .join(' ');
        ctx.print(
          `${m.ref.padEnd(28)} ${m.status.padEnd(10)} ${m.algorithm.padEnd(10)} ${isoTime(m.createdAt)}  ${metrics}`,
        );
      }
      return { models };
    } finally {
      store.close();
    }
  },
};
