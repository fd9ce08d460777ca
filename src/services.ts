import type { Logger } from 'pino';
import type { CallbackAuthenticator } from './authn/authenticator.js';
import { AuthenticatorChain } from './authn/authenticator-chain.js';
import { LoginLimiter } from './authn/login-limiter.js';
import { VerificationSlots } from './authn/verification-slots.js';
import { CredentialAuthenticator, type CredentialRevalidation } from './authn/credential/credential-authenticator.js';
import { SealedBox } from './crypto/sealed-box.js';
import { CredentialStore } from './authn/credential/credential-store.js';
import { createLoginProvider } from './authn/login-registry.js';
import { keyedHash } from './crypto/keyed-hash.js';
import { BrowserSessions } from './flows/browser-sessions.js';
import { DeviceFlow } from './flows/device-flow.js';
import { RefreshTokenAuthenticator } from './authn/refresh/refresh-authenticator.js';
import { RefreshTokenStore } from './authn/refresh/refresh-token-store.js';
import { createAuthenticator } from './authn/registry.js';
import type { Authorizer } from './authz/authorizer.js';
import { CombinedAuthorizer } from './authz/combined-authorizer.js';
import { createRemoteAuthorizer } from './authz/registry.js';
import { StaticAclAuthorizer } from './authz/static-acl/static-acl.js';
import { DEFAULT_ACL_RULES } from './authz/static-acl/static-acl-config.js';
import type { Cache } from './cache/cache.js';
import { FallbackCache } from './cache/fallback-cache.js';
import { TwoTierCache } from './cache/two-tier-cache.js';
import { AccountGenerations } from './invalidation/account-generations.js';
import { Coherence } from './cache/coherence.js';
import { InstrumentedCache } from './cache/instrumented-cache.js';
import { connectRedis } from './cache/redis-connection.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { CircuitState } from './upstream/circuit-breaker.js';
import { MemoryCache } from './cache/memory-cache.js';
import { subscribeInvalidations, type InvalidationChannel } from './invalidation/redis-channel.js';
import { readSecret } from './config/secrets.js';
import { Invalidator } from './invalidation/invalidator.js';
import { IntrospectionAuthenticator } from './authn/introspection/introspection-authenticator.js';
import { RedisCache } from './cache/redis-cache.js';
import type { Config } from './config/schema.js';
import { TokenService } from './tokens/token-service.js';
import { RecentAnswers } from './tokens/recent-answers.js';
import type { Readiness } from './domain/readiness.js';
import type { KeyRotation } from './keys/key-files.js';
import type { KeyStore } from './keys/keys.js';
import { TokenMinter } from './tokens/minter.js';
import { createStore } from './store/create-store.js';
import { StartLimiter } from './flows/start-limiter.js';
import type { Store } from './store/store.js';
import { AccountBindings } from './accounts/account-bindings.js';
import { AccountGate } from './accounts/account-gate.js';

/** How often expired records are removed from a store that does not expire them itself. */
const STORE_SWEEP_MS = 10 * 60_000;

/** Everything `buildApp` needs, built from a validated config. */
export interface Services {
  config: Config;
  logger: Logger;
  cache: Cache;
  /** Records that must not be lost (never evicted, kept across restarts). */
  store: Store;
  /** Which identity source owns each account name (kept in `store`). */
  bindings: AccountBindings;
  keys: KeyStore;
  authenticators: AuthenticatorChain;
  authorizer: Authorizer;
  refreshTokens: RefreshTokenStore;
  /** The token endpoint's service, behind the reuse of recent answers. */
  tokens: RecentAnswers;
  /** How long in-process copies of shared state are trusted; drops them on invalidations. */
  coherence: Coherence;
  metrics: Metrics;
  /** Registry credentials from browser and device logins. */
  credentials: CredentialStore;
  /** Configured browser-login providers (none: no login pages). */
  loginProviders: CallbackAuthenticator[];
  sessions: BrowserSessions;
  deviceFlow: DeviceFlow;
  /** Seals a login provider's access token for credentials to be re-checked later; undefined when off. */
  sealUpstream(provider: string, token: string | undefined): { provider: string; sealed: string } | undefined;
  /** Key that signs cookies, derived from the hash key. */
  cookieSecret: string;
  invalidator: Invalidator;
  /** The admin bearer secret, when admin endpoints are enabled. */
  adminSecret: string | undefined;
  /** Readiness: keys, cache, upstream circuits, sign-in providers. */
  readiness(): Promise<Readiness>;
  /** Starts background work (the Redis invalidation channel). */
  start(): Promise<void>;
  /** Stops background work and closes the cache. */
  close(): Promise<void>;
}

