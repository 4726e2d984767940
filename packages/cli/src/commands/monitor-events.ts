/**
 * `fedscore monitor events`: the government node records public-credit change events from a JSON-lines
 * file (enterprise, kind, occurredAt, reference?). Banks watching a consenting enterprise receive them
 * as alerts at their next poll.
 */
import { FedscoreError } from '@fedscore/core';
import { CREDIT_EVENT_KINDS, CreditEventFeed, type CreditEventInput } from '@fedscore/node';
import { type Command, str } from '../command.ts';
import { checkStoreOptions, openStore, parseTime, readJsonLines, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['monitor', 'events'],
  summary: 'record public-credit change events (government node) from a JSON-lines file',
  description: `
Each line: {"enterprise":"91350100M000100Y43","kind":"court_judgment","occurredAt":"2025-06-01",
"reference":"(2025) ..."}. Kinds: ${CREDIT_EVENT_KINDS.join(', ')}. All or none are recorded.`,
  options: {
    ...STORE_OPTIONS,
    file: { type: 'string', required: true, placeholder: 'FILE', description: 'JSON-lines events' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const file = str(options, 'file');
    const lines = readJsonLines(ctx.cwd, file, '--file');
    const events: CreditEventInput[] = lines.map(({ value, line }) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new FedscoreError('invalid_config', 'expected a JSON object', { file, line });
      }
      const o = value as Record<string, unknown>;
      return {
        ...(o as unknown as CreditEventInput),
        occurredAt: parseTime(o['occurredAt'], 'occurredAt', file, line),
      };
    });
    const store = openStore(ctx.cwd, options, true);
    try {
      let recorded: number;
      try {
        recorded = new CreditEventFeed(store).recordAll(events).length;
      } catch (e) {
        const m = e instanceof FedscoreError && e.field ? /^events\[(\d+)\]\.(.*)$/.exec(e.field) : null;
        const line = m ? lines[Number(m[1])]?.line : undefined;
        if (e instanceof FedscoreError && m && line !== undefined) {
          throw new FedscoreError(e.code, e.message.replace(/^field '[^']*': /, ''), {
            file,
            line,
            field: m[2] ?? 'event',
            cause: e,
          });
        }
        throw e;
      }
      ctx.print(`recorded ${recorded} events`);
      return { recorded };
    } finally {
      store.close();
    }
  },
};
