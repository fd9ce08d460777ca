import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { requireCommand } from './prerequisites.js';
import { runCommand, startProcess, waitUntil, type ManagedProcess } from './processes.js';

/** Binaries the harness drives (Debian packages `slapd` and `ldap-utils`). */
export const SLAPD = '/usr/sbin/slapd';
export const LDAPADD = '/usr/bin/ldapadd';
export const LDAPWHOAMI = '/usr/bin/ldapwhoami';
export const OPENSSL = '/usr/bin/openssl';

const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/ldap/directory.ldif');

/** The test directory's layout (test/fixtures/ldap/directory.ldif). */
export const DIRECTORY = {
  suffix: 'dc=example,dc=org',
  musicians: 'ou=musicians,dc=example,dc=org',
  philosophers: 'ou=philosophers,dc=example,dc=org',
  groups: 'ou=groups,dc=example,dc=org',
  serviceDn: 'cn=wharf,ou=services,dc=example,dc=org',
  adminDn: 'cn=admin,dc=example,dc=org',
} as const;

/** Users of the fixture whose passwords are generated per run. `wittgenstein` is the philosopher uid=ludwig. */
const ACCOUNTS = ['wharf', 'ludwig', 'wolfgang', 'johann', 'clara', 'robert', 'nobody', 'immanuel', 'wittgenstein'] as const;
export type FixtureAccount = (typeof ACCOUNTS)[number];

/** Throwaway TLS material made with openssl for one run. */
export interface TestCertificates {
  /** PEM of the CA that signed the server certificate. */
  caFile: string;
  /** PEM of an unrelated CA, to show that a wrong CA is refused. */
  otherCaFile: string;
  certFile: string;
  keyFile: string;
}

