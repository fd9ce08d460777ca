import type { Logger } from 'pino';
import { AccountBindings } from './accounts/account-bindings.js';
import { AccountGate } from './accounts/account-gate.js';
import { bindConfiguredIdentities } from './accounts/configured-identities.js';
import { reservedPrefixes } from './accounts/prefix-check.js';
import type { CallbackAuthenticator } from './authn/authenticator.js';
import { AuthenticatorChain } from './authn/authenticator-chain.js';
import { bruteForceGuards } from './authn/brute-force-guards.js';
import { RequestProver } from './authn/prover.js';
import { CredentialAuthenticator } from './credentials/registry/credential-authenticator.js';
import { upstreamRechecks, type UpstreamRechecks } from './credentials/registry/credential-revalidation.js';
import { startExpirySweep } from './credentials/registry/credential-expiry.js';
import { CredentialStore } from './credentials/registry/credential-store.js';
import { ExchangedCredentials } from './credentials/exchanged/exchanged-credentials.js';
import type { PasswordBackend } from './authn/password-backend.js';
import { RefreshRedemption } from './credentials/refresh/refresh-redemption.js';
import { RefreshTokenStore } from './credentials/refresh/refresh-token-store.js';
import type { Authorizer } from './authz/authorizer.js';
import type { BuiltDecider } from './authz/decider-backend.js';
import { chainLinks, DeciderChain } from './authz/decider-chain.js';
import { DECISION_KEY_PREFIX } from './authz/decision-cache.js';
import { StaticAclAuthorizer } from './authz/static-acl/static-acl.js';
import { DEFAULT_ACL_RULES } from './authz/static-acl/static-acl-config.js';
import type { Cache } from './cache/cache.js';
import type { Coherence } from './cache/coherence.js';
import { createCache, createCoherence } from './cache/create-cache.js';
import { InstrumentedCache } from './cache/instrumented-cache.js';
import { builtInBackends, type BackendRegistries, type Config } from './config/schema.js';
import { readSecret, secretReader } from './config/secrets.js';
import { keyedHash } from './crypto/keyed-hash.js';
import { SealedBox } from './crypto/sealed-box.js';
import type { Capabilities } from './domain/backend.js';
import type { Identity } from './domain/identity.js';
import type { Readiness } from './domain/readiness.js';
import { BrowserSessions } from './flows/browser-sessions.js';
import { DeviceFlow } from './flows/device-flow.js';
import { pendingLoginSpace } from './flows/pending-login-space.js';
import { StartLimiter } from './flows/start-limiter.js';
import { TokenExchange } from './flows/token-exchange.js';
import { AccountGenerations } from './invalidation/account-generations.js';
import { Invalidator } from './invalidation/invalidator.js';
import { RecentProofs } from './authn/recent-proofs.js';
import { listenForInvalidations } from './invalidation/listen.js';
import type { InvalidationChannel } from './invalidation/redis-channel.js';
import type { KeyRotation } from './keys/key-files.js';
import { startKeyRescan } from './keys/key-rescan.js';
import type { KeyStore } from './keys/keys.js';
import { RefusalLog } from './logging/refusal-log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { readiness, type NamedCircuit } from './readiness.js';
import { createStore } from './store/create-store.js';
import type { Store } from './store/store.js';
import { startStoreSweep } from './store/store-sweep.js';
import { TokenMinter } from './tokens/minter.js';
import { RecentAnswers } from './tokens/recent-answers.js';
import { TokenService } from './tokens/token-service.js';

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
  /** Registry credentials from browser and device logins and the credential API. */
  credentials: CredentialStore;
  /** Proves registry credentials (first in the chain); the credential API proves its callers' with it. */
  credentialAuthenticator: CredentialAuthenticator;
  /** The token exchange (a workload's ID token for a pull credential); undefined when `exchange.enabled` is false. */
  exchange: TokenExchange | undefined;
  /** The clock every part was given. */
  now: () => number;
  /** Configured browser-login providers (none: no login pages). */
  loginProviders: CallbackAuthenticator[];
  sessions: BrowserSessions;
  deviceFlow: DeviceFlow;
  /** Seals a login provider's tokens for credentials to be re-checked later; undefined when it gave none or cannot re-check. */
  sealUpstream: UpstreamRechecks['sealUpstream'];
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
  /** The backend types the config was validated against. Default: the built-in ones. */
  backends?: BackendRegistries;
  now?: () => number;
}

