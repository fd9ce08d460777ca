import { createPrivateKey } from 'node:crypto';
import { readSecret } from '../config/secrets.js';
import type { ClientCredentials } from './oauth2-core/oauth2-core.js';
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
type Factories = { [K in keyof LoginConfigs]: (config: LoginConfigs[K], credentials: ClientCredentials) => CallbackAuthenticator };

/** Browser-login provider type → factory. */
export const loginFactories: Factories = {
  google: (config, credentials) => new OidcLogin(config, credentials),
  oidc: (config, credentials) => new OidcLogin(config, credentials),
  github: (config, credentials) => new GithubLogin(config, credentials),
};

/** Builds one configured provider, reading its client secret or key now (never during validation). */
export function createLoginProvider(config: LoginConfigs[keyof LoginConfigs], env: Env): CallbackAuthenticator {
  const name = config.name ?? config.type;
  // GitHub's OAuth apps take the secret in the form body; it has no other method.
  const method = config.type === 'github' ? 'client_secret_post' : config.clientAuthentication;
  let credentials: ClientCredentials;
  if (method === 'private_key_jwt') {
    credentials = clientKey(name, (config as { clientPrivateKeyFile?: string }).clientPrivateKeyFile);
  } else {
    const secret = readSecret(`${name} client secret`, {
      file: config.clientSecretFile,
      env: config.clientSecretEnv ?? `WHARF_${name.toUpperCase().replace(/-/g, '_')}_CLIENT_SECRET`,
    }, env);
    credentials = { method, secret };
  }
  const factory = loginFactories[config.type] as (c: typeof config, credentials: ClientCredentials) => CallbackAuthenticator;
  return factory(config, credentials);
}

/** Reads a `private_key_jwt` key and picks the JWS algorithm its type allows, failing at start-up rather than at the first login. */
function clientKey(name: string, file: string | undefined): ClientCredentials {
  const pem = readSecret(`${name} client private key`, { file }, {});
  let key;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error(`${name} client private key: ${file} is not a PEM private key`);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const alg =
    key.asymmetricKeyType === 'rsa' ? 'RS256'
    : key.asymmetricKeyType === 'ed25519' ? 'EdDSA'
    : key.asymmetricKeyType === 'ec' && curve === 'prime256v1' ? 'ES256'
    : key.asymmetricKeyType === 'ec' && curve === 'secp384r1' ? 'ES384'
    : undefined;
  if (!alg) throw new Error(`${name} client private key: ${file} is a ${key.asymmetricKeyType ?? 'unknown'} key; use EC P-256/P-384, RSA or Ed25519`);
  // PKCS#8 whatever the file held (SEC1 "EC PRIVATE KEY" and PKCS#1 RSA files too).
  return { method: 'private_key_jwt', key: key.export({ type: 'pkcs8', format: 'pem' }).toString(), alg };
}
