import { clientCredentials } from '../oauth2-core/client-credentials.js';
import type { LoginProviderEntry } from '../login-backend.js';
import { githubLoginSchema } from './github-config.js';
import { GithubLogin } from './github-login.js';

/** `type: github`: Sign in with GitHub (OAuth app, organisation and team checks). */
export const githubLoginBackend: LoginProviderEntry<typeof githubLoginSchema> = {
  schema: githubLoginSchema,
  create: (config, deps) => new GithubLogin(config, clientCredentials(config, deps.readSecret), deps.now),
};
