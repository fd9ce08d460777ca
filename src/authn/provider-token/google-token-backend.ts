import type { PasswordBackendEntry } from '../password-backend.js';
import { GOOGLE_SOURCE, GoogleTokenAuthenticator } from './google-token-authenticator.js';
import { googleTokenAuthnSchema } from './google-token-config.js';

/** `type: google-token`: Google access tokens as passwords. */
export const googleTokenBackend: PasswordBackendEntry<typeof googleTokenAuthnSchema> = {
  schema: googleTokenAuthnSchema,
  create: (config, deps) => new GoogleTokenAuthenticator(config, deps),
  hotKeyPrefixes: ['ptok:'],
  accounts: { source: () => GOOGLE_SOURCE, prefix: (config) => config.accountPrefix },
};
