import type { CliIo } from '../client/io.js';
import type { RunningServer } from './serve.js';

export const USAGE = `usage: wharf <command> [options]

commands:
  serve [--config FILE]                      run the token service (what npm start runs)
  registry-config [--config FILE] [--out DIR] [--realm URL] [--listen ADDR] [--storage DIR]
                                             print a registry config.yml that trusts this Wharf
  hash-password [--cost N]                   bcrypt a password read on stdin, for static users
  keys generate --out DIR [--alg ES256|RS256] create a root CA and a signing key certified by it
  keys rotate [--config FILE] [--lead-seconds N]
                                             add a signing leaf (published now, signs after the lead)
  config check FILE                          validate a config file, printing every problem
  accounts list|show NAME|unbind NAME [--config FILE]
                                             which sign-in method owns each account name; free one
  login REGISTRY [--wharf URL] [--insecure] [--no-browser] [--store helper|config] [--config-dir DIR]
                                             sign in through the browser (device code), store a docker credential
  token create|list|rotate ID|revoke ID [--scope SCOPE]... [--expires 30d] [--label LABEL] [--registry HOST]
                                             your registry credentials, with wharf login's credential
  access explain --account NAME --scope SCOPE... [--credential ID] [--group G]... [--url URL]
                                             which rule, webhook answer or credential scope decides each action
  robot create NAME --scope SCOPE... [--expires 90d]|list|delete NAME [--admin]
                                             robot accounts (robot-NAME) for CI, within your rights

FILE may also come from WHARF_CONFIG; with no config, embedded defaults apply.
Every command answers --help with its options and defaults, e.g. wharf serve --help.
`;

/** Runs one subcommand: an exit code, or a running server that main keeps alive. Each command is
 * imported when used, so `wharf login` or the config check does not load the server's graph. */
export async function runCli(argv: string[], io: CliIo): Promise<number | RunningServer> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return (await import('./serve.js')).serveCommand(rest, io);
    case 'registry-config':
      return (await import('./registry-config.js')).registryConfigCommand(rest, io);
    case 'hash-password':
      return (await import('./hash-password.js')).hashPasswordCommand(rest, io);
    case 'keys':
      return (await import('./keys.js')).keysCommand(rest, io);
    case 'config':
      return (await import('./config-check.js')).configCheckCommand(rest, io);
    case 'accounts':
      return (await import('./accounts.js')).accountsCommand(rest, io);
    case 'login':
      return (await import('../client/login/login-command.js')).loginCommand(rest, io);
    case 'access':
      return (await import('./access.js')).accessCommand(rest, io);
    case 'token':
      return (await import('../client/token-command.js')).tokenCommand(rest, io);
    case 'robot':
      return (await import('../client/robot-command.js')).robotCommand(rest, io);
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
