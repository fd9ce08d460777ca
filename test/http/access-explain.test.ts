import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';

const adminSecret = randomBytes(16).toString('hex');
const owner = { source: 'github', subject: '1' };
const alice = { account: 'alice', provider: 'github', subject: '1', attributes: {}, owner };
const clock = { now: 1_800_000_000_000 };

async function start(config: ConfigInput, env: Record<string, string> = {}): Promise<{ services: Services; app: FastifyInstance }> {
  const services = createServices(parseConfig(config, {}), {
    store: tempStore(() => clock.now),
    logger: createLogger('silent'),
    keys: (await testKeys()).store,
    hashKey: randomBytes(32),
    env: { WHARF_ADMIN_SECRET: adminSecret, ...env },
    now: () => clock.now,
  });
  const app = await buildApp(services);
  await services.bindings.claim('alice', owner, { bind: true });
  return { services, app };
}

function explain(app: FastifyInstance, body: object, secret = adminSecret) {
  return app.inject({ method: 'POST', url: '/api/v1/access/explain', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, payload: body });
}

interface Answer {
  owner: { source: string; subject: string | null } | null;
  groups: { names: string[]; note: string };
  credential: { id: string } | null;
  scopes: Array<{ scope: string; actions: Array<{ action: string; granted: boolean; source: string; why: string }> }>;
}

