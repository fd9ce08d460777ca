import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import { readSecret } from '../config/secrets.js';
import type { PasswordAuthenticator } from './authenticator.js';
import { IntrospectionAuthenticator } from './introspection/introspection-authenticator.js';
import type { IntrospectionAuthnConfig } from './introspection/introspection-config.js';
import { StaticAuthenticator } from './static/static-authenticator.js';
import type { StaticAuthnConfig } from './static/static-config.js';

/** What every backend factory may use. */
export interface AuthenticatorDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  /** Environment, for secrets named by `...Env` settings. */
  env: Readonly<Record<string, string | undefined>>;
  now?: () => number;
}

/** Config of each backend type, keyed by `type`. */
interface AuthnConfigs {
  static: StaticAuthnConfig;
  introspection: IntrospectionAuthnConfig;
}

type Factories = { [K in keyof AuthnConfigs]: (config: AuthnConfigs[K], deps: AuthenticatorDeps) => PasswordAuthenticator };

/** Backend type → factory. Adding a backend touches its folder and one line here. */
export const authenticatorFactories: Factories = {
  static: (config, deps) => new StaticAuthenticator(config, deps),
  introspection: (config, deps) =>
    new IntrospectionAuthenticator(config, {
      ...deps,
      clientSecret: readSecret('introspection client secret', {
        file: config.clientSecretFile,
        env: config.clientSecretEnv ?? (config.dialect === 'sage' ? 'tokenInfoPassword' : 'WHARF_INTROSPECTION_CLIENT_SECRET'),
      }, deps.env),
    }),
};

/** Builds one configured backend. */
export function createAuthenticator(config: AuthnConfigs[keyof AuthnConfigs], deps: AuthenticatorDeps): PasswordAuthenticator {
  const factory = authenticatorFactories[config.type] as (c: typeof config, d: AuthenticatorDeps) => PasswordAuthenticator;
  return factory(config, deps);
}
