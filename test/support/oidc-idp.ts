import { generateKeyPairSync } from 'node:crypto';
import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './ports.js';

/** A person known to the test IdP: their login name is the account id. */
export interface IdpUser {
  email: string;
  email_verified?: boolean;
  hd?: string;
  preferred_username?: string;
  groups?: string[];
}

/** A real OpenID Connect provider (the `oidc-provider` package) in-process, standing in for Google or any issuer. */
export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

/**
 * Starts oidc-provider on a free loopback port with one confidential client. Its built-in
 * development interactions show a login form (any login, any password) and a consent form, which
 * the browser tests fill in like a person would.
 */
export async function startTestIdp(options: { redirectUris: string[]; users: Record<string, IdpUser> }): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'wharf-test';
  const clientSecret = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64url').slice(0, 40);
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: options.redirectUris, grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' }],
    jwks: { keys: [{ ...signing, alg: 'ES256', use: 'sig', kid: 'test-key' }] },
    // Claims go into the ID token itself, as Google's do.
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], email: ['email', 'email_verified', 'hd'], profile: ['preferred_username', 'groups'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: [clientSecret] },
    async findAccount(_ctx, id) {
      const user = options.users[id];
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...user }) };
    },
  });
  const server: Server = provider.listen(port, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    issuer,
    clientId,
    clientSecret,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
