import { preflightCommand } from '../../upstream/command-preflight.js';
import { remoteAuthorizer, type DeciderEntry } from '../decider-backend.js';
import type { RemoteAuthorizer } from '../remote-authorizer.js';
import { commandAuthzSchema } from './command-authz-config.js';
import { CommandDecider } from './command-decider.js';

/** `type: command`: a local program answers the webhook contract over stdin/stdout. */
export const commandDecider: DeciderEntry<typeof commandAuthzSchema, RemoteAuthorizer> = {
  schema: commandAuthzSchema,
  create: (config, deps) => remoteAuthorizer(config, deps, (circuit, logger) => new CommandDecider(config, { circuit, logger })),
  preflight: (config, context) => preflightCommand(config.command, { path: context.path }),
};
