/** Flag parsing against a command's declared options. Every error names the flag. */
import { FedscoreError } from '@fedscore/core';
import type { OptionSpec, OptionValue, ParsedOptions } from './command.ts';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', description: 'print one JSON object as the last line of stdout' },
  help: { type: 'boolean', description: 'show help for this command' },
  quiet: { type: 'boolean', description: 'no progress output' },
  'log-level': {
    type: 'string',
    description: 'log level on stderr',
    choices: ['debug', 'info', 'warn', 'error'],
    default: 'warn',
  },
};

export function parseFlags(
  argv: readonly string[],
  options: Readonly<Record<string, OptionSpec>>,
): { options: ParsedOptions; positionals: string[] } {
  const all = { ...GLOBAL_OPTIONS, ...options };
  const out: Record<string, OptionValue | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
        if (arg === '-h') {
          out['help'] = true;
          continue;
        }
        throw new FedscoreError('invalid_argument', `unknown flag '${arg}' (flags are spelled --name)`, {
          field: arg,
        });
      }
      positionals.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    let negated = false;
    let spec = all[name];
    if (spec === undefined && name.startsWith('no-') && all[name.slice(3)]?.type === 'boolean') {
      negated = true;
      name = name.slice(3);
      spec = all[name];
    }
    if (spec === undefined) {
      const known = Object.keys(all)
        .map((k) => `--${k}`)
        .join(', ');
      throw new FedscoreError('invalid_argument', `unknown flag '--${name}'; known flags: ${known}`, {
        field: `--${name}`,
      });
    }
    let value: OptionValue;
    if (spec.type === 'boolean') {
      if (inline !== undefined) {
        if (inline !== 'true' && inline !== 'false') {
          throw new FedscoreError('invalid_argument', `expected true or false, got '${inline}'`, {
            field: `--${name}`,
          });
        }
        value = inline === 'true';
      } else value = !negated;
    } else {
      let raw = inline;
      if (raw === undefined) {
        raw = argv[i + 1];
        if (raw === undefined || (raw.startsWith('--') && raw.length > 2)) {
          throw new FedscoreError('invalid_argument', `flag needs a value`, { field: `--${name}` });
        }
        i++;
      }
      value = convert(raw, spec, name);
    }
    if (spec.multiple) {
      const prev = (out[name] as (string | number)[] | undefined) ?? [];
      out[name] = [...prev, value as string | number] as OptionValue;
    } else {
      if (out[name] !== undefined && !(name === 'help' || name === 'json' || name === 'quiet')) {
        throw new FedscoreError('invalid_argument', `flag given twice`, { field: `--${name}` });
      }
      out[name] = value;
    }
  }
  for (const [name, spec] of Object.entries(all)) {
    if (out[name] === undefined && spec.default !== undefined) {
      out[name] = spec.multiple ? ([spec.default] as OptionValue) : spec.default;
    }
  }
  if (out['help'] !== true) {
    for (const [name, spec] of Object.entries(all)) {
      if (spec.required && out[name] === undefined) {
        throw new FedscoreError('invalid_argument', `missing required flag --${name}`, {
          field: `--${name}`,
        });
      }
    }
  }
  return { options: out, positionals };
}

function convert(raw: string, spec: OptionSpec, name: string): string | number {
  const field = `--${name}`;
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new FedscoreError(
          'invalid_argument',
          `expected one of ${spec.choices.join(', ')}, got '${raw}'`,
          {
            field,
          },
        );
      }
      return raw;
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) {
        throw new FedscoreError('invalid_argument', `expected a number, got '${raw}'`, { field });
      }
      return v;
    }
    case 'integer': {
      const v = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v)) {
        throw new FedscoreError('invalid_argument', `expected an integer, got '${raw}'`, { field });
      }
      return v;
    }
    default:
      throw new FedscoreError('internal', `option type ${spec.type}`, { field });
  }
}
