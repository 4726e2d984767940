/**
 * `fedscore audit verify`: check the hash chain of a node's audit log. Prints {"entries","ok","head"};
 * when any entry was altered, removed or reordered it names the first bad entry and exits non-zero
 * (prints {"entries","ok":false,"first_bad","reason","error"}; error code audit_tampered).
 */
import { FedscoreError } from '@fedscore/core';
import { type AuditAnchor, AuditLog } from '@fedscore/node';
import { type Command, CommandFailed, optNum, optStr } from '../command.ts';
import { checkStoreOptions, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['audit', 'verify'],
  summary: "verify a node's hash-chained audit log; names the first altered entry",
  description: `
Recomputes every entry's SHA-256 from its stored fields and checks that each entry links to the one
before. A hash chain cannot by itself show that the newest entries were cut off: give the entry count and
head hash recorded earlier (--anchor-entries, --anchor-hash) to detect truncation or a rewritten tail.
Opens the store read-only, so it can run beside a live node.

Example:
  fedscore audit verify --store ./state/gov --json`,
  options: {
    ...STORE_OPTIONS,
    'anchor-entries': { type: 'integer', placeholder: 'N', description: 'entry count recorded earlier' },
    'anchor-hash': { type: 'string', placeholder: 'HEX', description: 'head hash recorded earlier' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const anchorEntries = optNum(options, 'anchor-entries');
    const anchorHash = optStr(options, 'anchor-hash');
    if ((anchorEntries === undefined) !== (anchorHash === undefined)) {
      throw new FedscoreError('invalid_argument', 'give both --anchor-entries and --anchor-hash', {
        field: anchorEntries === undefined ? '--anchor-entries' : '--anchor-hash',
      });
    }
    if (anchorHash !== undefined && !/^[0-9a-f]{64}$/.test(anchorHash)) {
      throw new FedscoreError('invalid_argument', 'expected 64 lowercase hex digits', {
        field: '--anchor-hash',
      });
    }
    const anchor: AuditAnchor | undefined =
      anchorEntries === undefined || anchorHash === undefined
        ? undefined
        : { entries: anchorEntries, hash: anchorHash };
    const store = openStore(ctx.cwd, options, false);
    try {
      const v = new AuditLog(store).verify(anchor === undefined ? {} : { anchor });
      if (!v.ok && v.firstBad !== undefined) {
        const error = new FedscoreError(
          'audit_tampered',
          `audit log entry ${v.firstBad.seq} does not verify (${v.firstBad.reason}): ${v.firstBad.message}`,
          {
            file: store.path,
            field: `entries[${v.firstBad.seq}]`,
            details: { entries: v.entries, ok: false, firstBad: v.firstBad.seq, reason: v.firstBad.reason },
          },
        );
        throw new CommandFailed(
          { entries: v.entries, ok: false, first_bad: v.firstBad.seq, reason: v.firstBad.reason },
          error,
        );
      }
      ctx.print(`ok: ${v.entries} entries, head ${v.head}`);
      return { entries: v.entries, ok: true, head: v.head };
    } finally {
      store.close();
    }
  },
};
