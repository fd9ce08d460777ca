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
  /** Whether the client may use refresh tokens (grant type `refresh_token`). Default true. */
  refreshTokens?: boolean;
}

/** A real OpenID Connect provider (the `oidc-provider` package) in-process, standing in for Google or any issuer. */
export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Refresh token grants answered so far (rotation makes each answer carry a new one). */
  refreshes(): number;
  /** While down, every request is answered 503 (an outage of the provider). */
  setDown(down: boolean): void;
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
export async function startTestIdp(options: {
  redirectUris: string[];
  /** Read at every request: deleting a user or changing their claims takes effect at once. */
  users: Record<string, IdpUser>;
  clients?: IdpClient[];
  /** Give a new refresh token at every refresh and refuse the spent one (revoking the whole grant when it comes back). Default false. */
  rotateRefreshTokens?: boolean;
}): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'wharf-test';
  const clientSecret = awkwardSecret();
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const common = { redirect_uris: options.redirectUris, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], id_token_signed_response_alg: 'ES256' };
  const extra = (options.clients ?? []).map((c) => ({
    ...common,
    ...(c.refreshTokens === false ? { grant_types: ['authorization_code'] } : {}),
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
    ...(options.rotateRefreshTokens ? { rotateRefreshToken: true } : {}),
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
  let down = false;
  let refreshes = 0;
  provider.use(async (ctx: { status: number; body: unknown; method: string; path: string; oidc?: { params?: Record<string, unknown> } }, next: () => Promise<void>) => {
    if (down) {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable' };
      return;
    }
    await next();
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && ctx.oidc?.params?.grant_type === 'refresh_token') refreshes += 1;
  });
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
    refreshes: () => refreshes,
    setDown: (value) => void (down = value),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Signs `login` in at the test IdP the way a browser would, without one: follows its redirects
 * with the cookies it sets, fills in its development login form (any password) and consents.
 * Returns the URL it finally sends the browser to (the client's redirect URI with the code).
 */
export async function signInAtIdp(authorizeUrl: string, login: string): Promise<URL> {
  const jar = new Map<string, string>();
  const send = async (url: string, init: { method?: string; body?: URLSearchParams } = {}) => {
    const headers: Record<string, string> = { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') };
    if (init.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0]!;
      const at = pair.indexOf('=');
      const [name, value] = [pair.slice(0, at), pair.slice(at + 1)];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  const issuer = new URL(authorizeUrl).origin;
  let url = authorizeUrl;
  for (let step = 0; step < 12; step++) {
    const response = await send(url);
    const location = response.headers.get('location');
    if (location) {
      const next = new URL(location, url);
      if (next.origin !== issuer) return next;
      url = next.href;
      continue;
    }
    const page = await response.text();
    const action = /<form[^>]* action="([^"]+)"/.exec(page)?.[1];
    if (!action) throw new Error(`the IdP answered ${response.status} without a form or a redirect: ${page.slice(0, 200)}`);
    const fields: Record<string, string> = page.includes('name="login"') ? { prompt: 'login', login, password: 'any-password' } : { prompt: 'consent' };
    const posted = await send(new URL(action, url).href, { method: 'POST', body: new URLSearchParams(fields) });
    url = new URL(posted.headers.get('location') ?? url, url).href;
  }
  throw new Error('the sign-in at the IdP did not finish within 12 steps');
}