describe('POST /api/v1/access/explain with the ACL', () => {
  let services: Services;
  let app: FastifyInstance;
  beforeAll(async () => {
    ({ services, app } = await start({
      authz: {
        acl: {
          rules: [
            { account: '*', name: '${account}/*', actions: ['push', 'pull'] },
            { group: 'platform-*', name: 'platform/*', actions: ['pull'] },
          ],
        },
      },
    }));
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
  });

  it('names the ACL rule that allowed pull, the credential scope entry that removed push, and deny by default', async () => {
    const { secret, record } = await services.credentials.create(alice, { label: 'ci', lifetimeSeconds: 86_400, source: 'api', scope: [{ repositories: ['alice/app'], actions: ['pull'] }], vouched: true });
    const answer = await explain(app, { account: 'alice', credential: record.id, scopes: ['repository:alice/app:push,pull', 'repository:team/app:pull,delete'] });
    expect(answer.statusCode).toBe(200);
    const body = answer.json<Answer>();
    expect(body.owner).toEqual({ source: 'github', subject: '1', boundAt: new Date(clock.now).toISOString() });
    expect(body.credential).toMatchObject({ id: record.id, label: 'ci', scope: [{ repositories: ['alice/app'], actions: ['pull'] }] });
    expect(body.scopes).toEqual([
      {
        scope: 'repository:alice/app:push,pull',
        actions: [
          { action: 'push', granted: false, source: 'credential', why: "by the credential's scope (entry 0 allows pull on alice/app)" },
          { action: 'pull', granted: true, source: 'acl', why: `by acl rule 0 {account: "*", name: "\${account}/*", actions: [push, pull]}, inside the credential's scope` },
        ],
      },
      {
        scope: 'repository:team/app:pull,delete',
        actions: [
          { action: 'pull', granted: false, source: 'acl', why: 'no rule matched (deny by default)' },
          { action: 'delete', granted: false, source: 'acl', why: 'no rule matched (deny by default)' },
        ],
      },
    ]);
    // What the explanation says is what a token request with that credential gets.
    const token = await app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:alice/app:push,pull', headers: { authorization: `Basic ${Buffer.from(`alice:${secret}`).toString('base64')}` } });
    expect(decodeJwt(token.json<{ token: string }>().token).access).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
  });

  it('says groups are unknown without a sign-in, and tries group rules with the groups given', async () => {
    const none = (await explain(app, { account: 'alice', scopes: ['repository:platform/base:pull'] })).json<Answer>();
    expect(none.groups.note).toMatch(/^none given: a sign-in's groups are not known without it/);
    expect(none.scopes[0]!.actions).toEqual([{ action: 'pull', granted: false, source: 'acl', why: 'no rule matched (deny by default)' }]);
    const given = (await explain(app, { account: 'alice', scopes: ['repository:platform/base:push,pull'], groups: ['platform-dev'] })).json<Answer>();
    expect(given.groups.names).toEqual(['platform-dev']);
    expect(given.scopes[0]!.actions).toEqual([
      { action: 'push', granted: false, source: 'acl', why: 'by acl rule 1 {account: "*", name: "platform/*", group: "platform-*", actions: [pull]}' },
      { action: 'pull', granted: true, source: 'acl', why: 'by acl rule 1 {account: "*", name: "platform/*", group: "platform-*", actions: [pull]}' },
    ]);
  });

  it("explains a person's robot as its maker's decisions: named, with the maker's groups as their sign-in last proved them, cut by the credential's scope", async () => {
    // alice signs in with GitHub (the provider's callback): her teams are recorded as GitHub proved them.
    expect((await services.authenticators.admit({ ...alice, attributes: { teams: ['platform-dev'] } }, { proven: true })).kind).toBe('ok');
    // Her credential holds her identity as it was before (no teams): the robot is made inside her rights now.
    const { secret: laptop } = await services.credentials.create(alice, { label: 'laptop', lifetimeSeconds: 86_400, source: 'device' });
    const basic = (account: string, secret: string) => `Basic ${Buffer.from(`${account}:${secret}`).toString('base64')}`;
    const made = await app.inject({
      method: 'POST',
      url: '/api/v1/robots',
      headers: { authorization: basic('alice', laptop), 'content-type': 'application/json' },
      payload: { name: 'puller', scope: [{ repositories: ['alice/app', 'platform/*'], actions: ['pull'] }] },
    });
    expect(made.statusCode, made.body).toBe(201);
    const { secret, credential } = made.json<{ secret: string; credential: { id: string } }>();
    const rule0 = 'acl rule 0 {account: "*", name: "${account}/*", actions: [push, pull]}';
    const withCredential = (await explain(app, { account: 'robot-puller', credential: credential.id, scopes: ['repository:alice/app:push,pull', 'repository:platform/base:pull'] })).json<Answer & { maker: unknown }>();
    expect(withCredential.maker).toEqual({ account: 'alice', holdsAccount: true, provenSince: new Date(clock.now).toISOString() });
    expect(withCredential.groups).toEqual({ names: ['platform-dev'], note: `its maker alice's, as their sign-in method proved them (unchanged since ${new Date(clock.now).toISOString()})` });
    expect(withCredential.scopes.map((x) => x.actions)).toEqual([
      [
        { action: 'push', granted: false, source: 'credential', why: `by the credential's scope (entry 0 allows pull on alice/app, platform/*); its maker alice may, by ${rule0}` },
        { action: 'pull', granted: true, source: 'acl', why: `as its maker alice: by ${rule0}, inside the credential's scope` },
      ],
      [{ action: 'pull', granted: true, source: 'acl', why: `as its maker alice: by acl rule 1 {account: "*", name: "platform/*", group: "platform-*", actions: [pull]}, inside the credential's scope` }],
    ]);
    // What it says is what the robot's token request gets.
    for (const [name, actions] of [['alice/app', ['pull']], ['platform/base', ['pull']]] as const) {
      const token = await app.inject({ method: 'GET', url: `/token?service=registry&scope=repository:${name}:push,pull`, headers: { authorization: basic('robot-puller', secret) } });
      expect(decodeJwt(token.json<{ token: string }>().token).access).toEqual([{ type: 'repository', name, actions }]);
    }
    // Without a credential: the maker's rights, uncut; a rule the maker does not match refuses in their name.
    const uncut = (await explain(app, { account: 'robot-puller', scopes: ['repository:team/app:pull'] })).json<Answer>();
    expect(uncut.scopes[0]!.actions).toEqual([{ action: 'pull', granted: false, source: 'acl', why: 'as its maker alice: no rule matched (deny by default)' }]);
    // alice's name freed: the robot gets nothing, and the explanation says why.
    await services.bindings.unbind('alice');
    const orphan = (await explain(app, { account: 'robot-puller', credential: credential.id, scopes: ['repository:alice/app:pull'] })).json<Answer & { maker: unknown }>();
    expect(orphan.maker).toEqual({ account: 'alice', holdsAccount: false, provenSince: null });
    expect(orphan.scopes[0]!.actions).toEqual([{ action: 'pull', granted: false, source: 'account', why: 'the account that made this robot (alice) no longer belongs to that person; the robot gets nothing' }]);
    await services.bindings.claim('alice', owner, { bind: true });
  });

  it('answers an account nobody owns yet with owner null, and refuses without the admin secret or with bad input', async () => {
    expect((await explain(app, { account: 'bob', scopes: ['repository:bob/app:pull'] })).json<Answer>()).toMatchObject({
      owner: null,
      scopes: [{ actions: [{ action: 'pull', granted: true, source: 'acl' }] }],
    });
    const wrong = await explain(app, { account: 'alice', scopes: ['repository:alice/app:pull'] }, 'not-the-secret');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json<{ error_description: string }>().error_description).toBe('explanations need Authorization: Bearer <admin secret>');
    const badScope = await explain(app, { account: 'alice', scopes: ['alice/app'] });
    expect(badScope.statusCode).toBe(400);
    expect(badScope.json<{ error: string; error_description: string }>()).toMatchObject({ error: 'invalid_request', error_description: 'invalid scope "alice/app": expected type:name:actions' });
    const unknownCredential = await explain(app, { account: 'alice', credential: 'feedfeedfeed', scopes: ['repository:alice/app:pull'] });
    expect(unknownCredential.statusCode).toBe(404);
  });
});

