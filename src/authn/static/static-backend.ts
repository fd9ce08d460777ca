import { listAttribute } from '../../domain/backend.js';
import type { PasswordBackendEntry } from '../password-backend.js';
import { StaticAuthenticator } from './static-authenticator.js';
import { staticAuthnSchema } from './static-config.js';

/** `type: static`: bcrypt users from the config file. */
export const staticBackend: PasswordBackendEntry<typeof staticAuthnSchema> = {
  schema: staticAuthnSchema,
  create: (config, deps) => new StaticAuthenticator(config, deps),
  hotKeyPrefixes: ['static:'],
  // Each user's name is an account the config defines (bound at start-up).
  accounts: { source: () => 'static', names: (config) => Object.keys(config.users).map((name) => ({ name, path: ['users', name] })) },
  // A user's `attributes.groups`.
  groups: (attributes) => listAttribute(attributes, 'groups'),
};
