import type { z } from 'zod';
import type { AccountDeclaration } from '../domain/backend.js';
import type { ReservedPrefix } from './account-gate.js';

/** A configured backend or login provider: its validated config, nothing read from it here. */
interface TypedConfig {
  readonly type: string;
}

/** Where the account declarations of configured types are found: the backend registries. */
export interface AccountDeclarations {
  readonly passwordBackends: { entry(type: string): { readonly accounts?: AccountDeclaration<TypedConfig> | undefined } };
  readonly loginProviders: { entry(type: string): { readonly accounts?: AccountDeclaration<TypedConfig> | undefined } };
}

/** The parts of the config whose backends make account names. */
interface SignInConfig {
  readonly authn: readonly TypedConfig[];
  readonly federation: { readonly providers: readonly TypedConfig[] };
}

/** Every configured backend with its path and what its entry declares about accounts. */
function declared(config: SignInConfig, registries: AccountDeclarations) {
  return [
    ...config.federation.providers.map((c, i) => ({ c, path: ['federation', 'providers', i] as (string | number)[], accounts: registries.loginProviders.entry(c.type).accounts })),
    ...config.authn.map((c, i) => ({ c, path: ['authn', i] as (string | number)[], accounts: registries.passwordBackends.entry(c.type).accounts })),
  ];
}

/** The prefixes configured backends put before their account names, with their source and config path. */
function prefixes(config: SignInConfig, registries: AccountDeclarations) {
  return declared(config, registries).flatMap(({ c, path, accounts }) => {
    const prefix = accounts?.prefix?.(c);
    return prefix === undefined ? [] : [{ prefix, source: accounts!.source(c), path: [...path, 'accountPrefix'] }];
  });
}

/**
 * The prefixes the account gate reserves: names starting with one are refused from every source
 * but the one that declared it.
 */
export function reservedPrefixes(config: SignInConfig, registries: AccountDeclarations): ReservedPrefix[] {
  return prefixes(config, registries).map(({ prefix, source }) => ({ prefix, source }));
}

/**
 * Across the whole config: an account prefix must be one no other source can produce, so two
 * sources' prefixes may not overlap (`g-` and `g-x-`) and no name a config defines (static
 * users) may start with another source's. Each backend declares its source, prefix and names in
 * its registry entry (`accounts`); backends that cannot know their names in advance (a directory,
 * a platform, a program) declare none, and the account gate refuses their names with another
 * source's prefix at sign-in.
 */
export function checkAccountPrefixes(config: SignInConfig, registries: AccountDeclarations, ctx: z.RefinementCtx): void {
  const prefixed = prefixes(config, registries);
  prefixed.forEach((a, i) => {
    for (const b of prefixed.slice(i + 1)) {
      if (a.source !== b.source && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix))) {
        ctx.addIssue({ code: 'custom', path: b.path, message: `account prefix "${b.prefix}" overlaps "${a.prefix}" of another sign-in method: each needs a prefix of its own` });
      }
    }
  });
  for (const { c, path, accounts } of declared(config, registries)) {
    const source = accounts?.source(c);
    for (const { name, path: under } of accounts?.names?.(c) ?? []) {
      const owner = prefixed.find((p) => name.startsWith(p.prefix) && p.source !== source);
      if (owner) ctx.addIssue({ code: 'custom', path: [...path, ...under], message: `user name starts with "${owner.prefix}", the account prefix of another sign-in method` });
    }
  }
}
