import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createServices, type Services } from '../../src/services.js';
import type { Store } from '../../src/store/store.js';
import { makeAlice, type Alice } from '../support/alice.js';
import { captureLog, type LogCapture } from '../support/log-capture.js';
import { runCommand } from '../support/processes.js';
import { shutDown } from '../support/shut-down.js';
import { DIRECTORY, startSlapd, type SlapdHandle } from '../support/slapd.js';
import { tempStore } from '../support/store.js';

/*
 * A person's robot acts as its maker, and follows the maker's groups as their identity source
 * last proved them: a group rule that stops matching the maker stops granting the robot once the
 * maker's source has said so (a login, a re-check, a config's own users at start-up), not when the
 * robot was made.
 */

let alice: Alice;
let slapd: SlapdHandle | undefined;
let dir: string | undefined;
beforeAll(async () => {
  alice = await makeAlice();
});
afterAll(() => shutDown(slapd, dir));

interface Running {
  services: Services;
  app: FastifyInstance;
  log: LogCapture;
}
const running: Running[] = [];
/** Stores shared by successive Wharfs (a config reload keeps the state): closed once, after every Wharf over them. */
const stores: Store[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.app.close();
    await r.services.close();
  }
  for (const store of stores.splice(0)) await store.close();
});

const adminSecret = randomBytes(16).toString('hex');
const basic = (account: string, secret: string) => `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}`;

/** Wharf over `store`, started (its configured users bound) and answering requests. */
async function wharf(input: ConfigInput, store: Store, hashKey: Buffer, now: () => number, env: Record<string, string> = {}): Promise<Running> {
  const log = captureLog('info');
  const services = createServices(parseConfig(input, {}), { store, logger: log.logger, keys: alice.keys.store, hashKey, now, env: { WHARF_ADMIN_SECRET: adminSecret, ...env } });
  await services.start();
  const r = { services, app: await buildApp(services), log };
  running.push(r);
  return r;
}