/**
 * The composition root, shared by `main` and the tests so both run the same graph: it builds what
 * the config names through the backend registries and wires the parts together; what a backend
 * offers (circuits, invalidation keys, shutdown) is discovered, never named.
 */
export function createServices(config: Config, inputs: ServiceInputs): Services {
  const { logger, keys, hashKey } = inputs;
  const now = inputs.now ?? Date.now;
  const registries = inputs.backends ?? builtInBackends;
  const readSecretFor = secretReader(inputs.env ?? {});
  const metrics = inputs.metrics ?? createMetrics();
  const coherence = createCoherence(config.cache);
  const hotKeyPrefixes = [...registries.passwordBackends.hotKeyPrefixes(), ...registries.deciders.hotKeyPrefixes(), DECISION_KEY_PREFIX];
  const cache = new InstrumentedCache(inputs.cache ?? createCache(config.cache, { logger, coherence, hotKeyPrefixes, onLookup: metrics.countFirstTier, now }), metrics.lookupTally);
  const store = inputs.store ?? createStore(config, now);
  const upstreamObserver = metrics.observeUpstream;

  // Identity sources: the configured backends, with Wharf's own registry credentials before them.
  const backends: PasswordBackend[] = config.authn.map((c, i) =>
    registries.passwordBackends.entry(c.type).create(c as never, { cache, hashKey, logger, readSecret: readSecretFor, now, upstreamObserver, lastInChain: i === config.authn.length - 1 }),
  );
  const federation = config.federation;
  const loginProviders = federation.providers.map((p) => registries.loginProviders.entry(p.type).create(p as never, { readSecret: readSecretFor, now }));
  const rechecks = upstreamRechecks({
    everyMinutes: federation.revalidateMinutes,
    graceHours: federation.revalidateGraceHours,
    providers: loginProviders,
    box: new SealedBox(hashKey),
    logger: logger.child({ component: 'credentials' }),
    now,
  });
  const refreshTokens = new RefreshTokenStore({ store, hashKey, maxAgeSeconds: config.refreshTokens.maxAgeSeconds, now });
  const credentials = new CredentialStore({
    store,
    hashKey,
    maxLifetimeSeconds: federation.credentials.maxDays * 86_400,
    maxLifetimeWithoutRecheckSeconds: federation.credentials.maxDaysWithoutRecheck * 86_400,
    maxLifetimeBySourceSeconds: Object.fromEntries(Object.entries(federation.credentials.maxDaysBySource).map(([source, days]) => [source, days * 86_400])),
    now,
  });
  // The groups the ACL reads, through the registries (the ACL and the bindings know no backend).
  const groupsOf = (identity: Identity) => [...registries.passwordBackends.groupsOf(identity), ...registries.loginProviders.groupsOf(identity)];
  const bindings = new AccountBindings(store, { now, coherence, groupsOf });
  const gate = new AccountGate(bindings, { reserved: reservedPrefixes(config, registries), logger: logger.child({ component: 'accounts' }) });
  const credentialAuthenticator = new CredentialAuthenticator(credentials, rechecks.revalidation);
  const exchanged = new ExchangedCredentials(hashKey, now);
  const authenticators = new AuthenticatorChain(
    [credentialAuthenticator, exchanged, ...backends],
    gate,
    { onLogin: (backend) => metrics.credentialVerifications.inc({ backend }) },
  );

  // Refusals by limits: counted, the first few per address logged, the rest summarised.
  const { ipv6PrefixLength } = config.server;
  const refusals = new RefusalLog({ logger: logger.child({ component: 'limits' }), ipv6PrefixLength, now, count: (limit) => metrics.rateLimited.inc({ limit }) });

  // Browser and device logins.
  const startLimiter = (what: string, limit: string, perAddress: number, total?: number) =>
    new StartLimiter({ store, what, limit, perAddress, total, windowSeconds: 600, ipv6PrefixLength, refusals, now });
  const sessions = new BrowserSessions({
    store,
    pending: pendingLoginSpace(config.cache.type === 'redis', cache, now),
    limiter: startLimiter('browser logins', 'login_starts', federation.loginStartsPerIp, federation.loginStartsTotal),
    hashKey,
    sessionSeconds: federation.sessionHours * 3600,
    now,
  });
  const { maxStartsPerIp, maxStartsTotal, ...device } = federation.device;
  const deviceFlow = new DeviceFlow({ store, pending: pendingLoginSpace(config.cache.type === 'redis', cache, now), hashKey, ...device, limiter: startLimiter('device logins', 'device_starts', maxStartsPerIp, maxStartsTotal), now });

  // Decisions: the deciders in their configured order, the ACL among them.
  const generations = new AccountGenerations(store, hashKey, coherence, { now });
  const links = chainLinks(config.authz);
  const deciderDeps = {
    cache,
    hashKey,
    logger,
    readSecret: readSecretFor,
    generation: (a: string) => generations.current(a),
    now,
    upstreamObserver,
    anonymous: config.authz.anonymous,
    ipv6PrefixLength: config.server.ipv6PrefixLength,
  };
  // The default rule (each account owns its namespace) holds only while the ACL decides alone.
  const acl = new StaticAclAuthorizer(config.authz.acl, links.some((l) => l.kind === 'decider') ? [] : DEFAULT_ACL_RULES, groupsOf);
  const deciders: Array<{ name: string; built: BuiltDecider }> = [];
  const authorizer: Authorizer = new DeciderChain(
    links.map((link) => {
      if (link.kind === 'acl') return acl;
      const built: BuiltDecider = registries.deciders.entry(link.config.type).create(link.config as never, deciderDeps);
      deciders.push({ name: link.name, built });
      return built;
    }),
  );

  // The token endpoint.
  const guards = bruteForceGuards(config.bruteForce, { cache: config.cache, hashKey, ipv6PrefixLength, now });
  const minter = new TokenMinter(keys, { issuer: config.token.issuer, includeX5c: config.token.x5c, reuseCacheBytes: config.token.reuseCacheMegabytes * 1024 * 1024, now });
  const { service, lifetimeSeconds, actionLifetimeSeconds } = config.token;
  const recentProofs = new RecentProofs({ now });
  coherence.attach(recentProofs);
  // Who asks: every credential (refresh tokens redeemed here, by grant or as a password), under the guards.
  const prover = new RequestProver({
    chain: authenticators,
    refreshTokens: new RefreshRedemption(refreshTokens, backends),
    refreshTokensEnabled: config.refreshTokens.enabled,
    limiter: guards.limiter,
    slots: guards.slots,
    refusals,
    onRedemption: () => metrics.credentialVerifications.inc({ backend: 'refresh' }),
    recentProofs,
  });
  const decider = new TokenService({ service, lifetimeSeconds, actionLifetimeSeconds }, { prover, authorizer, minter, logger: logger.child({ component: 'token' }), refusals, now });
  const tokens = new RecentAnswers(decider, { hashKey, logger: logger.child({ component: 'token' }), now });
  const exchange = config.exchange.enabled
    ? new TokenExchange({ prover, credentials: exchanged, service, maxSeconds: config.exchange.maxMinutes * 60, logger: logger.child({ component: 'exchange' }), now })
    : undefined;
  coherence.attach(tokens);

  // Capabilities, discovered on what the registries built.
  const capable: Capabilities[] = [...backends, ...deciders.map((d) => d.built)];
  const circuits = namedCircuits(backends, deciders);
  metrics.setCircuitSource(() => Object.fromEntries(circuits.map((c) => [c.name, c.state()])));
  metrics.setStoreSource(async () => {
    const health = await store.health();
    return health.ok && health.refusesWrites === undefined;
  });
  const invalidator = new Invalidator({
    cache,
    generations,
    coherence,
    tokenCacheKeys: (token) => capable.flatMap((b) => b.invalidationKeys?.(token) ?? []),
    logger: logger.child({ component: 'invalidation' }),
  });
  credentials.whenRevoked(() => void invalidator.revoked());
  refreshTokens.whenRevoked(() => void invalidator.revoked());

  const stops: Array<() => void> = [];
  let channel: InvalidationChannel | undefined;
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
    credentialAuthenticator,
    exchange,
    now,
    loginProviders,
    sessions,
    deviceFlow,
    sealUpstream: rechecks.sealUpstream,
    cookieSecret: keyedHash(hashKey, 'cookie-signing'),
    invalidator,
    adminSecret: adminSecret(config.admin, inputs.env ?? {}),
    readiness: () => readiness({ cache, store, coherence, sharedCache: config.cache.type === 'redis', circuits, loginProviders }),
    async start() {
      const sweep = setInterval(() => tokens.sweep(), 1000).unref();
      stops.push(() => clearInterval(sweep), startStoreSweep(store, logger), refusals.start());
      stops.push(startExpirySweep({ credentials, logger: logger.child({ component: 'credentials' }), count: (n) => metrics.credentialsExpiring.set(n) }));
      // Requests that need the store answer 503 until it is connected; wait for it here, briefly.
      await store.ready?.().catch((err: unknown) => logger.error({ event: 'store_unreachable', err: err instanceof Error ? err.message : String(err) }, 'the state store is unreachable; requests that need it answer 503'));
      for (const warning of (await store.health()).warnings) logger.warn({ event: 'store_at_risk', warning }, 'the state store may lose records');
      await bindConfiguredIdentities(backends.flatMap((b) => b.configuredIdentities?.() ?? []), gate, logger);
      if (inputs.keyRotation) stops.push(startKeyRescan(inputs.keyRotation, keys, logger.child({ component: 'keys' })));
      if (config.cache.type === 'redis') channel = await listenForInvalidations(config.cache, invalidator, coherence, logger.child({ component: 'invalidation' }));
    },
    async close() {
      for (const stop of stops.splice(0)) stop();
      tokens.forgetAll(); // writes the reuse lines of answers still held
      refusals.flush(); // and the summary of refusals not logged one by one
      await minter.close();
      for (const backend of capable) await backend.close?.();
      guards.close();
      await channel?.close();
      await cache.close();
      await store.close();
    },
  };
}

/** Circuits by their /readyz and metric names: a backend type, numbered when it is configured more than once. */
function namedCircuits(backends: readonly PasswordBackend[], deciders: readonly { name: string; built: Capabilities }[]): NamedCircuit[] {
  const withCircuit = backends.filter((b) => b.circuitState);
  const named = withCircuit.map((b) => {
    const sameType = withCircuit.filter((o) => o.type === b.type);
    return { name: sameType.length > 1 ? `${b.type}.${sameType.indexOf(b)}` : b.type, state: () => b.circuitState!() };
  });
  const remote = deciders.flatMap((d) => (d.built.circuitState ? [{ name: d.name, state: () => d.built.circuitState!() }] : []));
  return [...named, ...remote];
}

/** The admin bearer secret: admin endpoints are on when it is available; a named file that cannot be read stops startup. */
function adminSecret(admin: Config['admin'], env: Readonly<Record<string, string | undefined>>): string | undefined {
  try {
    return readSecret('admin secret', { file: admin.secretFile, env: admin.secretEnv }, env);
  } catch (err) {
    if (admin.secretFile) throw err;
    return undefined;
  }
}
