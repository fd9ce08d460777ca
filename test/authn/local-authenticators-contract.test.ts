import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll } from 'vitest';
import type { PasswordAuthenticator } from '../../src/authn/authenticator.js';
import { commandAuthnSchema } from '../../src/authn/command/command-config.js';
import { CredentialAuthenticator } from '../../src/credentials/registry/credential-authenticator.js';
import { CREDENTIAL_PREFIX, CredentialStore } from '../../src/credentials/registry/credential-store.js';
import { LdapAuthenticator } from '../../src/authn/ldap/ldap-authenticator.js';
import { ldapAuthnSchema } from '../../src/authn/ldap/ldap-config.js';
import { RefreshRedemption } from '../../src/credentials/refresh/refresh-redemption.js';
import { REFRESH_TOKEN_PREFIX, RefreshTokenStore } from '../../src/credentials/refresh/refresh-token-store.js';
import { createAuthenticator } from '../../src/authn/registry.js';
import { staticAuthnSchema } from '../../src/authn/static/static-config.js';
import type { Identity } from '../../src/domain/identity.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { Store } from '../../src/store/store.js';
import { freePort, useSilentServers } from '../support/ports.js';
import { startRedis } from '../support/redis.js';
import { DIRECTORY, startSlapd, type SlapdHandle } from '../support/slapd.js';
import { tempStore } from '../support/store.js';
import { freshDeps, passwordAuthenticatorContract, type AuthenticatorUnderTest } from './password-authenticator-contract.js';
import { shutDown } from '../support/shut-down.js';

/*
 * The contract run against the backends that check a password themselves or against a directory
 * or program the operator runs (static users, LDAP, a command), and against Wharf's own
 * credentials (refresh tokens, registry credentials), whose upstream is the state store.
 */

const random = (bytes = 12) => randomBytes(bytes).toString('base64url');
const ALICE_PASSWORD = random();
let aliceHash: string;
let slapd: SlapdHandle;
let dir: string;
let script: string;
/** A TCP server that accepts connections and never says a word (a hung directory): its port. */
const silentServer = useSilentServers();

/*
 * The password program: knows alice (exit 0, with her groups), refuses everyone else (exit 1).
 * $MODE makes it misbehave: crash (exit 3, the password on stderr), hang, or print garbage (the
 * password on stdout), so the log check sees what a careless program does with it.
 */
const SCRIPT = (good: string) => `#!${process.execPath}
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const [user, pass] = input.split('\\n');
  const mode = process.env.MODE || 'normal';
  if (mode === 'crash') { process.stderr.write('checking ' + user + ' with ' + pass + ': database down\\n'); process.exit(3); }
  if (mode === 'hang') { setTimeout(() => {}, 10000); return; }
  if (mode === 'garbage') { process.stdout.write('welcome, ' + pass); process.exit(0); }
  if (user === 'alice' && pass === ${JSON.stringify(good)}) { process.stdout.write(JSON.stringify({ attributes: { groups: ['staff'] } })); process.exit(0); }
  process.exit(1);
});
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-authn-contract-'));
  script = join(dir, 'check-password.cjs');
  await writeFile(script, SCRIPT(ALICE_PASSWORD));
  await chmod(script, 0o755);
  [aliceHash, slapd] = await Promise.all([bcrypt.hash(ALICE_PASSWORD, 10), startSlapd({ tls: true })]);
});
afterAll(() => shutDown(slapd, dir));

// --- static: bcrypt hashes from the config; no upstream ----------------------------------------

/** The static backend, as the registry builds it from config. */
function staticBackend(deps: ReturnType<typeof freshDeps>['deps']): PasswordAuthenticator {
  return createAuthenticator(staticAuthnSchema.parse({ type: 'static', users: { alice: { passwordHash: aliceHash, attributes: { groups: ['dev'] } } } }), deps);
}

async function staticUnderTest(): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps();
  return {
    authenticator: staticBackend(deps),
    hashKey,
    logs,
    valid: { username: 'alice', password: ALICE_PASSWORD },
    identity: { account: 'alice', provider: 'static', subject: 'alice', attributes: { groups: ['dev'] } },
    wrong: [{ username: 'alice', password: `${ALICE_PASSWORD}x` }],
    foreign: [{ username: 'mallory', password: ALICE_PASSWORD }],
  };
}

// Static users live in the config: there is no upstream to be down.
passwordAuthenticatorContract('static', { wrongSecret: 'denied', recalls: true, make: staticUnderTest, outages: {} });

// --- ldap: search-then-bind against slapd ------------------------------------------------------

/** The LDAP backend against `url`, StartTLS with the run's CA, as the registry builds it from config. */
function ldapBackend(url: string, deps: ReturnType<typeof freshDeps>['deps']): PasswordAuthenticator {
  const config = ldapAuthnSchema.parse({
    type: 'ldap',
    url,
    startTls: true,
    caFile: slapd.certificates!.caFile,
    bindDn: DIRECTORY.serviceDn,
    baseDn: DIRECTORY.musicians,
    connectTimeoutMs: 300,
    timeoutMs: 400,
  });
  return createAuthenticator(config, deps);
}

const LDAP_ENV = () => ({ WHARF_LDAP_BIND_PASSWORD: slapd.passwords.wharf });

async function ldapUnderTest(url = slapd.url): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps(LDAP_ENV());
  const authenticator = ldapBackend(url, deps);
  const { ludwig } = slapd.passwords;
  return {
    authenticator,
    hashKey,
    logs,
    secrets: [slapd.passwords.wharf],
    valid: { username: 'ludwig', password: ludwig },
    identity: { account: 'ludwig', provider: 'ldap', subject: `uid=ludwig,${DIRECTORY.musicians}` },
    wrong: [
      { username: 'ludwig', password: `${ludwig}x` },
      { username: 'wolfgang', password: ludwig },
    ],
    // Not in the directory (or not under the search base: the philosophers' uid=ludwig is elsewhere).
    foreign: [
      { username: 'nosuchuser', password: random() },
      { username: 'immanuel', password: slapd.passwords.immanuel },
    ],
    close: async () => {
      if (authenticator instanceof LdapAuthenticator) await authenticator.close();
    },
  };
}

passwordAuthenticatorContract('ldap', {
  wrongSecret: 'denied',
  recalls: true,
  make: () => ldapUnderTest(),
  outages: {
    'nothing listens': async () => ldapUnderTest(`ldap://127.0.0.1:${await freePort()}`),
    'accepts but never answers': async () => ldapUnderTest(`ldap://127.0.0.1:${await silentServer()}`),
  },
});

