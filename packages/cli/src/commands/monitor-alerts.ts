/** `fedscore monitor alerts`: a bank node's received post-loan alerts and rescoring status. */
import { AlertInbox } from '@fedscore/node';
import { type Command, optStr } from '../command.ts';
import { checkStoreOptions, isoTime, openStore, STORE_OPTIONS } from './audit-helpers.ts';

export const command: Command = {
  path: ['monitor', 'alerts'],
  summary: "list a bank node's post-loan alerts (new or rescored)",
  options: {
    ...STORE_OPTIONS,
    status: { type: 'string', choices: ['new', 'rescored'], description: 'only alerts with this status' },
  },
  check: checkStoreOptions,
  async run(options, _positionals, ctx) {
    const store = openStore(ctx.cwd, options, false);
    try {
      const status = optStr(options, 'status') as 'new' | 'rescored' | undefined;
      const alerts = new AlertInbox(store).alerts(status === undefined ? {} : { status });
      for (const a of alerts) {
        ctx.print(
          `${a.government}#${a.seq}  ${a.enterprise}  ${a.kind.padEnd(22)} ${a.severity.padEnd(6)} ${isoTime(a.occurredAt)}  ${a.status}`,
        );
      }
      return { alerts };
    } finally {
      store.close();
    }
  },
};
