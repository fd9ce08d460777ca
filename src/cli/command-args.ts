import type { ParseArgsConfig } from 'node:util';
import { parseCommandLine } from '../client/command-line.js';
import type { CliIo } from '../client/io.js';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Parsed options and positionals of one subcommand. */
export interface CommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses a server subcommand's arguments as the client commands' are (parseCommandLine):
 * `--help`/`-h` prints its usage on stdout (exit 0), and an unknown or malformed option names the
 * command's `--help` (exit 2) instead of a stack. Returns the exit code when the command should stop.
 */
export function parseCommandArgs(
  io: CliIo,
  spec: { command: string; usage: string; options: ParseArgsOptionsConfig; positionals?: boolean },
  argv: string[],
): CommandArgs | number {
  const usageError = (message: string) => {
    io.stderr(`wharf ${spec.command}: ${message}\nSee 'wharf ${spec.command} --help'.\n`);
    return 2;
  };
  const parsed = parseCommandLine(argv, io, spec.options, spec.usage, usageError, spec.positionals ?? false);
  if (typeof parsed === 'number') return parsed;
  return { values: parsed.values as CommandArgs['values'], positionals: parsed.positionals };
}

/** A string option's value (parseArgs types every value as string | boolean). */
export function stringOption(args: CommandArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}
