import type { Logger } from 'pino';
import { AuthenticatorChain } from './authn/authenticator-chain.js';
import { RefreshTokenAuthenticator } from './authn/refresh/refresh-authenticator.js';
import { RefreshTokenStore } from './authn/refresh/refresh-token-store.js';
import { createAuthenticator } from './authn/registry.js';
import type { Authorizer } from './authz/authorizer.js';
import { StaticAclAuthorizer } from './authz/static-acl/static-acl.js';
import type { Cache } from './cache/cache.js';
import { MemoryCache } from './cache/memory-cache.js';
import { RedisCache } from './cache/redis-cache.js';
import type { Config } from './config/schema.js';
import { TokenService } from './flows/token-service.js';
import type { KeyStore } from './tokens/keys.js';
import { TokenMinter } from './tokens/minter.js';

/** Everything `buildApp` needs, built from a validated config. */
export interface Services {
  config: Config;
  logger: Logger;
  cache: Cache;
  keys: KeyStore;
  authenticators: AuthenticatorChain;
  authorizer: Authorizer;
  refreshTokens: RefreshTokenStore;
  tokens: TokenService;
}

/** Inputs that do not come from the config file. */
export interface ServiceInputs {
  logger: Logger;
  keys: KeyStore;
  /** Secret for keyed hashes of credentials. */
  hashKey: Buffer;
  /** A cache to use instead of the configured one (tests). */
  cache?: Cache;
  now?: () => number;
}

/** Creates the cache backend the config names. */
export function createCache(config: Config['cache'], now?: () => number): Cache {
  return config.type === 'memory'
    ? new MemoryCache({ maxEntries: config.maxEntries, ...(now ? { now } : {}) })
    : new RedisCache({ url: config.url, keyPrefix: config.keyPrefix });
}

/** Wires the services; shared by `main` and the tests, so both run the same graph. */
export function createServices(config: Config, inputs: ServiceInputs): Services {
  const { logger, keys, hashKey } = inputs;
  const now = inputs.now ?? Date.now;
  const cache = inputs.cache ?? createCache(config.cache, now);
  const refreshTokens = new RefreshTokenStore({ cache, hashKey, maxAgeSeconds: config.refreshTokens.maxAgeSeconds, now });
  const backends = config.authn.map((c) => createAuthenticator(c, { cache, hashKey }));
  const authenticators: AuthenticatorChain = new AuthenticatorChain([
    new RefreshTokenAuthenticator(refreshTokens, (identity) => authenticators.stillValid(identity)),
    ...backends,
  ]);
  const authorizer = new StaticAclAuthorizer(config.authz.acl);
  const minter = new TokenMinter(keys, { issuer: config.token.issuer, includeX5c: config.token.x5c, now });
  const tokens = new TokenService(
    {
      service: config.token.service,
      lifetimeSeconds: config.token.lifetimeSeconds,
      actionLifetimeSeconds: config.token.actionLifetimeSeconds,
      refreshTokensEnabled: config.refreshTokens.enabled,
    },
    { authenticators, authorizer, refreshTokens, minter, logger: logger.child({ component: 'token' }) },
  );
  return { config, logger, cache, keys, authenticators, authorizer, refreshTokens, tokens };
}
