/**
 * `fedscore consent import`: load authorizations from a JSON-lines file (one per line: id?, enterprise,
 * grantee, purpose, scope[], grantedAt?, expiresAt; times as ISO 8601 or epoch ms), all or none.
 */
import { FedscoreError } from '@fedscore/core';
import { AuditLog, type ConsentGrant, ConsentRegistry } from '@fedscore/node';
import { type Command, str } from '../command.ts';
import {
  checkStoreOptions,
  openStore,
  PARTY_OPTION,
  parseTime,
  readJsonLines,
  STORE_OPTIONS,
} from './audit-helpers.ts';

export const command: Command = {
  path: ['consent', 'import'],
  summary: 'import authorizations from a JSON-lines file (atomic: all or none)',
  description: `
Each line: {"enterprise":"91350100M000100Y43","grantee":"bank-a","purpose":"training","scope":["*"],
"expiresAt":"2026-12-31"} (optional "id", "grantedAt"). An error names the file, line and field.`,
  options: {
    ...STORE_OPTIONS,
    party: PARTY_OPTION,
    file: { type: 'string', required: true, placeholder: 'FILE', description: 'JSON-lines consents' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const file = str(options, 'file');
    const lines = readJsonLines(ctx.cwd, file, '--file');
    const grants: ConsentGrant[] = lines.map(({ value, line }) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new FedscoreError('invalid_config', 'expected a JSON object', { file, line });
      }
      const o = value as Record<string, unknown>;
      return {
        ...(o as unknown as ConsentGrant),
        expiresAt: parseTime(o['expiresAt'], 'expiresAt', file, line),
        ...(o['grantedAt'] !== undefined && {
          grantedAt: parseTime(o['grantedAt'], 'grantedAt', file, line),
        }),
      };
    });
    const store = openStore(ctx.cwd, options, true);
    try {
      const registry = new ConsentRegistry(store, {
        audit: new AuditLog(store),
        party: str(options, 'party'),
      });
      try {
        registry.grantAll(grants);
      } catch (e) {
        // grantAll names the element as consents[i]: turn it into the file's line.
        if (e instanceof FedscoreError && e.field !== undefined) {
          const m = /^consents\[(\d+)\]\.?(.*)$/.exec(e.field);
          const line = m ? lines[Number(m[1])]?.line : undefined;
          if (m && line !== undefined) {
            throw new FedscoreError(e.code, e.message.replace(/^field '[^']*': /, ''), {
              file,
              line,
              field: m[2] || 'consent',
              cause: e,
            });
          }
        }
        throw e;
      }
      ctx.print(`imported ${grants.length} consents`);
      return { imported: grants.length };
    } finally {
      store.close();
    }
  },
};
