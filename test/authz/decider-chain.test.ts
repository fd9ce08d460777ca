import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { chainLinks, DeciderChain } from '../../src/authz/decider-chain.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../../src/authz/authorizer.js';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';

/*
 * Deciders as an ordered chain (`authz.deciders`), through the token endpoint against two real
 * HTTP platforms: the first definite answer on a scope wins, a decider that cannot decide passes
 * the scope on, and a scope nobody decides is refused (503 when nothing at all was decided).
 */

const SECRET = randomBytes(12).toString('hex');
const password = randomBytes(9).toString('base64url');
let first: FakePlatform;
let second: FakePlatform;
let services: Services;
let app: FastifyInstance;

/** A platform that allows `allowed` repositories (by prefix) to anyone and denies the rest, as a definite answer. */
function decides(platform: FakePlatform, allowed: string) {
  platform.setFault('/authz', undefined);
  platform.setHandler('/authz', (req) => {
    const body = req.json as { scopes: Array<{ type: string; name: string; actions: string[] }> };
    return { status: 200, body: { decisions: body.scopes.map((s) => ({ type: s.type, name: s.name, allowed: s.name.startsWith(allowed) ? s.actions : [] })), ttl: 0 } };
  });
}

const token = (...scopes: string[]) =>
  app.inject({
    method: 'GET',
    url: `/token?service=registry&${scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&')}`,
    headers: { authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` },
  });
const access = (body: string) => JSON.parse(Buffer.from((JSON.parse(body) as { token: string }).token.split('.')[1]!, 'base64url').toString()).access as Array<{ name: string; actions: string[] }>;

beforeAll(async () => {
  [first, second] = await Promise.all([startFakePlatform(), startFakePlatform()]);
  const config = parseConfig(
    {
      authn: [{ type: 'static', users: { alice: { passwordHash: await bcrypt.hash(password, 4) } } }],
      authz: {
        acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }] },
        deciders: [{ type: 'acl' }, { type: 'webhook', url: `${first.url}/authz`, retries: 0 }, { type: 'webhook', url: `${second.url}/authz`, retries: 0, failureThreshold: 100 }],
      },
    },
    {},
  );
  services = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: (await testKeys()).store, hashKey: randomBytes(32), env: { WHARF_AUTHZ_WEBHOOK_SECRET: SECRET } });
  app = await buildApp(services);
});
afterAll(async () => {
  await app?.close();
  await services?.close();
  await Promise.all([first?.close(), second?.close()]);
});
beforeEach(() => {
  decides(first, 'first/');
  decides(second, 'second/');
});

describe('authz.deciders, asked in order', () => {
  it('lets the first definite answer win: the ACL’s rule, then the first webhook’s grant or denial; the next is not asked', async () => {
    const before = [first.count('/authz'), second.count('/authz')];
    const res = await token('repository:alice/app:push', 'repository:first/base:pull', 'repository:second/base:pull');
    expect(res.statusCode).toBe(200);
    // The first webhook answered every scope the ACL left (a denial is an answer): the second was never asked.
    expect(access(res.body)).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['push'] },
      { type: 'repository', name: 'first/base', actions: ['pull'] },
    ]);
    expect([first.count('/authz') - before[0]!, second.count('/authz') - before[1]!]).toEqual([1, 0]);
    const asked = first.calls.at(-1)!.json as { scopes: Array<{ name: string }> };
    expect(asked.scopes.map((s) => s.name)).toEqual(['first/base', 'second/base']);
  });

  it('passes the scopes a decider cannot decide (unreachable) on to the next', async () => {
    first.setFault('/authz', { kind: 'status', status: 500 });
    const res = await token('repository:alice/app:pull', 'repository:second/base:pull');
    expect(res.statusCode).toBe(200);
    expect(access(res.body)).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull'] },
      { type: 'repository', name: 'second/base', actions: ['pull'] },
    ]);
  });

  it('fails closed when nobody decides: nothing granted on those scopes, and 503 when nothing at all was decided', async () => {
    first.setFault('/authz', { kind: 'status', status: 500 });
    second.setFault('/authz', { kind: 'status', status: 500 });
    // (Other scopes than above: the same request within a second gets the same answer again.)
    const partly = await token('repository:alice/other:pull', 'repository:second/other:pull');
    expect(partly.statusCode).toBe(200);
    expect(access(partly.body)).toEqual([{ type: 'repository', name: 'alice/other', actions: ['pull'] }]);
    const none = await token('repository:second/other:pull');
    expect(none.statusCode).toBe(503);
    expect(none.json().error).toBe('temporarily_unavailable');
  });

  it('reports each listed decider’s circuit on /readyz, numbered by type', async () => {
    const checks = (await app.inject({ method: 'GET', url: '/readyz' })).json().checks as Record<string, string>;
    expect(Object.keys(checks).filter((k) => k.startsWith('authz.'))).toEqual(['authz.webhook.0', 'authz.webhook.1']);
  });
});

describe('the chain a config describes', () => {
  const authz = (input: Record<string, unknown>) => parseConfig({ authz: input }, {}).authz;
  const webhook = { type: 'webhook', url: 'https://platform.example/authz' };

  it('keeps authz.webhook and order working unchanged: ACL first by default, or the webhook first', () => {
    expect(chainLinks(authz({})).map((l) => l.kind)).toEqual(['acl']);
    expect(chainLinks(authz({ webhook })).map((l) => (l.kind === 'acl' ? 'acl' : l.name))).toEqual(['acl', 'authz.webhook']);
    expect(chainLinks(authz({ webhook, order: 'webhook-first' })).map((l) => (l.kind === 'acl' ? 'acl' : l.name))).toEqual(['authz.webhook', 'acl']);
    expect(chainLinks(authz({ deciders: [webhook, { type: 'acl' }] })).map((l) => (l.kind === 'acl' ? 'acl' : l.name))).toEqual(['authz.webhook', 'acl']);
  });

  it('refuses a chain that would not do what it seems to, naming the setting', () => {
    const problems = (input: Record<string, unknown>) => {
      try {
        parseConfig({ authz: input }, {});
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      }
    };
    expect(problems({ webhook, deciders: [{ type: 'acl' }] })).toEqual(['authz.webhook: give either authz.webhook (with order) or authz.deciders, not both: list the webhook in authz.deciders']);
    expect(problems({ order: 'webhook-first', deciders: [webhook, { type: 'acl' }] })).toEqual(['authz.order: order applies to authz.webhook; with authz.deciders the list is the order']);
    expect(problems({ deciders: [{ type: 'acl' }, webhook, { type: 'acl' }] })).toEqual(['authz.deciders.2: the ACL is listed once']);
    expect(problems({ acl: { anonymous: { pull: ['public/*'] } }, deciders: [webhook] })).toEqual([
      'authz.deciders: authz.acl has rules or anonymous pulls, but authz.deciders does not list {type: acl}: they would never be asked',
    ]);
    expect(problems({ deciders: [{ type: 'acl', rules: [] }] })[0]).toMatch(/^authz\.deciders\.0/);
  });

  it('does not ask an ACL without rules beside a decider, with the same decisions as if it had', async () => {
    const emptyAcl = new StaticAclAuthorizer({ anonymous: { pull: [], deny: [] } }, []);
    let aclAsked = 0;
    const counted: Authorizer = { authorize: (r) => (aclAsked++, emptyAcl.authorize(r)), decidesNothing: emptyAcl.decidesNothing };
    const down: Authorizer = { authorize: async (r) => r.scopes.map((scope): ScopeDecision => ({ scope, granted: [], source: 'unavailable', matched: false, reason: 'webhook unavailable: down' })) };
    const request: AuthorizationRequest = { identity: { account: 'alice', provider: 'static', subject: 'alice', attributes: {} }, service: 'registry', clientIp: '127.0.0.1', scopes: [{ type: 'repository', name: 'alice/app', actions: ['pull'] }] };
    for (const links of [[counted, down], [down, counted]]) {
      const [decision] = await new DeciderChain(links).authorize(request);
      expect(decision).toMatchObject({ granted: [], source: 'unavailable', reason: 'webhook unavailable: down' }); // as with the ACL asked
    }
    expect(aclAsked).toBe(0);
    // Alone, it is asked: its refusal is the answer.
    expect(await new DeciderChain([counted]).authorize(request)).toMatchObject([{ granted: [], source: 'acl', reason: 'no rule matched' }]);
    expect(aclAsked).toBe(1);
    // With a rule or an anonymous pull list it decides, and is asked.
    expect(new StaticAclAuthorizer({ anonymous: { pull: ['public/*'], deny: [] } }, []).decidesNothing).toBe(false);
  });

  it('completes the listed webhook from WHARF_AUTHZ_WEBHOOK_URL, or adds one at the end', () => {
    const env = { WHARF_AUTHZ_WEBHOOK_URL: 'https://from-env.example/authz' };
    expect(parseConfig({ authz: { deciders: [{ type: 'webhook', url: 'https://old.example' }, { type: 'acl' }] } }, env).authz.deciders).toMatchObject([{ type: 'webhook', url: env.WHARF_AUTHZ_WEBHOOK_URL }, { type: 'acl' }]);
    expect(parseConfig({ authz: { deciders: [{ type: 'acl' }] } }, env).authz.deciders).toMatchObject([{ type: 'acl' }, { type: 'webhook', url: env.WHARF_AUTHZ_WEBHOOK_URL }]);
  });
});
