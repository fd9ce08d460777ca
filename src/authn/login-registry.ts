import { readSecret } from '../config/secrets.js';
import type { CallbackAuthenticator } from './authenticator.js';
import type { GithubLoginConfig } from './github/github-config.js';
import { GithubLogin } from './github/github-login.js';
import type { GoogleLoginConfig, OidcLoginConfig } from './oidc/oidc-config.js';
import { OidcLogin } from './oidc/oidc-login.js';

interface LoginConfigs {
  google: GoogleLoginConfig;
  github: GithubLoginConfig;
  oidc: OidcLoginConfig;
}

type Env = Readonly<Record<string, string | undefined>>;
type Factories = { [K in keyof LoginConfigs]: (config: LoginConfigs[K], clientSecret: string) => CallbackAuthenticator };

/** Browser-login provider type → factory. */
export const loginFactories: Factories = {
  google: (config, secret) => new OidcLogin(config, secret),
  oidc: (config, secret) => new OidcLogin(config, secret),
  github: (config, secret) => new GithubLogin(config, secret),
};

/** Builds one configured provider, reading its client secret now (never during validation). */
export function createLoginProvider(config: LoginConfigs[keyof LoginConfigs], env: Env): CallbackAuthenticator {
  const name = config.name ?? config.type;
  const secret = readSecret(`${name} client secret`, {
    file: config.clientSecretFile,
    env: config.clientSecretEnv ?? `WHARF_${name.toUpperCase().replace(/-/g, '_')}_CLIENT_SECRET`,
  }, env);
  const factory = loginFactories[config.type] as (c: typeof config, s: string) => CallbackAuthenticator;
  return factory(config, secret);
}
