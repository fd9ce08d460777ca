import { BackendRegistry } from '../domain/backend.js';
import { commandDecider } from './command/command-backend.js';
import type { RemoteAuthorizerDeps } from './decider-backend.js';
import type { RemoteAuthorizer } from './remote-authorizer.js';
import { sageDecider } from './sage/sage-backend.js';
import { webhookDecider } from './webhook/webhook-backend.js';

/**
 * The platform's decider types (`authz.webhook.type`): each is a folder exporting a
 * `DeciderEntry` plus one line here. Every one becomes a decider of the one RemoteAuthorizer
 * (decision cache, single flight, failing closed).
 */
export const deciders = new BackendRegistry([webhookDecider, sageDecider, commandDecider]);

/** The embedded authorizer's schema, for the config (the ACL is always there, so it is no registry entry). */
export { staticAclSchema } from './static-acl/static-acl-config.js';

/** What anonymous requests may cost the remote decider, for the config. */
export { anonymousDecisionsSchema } from './anonymous-config.js';

/** Builds the remote authorizer a validated `authz.webhook` names. */
export function createRemoteAuthorizer(config: { type: string }, deps: RemoteAuthorizerDeps): RemoteAuthorizer {
  return deciders.entry(config.type).create(config as never, deps);
}
