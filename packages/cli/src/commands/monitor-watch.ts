/**
 * `fedscore monitor watch`: a bank node queues its borrowers (loans it made, with their end dates) and
 * loans that ended, for post-loan monitoring. The running node sends them to the government node at its
 * next poll; the government keeps only borrowers with a valid monitoring consent for this bank.
 */
import { FedscoreError } from '@fedscore/core';
import { assertPartyId, queueWatchChanges, type WatchAddition } from '@fedscore/node';
import { type Command, str } from '../command.ts';
import { checkStoreOptions, openStore, parseTime, readJsonLines, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['monitor', 'watch'],
  summary: "queue a bank node's borrowers (and ended loans) for post-loan alerts from a government node",
  description: `
Each line of --file: {"enterprise":"91350100M000100Y43","until":"2026-06-30"} (a loan, until its end),
or {"enterprise":"91350100M000100Y43","remove":true} (the loan ended early). All or none are queued.
The bank's node (config monitoring.government) sends them at its next poll.`,
  options: {
    ...STORE_OPTIONS,
    government: {
      type: 'string',
      required: true,
      placeholder: 'ID',
      description: 'the government node (party id) to watch with',
    },
    file: { type: 'string', required: true, placeholder: 'FILE', description: 'JSON-lines loans' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const file = str(options, 'file');
    const government = assertPartyId(str(options, 'government'), '--government');
    const add: WatchAddition[] = [];
    const remove: string[] = [];
    for (const { value, line } of readJsonLines(ctx.cwd, file, '--file')) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new FedscoreError('invalid_config', 'expected a JSON object', { file, line });
      }
      const o = value as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        if (!['enterprise', 'until', 'remove'].includes(k)) {
          throw new FedscoreError('invalid_config', 'unknown field', { file, line, field: k });
        }
      }
      if (typeof o['enterprise'] !== 'string') {
        throw new FedscoreError('invalid_config', 'expected a USCC string', {
          file,
          line,
          field: 'enterprise',
        });
      }
      if (o['remove'] === true) remove.push(o['enterprise']);
      else add.push({ enterprise: o['enterprise'], until: parseTime(o['until'], 'until', file, line) });
    }
    const store = openStore(ctx.cwd, options, true);
    try {
      const queued = queueWatchChanges(store, government, { add, remove });
      ctx.print(`queued ${add.length} borrowers and ${remove.length} ended loans for ${government}`);
      return { queued, added: add.length, removed: remove.length };
    } finally {
      store.close();
    }
  },
};
