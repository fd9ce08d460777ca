import { intersectActions } from './access.js';
import { InvalidRequestError } from './errors.js';
import { compileGlob } from './glob.js';
import type { Scope } from './scope.js';

/** The registry actions a credential's scope may name; `*` is all of them. */
export const CREDENTIAL_ACTIONS = ['pull', 'push', 'delete', '*'] as const;

/** One action a credential's scope allows on repositories. */
export type CredentialAction = (typeof CREDENTIAL_ACTIONS)[number];

/**
 * One entry of a credential's scope: repositories (globs as the ACL's: `*` any run including `/`,
 * `?` one character) with the actions allowed on them; or `catalog` (`registry:catalog:*`); or
 * `manage` (the credential may list, create, rotate and revoke the account's credentials through
 * the API, each new one inside its own scope). An entry may hold several of these.
 */
export interface CredentialScopeEntry {
  readonly repositories?: readonly string[];
  readonly actions?: readonly CredentialAction[];
  readonly catalog?: boolean;
  readonly manage?: boolean;
}

/**
 * What a credential may be used for. Absent (undefined) means the account's full rights (every
 * credential made before scopes existed); a scope only ever narrows what the account may do now.
 */
export type CredentialScope = readonly CredentialScopeEntry[];

/** Most entries, and repositories per entry, a scope may hold: a scope is typed by people. */
export const MAX_SCOPE_ENTRIES = 32;
const MAX_GLOB_LENGTH = 255;
/** What a repository glob may hold: a name's characters and the two wildcards (no `${account}`: a scope names repositories literally). */
const GLOB = /^[A-Za-z0-9._\-/:*?]+$/;

/** Why a requested action was removed by a credential's scope, for the audit line. */
export const OUT_OF_CREDENTIAL_SCOPE = "not in the credential's scope";

/**
 * Reads a scope from untrusted input (a JSON body, a stored record). Throws InvalidRequestError
 * naming the first problem.
 */
export function parseCredentialScope(raw: unknown): CredentialScope {
  const fail = (why: string): never => {
    throw new InvalidRequestError(`invalid credential scope: ${why}`);
  };
  if (!Array.isArray(raw)) return fail('expected a list of entries');
  if (raw.length > MAX_SCOPE_ENTRIES) fail(`at most ${MAX_SCOPE_ENTRIES} entries`);
  return raw.map((entry: unknown, i): CredentialScopeEntry => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return fail(`entry ${i} is not an object`);
    const { repositories, actions, catalog, manage, ...rest } = entry as Record<string, unknown>;
    const unknownKey = Object.keys(rest)[0];
    if (unknownKey !== undefined) fail(`entry ${i} has an unknown field ${JSON.stringify(unknownKey.slice(0, 40))}`);
    if (catalog !== undefined && typeof catalog !== 'boolean') fail(`entry ${i}: catalog must be true or false`);
    if (manage !== undefined && typeof manage !== 'boolean') fail(`entry ${i}: manage must be true or false`);
    if ((repositories === undefined) !== (actions === undefined)) fail(`entry ${i}: repositories and actions go together`);
    const out: { repositories?: string[]; actions?: CredentialAction[]; catalog?: boolean; manage?: boolean } = {};
    if (repositories !== undefined) {
      if (!Array.isArray(repositories) || repositories.length === 0 || repositories.length > MAX_SCOPE_ENTRIES) fail(`entry ${i}: repositories must be a list of 1 to ${MAX_SCOPE_ENTRIES} names`);
      for (const glob of repositories as unknown[]) {
        if (typeof glob !== 'string' || glob.length > MAX_GLOB_LENGTH || !GLOB.test(glob)) fail(`entry ${i}: a repository must be a name or glob (letters, digits, . _ - / : * ?) of 1 to ${MAX_GLOB_LENGTH} characters`);
      }
      if (!Array.isArray(actions) || actions.length === 0 || actions.some((a) => !(CREDENTIAL_ACTIONS as readonly unknown[]).includes(a))) {
        fail(`entry ${i}: actions must be a list of ${CREDENTIAL_ACTIONS.join(', ')}`);
      }
      out.repositories = [...new Set(repositories as string[])];
      out.actions = [...new Set(actions as CredentialAction[])];
    }
    if (catalog === true) out.catalog = true;
    if (manage === true) out.manage = true;
    if (Object.keys(out).length === 0) fail(`entry ${i} allows nothing`);
    return out;
  });
}

