/**
 * Shared by the governance commands (audit, consent, models, monitor, products, console-user, score hfl):
 * open a node's store from --store / --store-env / --store-schema (a state directory or the party's
 * PostgreSQL database), parse times given as ISO 8601 or epoch milliseconds, and read JSON-lines files
 * with errors naming the file and line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import {
  AuditLog,
  ModelRegistry,
  type NodeStore,
  openNodeStore,
  STORE_FILE,
  type StoreConfig,
  validateStoreConfig,
} from '@fedscore/node';
import { type Command, type OptionSpec, optStr, type ParsedOptions, str } from '../command.ts';
import { checkFlagUrl, envUrl } from '../postgres-url.ts';

/**
 * The store of a party's node, as its config names it (`openNodeStore` of @fedscore/node opens both):
 * `--store DIR`, the state directory holding the embedded SQLite store; or its PostgreSQL database (the one
 * the party's node replicas share), `--store postgres://user@host:port/db` without a password (PGPASSWORD or
 * ~/.pgpass supply it) or `--store-env VAR` naming a variable that holds the URL (where a password may be),
 * with `--store-schema NAME` for the config's `store.schema`. Spread into a command's options, with
 * `check: checkStoreOptions`.
 */
export const STORE_OPTIONS: Readonly<Record<'store' | 'store-env' | 'store-schema', OptionSpec>> = {
  store: {
    type: 'string',
    placeholder: 'DIR|URL',
    description:
      "the node's store: its state directory (fedscore.sqlite), or its PostgreSQL database postgres://user@host:port/db (no password: PGPASSWORD, ~/.pgpass or --store-env)",
  },
  'store-env': {
    type: 'string',
    placeholder: 'VAR',
    description: "instead of --store: the environment variable holding the store's postgres:// URL",
  },
  'store-schema': {
    type: 'string',
    placeholder: 'NAME',
    description: "the PostgreSQL schema of the store (the node config's store.schema; default: search_path)",
  },
};

/** The flag a `validateStoreConfig` field stands for. */
const STORE_FLAGS: Readonly<Record<string, string>> = {
  'store.url': '--store',
  'store.urlEnv': '--store-env',
  'store.schema': '--store-schema',
};

/** The store the flags name: a state directory, or a PostgreSQL store's config section (see STORE_OPTIONS). */
function storeOf(
  o: ParsedOptions,
  env: Readonly<Record<string, string | undefined>>,
): { dir: string } | { config: StoreConfig } {
  const flag = optStr(o, 'store');
  const variable = optStr(o, 'store-env');
  const schema = optStr(o, 'store-schema');
  if ((flag === undefined) === (variable === undefined)) {
    throw new FedscoreError('invalid_argument', 'give either --store or --store-env', { field: '--store' });
  }
  if (flag !== undefined && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(flag)) {
    if (schema !== undefined) {
      throw new FedscoreError('invalid_argument', '--store-schema is for a PostgreSQL store', {
        field: '--store-schema',
      });
    }
    return { dir: flag };
  }
  // A URL (refused with a password: ps and shell history show it), or the variable's (which may hold one).
  let source: { url: string } | { urlEnv: string };
  if (flag !== undefined) {
    source = { url: checkFlagUrl(flag, 'store') };
  } else {
    envUrl(variable!, 'store', env);
    source = { urlEnv: variable! };
  }
  try {
    return {
      config: validateStoreConfig({
        kind: 'postgres',
        ...source,
        ...(schema !== undefined && { schema }),
      }),
    };
  } catch (e) {
    if (!(e instanceof FedscoreError)) throw e;
    // The node config's message, naming the flag instead of the config field (never the URL itself).
    const field = STORE_FLAGS[e.field ?? ''] ?? '--store';
    throw new FedscoreError('invalid_argument', `${field}: ${e.message.replace(/^store: /, '')}`, { field });
  }
}

/** `check` of a command with STORE_OPTIONS: its store flags are a usage error (exit 2) before it runs. */
export function checkStoreOptions(o: ParsedOptions): void {
  storeOf(o, process.env);
}

export const PARTY_OPTION: OptionSpec = {
  type: 'string',
  default: 'local',
  placeholder: 'ID',
  description: "this node's party id (the actor of the audit entries it writes)",
};

