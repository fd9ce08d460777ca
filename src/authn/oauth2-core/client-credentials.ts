import { createPrivateKey } from 'node:crypto';
import type { ReadSecret } from '../../domain/backend.js';
import type { ClientCredentials } from './oauth2-core.js';

/** The client settings every OAuth provider's config has. */
export interface ClientCredentialSettings {
  readonly type: string;
  readonly name?: string | undefined;
  readonly clientAuthentication?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | undefined;
  readonly clientSecretFile?: string | undefined;
  readonly clientSecretEnv?: string | undefined;
  readonly clientPrivateKeyFile?: string | undefined;
}

/**
 * Reads a provider's client secret or `private_key_jwt` key now, at start-up (never during
 * validation), failing then rather than at the first login.
 */
export function clientCredentials(config: ClientCredentialSettings, readSecret: ReadSecret): ClientCredentials {
  const name = config.name ?? config.type;
  // GitHub's OAuth apps take the secret in the form body; it has no other method.
  const method = config.type === 'github' ? 'client_secret_post' : (config.clientAuthentication ?? 'client_secret_basic');
  if (method === 'private_key_jwt') return clientKey(name, config.clientPrivateKeyFile, readSecret);
  const secret = readSecret(`${name} client secret`, {
    file: config.clientSecretFile,
    env: config.clientSecretEnv ?? `WHARF_${name.toUpperCase().replace(/-/g, '_')}_CLIENT_SECRET`,
  });
  return { method, secret };
}

/** Reads a `private_key_jwt` key and picks the JWS algorithm its type allows. */
function clientKey(name: string, file: string | undefined, readSecret: ReadSecret): ClientCredentials {
  // A key comes from a file only: an environment variable is no place for a PEM.
  const pem = readSecret(`${name} client private key`, { file });
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
