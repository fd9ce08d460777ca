import type { AuthenticatorDeps, PasswordBackend } from './password-backend.js';
import { BackendRegistry } from '../domain/backend.js';
import { commandBackend } from './command/command-backend.js';
import { introspectionBackend } from './introspection/introspection-backend.js';
import { ldapBackend } from './ldap/ldap-backend.js';
import { oidcTokenBackend } from './oidc-token/oidc-token-backend.js';
import { githubTokenBackend } from './provider-token/github-token-backend.js';
import { googleTokenBackend } from './provider-token/google-token-backend.js';
import { staticBackend } from './static/static-backend.js';

/**
 * Password backend types (`authn[].type`). Adding a backend is its own folder, exporting a
 * `PasswordBackendEntry`, plus one line here: the config union, `wharf config check`, the first
 * cache tier and the server's readiness and shutdown all follow from the entry.
 */
export const passwordBackends = new BackendRegistry([
  staticBackend,
  introspectionBackend,
  oidcTokenBackend,
  githubTokenBackend,
  googleTokenBackend,
  ldapBackend,
  commandBackend,
]);

/** Builds the password backend a validated `authn[]` entry names. */
export function createAuthenticator(config: { type: string }, deps: AuthenticatorDeps): PasswordBackend {
  return passwordBackends.entry(config.type).create(config as never, deps);
}