/** What `account` with `secret` gets on `name` (asking pull and push); the status when refused. */
async function granted(r: Running, account: string, secret: string, name: string): Promise<string[] | { status: number; message: string }> {
  const answer = await r.app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:pull,push`, headers: { authorization: basic(account, secret) } });
  if (answer.statusCode !== 200) return { status: answer.statusCode, message: answer.json<{ error_description: string }>().error_description };
  const access = decodeJwt(answer.json<{ token: string }>().token).access as Array<{ actions: string[] }>;
  return access[0]?.actions ?? [];
}

/**
 * A person's robot, made the way `wharf robot create` makes it: with the credential their login
 * gave (`wharf login`), holding the identity that login proved (their groups then).
 */
async function robotOf(r: Running, account: string, password: string, name: string, repositories: string): Promise<{ robot: string; laptop: string }> {
  const login = await r.services.authenticators.login(account, password, { clientIp: '127.0.0.1', service: 'registry' });
  if (login.kind !== 'ok') throw new Error(`${account} cannot log in: ${login.kind}`);
  const { secret } = await r.services.credentials.create(login.identity, { label: 'laptop', lifetimeSeconds: 86_400, source: 'device' });
  const made = await r.app.inject({
    method: 'POST',
    url: '/api/v1/robots',
    headers: { authorization: basic(account, secret), 'content-type': 'application/json' },
    payload: { name, scope: [{ repositories: [repositories], actions: ['pull', 'push'] }] },
  });
  expect(made.statusCode, made.body).toBe(201);
  return { robot: made.json<{ secret: string }>().secret, laptop: secret };
}

/** The decision reasons of the last token_issued line for `account`. */
function lastReasons(r: Running, account: string): string[] {
  const line = r.log.events('token_issued').filter((l) => l.account === account).at(-1);
  return (line?.decisions as Array<{ reason: string }> | undefined)?.map((d) => d.reason) ?? [];
}

/** A real store the test closes itself (see `stores`), with every write counted by key prefix. */
function sharedStore(inner: Store): { store: Store; writes: string[] } {
  stores.push(inner);
  const writes: string[] = [];
  const note = (key: string) => writes.push(key.split(':')[0]!);
  const store: Store = {
    get: (key) => inner.get(key),
    put: (key, value, ttl) => (note(key), inner.put(key, value, ttl)),
    putIfAbsent: (key, value, ttl) => (note(key), inner.putIfAbsent(key, value, ttl)),
    delete: (key) => (note(key), inner.delete(key)),
    increment: (key, ttl) => (note(key), inner.increment(key, ttl)),
    list: (prefix, limit) => inner.list(prefix, limit),
    health: () => inner.health(),
    close: async () => undefined,
  };
  return { store, writes };
}

/** team-a's members push and pull team/*; nothing else is granted (no rule names a robot). */
const teamRule = { account: '*', group: 'team-a', name: 'team/*', actions: ['push', 'pull'] };

describe("a person's robot follows its maker's groups", () => {
  it('a static user taken out of a group by a new config: the robot loses what the group gave from the start-up on', async () => {
    const clock = { now: Date.UTC(2030, 0, 1) };
    const now = () => clock.now;
    const { store } = sharedStore(tempStore(now));
    const hashKey = randomBytes(32);
    const config = (groups: string[]): ConfigInput => ({ authn: [{ type: 'static', users: { alice: { passwordHash: alice.hash, attributes: { groups } } } }], authz: { acl: { rules: [teamRule] } } });
    const before = await wharf(config(['team-a']), store, hashKey, now);
    const { robot: secret } = await robotOf(before, 'alice', alice.password, 'deployer', 'team/*');
    expect(await granted(before, 'robot-deployer', secret, 'team/app')).toEqual(['pull', 'push']);
    expect(lastReasons(before, 'robot-deployer')).toEqual(['as its maker alice: rule 0']);
    // A new config: alice is no longer in team-a. Her robot's credential still holds her identity
    // as it was when she made the robot; the config, her source, says otherwise now.
    const after = await wharf(config([]), store, hashKey, now);
    clock.now += 2000;
    expect(await granted(after, 'robot-deployer', secret, 'team/app')).toEqual([]);
    expect(lastReasons(after, 'robot-deployer')).toEqual(['as its maker alice: no rule matched']);
    expect(await granted(after, 'alice', alice.password, 'team/app')).toEqual([]);
  });

  it('an LDAP user removed from a group in the directory: the robot loses what the group gave at the maker’s next login, and steady logins write nothing', async () => {
    slapd = await startSlapd();
    dir = await mkdtemp(join(tmpdir(), 'wharf-robot-maker-'));
    const clock = { now: Date.UTC(2030, 0, 1) };
    const now = () => clock.now;
    const { store, writes } = sharedStore(tempStore(now));
    const ldap = { type: 'ldap', url: slapd.url, bindDn: DIRECTORY.serviceDn, bindPasswordEnv: 'LDAP_PASSWORD', baseDn: DIRECTORY.musicians, verifiedCacheSeconds: 0 };
    const rule = { ...teamRule, group: 'team-x', name: 'team-x/*' };
    const r = await wharf({ authn: [ldap], authz: { acl: { rules: [rule] } } } as ConfigInput, store, randomBytes(32), now, { LDAP_PASSWORD: slapd.passwords.wharf });
    const password = slapd.passwords.ludwig;
    const { robot: secret, laptop } = await robotOf(r, 'ludwig', password, 'builder', 'team-x/*');
    expect(await granted(r, 'robot-builder', secret, 'team-x/app')).toEqual(['pull', 'push']);

    // Ludwig's logins, each a bind and a search: his groups have not changed, so nothing is written.
    writes.length = 0;
    for (let i = 0; i < 5; i++) {
      clock.now += 2000;
      expect(await granted(r, 'ludwig', password, 'team-x/app')).toEqual(['pull', 'push']);
    }
    expect(writes.filter((w) => w.startsWith('account'))).toEqual([]);

    // The directory takes him out of team-x.
    const ldif = join(dir, 'leave.ldif');
    await writeFile(ldif, `dn: cn=team-x,${DIRECTORY.groups}\nchangetype: modify\ndelete: member\nmember: uid=ludwig,${DIRECTORY.musicians}\n`);
    const adminPassword = join(dir, 'admin.pw');
    await writeFile(adminPassword, slapd.adminPassword, { mode: 0o600 });
    const modified = await runCommand('/usr/bin/ldapmodify', ['-x', '-H', slapd.url, '-D', DIRECTORY.adminDn, '-y', adminPassword, '-f', ldif]);
    expect(modified.code, modified.stderr).toBe(0);
    // Until he proves again, his robot acts on what his directory last said (his groups at his last login).
    clock.now += 2000;
    expect(await granted(r, 'robot-builder', secret, 'team-x/app')).toEqual(['pull', 'push']);
    // His next login: the directory's answer is recorded (one write), and his robot follows it.
    clock.now += 2000;
    expect(await granted(r, 'ludwig', password, 'team-x/app')).toEqual([]);
    expect(writes.filter((w) => w.startsWith('account'))).toEqual(['account-proven']);
    clock.now += 2000;
    expect(await granted(r, 'robot-builder', secret, 'team-x/app')).toEqual([]);
    expect(lastReasons(r, 'robot-builder')).toEqual(['as its maker ludwig: no rule matched']);
    // His own credential holds a copy of his identity from before (team-x): using it proves nothing
    // new, so it neither widens his robot again nor writes anything.
    clock.now += 2000;
    expect(await granted(r, 'ludwig', laptop, 'ludwig/app')).toEqual([]);
    clock.now += 2000;
    expect(await granted(r, 'robot-builder', secret, 'team-x/app')).toEqual([]);
    expect(writes.filter((w) => w.startsWith('account'))).toEqual(['account-proven']);
  });
});