/** Inputs that do not come from the config file. */
export interface ServiceInputs {
  logger: Logger;
  keys: KeyStore;
  /** Secret for keyed hashes of credentials. */
  hashKey: Buffer;
  /** A cache to use instead of the configured one (tests). */
  cache?: Cache;
  /** A store to use instead of the configured one (tests). */
  store?: Store;
  /** Metrics to record into (default: a new registry with Node's process metrics). */
  metrics?: Metrics;
  /** Key rotation machinery (rotating leaves); rescanned and rotated while running. */
  keyRotation?: KeyRotation | undefined;
  /** Environment, for secrets named by `...Env` settings. Default: none. */
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => number;
}

/** Trusts in-process copies for a second, or, with Redis and its invalidation channel, up to `maxStalenessSeconds`. */
export function createCoherence(config: Config['cache']): Coherence {
  return new Coherence({ maxStalenessMs: config.type === 'redis' ? config.local.maxStalenessSeconds * 1000 : 1000 });
}

/** Creates the cache backend the config names; Redis falls back to an in-process cache while down. */
export function createCache(config: Config['cache'], logger: Logger, coherence: Coherence, metrics?: Metrics, now?: () => number): Cache {
  if (config.type === 'memory') return new MemoryCache({ maxEntries: config.maxEntries, ...(now ? { now } : {}) });
  const shared = new FallbackCache(
    new RedisCache({ url: config.url, keyPrefix: config.keyPrefix }),
    // Used only while Redis is unreachable; lru-cache allocates its index for `max` up front.
    new MemoryCache({ maxEntries: 20_000, maxBytes: 16 * 1024 * 1024, ...(now ? { now } : {}) }),
    logger.child({ component: 'cache' }),
  );
  // The facts every token request reads (written once per key, invalidated by deletion) stay in process.
  return new TwoTierCache(shared, {
    prefixes: ['intro:', 'authz:', 'static:', 'ldap:', 'command:', 'ptok:'],
    maxBytes: config.local.maxMegabytes * 1024 * 1024,
    coherence,
    ...(metrics ? { onLookup: firstTierCounter(metrics) } : {}),
    ...(now ? { now } : {}),
  });
}

/** Counts first-tier lookups through children bound once: a labelled inc() per lookup hashes its labels. */
function firstTierCounter(metrics: Metrics): (result: 'local' | 'shared') => void {
  const local = metrics.firstTier.labels({ result: 'local' });
  const shared = metrics.firstTier.labels({ result: 'shared' });
  return (result) => (result === 'local' ? local : shared).inc();
}

/** Most pending browser logins held in process (about 300 bytes each). */
const PENDING_LOGINS_IN_PROCESS = 10_000;

/**
 * Where pending browser logins live. In process: an LRU of their own, so a flood of unauthenticated
 * `/login/:name` requests evicts only other pending logins, never a cached decision (durable records
 * are in the store). With Redis: the shared cache (any replica may serve the callback), each entry
 * gone after 600 s and bounded by the per-address start limit.
 */
function createPendingLoginSpace(config: Config['cache'], cache: Cache, now: () => number): Cache {
  return config.type === 'redis' ? cache : new MemoryCache({ maxEntries: PENDING_LOGINS_IN_PROCESS, now });
}

