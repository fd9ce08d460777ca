import { BackendRegistry } from '../domain/backend.js';
import { githubLoginBackend } from './github/github-backend.js';
import { googleLoginBackend, oidcLoginBackend } from './oidc/oidc-backend.js';

/** Browser-login provider types (`federation.providers[].type`): a provider is its folder plus one line here. */
export const loginProviders = new BackendRegistry([googleLoginBackend, githubLoginBackend, oidcLoginBackend]);
