import { upstreamClient } from '../../upstream/upstream-settings.js';
import { remoteAuthorizer, type DeciderEntry } from '../decider-backend.js';
import type { RemoteAuthorizer } from '../remote-authorizer.js';
import { sageAuthzSchema } from './sage-config.js';
import { SageDecider } from './sage-decider.js';

/** `type: sage`: SAGE's per-scope decision endpoint. */
export const sageDecider: DeciderEntry<typeof sageAuthzSchema, RemoteAuthorizer> = {
  schema: sageAuthzSchema,
  create: (config, deps) => {
    const token = deps.readSecret('SAGE authz token', { file: config.tokenFile, env: config.tokenEnv });
    return remoteAuthorizer(config, deps, (circuit, logger) => {
      const upstream = upstreamClient('authz-sage', config, { circuit, maxBodyBytes: SageDecider.maxAnswerBytes, now: deps.now, observer: deps.upstreamObserver });
      return new SageDecider({ ...config, token }, { upstream, logger });
    });
  },
  // SAGE's own variable name for its decision endpoint.
  fromEnvironment: (env) => (env.ecrAuthZEndpoint ? [{ matches: (raw) => raw.type === 'sage', base: { type: 'sage' }, fields: { url: env.ecrAuthZEndpoint }, names: { url: 'ecrAuthZEndpoint' } }] : []),
};
