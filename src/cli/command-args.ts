import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import type { CliIo } from '../client/io.js';

/** Parsed options and positionals of one subcommand. */
export interface CommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses a subcommand's arguments the same way for every command: `--help`/`-h` prints its usage
 * on stdout (exit 0), and an unknown or malformed option names the command's `--help` (exit 2)
 * instead of a stack. Returns the exit code when the command should stop.
 */
export function parseCommandArgs(
  io: CliIo,
  spec: { command: string; usage: string; options: ParseArgsOptionsConfig; positionals?: boolean },
  argv: string[],
): CommandArgs | number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: spec.positionals ?? false, strict: true });
  } catch (err) {
    io.stderr(`wharf ${spec.command}: ${(err as Error).message}\nSee 'wharf ${spec.command} --help'.\n`);
    return 2;
  }
  if ((parsed.values as Record<string, unknown>).help) {
    io.stdout(spec.usage);
    return 0;
  }
  return { values: parsed.values as CommandArgs['values'], positionals: parsed.positionals };
}

/** A string option's value (parseArgs types every value as string | boolean). */
export function stringOption(args: CommandArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}
