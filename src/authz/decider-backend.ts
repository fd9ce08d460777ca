import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import type { BackendEntry, Capabilities, ReadSecret, TypedSchema } from '../domain/backend.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { UpstreamObserver } from '../upstream/upstream-client.js';
import { upstreamCircuit, type CircuitSettings } from '../upstream/upstream-settings.js';
import type { AnonymousDecisionsConfig } from './anonymous-config.js';
import type { Authorizer } from './authorizer.js';
import type { Decider } from './decider.js';
import { RemoteAuthorizer } from './remote-authorizer.js';

/** What a decider's factory may use (a local one may ignore most of it). */
export interface DeciderDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** Reads the decider's secrets at start-up (never during config validation). */
  readSecret: ReadSecret;
  /** The account's current generation: a bump forgets every cached decision about it. */
  generation: (account: string) => string | Promise<string>;
  now?: () => number;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  /** What anonymous requests may cost (`authz.anonymous`); default `DEFAULT_ANONYMOUS_DECISIONS`. */
  anonymous?: AnonymousDecisionsConfig;
  /** Prefix by which IPv6 client addresses are grouped (`server.ipv6PrefixLength`). */
  ipv6PrefixLength?: number;
}

/**
 * A built decider: one link of the decider chain, with whichever capabilities it offers. A local
 * decider is a plain Authorizer (no circuit, no cache); a remote one is a RemoteAuthorizer
 * (`remoteAuthorizer` below), which offers its circuit.
 */
export type BuiltDecider = Authorizer & Capabilities;

/** One decider type (`authz.deciders[].type`, `authz.webhook.type`), registered in `authz/registry.ts`. */
export type DeciderEntry<Schema extends TypedSchema, Product extends BuiltDecider = BuiltDecider> = BackendEntry<Schema, DeciderDeps, Product>;

/**
 * The one remote authorizer around the decider `build` makes: both share one circuit built from
 * the config's upstream settings (the decider's transport records calls, the authorizer reports it).
 */
export function remoteAuthorizer(
  config: { type: string } & CircuitSettings,
  deps: DeciderDeps,
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
