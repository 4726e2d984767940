/**
 * `fedscore console-user add|remove|list`: the local accounts of a node's web console (docs/console.md),
 * kept in the node's store with scrypt password hashes. Run it on the node's host with the node's state
 * directory; the node reads the accounts on each login, so no restart is needed.
 */
import { randomBytes } from 'node:crypto';
import { FedscoreError } from '@fedscore/core';
import { CONSOLE_ROLES, ConsoleAccounts, type ConsoleRole } from '@fedscore/node';
import { bool, type Command, optStr, str } from '../command.ts';
import { checkStoreOptions, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['console-user'],
  summary: "add, remove or list the web console's local accounts (roles: operator, bank analyst, auditor)",
  description: `
add: create an account (--replace: reset its password and role; its sessions end). The password is
read from the environment variable named by --password-env (default FEDSCORE_CONSOLE_PASSWORD; at least
12 characters); without it a random one is generated and printed once. The store keeps only its scrypt hash.
remove: delete an account and end its sessions. list: the accounts, their roles and banks.

Example: FEDSCORE_CONSOLE_PASSWORD=... fedscore console-user add --store state/gov --user anna \\
           --role bank-analyst --bank bank-a`,
  positionals: [{ name: 'ACTION', description: 'add | remove | list', required: true }],
  options: {
    ...STORE_OPTIONS,
    user: { type: 'string', placeholder: 'NAME', description: 'the username (1-64 of a-z 0-9 . _ -)' },
    role: { type: 'string', choices: CONSOLE_ROLES, description: 'the role of a new account' },
    bank: { type: 'string', placeholder: 'PARTY', description: "a bank analyst's bank (its party id)" },
    'password-env': {
      type: 'string',
      default: 'FEDSCORE_CONSOLE_PASSWORD',
      placeholder: 'VAR',
      description: 'environment variable holding the password',
    },
    replace: { type: 'boolean', default: false, description: 'add: replace an existing account' },
  },
  check: checkStoreOptions,
  async run(o, positionals, ctx) {
    const action = positionals[0];
    if (action !== 'add' && action !== 'remove' && action !== 'list') {
      throw new FedscoreError('invalid_argument', 'the action is add, remove or list', { field: 'ACTION' });
    }
    const store = openStore(ctx.cwd, o, action !== 'list');
    try {
      if (action === 'list') {
        // Read-only: a store whose console never ran has no accounts table yet.
        const exists = store.get(
          "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'console_accounts'",
        );
        const accounts =
          exists === undefined
            ? []
            : store.all<{ username: string; role: string; bank: string | null }>(
                'SELECT username, role, bank FROM console_accounts ORDER BY username',
              );
        for (const a of accounts)
          ctx.print(`${a.username}\t${a.role}${a.bank === null ? '' : `\t${a.bank}`}`);
        return { accounts };
      }
      const accounts = new ConsoleAccounts(store);
      const user = optStr(o, 'user');
      if (user === undefined)
        throw new FedscoreError('invalid_argument', 'name the account', { field: '--user' });
      if (action === 'remove') {
        const removed = accounts.remove(user);
        if (!removed)
          throw new FedscoreError('not_found', `no console account '${user}'`, { field: '--user' });
        ctx.print(`removed ${user}`);
        return { removed: user };
      }
      const role = optStr(o, 'role') as ConsoleRole | undefined;
      if (role === undefined)
        throw new FedscoreError('invalid_argument', 'give the role', { field: '--role' });
      const fromEnv = process.env[str(o, 'password-env')];
      const password = fromEnv ?? randomBytes(18).toString('base64url');
      const bank = optStr(o, 'bank');
      const account = await accounts.create({
        username: user,
        role,
        ...(bank !== undefined && { bank }),
        password,
        replace: bool(o, 'replace'),
      });
      ctx.print(
        `${bool(o, 'replace') ? 'set' : 'added'} ${account.username} (${account.role}${bank === undefined ? '' : `, ${bank}`})`,
      );
      if (fromEnv === undefined) ctx.print(`password (shown once; give it to ${user}): ${password}`);
      return { account, ...(fromEnv === undefined && { password }) };
    } finally {
      store.close();
    }
  },
};
