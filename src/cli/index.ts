import { configCheckCommand } from './config-check.js';
import { hashPasswordCommand } from './hash-password.js';
import type { CliIo } from './io.js';
import { keysCommand } from './keys.js';
import { registryConfigCommand } from './registry-config.js';
import { serveCommand, type RunningServer } from './serve.js';

export const USAGE = `usage: wharf <command> [options]

commands:
  serve [--config FILE]                      run the token service (what npm start runs)
  registry-config [--config FILE] [--out DIR] [--realm URL] [--listen ADDR] [--storage DIR]
                                             print a registry config.yml that trusts this Wharf
  hash-password [--cost N]                   bcrypt a password read on stdin, for static users
  keys generate --out DIR [--alg ES256|RS256] create a root CA and a signing key certified by it
  config check FILE                          validate a config file, printing every problem

FILE may also come from WHARF_CONFIG; with no config, embedded defaults apply.
`;

/** Runs one subcommand: an exit code, or a running server that main keeps alive. */
export async function runCli(argv: string[], io: CliIo): Promise<number | RunningServer> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest, io);
    case 'registry-config':
      return registryConfigCommand(rest, io);
    case 'hash-password':
      return hashPasswordCommand(rest, io);
    case 'keys':
      return keysCommand(rest, io);
    case 'config':
      return configCheckCommand(rest, io);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}
