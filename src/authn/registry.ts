import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';
import type { UpstreamObserver } from '../upstream/upstream-client.js';
import { readSecret } from '../config/secrets.js';
import type { PasswordAuthenticator } from './authenticator.js';
import { CommandAuthenticator } from './command/command-authenticator.js';
import type { CommandAuthnConfig } from './command/command-config.js';
import { IntrospectionAuthenticator } from './introspection/introspection-authenticator.js';
import { createLdapAuthenticator } from './ldap/create-ldap-authenticator.js';
import type { LdapAuthnConfig } from './ldap/ldap-config.js';
import { OidcTokenAuthenticator } from './oidc-token/oidc-token-authenticator.js';
import type { OidcTokenAuthnConfig } from './oidc-token/oidc-token-config.js';
import { GithubTokenAuthenticator } from './provider-token/github-token-authenticator.js';
import type { GithubTokenAuthnConfig } from './provider-token/github-token-config.js';
import { GoogleTokenAuthenticator } from './provider-token/google-token-authenticator.js';
import type { GoogleTokenAuthnConfig } from './provider-token/google-token-config.js';
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
  /** Told about every upstream request (metrics). */
  upstreamObserver?: UpstreamObserver;
  /** Whether no other backend follows this one in the chain. */
  lastInChain?: boolean;
}

/** Config of each backend type, keyed by `type`. */
interface AuthnConfigs {
  static: StaticAuthnConfig;
  introspection: IntrospectionAuthnConfig;
  'oidc-token': OidcTokenAuthnConfig;
  'github-token': GithubTokenAuthnConfig;
  'google-token': GoogleTokenAuthnConfig;
  ldap: LdapAuthnConfig;
  command: CommandAuthnConfig;
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
  'oidc-token': (config, deps) => new OidcTokenAuthenticator(config, deps),
  'github-token': (config, deps) => new GithubTokenAuthenticator(config, deps),
  'google-token': (config, deps) => new GoogleTokenAuthenticator(config, deps),
  ldap: (config, deps) => createLdapAuthenticator(config, deps),
  command: (config, deps) => new CommandAuthenticator(config, deps),
};

/** Builds one configured backend. */
export function createAuthenticator(config: AuthnConfigs[keyof AuthnConfigs], deps: AuthenticatorDeps): PasswordAuthenticator {
  const factory = authenticatorFactories[config.type] as (c: typeof config, d: AuthenticatorDeps) => PasswordAuthenticator;
  return factory(config, deps);
}