// --- command: a program decides ----------------------------------------------------------------

async function commandUnderTest(mode = 'normal', program = script): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps();
  // Lower-case names are the program's; others pass on to the next backend.
  const config = commandAuthnSchema.parse({ type: 'command', command: [program], env: { MODE: mode }, claims: '^[a-z]+$', timeoutMs: 500 });
  return {
    authenticator: createAuthenticator(config, deps),
    hashKey,
    logs,
    valid: { username: 'alice', password: ALICE_PASSWORD },
    identity: { account: 'alice', provider: 'command', subject: 'alice', attributes: { groups: ['staff'] } },
    // A program answers only yes (0) or no (1): a user it does not know is refused like a wrong
    // password. `claims` is how an operator says which names are not the program's at all.
    wrong: [
      { username: 'alice', password: `${ALICE_PASSWORD}x` },
      { username: 'nobody', password: random() },
    ],
    foreign: [
      { username: 'Svc-Robot', password: random() },
      { username: '', password: random() },
    ],
  };
}

passwordAuthenticatorContract('command', {
  wrongSecret: 'denied',
  recalls: true,
  make: () => commandUnderTest(),
  outages: {
    'crashes, printing the password on stderr': () => commandUnderTest('crash'),
    'hangs past its timeout': () => commandUnderTest('hang'),
    'exits 0 printing garbage with the password': () => commandUnderTest('garbage'),
    'is missing': () => commandUnderTest('normal', join(dir, 'no-such-program')),
  },
});

// --- Wharf's own credentials: the state store is their upstream --------------------------------

/** A real Redis holding the store, stopped once the credentials are in it: the store is down. */
async function haltedRedisStore(fill: (store: Store) => Promise<void>): Promise<{ store: Store; close: () => Promise<void> }> {
  const redis = await startRedis();
  const store = new RedisStore({ url: redis.url, commandTimeoutMs: 300 });
  await store.ready();
  await fill(store);
  await redis.halt();
  return {
    store,
    close: async () => {
      await store.close();
      await redis.stop();
    },
  };
}

const bob = (password: string) => ({ username: 'bob', password });

/**
 * The refresh-token redemption asked as the prover asks it for a Basic password: a refresh token
 * is redeemed for the username's account (never remembered), anything else is not its to judge.
 */
function asPassword(redemption: RefreshRedemption): PasswordAuthenticator {
  return {
    type: 'refresh',
    recall: async (_username, password) => (redemption.recognises(password) ? undefined : { kind: 'no_match' }),
    login: async (username, password, context) => (redemption.recognises(password) ? redemption.redeem(password, context, username) : { kind: 'no_match' }),
  };
}

