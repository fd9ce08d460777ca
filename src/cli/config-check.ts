import { preflightCommand } from '../authn/command/command-preflight.js';
import { preflightLdap } from '../authn/ldap/ldap-preflight.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { trustProxyFindings } from '../config/trust-proxy-check.js';
import type { CliIo } from './io.js';

/** `wharf config check FILE`: validates a config file and prints every problem with its path. */
export async function configCheckCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, file] = argv;
  if (sub !== 'check' || !file) {
    io.stderr('usage: wharf config check FILE\n');
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
      ...config.authn.map((b, i) =>
        b.type === 'ldap' ? preflightLdap(b, io.env, { path: `authn.${i}` }) : b.type === 'command' ? preflightCommand(b.command, { path: `authn.${i}` }) : Promise.resolve([]),
      ),
      config.authz.webhook?.type === 'command' ? preflightCommand(config.authz.webhook.command, { path: 'authz.webhook' }) : Promise.resolve([]),
    ])
  ).flat();
  findings.push(...trustProxyFindings(config.server.trustProxy));
  for (const f of findings) io.stderr(`  ${f.path}: ${f.severity}: ${f.message}\n`);
  if (findings.some((f) => f.severity === 'error')) return 1;
  io.stdout(`${file}: ok\n`);
  return 0;
}
