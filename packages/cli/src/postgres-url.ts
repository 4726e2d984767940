/**
 * PostgreSQL connection strings on the command line (`fedscore worker --queue`, `score batch --queue`, the
 * governance commands' `--store`). As the node config's `store.url` and `queue.url`, a URL given as a flag
 * may not hold a password (ps and shell history show it): the password goes in PGPASSWORD, ~/.pgpass, or
 * the environment variable a `--<flag>-env VAR` flag names, whose value may hold one. Every check here is a
 * usage error (`invalid_argument`, exit 2) naming the flag, and no message ever holds a URL, a variable's
 * value or a password.
 */
import { FedscoreError } from '@fedscore/core';
import { optStr, type ParsedOptions } from './command.ts';

/** A postgres:// (or postgresql://) connection string, as pg takes it. */
export const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/;

/** Environment variable names `--<flag>-env` accepts (as the node config's `urlEnv`). */
const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;

/** Whether a postgres:// URL carries a password (an unparsable one is refused by pg later, unechoed). */
export function passwordIn(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    // Not a WHATWG URL (pg parses more): look for user:password@ before the host.
    return /^postgres(ql)?:\/\/[^/@\s]*:[^/@\s]*@/.test(url);
  }
}

/**
 * `url` as given to `--<name>`: a postgres:// connection string without a password, else a usage error
 * naming `--<name>` (and `--<name>-env`, the way to pass one with a password).
 */
export function checkFlagUrl(url: string, name: string): string {
  if (!POSTGRES_URL.test(url)) {
    throw new FedscoreError('invalid_argument', 'expected a postgres:// connection string', {
      field: `--${name}`,
    });
  }
  if (passwordIn(url)) {
    throw new FedscoreError(
      'invalid_argument',
      `no password in --${name} (ps and shell history show it): use PGPASSWORD, ~/.pgpass, or --${name}-env`,
      { field: `--${name}` },
    );
  }
  return url;
}

/** The connection string in the environment variable `--<name>-env` names (a password may be in it). */
export function envUrl(
  variable: string,
  name: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const flag = `--${name}-env`;
  if (!ENV_NAME.test(variable)) {
    throw new FedscoreError('invalid_argument', 'expected an environment variable name', { field: flag });
  }
  const value = env[variable];
  if (value === undefined || value === '') {
    throw new FedscoreError('invalid_argument', `${flag} names ${variable}, which is not set`, {
      field: flag,
    });
  }
  if (!POSTGRES_URL.test(value)) {
    throw new FedscoreError('invalid_argument', `${variable} does not hold a postgres:// connection string`, {
      field: flag,
    });
  }
  return value;
}

/**
 * The connection string of `--<name> URL` or `--<name>-env VAR`: at most one of them, exactly one when
 * `required` (undefined when neither is given and none is required).
 */
export function connectionStringOf(
  o: ParsedOptions,
  name: string,
  env: Readonly<Record<string, string | undefined>>,
  required: boolean,
): string | undefined {
  const flag = optStr(o, name);
  const variable = optStr(o, `${name}-env`);
  if (flag === undefined && variable === undefined && !required) return undefined;
  if ((flag === undefined) === (variable === undefined)) {
    throw new FedscoreError('invalid_argument', `give either --${name} or --${name}-env`, {
      field: `--${name}`,
    });
  }
  return flag !== undefined ? checkFlagUrl(flag, name) : envUrl(variable!, name, env);
}
