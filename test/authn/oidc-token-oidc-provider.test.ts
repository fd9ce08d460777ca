import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcTokenAuthenticator } from '../../src/authn/oidc-token/oidc-token-authenticator.js';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { captureLog } from '../support/log-capture.js';

/**
 * Against a real OpenID Connect implementation (panva's oidc-provider, in process on a real
 * port): discovery, its JWKS, and an ID token its own IdToken model signs with its own keystore.
 */
const ctx = { clientIp: '127.0.0.1', service: 'registry' };
let server: Server;
let provider: Provider;
let issuerUrl: string;
const requests: string[] = [];
const KID = 'op-signing-1';

/** The models used here; test/types/oidc-provider.d.ts (shared) declares only the server side. */
interface ProviderModels {
  Client: { find(id: string): Promise<unknown> };
  IdToken: new (claims: Record<string, unknown>, options: { client: unknown }) => { scope: string; issue(options: { use: 'idtoken' }): Promise<string> };
}

beforeAll(async () => {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = new Provider(issuerUrl, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' }] },
    clients: [{ client_id: 'wharf', client_secret: 'not-used-by-this-test-0123456789', redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub'], ci: ['repository', 'repository_owner', 'ref'] },
    features: { devInteractions: { enabled: false } },
    ttl: { IdToken: 300 },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    requests.push(new URL(req.url ?? '/', issuerUrl).pathname);
    callback(req, res);
  });
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

async function providerIdToken(claims: Record<string, unknown>): Promise<string> {
  const models = provider as unknown as ProviderModels;
  const client = await models.Client.find('wharf');
  if (!client) throw new Error('oidc-provider lost its client');
  const idToken = new models.IdToken({ sub: 'repo:acme/app:ref:refs/heads/main', ...claims }, { client });
  idToken.scope = 'openid ci';
  return idToken.issue({ use: 'idtoken' });
}

describe('OidcTokenAuthenticator against oidc-provider', () => {
  it('discovers the JWKS, verifies the provider’s ID token and maps it; a token signed with another key under its kid is denied', async () => {
    const log = captureLog('info');
    const config = oidcTokenAuthnSchema.parse({
      type: 'oidc-token',
      issuers: [{ issuer: issuerUrl, audiences: ['wharf'], algorithms: ['RS256'] }],
      rules: [{ issuer: issuerUrl, account: '${repository_owner}', claims: { repository: 'acme/app', ref: 'refs/heads/main' } }],
    });
    const auth = new OidcTokenAuthenticator(config, { logger: log.logger }); // real clock: the provider stamps with it

    const token = await providerIdToken({ repository: 'acme/app', repository_owner: 'acme', ref: 'refs/heads/main' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: KID });
    const result = await auth.login('ci', token, ctx);
    expect(result.kind === 'ok' && result.identity).toMatchObject({
      account: 'acme',
      provider: 'oidc-token',
      subject: 'repo:acme/app:ref:refs/heads/main',
      attributes: { issuer: issuerUrl, audience: 'wharf', claims: { repository: 'acme/app', ref: 'refs/heads/main', repository_owner: 'acme' } },
    });
    expect(requests.filter((p) => p === '/.well-known/openid-configuration')).toHaveLength(1);
    expect(requests.filter((p) => p === '/jwks')).toHaveLength(1); // oidc-provider's jwks_uri, found only through discovery

    const other = await generateKeyPair('RS256');
    const forged = await new SignJWT({ repository: 'acme/app', repository_owner: 'acme', ref: 'refs/heads/main' })
      .setProtectedHeader({ alg: 'RS256', kid: KID })
      .setIssuer(issuerUrl)
      .setAudience('wharf')
      .setSubject('repo:acme/app:ref:refs/heads/main')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(other.privateKey);
    expect(await auth.login('ci', forged, ctx)).toEqual({
      kind: 'denied',
      reason: `the ID token's signature does not verify with the issuer's key "${KID}": forged, tampered with, or signed by another key`,
    });
    const dev = await providerIdToken({ repository: 'acme/app', repository_owner: 'acme', ref: 'refs/heads/dev' });
    expect(await auth.login('ci', dev, ctx)).toEqual({ kind: 'denied', reason: 'no trust rule matches the token: rule 0: claim "ref" is "refs/heads/dev", not "refs/heads/main"' });
    expect(log.text()).not.toContain(token.split('.')[2]);
  });
});
