import { listAttribute } from '../../domain/backend.js';
import { githubSource } from '../oauth2-core/github-api.js';
import { clientCredentials } from '../oauth2-core/client-credentials.js';
import type { LoginProviderEntry } from '../login-backend.js';
import { githubLoginSchema } from './github-config.js';
import { GithubLogin } from './github-login.js';

/** `type: github`: Sign in with GitHub (OAuth app, organisation and team checks). */
export const githubLoginBackend: LoginProviderEntry<typeof githubLoginSchema> = {
  schema: githubLoginSchema,
  create: (config, deps) => new GithubLogin(config, clientCredentials(config, deps.readSecret), deps.now),
  accounts: { source: (config) => githubSource(config.apiUrl), prefix: (config) => config.accountPrefix },
  // Organisation logins as GitHub spells them, and teams as `org/team`.
  groups: (attributes) => [...listAttribute(attributes, 'orgs'), ...listAttribute(attributes, 'teams')],
};
