import { listAttribute } from '../../domain/backend.js';
import { clientCredentials } from '../oauth2-core/client-credentials.js';
import type { LoginProviderEntry } from '../login-backend.js';
import { googleLoginSchema, oidcLoginSchema } from './oidc-config.js';
import { OidcLogin, oidcLoginSource } from './oidc-login.js';

/** `type: google`: Sign in with Google (OIDC with Google's defaults). */
export const googleLoginBackend: LoginProviderEntry<typeof googleLoginSchema> = {
  schema: googleLoginSchema,
  create: (config, deps) => new OidcLogin(config, clientCredentials(config, deps.readSecret), deps.now),
  accounts: { source: oidcLoginSource, prefix: (config) => config.accountPrefix },
};

/** `type: oidc`: any OpenID Connect issuer. */
export const oidcLoginBackend: LoginProviderEntry<typeof oidcLoginSchema> = {
  schema: oidcLoginSchema,
  create: (config, deps) => new OidcLogin(config, clientCredentials(config, deps.readSecret), deps.now),
  // The `groupsClaim`, copied to the `groups` attribute.
  groups: (attributes) => listAttribute(attributes, 'groups'),
};
