/** `fedscore models compare`: metric deltas, changed parameters, feature and data differences. */
import { ModelRegistry } from '@fedscore/node';
import type { Command } from '../command.ts';
import { checkStoreOptions, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['models', 'compare'],
  summary: 'compare two model versions (metrics b - a, parameters, features, data)',
  options: { ...STORE_OPTIONS },
  positionals: [
    { name: 'A', description: 'first model reference', required: true },
    { name: 'B', description: 'second model reference', required: true },
  ],
  check: checkStoreOptions,
  async run(options, positionals, ctx) {
    const store = openStore(ctx.cwd, options, false);
    try {
      const c = new ModelRegistry(store).compare(positionals[0] ?? '', positionals[1] ?? '');
      for (const m of c.metrics) {
        const f = (v: number | null) => (v === null ? '-' : v.toFixed(4));
        ctx.print(
          `${m.name.padEnd(12)} ${f(m.a).padStart(9)} ${f(m.b).padStart(9)} ${f(m.delta).padStart(9)}`,
        );
      }
      for (const p of c.parameters) ctx.print(`param ${p.name}: ${String(p.a)} -> ${String(p.b)}`);
      if (c.features.onlyA.length + c.features.onlyB.length > 0) {
        ctx.print(`features only in ${c.a}: ${c.features.onlyA.join(', ') || '-'}`);
        ctx.print(`features only in ${c.b}: ${c.features.onlyB.join(', ') || '-'}`);
      }
      ctx.print(`same parties: ${c.sameParties}; different data: ${c.differentData.join(', ') || 'none'}`);
      return { comparison: c };
    } finally {
      store.close();
    }
  },
};
