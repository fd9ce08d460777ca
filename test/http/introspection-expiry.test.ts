import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices, type Services } from '../../src/services.js';
import { startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';
import { shutDown } from '../support/shut-down.js';

// A platform token's `exp` (RFC 7662 introspection, and SAGE's token info) bounds what it buys:
// no registry token outlives it, whether minted, handed out again, or minted from a cached answer.

const SECRET = 'introspection-client-secret';
const START = Date.parse('2026-11-23T12:00:00Z');
let clock = START;
const nowSeconds = () => Math.floor(clock / 1000);
let platform: FakePlatform;
/** The platform's answers by token; a token missing here is inactive. */
const platformTokens = new Map<string, { username: string; exp?: number }>();
let services: Services;
let app: FastifyInstance;

beforeAll(async () => {
  platform = await startFakePlatform();
  platform.setHandler('/introspect', (req) => {
    const known = platformTokens.get(req.form?.get('token') ?? '');
    return { status: 200, body: known ? { active: true, ...known } : { active: false } };
  });
  const config = parseConfig(
    {
      authn: [{ type: 'introspection', url: `${platform.url}/introspect`, clientId: 'wharf', clientSecretEnv: 'SECRET', usernamePolicy: 'any', cacheSeconds: 60 }],
      authz: { acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }] } },
      // Pushes get longer tokens than the default 300 s: the platform token's exp caps them too.
      token: { actionLifetimeSeconds: { push: 3600 } },
    },
    {},
  );
  const logger = createLogger('silent');
  services = createServices(config, { store: tempStore(() => clock), logger, keys: (await testKeys()).store, hashKey: randomBytes(32), env: { SECRET }, now: () => clock });
  await services.start();
  app = await buildApp(services);
});
afterAll(() => shutDown(app, services, platform));
beforeEach(() => {
  clock += 3_600_000; // every test on its own hour: no answer, token or cache entry carries over
  platformTokens.clear();
});

const token = (platformToken: string, scope = 'repository:alice/app:push,pull') =>
  app.inject({
    method: 'GET',
    url: `/token?service=registry&scope=${encodeURIComponent(scope)}`,
    headers: { authorization: `Basic ${Buffer.from(`alice:${platformToken}`).toString('base64')}` },
  });
const claimsOf = (res: { json(): unknown }) => decodeJwt((res.json() as { token: string }).token);
const introspections = () => platform.count('/introspect');

describe('an introspected platform token that expires', () => {
  it('caps the registry token: exp is the platform token’s exp, and expires_in says so', async () => {
    const exp = nowSeconds() + 120;
    platformTokens.set('tok-short', { username: 'alice', exp });
    const res = await token('tok-short');
    expect(res.statusCode, res.body).toBe(200);
    expect(claimsOf(res).exp).toBe(exp);
    expect(res.json()).toMatchObject({ expires_in: 120 });
    // A platform token with longer to live gets the configured lifetime (push: 3600 s).
    platformTokens.set('tok-long', { username: 'alice', exp: nowSeconds() + 86_400 });
    expect(claimsOf(await token('tok-long')).exp).toBe(nowSeconds() + 3600);
  });

  it('never mints from the cached answer past exp: the platform is asked again, and its "no" is a 401', async () => {
    platformTokens.set('tok', { username: 'alice', exp: nowSeconds() + 30 });
    const before = introspections();
    expect((await token('tok')).statusCode).toBe(200);
    clock += 20_000;
    const later = await token('tok');
    expect(later.statusCode).toBe(200);
    expect(claimsOf(later).exp).toBeLessThanOrEqual(nowSeconds() + 10);
    expect(introspections() - before).toBe(1); // cached, within exp and cacheSeconds
    clock += 11_000; // past exp, well within cacheSeconds (60)
    platformTokens.delete('tok'); // the platform calls it expired now
    const after = await token('tok');
    expect(after.statusCode).toBe(401);
    expect(introspections() - before).toBe(2);
  });

  it('is never handed out again past exp, from the recent answers or the minter’s reuse', async () => {
    // The same request within a second is answered again with the same token; a token that ran
    // out in that second is not.
    const exp = nowSeconds() + 2;
    platformTokens.set('tok-ending', { username: 'alice', exp });
    clock = exp * 1000 - 1500;
    const first = await token('tok-ending');
    expect(first.statusCode).toBe(200);
    expect(claimsOf(first).exp).toBeLessThanOrEqual(exp);
    clock += 1000; // 0.5 s left of the platform token; the registry token is over
    const again = await token('tok-ending');
    expect(again.statusCode).toBe(401);
    // The minter hands a recent token to another request of the same account and access: never one
    // that outlives the platform token behind that request.
    platformTokens.set('tok-a', { username: 'alice', exp: nowSeconds() + 86_400 });
    const a = await token('tok-a', 'repository:alice/app:pull');
    clock += 5000;
    const shortExp = nowSeconds() + 100;
    platformTokens.set('tok-b', { username: 'alice', exp: shortExp });
    const b = await token('tok-b', 'repository:alice/app:pull');
    expect(b.statusCode).toBe(200);
    expect(claimsOf(b).exp).toBeLessThanOrEqual(shortExp);
    expect(claimsOf(b).exp).toBeGreaterThan(shortExp - 2);
    expect(claimsOf(b).jti).not.toBe(claimsOf(a).jti);
  });
});
