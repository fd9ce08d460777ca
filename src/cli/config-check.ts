import { readFile } from 'node:fs/promises';
import { ConfigError, loadConfig } from '../config/load.js';
import { builtInBackends, type Config } from '../config/schema.js';
import type { Finding } from '../domain/backend.js';
import { hashKeyFrom } from '../config/secrets.js';
import { parseCommandArgs } from './command-args.js';
import { trustProxyFindings } from '../config/trust-proxy-check.js';
import type { CliIo } from '../client/io.js';

const USAGE = `usage: wharf config check FILE

Validates a configuration file and prints every problem with its path; also checks the secret
files, directories and commands it names. Exit status 0 ok, 1 problems, 2 usage.

options:
  -h, --help   show this help
`;

/** `wharf config check FILE`: validates a config file and prints every problem with its path. */
export async function configCheckCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'check') {
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    io.stderr(`wharf config: ${sub === undefined ? 'a subcommand is required' : `unknown subcommand ${JSON.stringify(sub)}`}\n${USAGE}`);
    return 2;
  }
  const args = parseCommandArgs(io, { command: 'config check', usage: USAGE, options: {}, positionals: true }, rest);
  if (typeof args === 'number') return args;
  const [file, ...extra] = args.positionals;
  if (!file || extra.length > 0) {
    io.stderr(`wharf config check: ${file ? 'one FILE at a time' : 'FILE is required'}\nSee 'wharf config check --help'.\n`);
    return 2;
  }
  let config;
  try {
    config = await loadConfig(file, io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
    for (const p of err.problems) io.stderr(`  ${p.path}: ${p.message}\n`);
    return 1;
  }
  // Beyond the schema: files that must exist, directories that should answer (warnings).
  const findings = (
    await Promise.all([
      ...config.authn.map((b, i) => preflight(builtInBackends.passwordBackends.entry(b.type), b, { path: `authn.${i}`, env: io.env })),
      ...config.federation.providers.map((p, i) => preflight(builtInBackends.loginProviders.entry(p.type), p, { path: `federation.providers.${i}`, env: io.env })),
      config.authz.webhook ? preflight(builtInBackends.deciders.entry(config.authz.webhook.type), config.authz.webhook, { path: 'authz.webhook', env: io.env }) : Promise.resolve([]),
      hashKeyFindings(config, io.env),
    ])
  ).flat();
  findings.push(...trustProxyFindings(config.server.trustProxy));
  for (const f of findings) io.stderr(`  ${f.path}: ${f.severity}: ${f.message}\n`);
  if (findings.some((f) => f.severity === 'error')) return 1;
  io.stdout(`${file}: ok\n`);
  return 0;
}

/** A backend's own checks, when its registry entry has any. */
function preflight(entry: { preflight?: (config: never, context: { path: string; env: CliIo['env'] }) => Promise<Finding[]> }, config: unknown, context: { path: string; env: CliIo['env'] }): Promise<Finding[]> {
  return entry.preflight ? entry.preflight(config as never, context) : Promise.resolve([]);
}

/** The hash key that serve would use, checked the same way (a generated one needs no check). */
async function hashKeyFindings(config: Config, env: CliIo['env']): Promise<{ severity: 'error'; path: string; message: string }[]> {
  const problem = (path: string, err: unknown) => [{ severity: 'error' as const, path, message: (err as Error).message }];
  if (env.WHARF_HASH_KEY !== undefined) {
    try {
      hashKeyFrom(env.WHARF_HASH_KEY, 'environment variable WHARF_HASH_KEY');
      return [];
    } catch (err) {
      return problem('WHARF_HASH_KEY', err);
    }
  }
  if (!config.hashKeyFile) return [];
  try {
    hashKeyFrom((await readFile(config.hashKeyFile, 'utf8')).trim(), `hashKeyFile ${config.hashKeyFile}`);
    return [];
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? [{ severity: 'error', path: 'hashKeyFile', message: `cannot read ${config.hashKeyFile} (${code})` }] : problem('hashKeyFile', err);
  }
}
