/** `fedscore consent grant`: record one enterprise's authorization in a node's consent registry. */
import { AuditLog, CONSENT_PURPOSES, type ConsentPurpose, ConsentRegistry } from '@fedscore/node';
import { type Command, optStr, str, strs } from '../command.ts';
import {
  checkStoreOptions,
  isoTime,
  openStore,
  PARTY_OPTION,
  parseTime,
  STORE_OPTIONS,
} from './audit-helpers.ts';

export const command: Command = {
  path: ['consent', 'grant'],
  summary: "record an enterprise's authorization (grantee, purpose, scope, expiry)",
  description: `
The grant is written to the consent registry and, as a consent_change entry, to the audit log.
Scope: data categories the grantee may use (repeat --scope), or '*' for all.

Example:
  fedscore consent grant --store ./state/gov --party gov --enterprise 91350100M000100Y43 \\
    --grantee bank-a --purpose training --scope tax --scope court_judgments --expires 2026-12-31`,
  options: {
    ...STORE_OPTIONS,
    party: PARTY_OPTION,
    enterprise: { type: 'string', required: true, placeholder: 'USCC', description: 'the enterprise' },
    grantee: { type: 'string', required: true, placeholder: 'ID', description: 'the party allowed (a bank)' },
    purpose: { type: 'string', required: true, choices: [...CONSENT_PURPOSES], description: 'what for' },
    scope: {
      type: 'string',
      multiple: true,
      required: true,
      placeholder: 'CATEGORY',
      description: "data category, or '*'",
    },
    expires: {
      type: 'string',
      required: true,
      placeholder: 'TIME',
      description: 'expiry (ISO 8601 or epoch ms)',
    },
    granted: { type: 'string', placeholder: 'TIME', description: 'start of validity (default now)' },
    id: { type: 'string', placeholder: 'ID', description: "the authorization's id (default generated)" },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const store = openStore(ctx.cwd, options, true);
    try {
      const party = str(options, 'party');
      const registry = new ConsentRegistry(store, { audit: new AuditLog(store), party });
      const granted = optStr(options, 'granted');
      const id = optStr(options, 'id');
      const c = registry.grant({
        enterprise: str(options, 'enterprise'),
        grantee: str(options, 'grantee'),
        purpose: str(options, 'purpose') as ConsentPurpose,
        scope: strs(options, 'scope'),
        expiresAt: parseTime(str(options, 'expires'), '--expires'),
        ...(granted !== undefined && { grantedAt: parseTime(granted, '--granted') }),
        ...(id !== undefined && { id }),
      });
      ctx.print(`granted ${c.id}: ${c.grantee} may use data for ${c.purpose} until ${isoTime(c.expiresAt)}`);
      return { consent: c };
    } finally {
      store.close();
    }
  },
};