/**
 * The refresh-token redemption as services.ts wires it: redeeming asks the backends
 * that prove identities (here static alice and, for an outage, an LDAP directory) to re-check.
 */
async function refreshUnderTest(options: { storeDown?: boolean; ldapDown?: boolean } = {}): Promise<AuthenticatorUnderTest> {
  const { deps, hashKey, logs } = freshDeps(LDAP_ENV());
  const local = tempStore();
  const backends = [staticBackend(deps), ...(options.ldapDown ? [ldapBackend(`ldap://127.0.0.1:${await freePort()}`, deps)] : [])];
  const alice = await backends[0]!.login('alice', ALICE_PASSWORD, { clientIp: '192.0.2.10', service: 'registry' });
  if (alice.kind !== 'ok') throw new Error(`static alice: ${JSON.stringify(alice)}`);
  const ludwig: Identity = { account: 'ludwig', provider: 'ldap', subject: `uid=ludwig,${DIRECTORY.musicians}`, attributes: { dn: `uid=ludwig,${DIRECTORY.musicians}` } };

  let token = '';
  const issue = async (store: Store) => {
    const tokens = new RefreshTokenStore({ store, hashKey, maxAgeSeconds: 3600 });
    token = options.ldapDown ? await tokens.issue(ludwig, 'registry') : await tokens.issue(alice.identity, 'registry', alice.provenance);
  };
  const remote = options.storeDown ? await haltedRedisStore(issue) : undefined;
  if (!remote) await issue(local);
  const store = remote?.store ?? local;
  const authenticator = asPassword(new RefreshRedemption(new RefreshTokenStore({ store, hashKey, maxAgeSeconds: 3600 }), backends));
  const username = options.ldapDown ? 'ludwig' : 'alice';
  return {
    authenticator,
    hashKey,
    logs,
    valid: { username, password: token },
    identity: options.ldapDown ? { account: 'ludwig', provider: 'ldap' } : { account: 'alice', provider: 'static', subject: 'alice' },
    // An unknown token, and a live one under another user's name. With the store up and the
    // directory down these are refuted without the directory, so they are left out then.
    wrong: options.ldapDown ? [] : [{ username, password: REFRESH_TOKEN_PREFIX + random(32) }, bob(token)],
    foreign: [
      { username, password: ALICE_PASSWORD },
      { username, password: CREDENTIAL_PREFIX + random(32) },
    ],
    close: async () => {
      await remote?.close();
      await local.close();
      for (const b of backends) if (b instanceof LdapAuthenticator) await b.close();
    },
  };
}

passwordAuthenticatorContract('refresh', {
  wrongSecret: 'denied',
  recalls: true,
  make: () => refreshUnderTest(),
  outages: {
    'the state store is down': () => refreshUnderTest({ storeDown: true }),
    'the directory that proved the login is down': () => refreshUnderTest({ ldapDown: true }),
  },
});

/**
 * The registry-credential backend as services.ts wires it, without the periodic re-check of the
 * provider behind a credential (when configured, a provider that cannot be asked leaves the
 * credential working until the next check: its upstream is the store, not the provider).
 */
async function credentialUnderTest(storeDown = false): Promise<AuthenticatorUnderTest> {
  const hashKey = randomBytes(32);
  const identity: Identity = { account: 'alice', provider: 'github', subject: '583231', attributes: { login: 'alice' } };
  let secret = '';
  let id = '';
  const create = async (store: Store) => {
    ({ secret, record: { id } } = await new CredentialStore({ store, hashKey, maxLifetimeSeconds: 86_400 }).create(identity, { label: 'laptop', lifetimeSeconds: 3600, source: 'browser' }));
  };
  const remote = storeDown ? await haltedRedisStore(create) : undefined;
  const local = remote ? undefined : tempStore();
  if (local) await create(local);
  const store = remote?.store ?? local!;
  return {
    authenticator: new CredentialAuthenticator(new CredentialStore({ store, hashKey, maxLifetimeSeconds: 86_400 })),
    hashKey,
    valid: { username: 'alice', password: secret },
    identity: { account: 'alice', provider: 'github', subject: '583231', attributes: { login: 'alice', credentialId: id } },
    wrong: [{ username: 'alice', password: CREDENTIAL_PREFIX + random(32) }, bob(secret)],
    foreign: [
      { username: 'alice', password: REFRESH_TOKEN_PREFIX + random(32) },
      { username: 'alice', password: `ghp_${random(27)}` },
    ],
    close: async () => {
      await remote?.close();
      await local?.close();
    },
  };
}

passwordAuthenticatorContract('credential', {
  wrongSecret: 'denied',
  recalls: true,
  make: () => credentialUnderTest(),
  outages: { 'the state store is down': () => credentialUnderTest(true) },
});
