import bcrypt from 'bcrypt';
import { DEFAULT_BCRYPT_COST } from '../authn/static/bcrypt-cost.js';
import { parseCommandArgs, stringOption } from './command-args.js';
import type { CliIo } from '../client/io.js';

const USAGE = `usage: wharf hash-password [--cost N]

Reads a password on standard input and prints its bcrypt hash, for a static user's passwordHash.

options:
  --cost N    bcrypt cost factor, 10 to 15 (default 11)
  -h, --help  show this help

example: printf %s "$PASSWORD" | bin/wharf hash-password
`;

/** `wharf hash-password [--cost N]`: reads a password on stdin, prints its bcrypt hash for the config. */
export async function hashPasswordCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(io, { command: 'hash-password', usage: USAGE, options: { cost: { type: 'string', default: String(DEFAULT_BCRYPT_COST) } } }, argv);
  if (typeof args === 'number') return args;
  const cost = Number(stringOption(args, 'cost'));
  if (!Number.isInteger(cost) || cost < 10 || cost > 15) {
    io.stderr('--cost must be a whole number from 10 to 15\n');
    return 2;
  }
  const password = (await io.readStdin()).replace(/\r?\n$/, '');
  if (password === '') {
    io.stderr('no password on standard input (try: printf %s "$PASSWORD" | wharf hash-password)\n');
    return 2;
  }
  if (Buffer.byteLength(password) > 72) io.stderr('warning: bcrypt uses only the first 72 bytes of a password\n');
  io.stdout(`${await bcrypt.hash(password, cost)}\n`);
  return 0;
}
