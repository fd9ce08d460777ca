import type { z } from 'zod';

/** What the prefix check reads from a backend or login provider config. */
interface PrefixedConfig {
  readonly type: string;
  readonly accountPrefix?: string | undefined;
  readonly issuer?: string;
  readonly apiUrl?: string;
  readonly users?: Readonly<Record<string, unknown>>;
}

/**
 * The source a prefixed provider binds its accounts to, as its backend names it: the Google
 * login and `google-token` share Google's, the GitHub login and `github-token` share a host's.
 */
function sourceOf(config: PrefixedConfig): string {
  if (config.type === 'google') return `google:${new URL(config.issuer ?? 'https://accounts.google.com').host}`;
  if (config.type === 'google-token') return 'google:accounts.google.com';
  return `github:${new URL(config.apiUrl ?? 'https://api.github.com').host}`;
}

/**
 * Across the whole config: an account prefix must be one no other source can produce, so two
 * sources' prefixes may not overlap (`g-` and `g-x-`) and no static user may start with one.
 * Other backends (LDAP, introspection, command) cannot be known here; the account gate refuses
 * their names with another source's prefix at sign-in.
 */
export function checkAccountPrefixes(config: { authn: readonly PrefixedConfig[]; federation: { providers: readonly PrefixedConfig[] } }, ctx: z.RefinementCtx): void {
  const prefixed = [
    ...config.federation.providers.map((c, i) => ({ c, path: ['federation', 'providers', i, 'accountPrefix'] })),
    ...config.authn.map((c, i) => ({ c, path: ['authn', i, 'accountPrefix'] })),
  ].flatMap(({ c, path }) => (c.accountPrefix === undefined ? [] : [{ prefix: c.accountPrefix, source: sourceOf(c), path }]));
  prefixed.forEach((a, i) => {
    for (const b of prefixed.slice(i + 1)) {
      if (a.source !== b.source && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix))) {
        ctx.addIssue({ code: 'custom', path: b.path, message: `account prefix "${b.prefix}" overlaps "${a.prefix}" of another sign-in method: each needs a prefix of its own` });
      }
    }
  });
  config.authn.forEach((c, i) => {
    if (c.type !== 'static') return;
    for (const name of Object.keys(c.users ?? {})) {
      const owner = prefixed.find((p) => name.startsWith(p.prefix));
      if (owner) ctx.addIssue({ code: 'custom', path: ['authn', i, 'users', name], message: `user name starts with "${owner.prefix}", the account prefix of another sign-in method` });
    }
  });
}
