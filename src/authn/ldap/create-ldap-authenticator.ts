import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Cache } from '../../cache/cache.js';
import type { ReadSecret } from '../../domain/backend.js';
import { LdapAuthenticator } from './ldap-authenticator.js';
import type { LdapAuthnConfig } from './ldap-config.js';

/** What the factory gets from the registry (the shape of AuthenticatorDeps). */
export interface LdapFactoryDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** Reads the bind password (file or environment). */
  readSecret: ReadSecret;
  now?: () => number;
}

/**
 * Builds the LDAP backend at startup: reads the bind password and the CA file (errors name the
 * source, never the value), then checks the directory in the background. An unreachable
 * directory or a rejected service account is a warning, not a refusal to start: the directory
 * may come up later, and until then LDAP users get 503.
 */
export function createLdapAuthenticator(config: LdapAuthnConfig, deps: LdapFactoryDeps): LdapAuthenticator {
  const bindPassword = deps.readSecret('LDAP bind password', { file: config.bindPasswordFile, env: config.bindPasswordEnv });
  const ca = config.caFile === undefined ? undefined : readCaFile(config.caFile);
  const authenticator = new LdapAuthenticator(config, { ...deps, bindPassword, ...(ca !== undefined ? { ca } : {}) });
  const log = deps.logger.child({ component: 'ldap' });
  void authenticator.probe().then(
    (problem) =>
      problem === undefined
        ? log.info({ event: 'ldap_ready', url: config.url }, 'LDAP directory reachable and the service account is accepted')
        : log.warn({ event: 'ldap_probe_failed', url: config.url, why: problem }, `LDAP directory check at startup failed: ${problem}; LDAP users get 503 until it answers`),
    () => undefined,
  );
  return authenticator;
}

/** Reads a PEM CA bundle; throws naming the file when it is missing or holds no certificate. */
export function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`LDAP caFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`LDAP caFile: ${file} holds no PEM certificate`);
  return pem;
}
