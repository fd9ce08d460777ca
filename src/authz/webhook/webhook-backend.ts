import { upstreamClient } from '../../upstream/upstream-settings.js';
import { remoteAuthorizer, type DeciderEntry } from '../decider-backend.js';
import type { RemoteAuthorizer } from '../remote-authorizer.js';
import { webhookAuthzSchema } from './webhook-config.js';
import { WebhookDecider } from './webhook-decider.js';

/** `type: webhook`: the platform's signed HTTP decision endpoint. */
export const webhookDecider: DeciderEntry<typeof webhookAuthzSchema, RemoteAuthorizer> = {
  schema: webhookAuthzSchema,
  create: (config, deps) => {
    const secret = deps.readSecret('authz webhook secret', { file: config.secretFile, env: config.secretEnv });
    return remoteAuthorizer(config, deps, (circuit, logger) => {
      const upstream = upstreamClient('authz-webhook', config, { circuit, now: deps.now, observer: deps.upstreamObserver });
      return new WebhookDecider({ ...config, secret }, { upstream, logger, now: deps.now });
    });
  },
  fromEnvironment: (env) =>
    env.WHARF_AUTHZ_WEBHOOK_URL ? [{ matches: (raw) => raw.type === 'webhook', base: { type: 'webhook' }, fields: { url: env.WHARF_AUTHZ_WEBHOOK_URL }, names: { url: 'WHARF_AUTHZ_WEBHOOK_URL' } }] : [],
};
