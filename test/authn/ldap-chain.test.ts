import { tempStore } from '../support/store.js';
import { AccountGate } from '../../src/accounts/account-gate.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { AuthenticatorChain } from '../../src/authn/authenticator-chain.js';
import type { PasswordAuthenticator } from '../../src/authn/authenticator.js';
import { RequestProver } from '../../src/authn/prover.js';
import { CommandAuthenticator } from '../../src/authn/command/command-authenticator.js';
import { commandAuthnSchema } from '../../src/authn/command/command-config.js';
import { LdapAuthenticator } from '../../src/authn/ldap/ldap-authenticator.js';
import { ldapAuthnSchema } from '../../src/authn/ldap/ldap-config.js';
import { RefreshRedemption } from '../../src/credentials/refresh/refresh-redemption.js';
import { StaticAuthenticator } from '../../src/authn/static/static-authenticator.js';
import { staticAuthnSchema } from '../../src/authn/static/static-config.js';
import { DeciderChain } from '../../src/authz/decider-chain.js';
import { commandAuthzSchema } from '../../src/authz/command/command-authz-config.js';
import { secretReader } from '../../src/config/secrets.js';
import { createRemoteAuthorizer } from '../../src/authz/registry.js';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { parseConfig } from '../../src/config/load.js';
import { UnauthorizedError } from '../../src/domain/errors.js';
import { TokenService } from '../../src/tokens/token-service.js';
import { RecentAnswers } from '../../src/tokens/recent-answers.js';
import { createServices } from '../../src/services.js';
import type { LoadedKeys } from '../../src/keys/key-files.js';
import { TokenMinter } from '../../src/tokens/minter.js';
import { testKeys } from '../support/keys.js';
import { captureLog, type LogCapture } from '../support/log-capture.js';
import { freePort } from '../support/ports.js';
import { DIRECTORY, startSlapd, type SlapdHandle } from '../support/slapd.js';
import { shutDown } from '../support/shut-down.js';

/*
 * The whole token endpoint with the chain static users → LDAP → external command, and
 * authorization by the ACL (own namespace) then a command that reads LDAP groups (team-x/*).
 * Built by hand from the same classes the registry wires, since this change does not touch
 * the registry or services.ts.
 */

let slapd: SlapdHandle;
let keys: LoadedKeys;
let dir: string;
const claraStatic = randomBytes(9).toString('base64url');
const aliceStatic = randomBytes(9).toString('base64url');
const ciPassword = randomBytes(9).toString('base64url');

const CHECK = (password: string) => `#!${process.execPath}
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const [user, pass] = input.split('\\n');
  if (pass !== ${JSON.stringify(password)}) process.exit(1);
  process.stdout.write(JSON.stringify({ attributes: { groups: ['ci'] } }));
});
`;
const DECIDE = `#!${process.execPath}
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const request = JSON.parse(input);
  const groups = (request.identity && request.identity.attributes.groups) || [];
  const decisions = request.scopes
    .filter((s) => s.name.startsWith('team-x/') && groups.includes('team-x'))
    .map((s) => ({ type: s.type, name: s.name, allowed: ['push', 'pull'], reason: 'member of cn=team-x' }));
  process.stdout.write(JSON.stringify({ decisions }));
});
`;

beforeAll(async () => {
  [slapd, keys, dir] = await Promise.all([startSlapd({ tls: true }), testKeys(), mkdtemp(join(tmpdir(), 'wharf-ldap-chain-'))]);
  await writeFile(join(dir, 'check.cjs'), CHECK(ciPassword));
  await writeFile(join(dir, 'decide.cjs'), DECIDE);
  await chmod(join(dir, 'check.cjs'), 0o755);
  await chmod(join(dir, 'decide.cjs'), 0o755);
});
afterAll(() => shutDown(slapd, dir));

interface Wharf {
  app: FastifyInstance;
  tokens: RecentAnswers;
  log: LogCapture;
  close(): Promise<void>;
}