/**
 * The actions of `requested` a credential's scope allows (before the account's own rights are
 * asked): repositories by their globs, `push` implying `pull` as in the ACL; the catalog only by a
 * `catalog` entry; any other resource type never.
 */
export function actionsInScope(scope: CredentialScope, requested: Scope): string[] {
  if (requested.type === 'registry') {
    return requested.name === 'catalog' && scope.some((e) => e.catalog === true) ? [...requested.actions] : [];
  }
  if (requested.type !== 'repository') return [];
  const allowed = new Set<string>();
  for (const entry of scope) {
    if (!entry.repositories?.some((glob) => compiled(glob).test(requested.name))) continue;
    for (const action of entry.actions ?? []) allowed.add(action);
  }
  return intersectActions(requested.actions, [...allowed]);
}

/**
 * Which entries of a scope reach `requested`, in words, for explanations: `entry 0 allows pull
 * on alice/app`, or that none names it. Says nothing on its own about what is granted: that is
 * actionsInScope's answer.
 */
export function describeScopeFor(scope: CredentialScope, requested: Scope): string {
  if (requested.type === 'registry' && requested.name === 'catalog') {
    const at = scope.findIndex((e) => e.catalog === true);
    return at < 0 ? 'no entry allows registry:catalog:*' : `entry ${at} allows registry:catalog:*`;
  }
  if (requested.type !== 'repository') return `a credential's scope reaches no ${requested.type} resources`;
  const reaching = scope.flatMap((e, i) =>
    e.repositories?.some((glob) => compiled(glob).test(requested.name)) ? [`entry ${i} allows ${(e.actions ?? []).join(', ')} on ${e.repositories.join(', ')}`] : [],
  );
  return reaching.length === 0 ? `no entry names ${requested.name}` : reaching.join('; ');
}

/** Compiled globs, as scopes are checked on every token request; bounded, since scopes come from users. */
const compiledGlobs = new Map<string, RegExp>();
function compiled(glob: string): RegExp {
  let re = compiledGlobs.get(glob);
  if (!re) {
    if (compiledGlobs.size >= 4096) compiledGlobs.clear();
    re = compileGlob(glob);
    compiledGlobs.set(glob, re);
  }
  return re;
}

/** Whether a scope grants the management right (the credential API). */
export function canManage(scope: CredentialScope | undefined): boolean {
  return scope === undefined || scope.some((e) => e.manage === true);
}

/**
 * Whether every right of `inner` is also a right of `outer` (undefined: the account's full rights),
 * so a credential making another never widens its own reach. Globs are compared conservatively: an
 * inner glob must be matched, as a literal string, by an outer glob (`alice/*` covers `alice/app`
 * and `alice/*`, not `*`).
 */
export function scopeWithin(inner: CredentialScope | undefined, outer: CredentialScope | undefined): boolean {
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  const expand = (actions: readonly string[]) => (actions.includes('*') ? ['pull', 'push', 'delete'] : actions);
  return inner.every((entry) => {
    if (entry.catalog === true && !outer.some((o) => o.catalog === true)) return false;
    if (entry.manage === true && !outer.some((o) => o.manage === true)) return false;
    return (entry.repositories ?? []).every((glob) => {
      const covering = outer.filter((o) => o.repositories?.some((g) => globCovers(g, glob)));
      const allowed = covering.flatMap((o) => expand(o.actions ?? []));
      const implied = allowed.includes('push') ? [...allowed, 'pull'] : allowed;
      return expand(entry.actions ?? []).every((a) => implied.includes(a));
    });
  });
}

/**
 * Whether every name `inner` matches is matched by `outer`: `inner` read as a string that outer's
 * `*` matches any run of and outer's `?` one character of, except a `*` (which stands for many).
 */
function globCovers(outer: string, inner: string): boolean {
  const source = outer
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '[^*]' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(inner);
}

/** One scope entry per repository glob as the CLI writes it: `repository:NAME:ACTION[,ACTION]`, or `registry:catalog:*`. */
export function parseScopeShorthand(text: string): CredentialScopeEntry {
  if (text === 'registry:catalog:*') return { catalog: true };
  if (text === 'manage') return { manage: true };
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (text.slice(0, first) !== 'repository' || first === last) {
    throw new InvalidRequestError(`invalid scope ${JSON.stringify(text.slice(0, 80))}: expected repository:NAME:ACTIONS, registry:catalog:* or manage`);
  }
  return parseCredentialScope([{ repositories: [text.slice(first + 1, last)], actions: text.slice(last + 1).split(',') }])[0]!;
}
