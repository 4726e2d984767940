/** Help text rendering. */
import { GLOBAL_OPTIONS } from './args.ts';
import type { Command, OptionSpec } from './command.ts';

export function topLevelHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.path.join(' ').length), 8);
  const lines = [
    'fedscore - privacy-preserving federated credit scoring',
    '',
    'Usage: fedscore <command> [flags]    (fedscore <command> --help for its flags)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Global flags: --json (one JSON object on the last stdout line), --quiet, --log-level LEVEL, --help',
    '',
  ];
  return lines.join('\n');
}

export function commandHelp(command: Command): string {
  const pos = (command.positionals ?? []).map((p) => (p.required ? ` <${p.name}>` : ` [${p.name}]`)).join('');
  const lines = [`Usage: fedscore ${command.path.join(' ')}${pos} [flags]`, '', command.summary, ''];
  if (command.description) lines.push(command.description.trim(), '');
  if (command.positionals?.length) {
    lines.push('Arguments:');
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(24)}  ${p.description}`);
    lines.push('');
  }
  lines.push('Flags:');
  for (const [name, spec] of Object.entries({ ...command.options, ...GLOBAL_OPTIONS })) {
    lines.push(`  ${flagLabel(name, spec).padEnd(28)}  ${optionText(spec)}`);
  }
  lines.push('');
  return lines.join('\n');
}

function flagLabel(name: string, spec: OptionSpec): string {
  if (spec.type === 'boolean') return `--${name}`;
  const ph = spec.placeholder ?? (spec.type === 'string' ? 'VALUE' : 'N');
  return `--${name} ${ph}`;
}

function optionText(spec: OptionSpec): string {
  const parts = [spec.description];
  if (spec.choices) parts.push(`(${spec.choices.join('|')})`);
  if (spec.required) parts.push('[required]');
  if (spec.multiple) parts.push('[repeatable]');
  if (spec.default !== undefined) parts.push(`[default: ${spec.default}]`);
  return parts.join(' ');
}
