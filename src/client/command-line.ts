import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliIo } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h', default: false } } as const;

/** What parseArgs gives for `options` (and `--help`), positionals allowed. */
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP; allowPositionals: true }>>;

/**
 * A command's arguments, parsed the way every `wharf` command parses them (the client commands, and
 * the server's through parseCommandArgs): `--help` or `-h` prints `usage` on stdout and ends the
 * command (exit 0); an unknown or malformed option goes to `usageError`, which reports it with the
 * usage and gives the exit code. A number means the command is over. Positionals are allowed unless
 * `allowPositionals` is false (then one is an error).
 */
export function parseCommandLine<O extends Options>(argv: string[], io: CliIo, options: O, usage: string, usageError: (message: string) => number, allowPositionals = true): Parsed<O> | number {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, ...HELP }, allowPositionals }) as Parsed<O>;
  } catch (err) {
    return usageError((err as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout(usage);
    return 0;
  }
  return parsed;
}
