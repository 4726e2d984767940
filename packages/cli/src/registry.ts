/** Every CLI command, in help order. Add a command by adding its module here. */
import type { Command } from './command.ts';

export async function loadCommands(): Promise<Command[]> {
  const modules = await Promise.all([
    import('./commands/evaluate.ts'),
    import('./commands/baseline.ts'),
    import('./commands/psi.ts'),
    import('./commands/datasets-generate.ts'),
    import('./commands/datasets-fetch.ts'),
    import('./commands/datasets-baseline.ts'),
    import('./commands/binning.ts'),
    import('./commands/train-hetero-lr.ts'),
    import('./commands/train-fedavg.ts'),
    import('./commands/demo.ts'),
    import('./commands/bench-hetero-lr.ts'),
    import('./commands/scorecard.ts'),
    import('./commands/stability.ts'),
    import('./commands/report.ts'),
    import('./commands/score.ts'),
    import('./commands/audit-verify.ts'),
    import('./commands/audit-export.ts'),
    import('./commands/audit-reconcile.ts'),
    import('./commands/consent-grant.ts'),
    import('./commands/consent-revoke.ts'),
    import('./commands/consent-list.ts'),
    import('./commands/consent-import.ts'),
    import('./commands/consent-check.ts'),
    import('./commands/models-register.ts'),
    import('./commands/models-list.ts'),
    import('./commands/models-show.ts'),
    import('./commands/models-compare.ts'),
    import('./commands/models-promote.ts'),
    import('./commands/models-retire.ts'),
    import('./commands/monitor-events.ts'),
    import('./commands/monitor-alerts.ts'),
    import('./commands/monitor-watch.ts'),
    import('./commands/node.ts'),
    import('./commands/certs.ts'),
    import('./commands/api-token.ts'),
    import('./commands/console-user.ts'),
  ]);
  return modules.map((m: { command: Command }) => m.command);
}