/** Wharf with authn = [static (alice, clara), ldap (musicians), command (svc-*)] in that order. */
async function startWharf(ldapUrl: string): Promise<Wharf> {
  const log = captureLog('info');
  const logger = log.logger;
  const hashKey = randomBytes(32);
  const config = parseConfig({ authz: { acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }] } } }, {});
  const base = createServices(config, { store: tempStore(), logger, keys: keys.store, hashKey });
  const deps = { cache: base.cache, hashKey, logger };
  const users = { alice: { passwordHash: await bcrypt.hash(aliceStatic, 4) }, clara: { passwordHash: await bcrypt.hash(claraStatic, 4) } };
  const ldap = new LdapAuthenticator(
    ldapAuthnSchema.parse({ type: 'ldap', url: ldapUrl, startTls: true, bindDn: DIRECTORY.serviceDn, baseDn: DIRECTORY.musicians, connectTimeoutMs: 300, timeoutMs: 500 }),
    { ...deps, bindPassword: slapd.passwords.wharf, ca: readFileSync(slapd.certificates!.caFile) },
  );
  const backends: PasswordAuthenticator[] = [
    new StaticAuthenticator(staticAuthnSchema.parse({ type: 'static', users }), deps),
    ldap,
    new CommandAuthenticator(commandAuthnSchema.parse({ type: 'command', command: [join(dir, 'check.cjs')], claims: '^svc-' }), deps),
  ];
  const chain: AuthenticatorChain = new AuthenticatorChain(backends, new AccountGate(base.bindings, { reserved: [], logger }));
  const prover = new RequestProver({ chain, refreshTokens: new RefreshRedemption(base.refreshTokens, backends), refreshTokensEnabled: true });
  const authorizer = new DeciderChain([
    new StaticAclAuthorizer(config.authz.acl),
    createRemoteAuthorizer(commandAuthzSchema.parse({ type: 'command', command: [join(dir, 'decide.cjs')] }), { ...deps, readSecret: secretReader({}), generation: async () => '0' }),
  ]);
  const tokens = new RecentAnswers(
    new TokenService(
      { service: 'registry', lifetimeSeconds: 300, actionLifetimeSeconds: {} },
      { prover, authorizer, minter: new TokenMinter(keys.store, { issuer: 'wharf', includeX5c: false }), logger: logger.child({ component: 'token' }) },
    ),
    { hashKey: randomBytes(32), logger },
  );
  const app = await buildApp({ ...base, authenticators: chain, authorizer, tokens });
  return {
    app,
    tokens,
    log,
    async close() {
      await app.close();
      await ldap.close();
    },
  };
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;

