import { BackendRegistry } from '../domain/backend.js';
import { commandDecider } from './command/command-backend.js';
import type { DeciderDeps } from './decider-backend.js';
import type { RemoteAuthorizer } from './remote-authorizer.js';
import { sageDecider } from './sage/sage-backend.js';
import { webhookDecider } from './webhook/webhook-backend.js';

/**
 * The decider types (`authz.deciders[].type`, `authz.webhook.type`): each is a folder exporting a
 * `DeciderEntry` plus one line here. The built-in ones ask the platform, each through a
 * RemoteAuthorizer of its own (decision cache, single flight, circuit, failing closed); a local
 * decider's entry builds a plain Authorizer instead.
 */
export const deciders = new BackendRegistry([webhookDecider, sageDecider, commandDecider]);

/** The embedded authorizer's schema, for the config (the ACL is always there, so it is no registry entry). */
export { staticAclSchema } from './static-acl/static-acl-config.js';

/** Where the ACL sits among the deciders, and the rules a chain must keep, for the config. */
export { aclLinkSchema, checkDeciderChain } from './decider-chain-config.js';

/** What anonymous requests may cost the remote decider, for the config. */
export { anonymousDecisionsSchema } from './anonymous-config.js';

/** Builds the remote authorizer a validated built-in decider config names. */
export function createRemoteAuthorizer(config: { type: string }, deps: DeciderDeps): RemoteAuthorizer {
  return deciders.entry(config.type).create(config as never, deps);
}
