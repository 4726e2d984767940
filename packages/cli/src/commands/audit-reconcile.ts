/**
 * `fedscore audit reconcile`: the data owner checks a user's exported audit log (its claimed uses of the
 * owner's data) against the owner's own log. Exits non-zero (audit_tampered) when the claimed log's chain
 * is broken or a use is hidden, unknown to the owner, or claimed on a different set of enterprises.
 */
import { FedscoreError } from '@fedscore/core';
import { type AuditEntry, AuditLog, reconcileAuditLogs, verifyAuditEntries } from '@fedscore/node';
import { type Command, str } from '../command.ts';
import { checkStoreOptions, openStore, readJsonLines, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['audit', 'reconcile'],
  summary: "check a bank's exported audit log against the data owner's own log",
  description: `
--claims is the user's log exported with 'fedscore audit export' (the whole log: its hash chain is
verified first). Uses are matched by job and purpose and must agree on the enterprise-set fingerprint and
count.

Example:
  fedscore audit reconcile --store ./state/gov --claims bank-audit.jsonl --owner gov --user bank-a --json`,
  options: {
    ...STORE_OPTIONS,
    claims: { type: 'string', required: true, placeholder: 'FILE', description: "the user's exported log" },
    owner: { type: 'string', required: true, placeholder: 'ID', description: 'the data owner party id' },
    user: {
      type: 'string',
      required: true,
      placeholder: 'ID',
      description: 'the party whose claims to check',
    },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const claimsFile = str(options, 'claims');
    const claims = readJsonLines(ctx.cwd, claimsFile, '--claims').map((l) => l.value);
    const chain = verifyAuditEntries(claims);
    const store = openStore(ctx.cwd, options, false);
    try {
      const r = reconcileAuditLogs(new AuditLog(store).entries(), claims as AuditEntry[], {
        dataOwner: str(options, 'owner'),
        user: str(options, 'user'),
      });
      const result = {
        ok: r.ok,
        claimsEntries: claims.length,
        claimsChainOk: chain.ok,
        matched: r.matched,
        unclaimed: r.unclaimed,
        unknownToOwner: r.unknownToOwner,
        mismatched: r.mismatched,
      };
      ctx.print(
        `matched ${r.matched}; hidden from the claims ${r.unclaimed.length}; unknown to the owner ` +
          `${r.unknownToOwner.length}; on a different set ${r.mismatched.length}; claims chain ${chain.ok ? 'ok' : 'BROKEN'}`,
      );
      if (!r.ok) {
        throw new FedscoreError(
          'audit_tampered',
          chain.ok
            ? 'the claimed uses do not match the owner log'
            : `the claimed log does not verify at entry ${chain.firstBad?.seq} (${chain.firstBad?.reason})`,
          {
            file: claimsFile,
            details: {
              ok: false,
              matched: r.matched,
              unclaimed: r.unclaimed.length,
              unknownToOwner: r.unknownToOwner.length,
              mismatched: r.mismatched.length,
              claimsChainOk: chain.ok,
            },
          },
        );
      }
      return result;
    } finally {
      store.close();
    }
  },
};
