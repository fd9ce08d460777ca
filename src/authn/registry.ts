import type { Cache } from '../cache/cache.js';
import type { PasswordAuthenticator } from './authenticator.js';
import { StaticAuthenticator } from './static/static-authenticator.js';
import type { StaticAuthnConfig } from './static/static-config.js';

/** What every backend factory may use. */
export interface AuthenticatorDeps {
  cache: Cache;
  hashKey: Buffer;
}

/** Config of each backend type, keyed by `type`. */
interface AuthnConfigs {
  static: StaticAuthnConfig;
}

type Factories = { [K in keyof AuthnConfigs]: (config: AuthnConfigs[K], deps: AuthenticatorDeps) => PasswordAuthenticator };

/** Backend type → factory. Adding a backend touches its folder and one line here. */
export const authenticatorFactories: Factories = {
  static: (config, deps) => new StaticAuthenticator(config, deps),
};

/** Builds one configured backend. */
export function createAuthenticator(config: AuthnConfigs[keyof AuthnConfigs], deps: AuthenticatorDeps): PasswordAuthenticator {
  const factory = authenticatorFactories[config.type] as (c: typeof config, d: AuthenticatorDeps) => PasswordAuthenticator;
  return factory(config, deps);
}
