import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScopeDecision } from '../../src/authz/authorizer.js';
import { secretReader } from '../../src/config/secrets.js';
import { createRemoteAuthorizer } from '../../src/authz/registry.js';
import type { RemoteAuthorizer } from '../../src/authz/remote-authorizer.js';
import { webhookAuthzSchema } from '../../src/authz/webhook/webhook-config.js';
import { signWebhookRequest } from '../../src/authz/webhook/webhook-signature.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';
import { freePort } from '../support/ports.js';
import { startProcess, waitForHttp, type ManagedProcess } from '../support/processes.js';

/* Starts examples/reference-platform/server.mjs with node and drives the real webhook authorizer against it. */

const SERVER = fileURLToPath(new URL('../../examples/reference-platform/server.mjs', import.meta.url));
const SECRET = randomBytes(32).toString('hex');
const CLIENT_ID = 'wharf';
const CLIENT_SECRET = randomBytes(16).toString('hex');
const YEAR_AHEAD = Math.floor(Date.now() / 1000) + 365 * 86400;

let server: ManagedProcess;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = await startProcess(process.execPath, [SERVER], {
    name: 'reference-platform',
    env: {
      PATH: process.env['PATH'],
      PORT: String(port),
      HOST: '127.0.0.1',
      WHARF_AUTHZ_WEBHOOK_SECRET: SECRET,
      INTROSPECTION_CLIENT_ID: CLIENT_ID,
      INTROSPECTION_CLIENT_SECRET: CLIENT_SECRET,
      DEMO_TOKENS: JSON.stringify({
        'tok-carol': { active: true, username: 'carol', scope: 'registry', exp: YEAR_AHEAD },
        'tok-old': { active: true, username: 'carol', scope: 'registry', exp: 1_000_000 },
        'tok-revoked': { active: false, username: 'carol', scope: 'registry', exp: YEAR_AHEAD },
      }),
    },
  });
  await waitForHttp(`${base}/healthz`, { process: server, accept: (s) => s === 200 });
});

afterAll(async () => {
  await server?.stop();
});

function authorizer(secret = SECRET) {
  const config = webhookAuthzSchema.parse({ type: 'webhook', url: `${base}/authz`, retries: 0 });
  return createRemoteAuthorizer(config, { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32), logger: pino({ level: 'silent' }), readSecret: secretReader({ WHARF_AUTHZ_WEBHOOK_SECRET: secret }), generation: async () => '0' });
}

const user = (account: string, groups: string[] = []): Identity => ({ account, provider: 'introspection', subject: account, attributes: { groups } });

async function grants(a: RemoteAuthorizer, identity: Identity | undefined, ...scopes: string[]): Promise<ScopeDecision[]> {
  return a.authorize({ identity, service: 'registry', clientIp: '127.0.0.1', scopes: scopes.map(parseScope) });
}

describe('reference platform: the webhook', () => {
  it('accepts Wharf signature and decides as its policy says', async () => {
    const a = authorizer();
    const alice = await grants(a, user('alice'), 'repository:alice/app:pull,push,delete', 'repository:bob/app:pull', 'repository:public/base:pull,push', 'registry:catalog:*');
    expect(alice.map((d) => [d.source, d.granted, d.reason])).toEqual([
      ['webhook', ['pull', 'push'], 'own namespace'],
      ['webhook', [], 'no rule allows it'],
      ['webhook', ['pull'], 'public repository'],
      ['webhook', [], 'only admins may use registry-wide resources'],
    ]);

    const admin = await grants(a, user('root', ['ops', 'admins']), 'repository:bob/app:pull,delete', 'registry:catalog:*');
    expect(admin.map((d) => d.granted)).toEqual([['pull', 'delete'], ['*']]);

    const anonymous = await grants(a, undefined, 'repository:public/base:pull', 'repository:alice/app:pull');
    expect(anonymous.map((d) => d.granted)).toEqual([['pull'], []]);
  });

  it('refuses a wrong secret with 401, which Wharf reports as unavailable, granting nothing', async () => {
    const decisions = await grants(authorizer(`${SECRET}-wrong`), user('alice'), 'repository:alice/app:pull');
    expect(decisions[0]).toMatchObject({ granted: [], source: 'unavailable', matched: false });
    expect(decisions[0]!.reason).toContain("refused Wharf's credentials (401)");
  });

  it('refuses a stale timestamp, a tampered body, a missing signature and a wrong bearer, and accepts the untouched request', async () => {
    const body = JSON.stringify({ version: 1, account: 'alice', identity: null, service: 'registry', client_ip: '::1', scopes: [{ type: 'repository', class: null, name: 'alice/app', actions: ['pull'] }] });
    const send = (timestamp: number, signedBody: string, sentBody: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/authz`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}`, 'x-wharf-timestamp': String(timestamp), 'x-wharf-signature': signWebhookRequest(SECRET, timestamp, signedBody), ...headers },
        body: sentBody,
      });
    const now = Math.floor(Date.now() / 1000);
    const ok = await send(now, body, body);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ttl: 60, decisions: [{ name: 'alice/app', allowed: ['pull', 'push'] }] });
    expect((await send(now - 600, body, body)).status).toBe(401);
    expect((await send(now + 600, body, body)).status).toBe(401);
    expect((await send(now, body, body.replace('alice/app', 'bob/app'))).status).toBe(401);
    expect((await send(now, body, body, { 'x-wharf-signature': '' })).status).toBe(401);
    expect((await send(now, body, body, { authorization: 'Bearer not-the-secret' })).status).toBe(401);
  });
});

describe('reference platform: introspection', () => {
  const introspect = (token: string, clientSecret = CLIENT_SECRET) =>
    fetch(`${base}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token }).toString(),
    });

  it('answers RFC 7662 for active, expired, revoked and unknown tokens', async () => {
    const active = await introspect('tok-carol');
    expect(active.status).toBe(200);
    expect(await active.json()).toEqual({ active: true, username: 'carol', scope: 'registry', exp: YEAR_AHEAD, client_id: CLIENT_ID, token_type: 'Bearer' });
    for (const token of ['tok-old', 'tok-revoked', 'nope', '__proto__']) {
      const inactive = await introspect(token);
      expect(inactive.status, token).toBe(200);
      expect(await inactive.json(), token).toEqual({ active: false });
    }
  });

  it('refuses a wrong client secret with 401 and a Basic challenge', async () => {
    const refused = await introspect('tok-carol', 'wrong');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await refused.json()).toEqual({ error: 'invalid_client' });
  });
});
