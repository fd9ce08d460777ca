import { listAttribute } from '../../domain/backend.js';
import { preflightCommand } from '../../upstream/command-preflight.js';
import type { PasswordBackendEntry } from '../password-backend.js';
import { CommandAuthenticator } from './command-authenticator.js';
import { commandAuthnSchema } from './command-config.js';

/** `type: command`: a local program decides (PAM, a site script). */
export const commandBackend: PasswordBackendEntry<typeof commandAuthnSchema> = {
  schema: commandAuthnSchema,
  create: (config, deps) => new CommandAuthenticator(config, deps),
  preflight: (config, context) => preflightCommand(config.command, { path: context.path }),
  hotKeyPrefixes: ['command:'],
  // The `groups` the program printed with the identity.
  groups: (attributes) => listAttribute(attributes, 'groups'),
};
