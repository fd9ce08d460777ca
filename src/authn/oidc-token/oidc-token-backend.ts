import type { PasswordBackendEntry } from '../password-backend.js';
import { OidcTokenAuthenticator } from './oidc-token-authenticator.js';
import { oidcTokenAuthnSchema } from './oidc-token-config.js';

/** `type: oidc-token`: CI jobs' OIDC ID tokens, checked against trusted issuers' keys and rules. */
export const oidcTokenBackend: PasswordBackendEntry<typeof oidcTokenAuthnSchema> = {
  schema: oidcTokenAuthnSchema,
  create: (config, deps) => new OidcTokenAuthenticator(config, deps),
};
