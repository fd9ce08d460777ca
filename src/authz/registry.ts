import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import type { UpstreamObserver } from '../upstream/upstream-client.js';
import { readSecret } from '../config/secrets.js';
import type { CircuitState } from '../upstream/circuit-breaker.js';
import type { Authorizer } from './authorizer.js';
import { CommandAuthorizer } from './command/command-authorizer.js';
import type { CommandAuthzConfig } from './command/command-authz-config.js';
import { SageAuthorizer } from './sage/sage-authorizer.js';
import type { SageAuthzConfig } from './sage/sage-config.js';
import { WebhookAuthorizer } from './webhook/webhook-authorizer.js';
import type { WebhookAuthzConfig } from './webhook/webhook-config.js';

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

/** An authorizer that calls out, with a circuit to report on /readyz. */
export type RemoteAuthorizer = Authorizer & { circuitState(): CircuitState };

interface RemoteConfigs {
  webhook: WebhookAuthzConfig;
  sage: SageAuthzConfig;
  command: CommandAuthzConfig;
}

type Factories = { [K in keyof RemoteConfigs]: (config: RemoteConfigs[K], deps: RemoteAuthorizerDeps) => RemoteAuthorizer };

/** Webhook type → factory. Secrets are read here, at start-up, never during config validation. */
export const remoteAuthorizerFactories: Factories = {
  webhook: (config, deps) =>
    new WebhookAuthorizer(
      { ...config, secret: readSecret('authz webhook secret', { file: config.secretFile, env: config.secretEnv }, deps.env) },
      { ...deps, logger: deps.logger.child({ component: 'authz-webhook' }) },
    ),
  sage: (config, deps) =>
    new SageAuthorizer(
      { ...config, token: readSecret('SAGE authz token', { file: config.tokenFile, env: config.tokenEnv }, deps.env) },
      { ...deps, logger: deps.logger.child({ component: 'authz-sage' }) },
    ),
  command: (config, deps) => new CommandAuthorizer(config, { ...deps, logger: deps.logger.child({ component: 'authz-command' }) }),
};

/** Builds the configured remote authorizer. */
export function createRemoteAuthorizer(config: RemoteConfigs[keyof RemoteConfigs], deps: RemoteAuthorizerDeps): RemoteAuthorizer {
  const factory = remoteAuthorizerFactories[config.type] as (c: typeof config, d: RemoteAuthorizerDeps) => RemoteAuthorizer;
  return factory(config, deps);
}
