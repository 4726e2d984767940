/** `fedscore consent list`: the authorizations in a node's registry, with their status at a time. */
import { CONSENT_PURPOSES, type ConsentPurpose, ConsentRegistry } from '@fedscore/node';
import { type Command, optStr } from '../command.ts';
import { checkStoreOptions, isoTime, openStore, parseTime, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['consent', 'list'],
  summary: 'list authorizations with their status (valid, expired, revoked, not yet valid)',
  options: {
    ...STORE_OPTIONS,
    enterprise: { type: 'string', placeholder: 'USCC', description: 'only this enterprise' },
    grantee: { type: 'string', placeholder: 'ID', description: 'only this grantee' },
    purpose: { type: 'string', choices: [...CONSENT_PURPOSES], description: 'only this purpose' },
    at: { type: 'string', placeholder: 'TIME', description: 'status at this time (default now)' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const store = openStore(ctx.cwd, options, false);
    try {
      const registry = new ConsentRegistry(store);
      const atText = optStr(options, 'at');
      const at = atText === undefined ? Date.now() : parseTime(atText, '--at');
      const enterprise = optStr(options, 'enterprise');
      const grantee = optStr(options, 'grantee');
      const purpose = optStr(options, 'purpose') as ConsentPurpose | undefined;
      const consents = registry
        .list({
          ...(enterprise !== undefined && { enterprise }),
          ...(grantee !== undefined && { grantee }),
          ...(purpose !== undefined && { purpose }),
        })
        .map((c) => ({ ...c, status: registry.status(c, at) }));
      for (const c of consents) {
        ctx.print(
          `${c.id}  ${c.enterprise}  ${c.grantee}  ${c.purpose}  [${c.scope.join(',')}]  until ${isoTime(c.expiresAt)}  ${c.status}`,
        );
      }
      return { at, consents };
    } finally {
      store.close();
    }
  },
};
