import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createServices } from '../../src/services.js';
import { startFakePlatform, type FakePlatform } from '../support/fake-platform.js';
import { testKeys } from '../support/keys.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';
import { shutDown } from '../support/shut-down.js';

// A name crafted at one IdP must not claim the ASCII account of someone from another: `\u212Aevin`
// (KELVIN SIGN) lower-cases to `kevin`, and the first sign-in method to use a name owns it.

const SECRET = 'introspection-client-secret';
let issuer: OidcIssuer;
let platform: FakePlatform;
/** Introspection answers by token: the platform where the real kevin lives. */
const platformUsers = new Map<string, string>();

beforeAll(async () => {
  issuer = await startOidcIssuer();
  platform = await startFakePlatform();
  platform.setHandler('/introspect', (req) => {
    const username = platformUsers.get(req.form?.get('token') ?? '');
    return { status: 200, body: username ? { active: true, username, sub: `u-${username}` } : { active: false } };
  });
});
afterAll(() => shutDown(issuer, platform));

async function wharf() {
  const { logger, lines } = captureLog('info');
  const config = parseConfig(
    {
      authn: [
        // CI tokens of any repository owner act as that owner, as the docs' owner-namespace pattern does.
        { type: 'oidc-token', issuers: [{ issuer: issuer.url, audiences: ['wharf'] }], rules: [{ issuer: issuer.url, account: '${repository_owner}' }] },
        { type: 'introspection', url: `${platform.url}/introspect`, clientId: 'wharf', clientSecretEnv: 'SECRET', usernamePolicy: 'any', tokenPattern: '^tok-' },
      ],
      authz: { acl: { rules: [{ account: '*', name: '${account}/*', actions: ['push', 'pull'] }] } },
    },
    {},
  );
  const services = createServices(config, { store: tempStore(), logger, keys: (await testKeys()).store, hashKey: randomBytes(32), env: { SECRET } });
  await services.start();
  const app = await buildApp(services);
  const token = (user: string, secret: string) =>
    app.inject({
      method: 'GET',
      url: `/token?service=registry&scope=${encodeURIComponent('repository:kevin/app:push,pull')}`,
      headers: { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` },
    });
  return { services, token, lines, close: async () => (await app.close(), await services.close()) };
}

describe('a non-ASCII account name', () => {
  it('from an oidc-token template is refused before it is lower-cased, so it cannot take kevin from the platform user kevin', async () => {
    const w = await wharf();
    try {
      const crafted = await issuer.sign(issuer.githubActionsClaims({ repository_owner: '\u212Aevin', repository: '\u212Aevin/app' }));
      const refused = await w.token('ci', crafted);
      expect(refused.statusCode).toBe(401);
      expect(w.lines.filter((l) => l.event === 'token_denied').map((l) => l.reason)).toEqual([
        'rule 0 matched but claim "repository_owner" used in the account template "\\u212Aevin" holds U+212A: account names must be ASCII',
      ]);
      expect(await w.services.bindings.get('kevin')).toBeUndefined();
      // So the platform's kevin still gets his own name.
      platformUsers.set('tok-kevin', 'kevin');
      const kevin = await w.token('kevin', 'tok-kevin');
      expect(kevin.statusCode, kevin.body).toBe(200);
      expect(decodeJwt(kevin.json().token)).toMatchObject({ sub: 'kevin', access: [{ type: 'repository', name: 'kevin/app', actions: ['push', 'pull'] }] });
    } finally {
      await w.close();
    }
  });

  it('from a CI token of an ASCII owner is lower-cased as before', async () => {
    const w = await wharf();
    try {
      const res = await w.token('ci', await issuer.sign(issuer.githubActionsClaims({ repository_owner: 'Kevin', repository: 'Kevin/app' })));
      expect(res.statusCode, res.body).toBe(200);
      expect(decodeJwt(res.json().token).sub).toBe('kevin');
    } finally {
      await w.close();
    }
  });

  it('from an introspection platform is refused with a message naming the character', async () => {
    const w = await wharf();
    try {
      platformUsers.set('tok-fullwidth', '\uFF4Bevin');
      const res = await w.token('x', 'tok-fullwidth');
      expect(res.statusCode).toBe(401);
      const message = 'the introspection account name "\\uFF4Bevin" holds U+FF4B: account names must be ASCII; ask an administrator';
      expect(res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message }], error: 'unauthorized', error_description: message });
    } finally {
      await w.close();
    }
  });
});
