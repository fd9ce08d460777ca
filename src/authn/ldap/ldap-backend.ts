import { listAttribute } from '../../domain/backend.js';
import type { PasswordBackendEntry } from '../password-backend.js';
import { createLdapAuthenticator } from './create-ldap-authenticator.js';
import { ldapAuthnSchema } from './ldap-config.js';
import { preflightLdap } from './ldap-preflight.js';

/** `type: ldap`: a bind against a directory. */
export const ldapBackend: PasswordBackendEntry<typeof ldapAuthnSchema> = {
  schema: ldapAuthnSchema,
  create: (config, deps) => createLdapAuthenticator(config, deps),
  preflight: (config, context) => preflightLdap(config, context.env, { path: context.path }),
  hotKeyPrefixes: ['ldap:'],
  // Group names (the first RDN's value, or the group search's `nameAttribute`) and their DNs.
  groups: (attributes) => [...listAttribute(attributes, 'groups'), ...listAttribute(attributes, 'groupDns')],
};
