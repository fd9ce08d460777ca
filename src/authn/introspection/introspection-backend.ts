import { listAttribute, type EnvironmentSettings } from '../../domain/backend.js';
import type { PasswordBackendEntry } from '../password-backend.js';
import { IntrospectionAuthenticator } from './introspection-authenticator.js';
import { introspectionAuthnSchema } from './introspection-config.js';

/** `type: introspection`: platform API tokens checked by RFC 7662 (or SAGE) introspection. */
export const introspectionBackend: PasswordBackendEntry<typeof introspectionAuthnSchema> = {
  schema: introspectionAuthnSchema,
  create: (config, deps) =>
    new IntrospectionAuthenticator(config, {
      ...deps,
      clientSecret: deps.readSecret('introspection client secret', {
        file: config.clientSecretFile,
        // SAGE deployments name it as the platform does.
        env: config.clientSecretEnv ?? (config.dialect === 'sage' ? 'tokenInfoPassword' : 'WHARF_INTROSPECTION_CLIENT_SECRET'),
      }),
    }),
  // The twelve-factor way, and SAGE's own variable names, each completing the backend of its dialect.
  fromEnvironment: (env) => [
    ...(env.WHARF_INTROSPECTION_URL
      ? [dialect('rfc7662', { url: env.WHARF_INTROSPECTION_URL, ...(env.WHARF_INTROSPECTION_CLIENT_ID ? { clientId: env.WHARF_INTROSPECTION_CLIENT_ID } : {}) }, { url: 'WHARF_INTROSPECTION_URL', clientId: 'WHARF_INTROSPECTION_CLIENT_ID' })]
      : []),
    ...(env.tokenInfoEndpoint
      ? [dialect('sage', { url: env.tokenInfoEndpoint, ...(env.tokenInfoUser ? { clientId: env.tokenInfoUser } : {}), clientSecretEnv: 'tokenInfoPassword' }, { url: 'tokenInfoEndpoint', clientId: 'tokenInfoUser' })]
      : []),
  ],
  hotKeyPrefixes: ['intro:'],
  // A `groups` claim of the platform's answer.
  groups: (attributes) => listAttribute(attributes, 'groups'),
};

/** Settings for the introspection backend of one dialect (a backend without `dialect` is rfc7662). */
function dialect(name: 'rfc7662' | 'sage', fields: Record<string, unknown>, names: Record<string, string>): EnvironmentSettings {
  return { matches: (raw) => raw.type === 'introspection' && (raw.dialect ?? 'rfc7662') === name, base: { type: 'introspection', dialect: name }, fields, names };
}
