import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { startFakePlatform, type FakePlatform } from './fake-platform.js';

/** Path GitHub Actions publishes its keys at (discovery points there). */
export const JWKS_PATH = '/.well-known/jwks';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** One signing key of the issuer. */
export interface IssuerKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** How to sign one token; every field has a sensible default. */
export interface SignOptions {
  /** The key to sign with. Default: the current key. */
  key?: IssuerKey;
  /** Header `kid`; `null` leaves it out. Default: the key's kid. */
  kid?: string | null;
  /** Issued-at, unix seconds. Default: the issuer's clock. */
  iat?: number;
  /** Lifetime in seconds after `iat`. Default 300 (about what GitHub Actions gives). */
  lifetimeSeconds?: number;
  /** `iss` override (e.g. to claim another issuer). Default: the issuer URL. */
  iss?: string;
}

/**
 * A real OIDC issuer on 127.0.0.1 (a fake platform serving discovery and a JWKS) whose keys are
 * generated at start, and a signer of GitHub-Actions-shaped ID tokens. Requests are counted
 * (`platform.count(JWKS_PATH)`) and faults injected (`platform.setFault`) like any fake platform.
 */
export interface OidcIssuer {
  /** The issuer URL (`iss`), no trailing slash. */
  readonly url: string;
  readonly platform: FakePlatform;
  /** Keys currently published, current signing key last. */
  readonly keys: readonly IssuerKey[];
  /** The key new tokens are signed with. */
  readonly current: IssuerKey;
  /** Claims like GitHub Actions puts in an ID token for a push to main of acme/app, merged with `overrides` (`undefined` deletes). */
  githubActionsClaims(overrides?: Record<string, unknown>): JWTPayload;
  /** Signs `claims` (add `aud` yourself, or use githubActionsClaims). */
  sign(claims: JWTPayload, options?: SignOptions): Promise<string>;
  /** Generates a new key, publishes it and makes it current; `retireOld` drops the others from the JWKS. */
  rotate(options?: { retireOld?: boolean; alg?: 'RS256' | 'ES256' }): Promise<IssuerKey>;
  /** Adds a published key without making it current. */
  addKey(alg?: 'RS256' | 'ES256'): Promise<IssuerKey>;
  /** Overrides fields of the discovery document (e.g. a wrong `issuer`). */
  setDiscovery(overrides: Record<string, unknown>): void;
  close(): Promise<void>;
}

/** Makes a key pair with a random kid. Exported for forging tokens with keys the issuer never published. */
export async function makeIssuerKey(alg: 'RS256' | 'ES256' = 'RS256'): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Starts an issuer. `now` is the clock (ms) tokens are stamped with; tests pass their own. */
export async function startOidcIssuer(options: { now?: () => number; alg?: 'RS256' | 'ES256' } = {}): Promise<OidcIssuer> {
  const now = options.now ?? Date.now;
  const platform = await startFakePlatform();
  const url = platform.url;
  let keys: IssuerKey[] = [await makeIssuerKey(options.alg ?? 'RS256')];
  let discoveryOverrides: Record<string, unknown> = {};

  platform.setHandler(DISCOVERY_PATH, () => ({
    status: 200,
    body: {
      issuer: url,
      jwks_uri: `${url}${JWKS_PATH}`,
      subject_types_supported: ['public', 'pairwise'],
      response_types_supported: ['id_token'],
      claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_id', 'repository_owner', 'repository_owner_id', 'workflow', 'environment'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid'],
      ...discoveryOverrides,
    },
  }));
  platform.setHandler(JWKS_PATH, () => ({ status: 200, body: { keys: keys.map((k) => k.publicJwk) } }));

  const issuer: OidcIssuer = {
    url,
    platform,
    get keys() {
      return keys;
    },
    get current() {
      return keys.at(-1)!;
    },
    githubActionsClaims(overrides = {}) {
      const claims: Record<string, unknown> = {
        jti: randomUUID(),
        sub: 'repo:acme/app:ref:refs/heads/main',
        aud: 'wharf',
        ref: 'refs/heads/main',
        sha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
        repository: 'acme/app',
        repository_owner: 'acme',
        repository_owner_id: '1001',
        repository_id: '2002',
        repository_visibility: 'private',
        run_id: '123456789',
        run_number: '42',
        run_attempt: '1',
        actor: 'alice',
        actor_id: '3003',
        workflow: 'release',
        workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main',
        event_name: 'push',
        ref_type: 'branch',
        job_workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main',
        runner_environment: 'github-hosted',
        environment: 'production',
      };
      for (const [name, value] of Object.entries(overrides)) {
        if (value === undefined) delete claims[name];
        else claims[name] = value;
      }
      return claims as JWTPayload;
    },
    async sign(claims, signOptions = {}) {
      const key = signOptions.key ?? issuer.current;
      const iat = signOptions.iat ?? Math.floor(now() / 1000);
      const header: { alg: string; typ: string; kid?: string } = { alg: key.alg, typ: 'JWT' };
      const kid = signOptions.kid === undefined ? key.kid : signOptions.kid;
      if (kid !== null) header.kid = kid;
      return new SignJWT({ nbf: iat, ...claims })
        .setProtectedHeader(header)
        .setIssuer(signOptions.iss ?? url)
        .setIssuedAt(iat)
        .setExpirationTime(iat + (signOptions.lifetimeSeconds ?? 300))
        .sign(key.privateKey);
    },
    async rotate(rotateOptions = {}) {
      const key = await makeIssuerKey(rotateOptions.alg ?? 'RS256');
      keys = rotateOptions.retireOld ? [key] : [...keys, key];
      return key;
    },
    async addKey(alg = 'RS256') {
      const key = await makeIssuerKey(alg);
      keys = [key, ...keys];
      return key;
    },
    setDiscovery(overrides) {
      discoveryOverrides = overrides;
    },
    close: () => platform.close(),
  };
  return issuer;
}
