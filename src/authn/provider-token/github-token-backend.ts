import { listAttribute } from '../../domain/backend.js';
import { githubSource } from '../oauth2-core/github-api.js';
import type { PasswordBackendEntry } from '../password-backend.js';
import { GithubTokenAuthenticator } from './github-token-authenticator.js';
import { githubTokenAuthnSchema } from './github-token-config.js';

/** `type: github-token`: GitHub personal access tokens as passwords. */
export const githubTokenBackend: PasswordBackendEntry<typeof githubTokenAuthnSchema> = {
  schema: githubTokenAuthnSchema,
  create: (config, deps) => new GithubTokenAuthenticator(config, deps),
  hotKeyPrefixes: ['ptok:'],
  accounts: { source: (config) => githubSource(config.apiUrl), prefix: (config) => config.accountPrefix },
  // Organisation logins, lower-cased.
  groups: (attributes) => listAttribute(attributes, 'orgs'),
};
