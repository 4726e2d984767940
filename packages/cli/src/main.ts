#!/usr/bin/env node
/**
 * fedscore CLI entry point: `fedscore <command> [subcommand] [flags]`.
 * Exit codes: 0 success, 1 failure (typed error on stderr), 2 usage error.
 */
// First: refuse an unsupported Node.js with one sentence (before import.meta.main is relied on below).
import './node-guard.ts';
import { createLogger, FedscoreError, type LogLevel } from '@fedscore/core';
import { parseFlags } from './args.ts';
import { type Command, CommandFailed } from './command.ts';
import { commandHelp, topLevelHelp } from './help.ts';
import { stderrProgress } from './progress.ts';
import { loadCommands } from './registry.ts';

export async function main(argv: readonly string[]): Promise<number> {
  const commands = await loadCommands();
  const found = findCommand(commands, argv);
  const wantsJson = argv.includes('--json');
  if (found === undefined) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      process.stdout.write(topLevelHelp(commands));
      return 0;
    }
    const prefix = argv.filter((a) => !a.startsWith('-'));
    const group = commands.filter((c) => c.path[0] === prefix[0]);
    if (group.length > 0 && (prefix.length === 1 || argv.includes('--help'))) {
      process.stdout.write(topLevelHelp(group));
      return prefix.length === 1 && !argv.includes('--help') ? 2 : 0;
    }
    return fail(
      new FedscoreError('invalid_argument', `unknown command '${prefix.join(' ')}'; run 'fedscore --help'`, {
        field: 'command',
      }),
      wantsJson,
      2,
    );
  }
  const { command, rest } = found;
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(rest, command.options);
    if (parsed.options['help'] !== true) command.check?.(parsed.options);
  } catch (e) {
    return fail(e, wantsJson, 2);
  }
  if (parsed.options['help'] === true) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const json = parsed.options['json'] === true;
  const bars = stderrProgress(process.stderr, parsed.options['quiet'] === true);
  const logger = createLogger(
    (r) => {
      bars.finish();
      const fields = Object.entries(r.fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      process.stderr.write(`[${r.level}] ${r.message}${fields ? ` ${fields}` : ''}\n`);
      // A command that leaves --log-level without a default (the node: its config's log.level) filters itself.
    },
    (parsed.options['log-level'] as LogLevel | undefined) ?? 'debug',
  );
  try {
    const result = await command.run(parsed.options, parsed.positionals, {
      print: (line) => {
        if (!json) {
          bars.finish();
          process.stdout.write(`${line}\n`);
        }
      },
      progress: bars.progress,
      logger,
      json,
      cwd: process.cwd(),
    });
    bars.finish();
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (e) {
    bars.finish();
    return fail(e, json, 1);
  }
}

function findCommand(
  commands: Command[],
  argv: readonly string[],
): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.path.every((w, i) => argv[i] === w) && (best === undefined || c.path.length > best.path.length))
      best = c;
  }
  return best ? { command: best, rest: argv.slice(best.path.length) } : undefined;
}

function fail(e: unknown, json: boolean, usageCode: number): number {
  if (e instanceof CommandFailed) {
    process.stderr.write(`fedscore: error [${e.error.code}] ${e.error.message}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ ...e.result, error: e.error.toJSON() })}\n`);
    return 1;
  }
  if (e instanceof FedscoreError) {
    process.stderr.write(`fedscore: error [${e.code}] ${e.message}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
    return e.code === 'invalid_argument' ? usageCode : 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`fedscore: internal error: ${err.stack ?? err.message}\n`);
  if (json)
    process.stdout.write(`${JSON.stringify({ error: { code: 'internal', message: err.message } })}\n`);
  return 1;
}

if (import.meta.main) {
  // As the workspace scripts do with --disable-warning=ExperimentalWarning (a bin's shebang cannot pass
  // flags portably): node:sqlite's experimental-feature notice is not for the user of the command.
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning') return;
    (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`fedscore: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
