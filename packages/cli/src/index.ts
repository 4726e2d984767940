export type { Command, CommandContext, OptionSpec, ParsedOptions } from './command.ts';
export { main } from './main.ts';
