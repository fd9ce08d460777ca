import { z } from 'zod';
import { filterTemplateProblem } from './ldap-filter.js';

/** Attributes that hold secrets; copying them into an identity would put them in tokens' audit trail and webhook calls. */
const SECRET_ATTRIBUTES = new Set(['userpassword', 'unicodepwd', 'sambantpassword', 'sambalmpassword', 'krbprincipalkey', 'authpassword']);
/** Identity attribute names the backend fills itself. */
const RESERVED_ATTRIBUTES = new Set(['dn', 'groups', 'groupdns']);

/** An LDAP attribute type name (descriptor) or OID. */
const attributeName = z.string().regex(/^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/, 'must be an LDAP attribute name such as uid or mail');

/** A filter template, checked for its placeholders and its syntax. */
const filterTemplate = (allowed: readonly string[], required: readonly string[]) =>
  z.string().superRefine((template, ctx) => {
    const problem = filterTemplateProblem(template, allowed, required);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Where group memberships are looked up with a search (for directories without `memberOf`). */
export const ldapGroupSearchSchema = z.strictObject({
  /** Base DN of the group search. Required. */
  baseDn: z.string().min(1),
  /**
   * Filter selecting the user's groups. `{dn}` is the user's DN, `{username}` the account
   * (the `accountAttribute` value), both escaped (RFC 4515). Default `(member={dn})`
   * (groupOfNames); posixGroup: `(memberUid={username})`.
   */
  filter: filterTemplate(['dn', 'username'], ['dn', 'username']).default('(member={dn})'),
  /** Attribute of a group entry that names it in `groups`. Default `cn`. */
  nameAttribute: attributeName.default('cn'),
  /** `sub` (default: the whole subtree) or `one` (direct children of `baseDn`). */
  scope: z.enum(['sub', 'one']).default('sub'),
});

/**
 * `type: ldap`: search-then-bind against an LDAP directory (OpenLDAP, 389 DS, Active Directory).
 * Wharf binds as a service account, finds the user's entry under `baseDn` with `userFilter`, then
 * binds as that entry with the given password. A user not found is not this backend's (the next
 * backend is asked); a directory that cannot be reached answers 503, never 401.
 */
export const ldapAuthnSchema = z
  .strictObject({
    type: z.literal('ldap'),
    /** `ldaps://host[:636]` or `ldap://host[:389]` (use `startTls` with it). Required. */
    url: z
      .string()
      .regex(/^ldaps?:\/\/(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?\/?$/, 'must be ldap://host[:port] or ldaps://host[:port], without a path'),
    /** Upgrade an `ldap://` connection with StartTLS before anything is sent. Default false (a warning is logged at startup). */
    startTls: z.boolean().default(false),
    /** PEM file of the CA(s) that issued the directory's certificate. Default: Node's bundled CAs. */
    caFile: z.string().min(1).optional(),
    /** DN of Wharf's service account, used to search for users (e.g. `cn=wharf,ou=services,dc=example,dc=org`). Required. */
    bindDn: z.string().min(1),
    /** File holding the service account's password (trailing newline ignored). Wins over `bindPasswordEnv`. Default none. */
    bindPasswordFile: z.string().min(1).optional(),
    /** Environment variable holding the service account's password when no file is given. Default `WHARF_LDAP_BIND_PASSWORD`. */
    bindPasswordEnv: z.string().min(1).default('WHARF_LDAP_BIND_PASSWORD'),
    /** Where users are searched (entries outside it cannot log in). Required. */
    baseDn: z.string().min(1),
    /** `sub` (default: the whole subtree) or `one` (direct children of `baseDn`). */
    scope: z.enum(['sub', 'one']).default('sub'),
    /**
     * Filter finding the user; `{username}` is the login name, escaped (RFC 4515), and the only
     * placeholder. Default `(uid={username})`; Active Directory: `(sAMAccountName={username})`;
     * by e-mail: `(mail={username})`. Add conditions with `&`, e.g. `(&(objectClass=person)(uid={username}))`.
     */
    userFilter: filterTemplate(['username'], ['username']).default('(uid={username})'),
    /**
     * Attribute whose value becomes the registry account (`sub`, `${account}` in ACL rules), so a
     * login as `Ludwig` or by e-mail still acts as `ludwig`. Default `uid` (AD: `sAMAccountName`).
     */
    accountAttribute: attributeName.default('uid'),
    /** Attribute of the user entry listing group DNs (OpenLDAP memberof overlay, AD). `null` disables it. Default `memberOf`. */
    groupAttribute: attributeName.nullable().default('memberOf'),
    /** Search for the user's groups instead of (or besides) `groupAttribute`. Default none. */
    groupSearch: ldapGroupSearchSchema.optional(),
    /** User attributes copied into the identity (always as arrays of strings), e.g. `[mail, displayName]`. Default none. */
    attributes: z
      .array(attributeName)
      .max(32)
      .default([])
      .superRefine((names, ctx) => {
        names.forEach((name, i) => {
          const lower = name.toLowerCase();
          if (SECRET_ATTRIBUTES.has(lower)) ctx.addIssue({ code: 'custom', path: [i], message: `${name} holds a password and is never copied` });
          else if (RESERVED_ATTRIBUTES.has(lower)) ctx.addIssue({ code: 'custom', path: [i], message: `${name} is filled by Wharf itself (dn, groups, groupDns)` });
        });
      }),
    /** Milliseconds to open a connection (TCP and TLS). Default 3000. */
    connectTimeoutMs: z.number().int().min(50).max(60_000).default(3000),
    /** Milliseconds for each LDAP operation (bind, search, StartTLS). Default 5000. */
    timeoutMs: z.number().int().min(50).max(60_000).default(5000),
    /** Most connections kept open to the directory; further logins wait for one. Default 4. */
    poolSize: z.number().int().min(1).max(64).default(4),
    /** How long a successful bind is remembered under a keyed hash of (username, password). Default 60 s; 0 disables. */
    verifiedCacheSeconds: z.number().int().min(0).max(3600).default(60),
  })
  .superRefine((config, ctx) => {
    if (config.startTls && config.url.startsWith('ldaps:')) {
      ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'startTls is for ldap:// URLs; an ldaps:// connection is TLS from the start' });
    }
    if (config.caFile && config.url.startsWith('ldap:') && !config.startTls) {
      ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'caFile has no effect on a plain ldap:// connection: set startTls: true or use ldaps://' });
    }
  });

/** The validated `type: ldap` config. */
export type LdapAuthnConfig = z.infer<typeof ldapAuthnSchema>;
