/** `fedscore consent revoke`: revoke an authorization; jobs that start afterwards exclude the enterprise. */
import { AuditLog, ConsentRegistry } from '@fedscore/node';
import { type Command, optStr, str } from '../command.ts';
import {
  checkStoreOptions,
  isoTime,
  openStore,
  PARTY_OPTION,
  parseTime,
  STORE_OPTIONS,
} from './audit-helpers.ts';

export const command: Command = {
  path: ['consent', 'revoke'],
  summary: 'revoke an authorization (takes effect for jobs that start after it)',
  options: {
    ...STORE_OPTIONS,
    party: PARTY_OPTION,
    id: { type: 'string', required: true, placeholder: 'ID', description: 'the consent id' },
    reason: { type: 'string', placeholder: 'TEXT', description: 'why (kept with the consent)' },
    at: { type: 'string', placeholder: 'TIME', description: 'effective time (default now)' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const store = openStore(ctx.cwd, options, true);
    try {
      const registry = new ConsentRegistry(store, {
        audit: new AuditLog(store),
        party: str(options, 'party'),
      });
      const at = optStr(options, 'at');
      const reason = optStr(options, 'reason');
      const c = registry.revoke(str(options, 'id'), {
        ...(at !== undefined && { at: parseTime(at, '--at') }),
        ...(reason !== undefined && { reason }),
      });
      ctx.print(`revoked ${c.id} from ${isoTime(c.revokedAt ?? 0)}`);
      return { consent: c };
    } finally {
      store.close();
    }
  },
};