describe('POST /api/v1/access/explain with a webhook', () => {
  let services: Services;
  let app: FastifyInstance;
  let platform: FakePlatform;
  beforeAll(async () => {
    platform = await startFakePlatform();
    // The platform: alice owns alice/*; team/* may be pulled by its members; everything else is left out (denied).
    platform.setHandler('/authz', (req) => {
      const body = req.json as { account: string; scopes: Array<{ type: string; name: string; actions: string[] }> };
      const decisions = body.scopes.flatMap((s) => {
        if (body.account === 'alice' && s.name.startsWith('alice/')) return [{ type: s.type, name: s.name, allowed: s.actions, reason: 'alice owns alice/*' }];
        if (s.name.startsWith('team/')) return [{ type: s.type, name: s.name, allowed: ['pull'], reason: 'team members pull team/*' }];
        return [];
      });
      return { status: 200, body: { decisions, ttl: 600 } };
    });
    ({ services, app } = await start({ authz: { webhook: { type: 'webhook', url: `${platform.url}/authz`, retries: 0 } } }, { WHARF_AUTHZ_WEBHOOK_SECRET: 'webhook-secret' }));
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
    await platform?.close();
  });

  it("names the webhook's answer for an allowed, a narrowed and a refused action, then its cached answer", async () => {
    const scopes = ['repository:alice/app:pull', 'repository:team/app:push,pull', 'repository:other/app:pull'];
    const first = (await explain(app, { account: 'alice', scopes })).json<Answer>();
    expect(first.scopes.map((s) => s.actions)).toEqual([
      [{ action: 'pull', granted: true, source: 'webhook', why: 'by the webhook: alice owns alice/*' }],
      [
        { action: 'push', granted: false, source: 'webhook', why: 'by the webhook: team members pull team/*' },
        { action: 'pull', granted: true, source: 'webhook', why: 'by the webhook: team members pull team/*' },
      ],
      [{ action: 'pull', granted: false, source: 'webhook', why: 'by the webhook: not in the webhook answer' }],
    ]);
    const calls = platform.count('/authz');
    const again = (await explain(app, { account: 'alice', scopes: ['repository:alice/app:pull'] })).json<Answer>();
    expect(again.scopes[0]!.actions).toEqual([{ action: 'pull', granted: true, source: 'cache', why: "by a decider's cached answer: alice owns alice/*" }]);
    expect(platform.count('/authz')).toBe(calls);
  });
});
