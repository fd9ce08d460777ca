import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import type { BackendEntry, ReadSecret, TypedSchema } from '../domain/backend.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { UpstreamObserver } from '../upstream/upstream-client.js';
import { upstreamCircuit, type CircuitSettings } from '../upstream/upstream-settings.js';
import type { AnonymousDecisionsConfig } from './anonymous-config.js';
import type { Decider } from './decider.js';
import { RemoteAuthorizer } from './remote-authorizer.js';

/** What a remote decider's factory may use. */
export interface RemoteAuthorizerDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** Reads the decider's secrets at start-up (never during config validation). */
  readSecret: ReadSecret;
  /** The account's current generation: a bump forgets every cached decision about it. */
  generation: (account: string) => Promise<string>;
  now?: () => number;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  /** What anonymous requests may cost (`authz.anonymous`); default `DEFAULT_ANONYMOUS_DECISIONS`. */
  anonymous?: AnonymousDecisionsConfig;
  /** Prefix by which IPv6 client addresses are grouped (`server.ipv6PrefixLength`). */
  ipv6PrefixLength?: number;
}

/** One remote decider type (`authz.webhook.type`), registered in `authz/registry.ts`. */
export type DeciderEntry<Schema extends TypedSchema> = BackendEntry<Schema, RemoteAuthorizerDeps, RemoteAuthorizer>;

/**
 * The one remote authorizer around the decider `build` makes: both share one circuit built from
 * the config's upstream settings (the decider's transport records calls, the authorizer reports it).
 */
export function remoteAuthorizer(
  config: { type: string } & CircuitSettings,
  deps: RemoteAuthorizerDeps,
  build: (circuit: CircuitBreaker, logger: Logger) => Decider,
): RemoteAuthorizer {
  const circuit = upstreamCircuit(config, deps.now);
  const decider = build(circuit, deps.logger.child({ component: `authz-${config.type}` }));
  return new RemoteAuthorizer(decider, {
    cache: deps.cache,
    hashKey: deps.hashKey,
    generation: deps.generation,
    circuit,
    anonymous: deps.anonymous,
    ipv6PrefixLength: deps.ipv6PrefixLength,
    now: deps.now,
  });
}
