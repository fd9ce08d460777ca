import type { PasswordBackendEntry } from '../password-backend.js';
import { StaticAuthenticator } from './static-authenticator.js';
import { staticAuthnSchema } from './static-config.js';

/** `type: static`: bcrypt users from the config file. */
export const staticBackend: PasswordBackendEntry<typeof staticAuthnSchema> = {
  schema: staticAuthnSchema,
  create: (config, deps) => new StaticAuthenticator(config, deps),
  hotKeyPrefixes: ['static:'],
};
