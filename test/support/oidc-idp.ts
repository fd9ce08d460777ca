import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
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
  /** A different `sub` in UserInfo answers than in ID tokens (a misbehaving or compromised provider). */
  userinfoSub?: string;
}

/** A client registered at the test IdP; it accepts only its `method` at the token endpoint. */
export interface IdpClient {
  clientId: string;
  method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** The secret (secret methods). */
  clientSecret?: string;
  /** The public key (private_key_jwt). */
  publicJwk?: JsonWebKey;
}

/** A real OpenID Connect provider (the `oidc-provider` package) in-process, standing in for Google or any issuer. */
export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

/** A random client secret holding `+`, `/` and `=`: in HTTP Basic they must be form-encoded (RFC 6749 §2.3.1). */
export function awkwardSecret(): string {
  return `${generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64').slice(-40, -4)}+/=`;
}

/**
 * Starts oidc-provider on a free loopback port with one confidential client (`client_secret_basic`,
 * the OIDC default) plus any `clients` given. Its built-in development interactions show a login
 * form (any login, any password) and a consent form, which the browser tests fill in like a
 * person would. Claims follow oidc-provider's defaults (`conformIdTokenClaims`): scope claims such
 * as `preferred_username`, `email` and `groups` are only in UserInfo, not in the ID token, as with
 * Okta and other providers that follow OIDC Core §5.4.
 */
export async function startTestIdp(options: { redirectUris: string[]; users: Record<string, IdpUser>; clients?: IdpClient[] }): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'wharf-test';
  const clientSecret = awkwardSecret();
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const common = { redirect_uris: options.redirectUris, grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' };
  const extra = (options.clients ?? []).map((c) => ({
    ...common,
    client_id: c.clientId,
    token_endpoint_auth_method: c.method,
    ...(c.clientSecret ? { client_secret: c.clientSecret } : {}),
    ...(c.publicJwk ? { jwks: { keys: [c.publicJwk] } } : {}),
  }));
  const provider = new Provider(issuer, {
    clients: [{ ...common, client_id: clientId, client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' }, ...extra],
    jwks: { keys: [{ ...signing, alg: 'ES256', use: 'sig', kid: 'test-key' }] },
    claims: { openid: ['sub'], email: ['email', 'email_verified', 'hd'], profile: ['preferred_username', 'groups'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: [clientSecret] },
    async findAccount(_ctx, id) {
      const user = options.users[id];
      if (!user) return undefined;
      const { userinfoSub: _, ...claims } = user;
      return { accountId: id, claims: async () => ({ ...claims, sub: id }) };
    },
  });
  const registered = new Map<string, string>([[clientId, 'client_secret_basic'], ...(options.clients ?? []).map((c) => [c.clientId, c.method] as [string, string])]);
  const userinfoSubs = new Map(Object.entries(options.users).flatMap(([id, u]) => (u.userinfoSub ? [[id, u.userinfoSub] as [string, string]] : [])));
  // oidc-provider treats client_secret_basic and client_secret_post as one family and always
  // answers UserInfo with the account's own sub. Providers that accept only the registered method
  // (and a provider that answers with someone else's sub) are modelled by rewriting its answers.
  provider.use(async (ctx: { path: string; method: string; status: number; body: unknown; oidc?: { params?: Record<string, unknown>; client?: { clientId: string } }; headers: Record<string, string | undefined> }, next: () => Promise<void>) => {
    await next();
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200) {
      const params = ctx.oidc?.params ?? {};
      const used = params.client_assertion ? 'private_key_jwt' : params.client_secret ? 'client_secret_post' : ctx.headers.authorization ? 'client_secret_basic' : 'none';
      const expected = registered.get(ctx.oidc?.client?.clientId ?? '');
      if (used !== expected) {
        ctx.status = 401;
        ctx.body = { error: 'invalid_client', error_description: `client authentication ${used} is not the registered ${String(expected)}` };
      }
    }
    if (ctx.path === '/me' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as Record<string, unknown>;
      const other = userinfoSubs.get(String(body.sub));
      if (other) body.sub = other;
    }
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
