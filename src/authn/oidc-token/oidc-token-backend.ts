import { listAttribute } from '../../domain/backend.js';
import type { PasswordBackendEntry } from '../password-backend.js';
import { OidcTokenAuthenticator } from './oidc-token-authenticator.js';
import { oidcTokenAuthnSchema } from './oidc-token-config.js';
import { preflightOidcToken } from './oidc-token-preflight.js';

/** `type: oidc-token`: CI jobs' OIDC ID tokens and Kubernetes service-account tokens, checked against trusted issuers' keys and rules. */
export const oidcTokenBackend: PasswordBackendEntry<typeof oidcTokenAuthnSchema> = {
  schema: oidcTokenAuthnSchema,
  create: (config, deps) => new OidcTokenAuthenticator(config, deps),
  preflight: (config, context) => preflightOidcToken(config, context.path),
  // Kubernetes service-account tokens: `system:serviceaccounts` and `system:serviceaccounts:NS`.
  groups: (attributes) => listAttribute(attributes, 'groups'),
};