/**
 * Open the store STORE_OPTIONS name, through the node's own factory (`openNodeStore`: the same store a node
 * with that config opens). `create` false opens it read-only and refuses a directory or database that holds
 * no store yet (the read-only commands).
 */
export function openStore(cwd: string, o: ParsedOptions, create: boolean): NodeStore {
  const named = storeOf(o, process.env);
  if ('dir' in named) {
    const path = resolve(cwd, named.dir);
    if (!create && !existsSync(join(path, STORE_FILE))) {
      throw new FedscoreError('not_found', `no store in this directory (expected ${STORE_FILE})`, {
        file: path,
        field: '--store',
      });
    }
    return openNodeStore({ stateDir: path, store: { kind: 'sqlite' } }, { readOnly: !create });
  }
  const store = openNodeStore({ stateDir: cwd, store: named.config }, { readOnly: !create });
  if (!create && !store.hasTable('store_identity')) {
    const where = store.path;
    store.close();
    throw new FedscoreError(
      'not_found',
      'no store in this PostgreSQL database and schema (a node creates it on its first start)',
      { file: where, field: optStr(o, 'store') !== undefined ? '--store' : '--store-env' },
    );
  }
  return store;
}

/** A time from a flag or a file: ISO 8601 text or integer epoch milliseconds. */
export function parseTime(value: unknown, field: string, file?: string, line?: number): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    if (/^[0-9]+$/.test(value)) return Number(value);
    if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
      const t = Date.parse(value);
      if (Number.isFinite(t)) return t;
    }
  }
  throw new FedscoreError('invalid_argument', 'expected an ISO 8601 date/time or epoch milliseconds', {
    field,
    ...(file !== undefined && { file }),
    ...(line !== undefined && { line }),
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The lines of a UTF-8 text file; a line that is not valid UTF-8 is refused naming it (a lossy decode
 * would replace it by U+FFFD: two distinct ids or names could become one).
 */
function utf8Lines(bytes: Uint8Array, file: string, field: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end < 0 ? bytes.length : end;
    try {
      lines.push(utf8.decode(bytes.subarray(start, stop)));
    } catch {
      throw new FedscoreError('invalid_config', 'invalid UTF-8 (the file must be UTF-8 text)', {
        file,
        line: lines.length + 1,
        field,
      });
    }
    if (end < 0) return lines;
    start = end + 1;
  }
}

/** Parse a JSON-lines file: one object per non-empty line (UTF-8, refused naming the line otherwise). */
export function readJsonLines(cwd: string, file: string, field: string): { value: unknown; line: number }[] {
  const path = resolve(cwd, file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new FedscoreError('io', `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      file: path,
      field,
      cause: e,
    });
  }
  const out: { value: unknown; line: number }[] = [];
  utf8Lines(bytes, path, field).forEach((raw, i) => {
    if (raw.trim() === '') return;
    try {
      out.push({ value: JSON.parse(raw), line: i + 1 });
    } catch (e) {
      throw new FedscoreError('invalid_config', 'not a JSON object', { file: path, line: i + 1, cause: e });
    }
  });
  return out;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** `fedscore models promote|retire REF`: the two registry status changes share one command shape. */
export function modelStatusCommand(action: 'promote' | 'retire', summary: string): Command {
  return {
    path: ['models', action],
    summary,
    options: {
      ...STORE_OPTIONS,
      party: PARTY_OPTION,
      reason: { type: 'string', placeholder: 'TEXT', description: 'kept in the version history' },
    },
    positionals: [{ name: 'REF', description: "the model reference ('name@VERSION')", required: true }],
    check: checkStoreOptions,
    async run(options, positionals, ctx) {
      const store = openStore(ctx.cwd, options, true);
      try {
        const registry = new ModelRegistry(store, {
          audit: new AuditLog(store),
          party: str(options, 'party'),
        });
        const reason = optStr(options, 'reason');
        const model = registry[action](positionals[0] ?? '', reason === undefined ? {} : { reason });
        ctx.print(`${model.ref} is now ${model.status}`);
        return { model };
      } finally {
        store.close();
      }
    },
  };
}
