import { BackendRegistry, type BackendEntry, type TypedSchema } from '../domain/backend.js';
import { preflightCommand } from '../upstream/command-preflight.js';
import { commandAuthzSchema } from './command/command-authz-config.js';
import { remoteAuthorizerFactories, type RemoteAuthorizer, type RemoteAuthorizerDeps } from './registry.js';
import { sageAuthzSchema } from './sage/sage-config.js';
import { webhookAuthzSchema } from './webhook/webhook-config.js';

/** One remote decider type (`authz.webhook.type`). */
export type DeciderEntry<Schema extends TypedSchema> = BackendEntry<Schema, RemoteAuthorizerDeps, RemoteAuthorizer>;

const webhook: DeciderEntry<typeof webhookAuthzSchema> = { schema: webhookAuthzSchema, create: (c, d) => remoteAuthorizerFactories.webhook(c, d), hotKeyPrefixes: ['authz:'] };
const sage: DeciderEntry<typeof sageAuthzSchema> = { schema: sageAuthzSchema, create: (c, d) => remoteAuthorizerFactories.sage(c, d), hotKeyPrefixes: ['authz:'] };
const command: DeciderEntry<typeof commandAuthzSchema> = {
  schema: commandAuthzSchema,
  create: (c, d) => remoteAuthorizerFactories.command(c, d),
  preflight: (c, context) => preflightCommand(c.command, { path: context.path }),
  hotKeyPrefixes: ['authz:'],
};

/** The platform's decision endpoint types: `webhook`, `sage`, `command`. */
export const deciders = new BackendRegistry([webhook, sage, command]);

export { staticAclSchema } from './static-acl/static-acl-config.js';