async function token(wharf: Wharf, user: string, pass: string, scope = 'repository:team-x/app:push,pull') {
  const res = await wharf.app.inject({ method: 'GET', url: `/token?service=registry&scope=${encodeURIComponent(scope)}`, headers: { authorization: basic(user, pass) } });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

function access(body: Record<string, unknown>): unknown {
  return decodeJwt(body.token as string).access;
}

describe('token endpoint with static → ldap → command', () => {
  let wharf: Wharf;
  beforeAll(async () => {
    wharf = await startWharf(slapd.url);
  });
  afterAll(async () => {
    await wharf?.close();
  });

  it('musicians in cn=team-x may push and pull team-x/*, and their own namespace; the audit line names ldap', async () => {
    const ludwig = await token(wharf, 'ludwig', slapd.passwords.ludwig);
    expect(ludwig.status).toBe(200);
    expect(access(ludwig.body)).toEqual([{ type: 'repository', name: 'team-x/app', actions: ['push', 'pull'] }]);
    const audit = wharf.log.events('token_issued').at(-1);
    expect(audit).toMatchObject({ account: 'ludwig', provider: 'ldap', decisions: [{ scope: 'repository:team-x/app:push,pull', granted: ['push', 'pull'], source: 'command', reason: 'member of cn=team-x' }] });
    const own = await token(wharf, 'ludwig', slapd.passwords.ludwig, 'repository:ludwig/symphony:push,pull');
    expect(access(own.body)).toEqual([{ type: 'repository', name: 'ludwig/symphony', actions: ['push', 'pull'] }]);
    // Johann is a musician but not in team-x: logged in, nothing granted there.
    const johann = await token(wharf, 'johann', slapd.passwords.johann);
    expect(johann.status).toBe(200);
    expect(access(johann.body)).toEqual([]);
  });

  it('philosophers (outside the search base) cannot log in: 401', async () => {
    for (const [user, pass] of [['immanuel', slapd.passwords.immanuel], ['ludwig', slapd.passwords.wittgenstein]] as const) {
      const res = await token(wharf, user, pass);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }], error: 'unauthorized', error_description: 'invalid username or password' });
    }
  });

  it('filter injection gets 401 (control characters 400), never a token for another entry', async () => {
    for (const user of ['*', 'lud*', ')(uid=*', 'ludwig)(uid=*', '*)(|(uid=*', '\\6cudwig', 'ludwig\\', '\\']) {
      const res = await token(wharf, user, slapd.passwords.ludwig);
      expect(res.status, user).toBe(401);
      expect(res.body.token).toBeUndefined();
    }
    // The HTTP layer refuses control characters before any backend sees them...
    expect((await token(wharf, 'ludwig\0', slapd.passwords.ludwig)).status).toBe(400);
    // ...and below it, a NUL reaching the chain is escaped like the rest and matches no one.
    const issue = wharf.tokens.issue({
      service: 'registry',
      scopes: [],
      account: undefined,
      credentials: { kind: 'password', username: 'ludwig\0', password: slapd.passwords.ludwig },
      offline: false,
      clientId: undefined,
      clientIp: '127.0.0.1',
      grantType: 'get',
    });
    await expect(issue).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('the first backend that knows the username decides: a static clara shadows the LDAP clara', async () => {
    expect((await token(wharf, 'clara', slapd.passwords.clara)).status).toBe(401);
    const denied = wharf.log.events('token_denied').at(-1);
    expect(denied).toMatchObject({ account: 'clara', reason: 'invalid username or password' });
    const ok = await token(wharf, 'clara', claraStatic, 'repository:clara/app:pull');
    expect(ok.status).toBe(200);
    expect(wharf.log.events('token_issued').at(-1)).toMatchObject({ account: 'clara', provider: 'static' });
  });

  it('usernames the command claims reach it, and the audit line names command', async () => {
    const ci = await token(wharf, 'svc-ci', ciPassword, 'repository:svc-ci/app:push');
    expect(ci.status).toBe(200);
    expect(wharf.log.events('token_issued').at(-1)).toMatchObject({ account: 'svc-ci', provider: 'command' });
    expect((await token(wharf, 'svc-ci', 'wrong')).status).toBe(401);
    expect(wharf.log.events('token_denied').at(-1)).toMatchObject({ account: 'svc-ci', reason: 'command: invalid username or password' });
  });

  it('a denial by LDAP says so in the audit line, and no password reaches the log', async () => {
    expect((await token(wharf, 'wolfgang', 'not-his-password')).status).toBe(401);
    expect(wharf.log.events('token_denied').at(-1)).toMatchObject({ account: 'wolfgang', reason: 'ldap: invalid username or password' });
    for (const secret of [...Object.values(slapd.passwords), claraStatic, aliceStatic, ciPassword]) expect(wharf.log.text()).not.toContain(secret);
  });
});

describe('token endpoint when the directory is down', () => {
  it('answers 503 temporarily_unavailable for LDAP users, while static users still get tokens', async () => {
    const wharf = await startWharf(`ldap://127.0.0.1:${await freePort()}`);
    try {
      const started = Date.now();
      const res = await token(wharf, 'ludwig', slapd.passwords.ludwig);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.status).toBe(503);
      const unavailable = 'the LDAP directory is unavailable; try again shortly';
      expect(res.body).toEqual({ errors: [{ code: 'UNAVAILABLE', message: unavailable }], error: 'temporarily_unavailable', error_description: unavailable });
      expect((await token(wharf, 'alice', aliceStatic, 'repository:alice/app:pull')).status).toBe(200);
    } finally {
      await wharf.close();
    }
  });
});
