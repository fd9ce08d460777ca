import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { LdapAuthnConfig } from './ldap-config.js';
import type { Finding } from '../../domain/backend.js';

/**
 * Checks what the schema cannot, for `wharf config check`: that the bind password and CA files
 * exist and are usable, and (unless `connect: false`) that the directory answers on its port.
 * Reads files and opens one TCP/TLS connection; never binds, never prints a secret.
 */
export async function preflightLdap(
  config: LdapAuthnConfig,
  env: Readonly<Record<string, string | undefined>>,
  options: { path?: string; connect?: boolean } = {},
): Promise<Finding[]> {
  const at = (field: string) => (options.path ? `${options.path}.${field}` : field);
  const findings: Finding[] = [];

  if (config.bindPasswordFile) {
    try {
      const secret = await readFile(config.bindPasswordFile, 'utf8');
      if (secret.replace(/\r?\n$/, '') === '') findings.push({ severity: 'error', path: at('bindPasswordFile'), message: `${config.bindPasswordFile} is empty` });
    } catch (err) {
      findings.push({ severity: 'error', path: at('bindPasswordFile'), message: `cannot read ${config.bindPasswordFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  } else if (!env[config.bindPasswordEnv]) {
    findings.push({
      severity: 'warning',
      path: at('bindPasswordEnv'),
      message: `environment variable ${config.bindPasswordEnv} is not set here; Wharf will not start without it (or set bindPasswordFile)`,
    });
  }

  let ca: string | undefined;
  if (config.caFile) {
    try {
      ca = await readFile(config.caFile, 'utf8');
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
        findings.push({ severity: 'error', path: at('caFile'), message: `${config.caFile} holds no PEM certificate` });
        ca = undefined;
      }
    } catch (err) {
      findings.push({ severity: 'error', path: at('caFile'), message: `cannot read ${config.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  }

  if (config.url.startsWith('ldap:') && !config.startTls) {
    findings.push({ severity: 'warning', path: at('url'), message: 'plain ldap:// without startTls: bind passwords cross the network in clear text' });
  }

  if (options.connect !== false) {
    const problem = await reachability(config, ca);
    if (problem) findings.push({ severity: 'warning', path: at('url'), message: `${config.url} is unreachable now (${problem}); LDAP logins will answer 503 until it is` });
  }
  return findings;
}

/** Opens (and for ldaps:// handshakes) one connection; resolves with the problem, or undefined. */
function reachability(config: LdapAuthnConfig, ca: string | undefined): Promise<string | undefined> {
  const url = new URL(config.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const ldaps = url.protocol === 'ldaps:';
  const port = Number(url.port || (ldaps ? 636 : 389));
  return new Promise((resolve) => {
    let socket: Socket;
    const done = (problem: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done(`no connection within ${config.connectTimeoutMs} ms`), config.connectTimeoutMs);
    if (ldaps) {
      socket = tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}) }, () => done(undefined));
    } else {
      socket = netConnect({ host, port }, () => done(undefined));
    }
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}
