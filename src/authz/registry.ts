import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import { readSecret } from '../config/secrets.js';
import type { CircuitBreaker } from '../upstream/circuit-breaker.js';
import type { UpstreamObserver } from '../upstream/upstream-client.js';
import { upstreamCircuit, upstreamClient } from '../upstream/upstream-settings.js';
import { CommandDecider } from './command/command-decider.js';
import type { CommandAuthzConfig } from './command/command-authz-config.js';
import type { Decider } from './decider.js';
import { RemoteAuthorizer } from './remote-authorizer.js';
import { SageDecider } from './sage/sage-decider.js';
import type { SageAuthzConfig } from './sage/sage-config.js';
import { WebhookDecider } from './webhook/webhook-decider.js';
import type { WebhookAuthzConfig } from './webhook/webhook-config.js';

export type { RemoteAuthorizer };

/** What remote authorizer factories may use. */
export interface RemoteAuthorizerDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
  generation: (account: string) => Promise<string>;
  now?: () => number;
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
}

interface RemoteConfigs {
  webhook: WebhookAuthzConfig;
  sage: SageAuthzConfig;
  command: CommandAuthzConfig;
}

type Factories = { [K in keyof RemoteConfigs]: (config: RemoteConfigs[K], deps: RemoteAuthorizerDeps) => RemoteAuthorizer };

/**
 * Decider type → factory; each builds the circuit from the config's upstream settings, hands it
 * to the decider's transport and to the authorizer that reports it. Secrets are read here, at
 * start-up, never during config validation.
 */
export const remoteAuthorizerFactories: Factories = {
  webhook: (config, deps) => {
    const secret = readSecret('authz webhook secret', { file: config.secretFile, env: config.secretEnv }, deps.env);
    return remote(config, deps, (circuit, logger) => {
      const upstream = upstreamClient('authz-webhook', config, { circuit, now: deps.now, observer: deps.upstreamObserver });
      return new WebhookDecider({ ...config, secret }, { upstream, logger, now: deps.now });
    });
  },
  sage: (config, deps) => {
    const token = readSecret('SAGE authz token', { file: config.tokenFile, env: config.tokenEnv }, deps.env);
    return remote(config, deps, (circuit, logger) => {
      const upstream = upstreamClient('authz-sage', config, { circuit, maxBodyBytes: SageDecider.maxAnswerBytes, now: deps.now, observer: deps.upstreamObserver });
      return new SageDecider({ ...config, token }, { upstream, logger });
    });
  },
  command: (config, deps) => remote(config, deps, (circuit, logger) => new CommandDecider(config, { circuit, logger })),
};

/** Builds the configured remote authorizer. */
export function createRemoteAuthorizer(config: RemoteConfigs[keyof RemoteConfigs], deps: RemoteAuthorizerDeps): RemoteAuthorizer {
  const factory = remoteAuthorizerFactories[config.type] as (c: typeof config, d: RemoteAuthorizerDeps) => RemoteAuthorizer;
  return factory(config, deps);
}

/** The authorizer around the decider `build` makes, both sharing one circuit from the config. */
function remote(config: RemoteConfigs[keyof RemoteConfigs], deps: RemoteAuthorizerDeps, build: (circuit: CircuitBreaker, logger: Logger) => Decider): RemoteAuthorizer {
  const circuit = upstreamCircuit(config, deps.now);
  const decider = build(circuit, deps.logger.child({ component: `authz-${config.type}` }));
  return new RemoteAuthorizer(decider, { cache: deps.cache, hashKey: deps.hashKey, generation: deps.generation, circuit });
}
