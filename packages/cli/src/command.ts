/**
 * The shape of a CLI command. Each command lives in `src/commands/<name>.ts`, exports one `Command`, and
 * is listed in `src/registry.ts`. The framework (`main.ts`) parses flags from the declared options,
 * prints `--help`, renders progress bars on stderr, prints the returned result as one JSON object on the
 * last line of stdout with `--json`, and turns errors into a message on stderr and a non-zero exit.
 */
import type { FedscoreError, Logger, ProgressCallback } from '@fedscore/core';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionSpec {
  readonly type: OptionType;
  readonly description: string;
  /** May be given several times (values collected into an array). */
  readonly multiple?: boolean;
  readonly required?: boolean;
  readonly default?: string | number | boolean;
  /** Allowed values (strings only). */
  readonly choices?: readonly string[];
  /** Placeholder shown in help, e.g. FILE. */
  readonly placeholder?: string;
}

export type OptionValue = string | number | boolean | string[] | number[];
export type ParsedOptions = Readonly<Record<string, OptionValue | undefined>>;

export interface CommandContext {
  /** Human-readable output (suppressed with --json). */
  readonly print: (line: string) => void;
  /** Progress reporting: drawn as bars on stderr when it is a terminal, else as occasional lines. */
  readonly progress: ProgressCallback;
  readonly logger: Logger;
  readonly json: boolean;
  /** Working directory for relative paths. */
  readonly cwd: string;
}

export interface Command {
  /** Words that select the command, e.g. ['datasets', 'generate']. */
  readonly path: readonly string[];
  readonly summary: string;
  /** Longer help text (examples, notes). */
  readonly description?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Positional arguments, by name, in order. */
  readonly positionals?: readonly { name: string; description: string; required?: boolean }[];
  /**
   * Checks across flags the parser cannot make (one of two flags, a value's form), before `run`: a
   * `FedscoreError` thrown here is a usage error (exit 2), as a bad flag is.
   */
  check?(options: ParsedOptions): void;
  /** Does the work and returns the result object (printed as JSON with --json). */
  run(
    options: ParsedOptions,
    positionals: readonly string[],
    ctx: CommandContext,
  ): Promise<Record<string, unknown>>;
}

/** Typed accessors for parsed options (the framework already validated types and required flags). */
export function str(o: ParsedOptions, name: string): string {
  return o[name] as string;
}
export function optStr(o: ParsedOptions, name: string): string | undefined {
  return o[name] as string | undefined;
}
export function num(o: ParsedOptions, name: string): number {
  return o[name] as number;
}
export function optNum(o: ParsedOptions, name: string): number | undefined {
  return o[name] as number | undefined;
}
export function bool(o: ParsedOptions, name: string): boolean {
  return o[name] === true;
}
export function strs(o: ParsedOptions, name: string): string[] {
  return (o[name] as string[] | undefined) ?? [];
}

/**
 * Thrown by a command whose work finished but whose verdict is a failure (e.g. `audit verify` on an
 * altered log): the framework prints `result` (plus `error`) as the JSON line, the error on stderr, and
 * exits 1.
 */
export class CommandFailed extends Error {
  readonly result: Record<string, unknown>;
  readonly error: FedscoreError;
  constructor(result: Record<string, unknown>, error: FedscoreError) {
    super(error.message);
    this.name = 'CommandFailed';
    this.result = result;
    this.error = error;
  }
}
