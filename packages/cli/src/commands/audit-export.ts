/**
 * `fedscore audit export`: write a node's audit log as JSON lines (one entry per line, chain order) so
 * that another party -- typically the data owner -- can verify it and reconcile it with its own log.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { AUDIT_KINDS, type AuditKind, AuditLog } from '@fedscore/node';
import { type Command, optStr, str } from '../command.ts';
import { checkStoreOptions, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['audit', 'export'],
  summary: 'export the audit log as JSON lines (for the data owner to verify and reconcile)',
  description: `
Writes every entry (or those of one --kind) with its hash and previous hash. The export of the whole log
verifies on its own (fedscore audit reconcile checks it); a filtered export is not a chain.

Example:
  fedscore audit export --store ./state/bank --out bank-audit.jsonl`,
  options: {
    ...STORE_OPTIONS,
    out: { type: 'string', required: true, placeholder: 'FILE', description: 'JSON-lines file to write' },
    kind: { type: 'string', choices: [...AUDIT_KINDS], description: 'only entries of this kind' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const store = openStore(ctx.cwd, options, false);
    const out = resolve(ctx.cwd, str(options, 'out'));
    try {
      const log = new AuditLog(store);
      const kind = optStr(options, 'kind') as AuditKind | undefined;
      const lines: string[] = [];
      for (const e of log.entries(kind === undefined ? {} : { kind })) lines.push(JSON.stringify(e));
      try {
        writeFileSync(out, lines.length > 0 ? `${lines.join('\n')}\n` : '');
      } catch (e) {
        throw new FedscoreError('io', 'cannot write the export', { file: out, field: '--out', cause: e });
      }
      const head = log.head();
      ctx.print(`wrote ${lines.length} entries to ${out}; head ${head.hash} (${head.entries} entries)`);
      return { entries: lines.length, file: out, head: head.hash, logEntries: head.entries };
    } finally {
      store.close();
    }
  },
};