/** Wires the services; shared by `main` and the tests, so both run the same graph. */
export function createServices(config: Config, inputs: ServiceInputs): Services {
  const { logger, keys, hashKey } = inputs;
  const now = inputs.now ?? Date.now;
  const metrics = inputs.metrics ?? createMetrics();
  const coherence = createCoherence(config.cache);
  const backing = inputs.cache ?? createCache(config.cache, logger, coherence, metrics, now);
  const cache = new InstrumentedCache(backing, metrics.cacheLookups);
  const store = inputs.store ?? createStore(config, now);
  const upstreamObserver = metrics.observeUpstream;
  const refreshTokens = new RefreshTokenStore({ store, hashKey, maxAgeSeconds: config.refreshTokens.maxAgeSeconds, now });
  const backends = config.authn.map((c, i) => createAuthenticator(c, { cache, hashKey, logger, env: inputs.env ?? {}, now, upstreamObserver, lastInChain: i === config.authn.length - 1 }));
  const federation = config.federation;
  const credentials = new CredentialStore({ store, hashKey, maxLifetimeSeconds: federation.credentials.maxDays * 86_400, now });
  const loginProviders = federation.providers.map((p) => createLoginProvider(p, inputs.env ?? {}));
  const box = new SealedBox(hashKey);
  const revalidation: CredentialRevalidation | undefined =
    federation.revalidateMinutes > 0
      ? {
          everyMs: federation.revalidateMinutes * 60_000,
          now,
          async check(provider, sealed) {
            const login = loginProviders.find((p) => p.name === provider);
            const token = box.open(sealed);
            if (!login?.revalidate || token === undefined) return 'invalid';
            const verdict = await login.revalidate(token);
            logger.info({ event: 'credential_revalidated', provider, verdict }, 'upstream identity re-checked');
            return verdict;
          },
        }
      : undefined;
  /** Seals a provider's access token for later re-checks, when that is configured and possible. */
  const sealUpstream = (provider: string, token: string | undefined) =>
    revalidation && token && loginProviders.find((p) => p.name === provider)?.revalidate ? { provider, sealed: box.seal(token) } : undefined;
  const bindings = new AccountBindings(store, { now, coherence });
  const reserved = [...backends, ...loginProviders].flatMap((b) => b.accountPrefix ?? []);
  const gate = new AccountGate(bindings, { reserved, logger: logger.child({ component: 'accounts' }) });
  const authenticators: AuthenticatorChain = new AuthenticatorChain(
    [new RefreshTokenAuthenticator(refreshTokens, () => authenticators), new CredentialAuthenticator(credentials, revalidation), ...backends],
    gate,
    { onLogin: (backend) => metrics.credentialVerifications.inc({ backend }) },
  );
  const startLimiter = (what: string, perAddress: number, total?: number) => new StartLimiter({ cache, hashKey, what, perAddress, total, windowSeconds: 600, now });
  const sessions = new BrowserSessions({
    store,
    pending: createPendingLoginSpace(config.cache, cache, now),
    limiter: startLimiter('browser logins', federation.loginStartsPerIp),
    hashKey,
    sessionSeconds: federation.sessionHours * 3600,
    now,
  });
  const { maxStartsPerIp, maxStartsTotal, ...device } = federation.device;
  const deviceFlow = new DeviceFlow({ store, hashKey, ...device, limiter: startLimiter('device logins', maxStartsPerIp, maxStartsTotal), now });
  const generations = new AccountGenerations(store, hashKey, coherence, { now });
  const acl = new StaticAclAuthorizer(config.authz.acl, config.authz.webhook ? [] : DEFAULT_ACL_RULES);
  const remote = config.authz.webhook
    ? createRemoteAuthorizer(config.authz.webhook, { cache, hashKey, logger, env: inputs.env ?? {}, generation: (a) => generations.current(a), now, upstreamObserver })
    : undefined;
  const authorizer: Authorizer = !remote
    ? acl
    : config.authz.order === 'acl-first'
      ? new CombinedAuthorizer(acl, remote)
      : new CombinedAuthorizer(remote, acl);
  const limiterRedis =
    config.bruteForce.enabled && config.cache.type === 'redis'
      ? connectRedis(config.cache.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500 }).on('error', () => {})
      : undefined;
  const limiter = config.bruteForce.enabled
    ? new LoginLimiter({
        perIp: config.bruteForce.perIp,
        perAccount: config.bruteForce.perAccount,
        hashKey,
        redis: limiterRedis,
        keyPrefix: config.cache.type === 'redis' ? config.cache.keyPrefix : 'wharf:',
        onLimited: (limit) => metrics.rateLimited.inc({ limit }),
        now,
      })
    : undefined;
  const slots = config.bruteForce.enabled
    ? new VerificationSlots({ perAddress: config.bruteForce.maxConcurrentPerAddress, total: config.bruteForce.maxConcurrentVerifications })
    : undefined;
  const minter = new TokenMinter(keys, { issuer: config.token.issuer, includeX5c: config.token.x5c, reuseCacheBytes: config.token.reuseCacheMegabytes * 1024 * 1024, now });
  const decider = new TokenService(
    {
      service: config.token.service,
      lifetimeSeconds: config.token.lifetimeSeconds,
      actionLifetimeSeconds: config.token.actionLifetimeSeconds,
      refreshTokensEnabled: config.refreshTokens.enabled,
    },
    { authenticators, authorizer, refreshTokens, minter, logger: logger.child({ component: 'token' }), limiter, slots, now },
  );
  const tokens = new RecentAnswers(decider, { hashKey, logger: logger.child({ component: 'token' }), now });
  coherence.attach(tokens);
  const introspectors = backends.filter((b): b is IntrospectionAuthenticator => b instanceof IntrospectionAuthenticator);
  const invalidator = new Invalidator({
    cache,
    generations,
    coherence,
    tokenCacheKeys: (token) => introspectors.map((b) => b.cacheKey(token)),
    logger: logger.child({ component: 'invalidation' }),
  });
  credentials.whenRevoked(() => void invalidator.revoked());
  refreshTokens.whenRevoked(() => void invalidator.revoked());
  let adminSecret: string | undefined;
  try {
    adminSecret = readSecret('admin secret', { file: config.admin.secretFile, env: config.admin.secretEnv }, inputs.env ?? {});
  } catch (err) {
    if (config.admin.secretFile) throw err;
  }
  metrics.setCircuitSource(() => {
    const states: Record<string, CircuitState> = {};
    introspectors.forEach((b, i) => (states[introspectors.length > 1 ? `introspection.${i}` : 'introspection'] = b.circuitState()));
    if (remote) states[`authz-${config.authz.webhook!.type}`] = remote.circuitState();
    return states;
  });
  let channel: InvalidationChannel | undefined;
  let rescan: NodeJS.Timeout | undefined;
  let sweep: NodeJS.Timeout | undefined;
  let storeSweep: NodeJS.Timeout | undefined;
  const rotation = inputs.keyRotation;
  const keyLog = logger.child({ component: 'keys' });
  const rescanKeys = async () => {
    try {
      const before = keys.current().kid;
      await rotation!.store.refresh();
      const made = rotation!.automatic && rotation!.rotator ? await rotation!.rotator.rotateIfDue() : undefined;
      if (made) keyLog.info({ event: 'key_rotated', leaf: made }, 'new signing leaf published; it signs once its lead time has passed');
      const after = keys.current().kid;
      if (after !== before) keyLog.info({ event: 'signing_key_activated', kid: after }, 'signing with a new leaf');
    } catch (err) {
      keyLog.error({ event: 'key_rescan_failed', err: err instanceof Error ? err.message : String(err) }, 'could not re-read signing keys; keeping the current ones');
    }
  };
  return {
    config,
    logger,
    cache,
    store,
    bindings,
    keys,
    authenticators,
    authorizer,
    refreshTokens,
    tokens,
    coherence,
    metrics,
    credentials,
    loginProviders,
    sessions,
    deviceFlow,
    sealUpstream,
    cookieSecret: keyedHash(hashKey, 'cookie-signing'),
    invalidator,
    adminSecret,
    async readiness() {
      const storeHealth = await store.health();
      const checks: Record<string, string> = {
        keys: 'ok',
        cache: (await cache.healthy()) ? 'ok' : 'unreachable (using in-process fallback)',
        store: !storeHealth.ok ? 'unreachable' : storeHealth.warnings.length ? storeHealth.warnings.join('; ') : 'ok',
      };
      // Informative, not degraded: without the subscription copies are trusted for a second only.
      if (config.cache.type === 'redis') checks.invalidations = coherence.subscribed ? 'listening' : 'not subscribed (in-process copies trusted for 1 s)';
      introspectors.forEach((b, i) => (checks[`introspection${introspectors.length > 1 ? `.${i}` : ''}`] = `circuit ${b.circuitState()}`));
      if (remote) checks[`authz.${config.authz.webhook!.type}`] = `circuit ${remote.circuitState()}`;
      // A sign-in provider whose discovery fails leaves tokens working but logins broken.
      const logins = await Promise.all(loginProviders.map(async (p) => [p.name, p.check ? await p.check() : 'ok'] as const));
      for (const [name, state] of logins) checks[`login.${name}`] = state;
      const degraded = checks.cache !== 'ok' || checks.store !== 'ok' || Object.values(checks).some((c) => c.endsWith('open')) || logins.some(([, state]) => state !== 'ok');
      return { status: degraded ? 'degraded' : 'ready', checks };
    },
    async start() {
      sweep = setInterval(() => tokens.sweep(), 1000).unref();
      // Expired device codes, sessions and refresh tokens would otherwise stay on disk for good.
      if (store.sweep) {
        const sweepStore = store.sweep.bind(store);
        storeSweep = setInterval(() => {
          sweepStore().then(
            (removed) => removed > 0 && logger.info({ event: 'store_swept', removed }, 'expired records removed'),
            (err: unknown) => logger.warn({ event: 'store_sweep_failed', err: err instanceof Error ? err.message : String(err) }, 'could not remove expired records; will try again'),
          );
        }, STORE_SWEEP_MS).unref();
      }
      // Requests that need the store answer 503 until it is connected; wait for it here, briefly.
      await store.ready?.().catch((err: unknown) => logger.error({ event: 'store_unreachable', err: err instanceof Error ? err.message : String(err) }, 'the state store is unreachable; requests that need it answer 503'));
      for (const warning of (await store.health()).warnings) logger.warn({ event: 'store_at_risk', warning }, 'the state store may lose records');
      // Static users own their names from the start, before anyone else can sign in with them.
      for (const backend of backends) {
        for (const identity of backend.configuredIdentities?.() ?? []) {
          const admitted = await gate.admit(identity).catch((err: unknown) => ({ kind: 'refused' as const, message: `could not record the binding (${err instanceof Error ? err.message : String(err)}); it is made at the user's first login` }));
          if (admitted.kind !== 'ok') logger.error({ event: 'static_user_unbound', account: identity.account }, admitted.message);
        }
      }
      if (rotation) rescan = setInterval(() => void rescanKeys(), rotation.rescanSeconds * 1000).unref();
      if (config.cache.type === 'redis') {
        channel = await subscribeInvalidations(
          config.cache.url,
          `${config.cache.keyPrefix}invalidate`,
          {
            apply: (r) => invalidator.invalidate(r, 'redis'),
            dropLocal: (keys) => invalidator.heard(keys),
            listening: () => coherence.listeningFromNow(),
            deaf: () => coherence.deaf(),
          },
          logger.child({ component: 'invalidation' }),
        );
        invalidator.announceOn(channel);
      }
    },
    async close() {
      if (rescan) clearInterval(rescan);
      if (sweep) clearInterval(sweep);
      if (storeSweep) clearInterval(storeSweep);
      tokens.forgetAll(); // writes the reuse lines of answers still held
      for (const backend of backends) await (backend as { close?: () => Promise<void> }).close?.();
      limiterRedis?.disconnect();
      await channel?.close();
      await cache.close();
      await store.close();
    },
  };
}
