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
  hotKeyPrefixes: ['intro:'],
};