/** A running, throw-away slapd owned by the test. */
export interface SlapdHandle {
  /** ldap://127.0.0.1:PORT (StartTLS available when started with `tls`). */
  url: string;
  /** ldaps://127.0.0.1:PORT when started with `tls`. */
  ldapsUrl: string | undefined;
  certificates: TestCertificates | undefined;
  /** Password of each fixture account (random per run). */
  passwords: Readonly<Record<FixtureAccount, string>>;
  adminPassword: string;
  /** Writes the service account's password to a file (as a mounted secret would be) and returns its path. */
  servicePasswordFile(): Promise<string>;
  /** Freezes the server (SIGSTOP): connections are accepted by the kernel but never answered. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** Every line slapd wrote (all runs, unbounded: tests count operations with it). */
  allLogs(): string[];
  /** Stops the server but keeps its data, so `restart` brings the same directory back on the same ports. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  logs(): string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The `{SSHA}` userPassword form slapd verifies: base64(SHA-1(password + salt) + salt). */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** A CA and a server certificate for 127.0.0.1/localhost, plus an unrelated CA; valid for a day. */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  requireCommand(OPENSSL, 'openssl');
  const file = (name: string) => join(dir, name);
  const run = async (args: string[]) => {
    const r = await runCommand(OPENSSL, args, { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (${String(r.code)}):\n${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  await run(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=Wharf test LDAP CA', ...caExt]);
  await run(['req', '-x509', ...ec, '-keyout', file('other-ca.key'), '-out', file('other-ca.pem'), '-days', '1', '-subj', '/CN=Some other CA', ...caExt]);
  await run(['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  await run(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '1', '-extfile', file('server.ext')]);
  return { caFile: file('ca.pem'), otherCaFile: file('other-ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') };
}

function slapdConf(dir: string, adminPassword: string, certs: TestCertificates | undefined): string {
  const tls = certs ? [`TLSCACertificateFile ${certs.caFile}`, `TLSCertificateFile ${certs.certFile}`, `TLSCertificateKeyFile ${certs.keyFile}`] : [];
  return [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    'include /etc/ldap/schema/nis.schema',
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    ...tls,
    'database mdb',
    'maxsize 16777216',
    `suffix "${DIRECTORY.suffix}"`,
    `rootdn "${DIRECTORY.adminDn}"`,
    `rootpw ${sshaHash(adminPassword)}`,
    `directory ${join(dir, 'db')}`,
    // memberOf on user entries, maintained when groups are added (the AD-like setup).
    'overlay memberof',
    // Users may only authenticate; only Wharf's service account reads entries (so group
    // lookups must run as the service account, not as the user who just bound).
    'access to attrs=userPassword by anonymous auth by * none',
    `access to * by dn.exact="${DIRECTORY.serviceDn}" read by self read by * none`,
    '',
  ].join('\n');
}

/**
 * Starts OpenLDAP's slapd in the foreground on free loopback ports with a throwaway slapd.conf
 * and mdb database, loads test/fixtures/ldap/directory.ldif with ldapadd (so the memberof overlay
 * fills memberOf), and waits until the service account can bind. With `tls`, also listens on
 * ldaps:// and offers StartTLS with a certificate from a CA made for this run.
 */
export async function startSlapd(opts: { tls?: boolean } = {}): Promise<SlapdHandle> {
  requireCommand(SLAPD, 'slapd ldap-utils');
  requireCommand(LDAPADD, 'ldap-utils');
  requireCommand(LDAPWHOAMI, 'ldap-utils');
  const dir = await mkdtemp(join(tmpdir(), 'wharf-slapd-'));
  let proc: ManagedProcess | undefined;
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (proc) process.kill(proc.pid, sig);
    } catch {
      // Already gone.
    }
  };
  try {
    await mkdir(join(dir, 'db'));
    const certs = opts.tls ? await makeTestCertificates(dir) : undefined;
    const adminPassword = randomBytes(12).toString('base64url');
    const passwords = Object.fromEntries(ACCOUNTS.map((a) => [a, randomBytes(12).toString('base64url')])) as Record<FixtureAccount, string>;
    // Characters that must survive the trip intact: filter metacharacters, a space, non-ASCII.
    passwords.johann += ' (*)\\ é';
    const conf = join(dir, 'slapd.conf');
    await writeFile(conf, slapdConf(dir, adminPassword, certs));
    const adminPasswordFile = join(dir, 'admin.pw');
    await writeFile(adminPasswordFile, adminPassword, { mode: 0o600 });

    let ports: { ldap: number; ldaps: number | undefined } | undefined;
    const allLines: string[] = [];
    const launch = async () => {
      for (let attempt = 1; ; attempt++) {
        const chosen = ports ?? { ldap: await freePort(), ldaps: certs ? await freePort() : undefined };
        const urls = [`ldap://127.0.0.1:${chosen.ldap}/`, ...(chosen.ldaps ? [`ldaps://127.0.0.1:${chosen.ldaps}/`] : [])];
        // -d stats: foreground, with one line per operation for failure messages.
        const p = await startProcess(SLAPD, ['-f', conf, '-h', urls.join(' '), '-d', 'stats'], {
          name: `slapd:${chosen.ldap}`,
          cwd: dir,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
          logLines: 400,
        });
        let partial = '';
        const collect = (d: string) => {
          const parts = (partial + d).split('\n');
          partial = parts.pop() ?? '';
          allLines.push(...parts);
        };
        p.child.stdout?.on('data', collect);
        p.child.stderr?.on('data', collect);
        try {
          await waitUntil(
            `slapd on 127.0.0.1:${chosen.ldap}`,
            async () => {
              const r = await runCommand(LDAPWHOAMI, ['-x', '-H', urls[0]!, '-D', DIRECTORY.adminDn, '-y', adminPasswordFile], { timeoutMs: 3000 });
              if (r.code !== 0) throw new Error(`ldapwhoami: ${r.stderr.trim()}`);
              return true;
            },
            { process: p, timeoutMs: 15_000 },
          );
          ports = chosen;
          proc = p;
          return;
        } catch (err) {
          await p.stop();
          if (!ports && attempt < 3 && /already in use|bind\(\) failed|could not bind/i.test(p.logs())) continue;
          throw err;
        }
      }
    };
    await launch();

    const ldif = (await readFile(FIXTURE, 'utf8')).replace(/\{\{ssha:([a-z]+)\}\}/g, (_, name: string) => {
      if (!(name in passwords)) throw new Error(`fixture names unknown account ${name}`);
      return sshaHash(passwords[name as FixtureAccount]);
    });
    const ldifFile = join(dir, 'directory.ldif');
    await writeFile(ldifFile, ldif);
    const load = await runCommand(LDAPADD, ['-x', '-H', `ldap://127.0.0.1:${ports!.ldap}/`, '-D', DIRECTORY.adminDn, '-y', adminPasswordFile, '-f', ldifFile]);
    if (load.code !== 0) throw new Error(`ldapadd of ${FIXTURE} failed (${String(load.code)}):\n${load.stderr}\n--- slapd ---\n${proc!.logs()}`);

    return {
      url: `ldap://127.0.0.1:${ports!.ldap}`,
      ldapsUrl: ports!.ldaps ? `ldaps://127.0.0.1:${ports!.ldaps}` : undefined,
      certificates: certs,
      passwords,
      adminPassword,
      async servicePasswordFile() {
        const f = join(dir, `service-${randomBytes(4).toString('hex')}.pw`);
        await writeFile(f, `${passwords.wharf}\n`, { mode: 0o600 });
        return f;
      },
      pause: () => signal('SIGSTOP'),
      resume: () => signal('SIGCONT'),
      async kill() {
        signal('SIGCONT');
        await proc?.stop();
      },
      restart: launch,
      logs: () => proc?.logs() ?? '',
      allLogs: () => [...allLines],
      async stop() {
        signal('SIGCONT');
        await proc?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    signal('SIGCONT');
    await proc?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
