/**
 * Shared by the governance commands (audit, consent, models, monitor): open a node's state store from
 * --store, parse times given as ISO 8601 or epoch milliseconds, and read JSON-lines files with errors
 * naming the file and line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FedscoreError } from '@fedscore/core';
import { AuditLog, ModelRegistry, NodeStore, STORE_FILE } from '@fedscore/node';
import { type Command, type OptionSpec, optStr, str } from '../command.ts';

export const STORE_OPTION: OptionSpec = {
  type: 'string',
  required: true,
  placeholder: 'DIR',
  description: "the node's state directory (holds fedscore.sqlite)",
};

export const PARTY_OPTION: OptionSpec = {
  type: 'string',
  default: 'local',
  placeholder: 'ID',
  description: "this node's party id (the actor of the audit entries it writes)",
};

/** Open the store of --store; `create` false refuses a directory without a store (read-only commands). */
export function openStore(cwd: string, dir: string, create: boolean): NodeStore {
  const path = resolve(cwd, dir);
  if (!create && !existsSync(join(path, STORE_FILE))) {
    throw new FedscoreError('not_found', `no store in this directory (expected ${STORE_FILE})`, {
      file: path,
      field: '--store',
    });
  }
  return NodeStore.open(path, { readOnly: !create });
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
      store: STORE_OPTION,
      party: PARTY_OPTION,
      reason: { type: 'string', placeholder: 'TEXT', description: 'kept in the version history' },
    },
    positionals: [{ name: 'REF', description: "the model reference ('name@VERSION')", required: true }],
    async run(options, positionals, ctx) {
      const store = openStore(ctx.cwd, str(options, 'store'), true);
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
