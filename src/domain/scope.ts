import { InvalidRequestError } from './errors.js';

/** One requested (or granted) resource: `type[(class)]:name:action,action`. */
export interface Scope {
  readonly type: string;
  /** The optional resource class, as in `repository(plugin):name:pull`. */
  readonly class?: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** Longest scope string accepted; a repository name is at most 255 characters. */
export const MAX_SCOPE_LENGTH = 512;
/** Most scopes accepted in one token request; real clients send one to three. */
export const MAX_SCOPES = 32;
/** Longest repository name (distribution reference grammar). */
export const MAX_NAME_LENGTH = 255;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const ACTION = /^(?:\*|[a-z]+)$/;
// Distribution reference grammar: optional `host[:port]/` prefix, then lower-case path
// components separated by `/`, each alphanumerics joined by `.`, `_`, `__` or dashes.
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

const PATH_COMPONENT_ONLY = new RegExp(`^${PATH_COMPONENT}$`);

/** The path-component grammar itself, for rules that build names from other values. */
export const REPOSITORY_PATH_COMPONENT = PATH_COMPONENT;

/**
 * True when `name` is one lower-case path component of a repository name (what an account must
 * be, since ACL rules put it in `${account}/*`), at most 255 bytes.
 */
export function isRepositoryPathComponent(name: string): boolean {
  return Buffer.byteLength(name) <= MAX_NAME_LENGTH && PATH_COMPONENT_ONLY.test(name);
}

/** True when `name` is a valid repository (or resource) name. */
export function isValidResourceName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

/**
 * Parses one scope. The name may hold `host:port/`, so the type ends at the first `:` and the
 * actions start after the last one. Throws InvalidRequestError naming the bad scope.
 */
export function parseScope(raw: string): Scope {
  // No closure per call, and no split or match arrays for the common `repository:name:pull`:
  // every token request parses its scope here.
  if (raw.length > MAX_SCOPE_LENGTH) invalidScope(raw, `longer than ${MAX_SCOPE_LENGTH} characters`);
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first < 0 || first === last) invalidScope(raw, 'expected type:name:actions');
  const typePart = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actionPart = raw.slice(last + 1);

  // A type without a class is the whole part: only a `(class)` needs the match's groups.
  const typeMatch = typePart.includes('(') ? TYPE.exec(typePart) : TYPE.test(typePart) ? undefined : null;
  if (typeMatch === null) invalidScope(raw, 'resource type must be lower-case letters and digits, optionally with a (class)');
  if (!isValidResourceName(name)) invalidScope(raw, 'resource name does not follow the repository name grammar');
  if (actionPart === '') invalidScope(raw, 'no actions');
  let actions: string[];
  if (!actionPart.includes(',')) {
    if (!ACTION.test(actionPart)) invalidScope(raw, `bad action ${JSON.stringify(truncate(actionPart))}`);
    actions = [actionPart];
  } else {
    actions = [];
    for (const action of actionPart.split(',')) {
      if (!ACTION.test(action)) invalidScope(raw, `bad action ${JSON.stringify(truncate(action))}`);
      if (!actions.includes(action)) actions.push(action);
    }
  }
  if (typeMatch === undefined) return { type: typePart, name, actions };
  const [, type, cls] = typeMatch!;
  return cls === undefined ? { type: type!, name, actions } : { type: type!, class: cls, name, actions };
}

function invalidScope(raw: string, why: string): never {
  throw new InvalidRequestError(`invalid scope ${JSON.stringify(truncate(raw))}: ${why}`);
}

/**
 * Parses every scope of a request and merges repeats of the same resource (anonymous
 * clients sometimes send the same scope twice). Order of first appearance is kept.
 */
export function parseScopes(raws: readonly string[]): Scope[] {
  // One scope, what a registry client sends for almost every pull: nothing to split or merge.
  const only = raws.length === 1 ? raws[0]! : undefined;
  if (only !== undefined && only !== '' && !only.includes(' ')) return [parseScope(only)];
  const parts = raws.flatMap((r) => r.split(' ')).filter((s) => s !== '');
  if (parts.length > MAX_SCOPES) {
    throw new InvalidRequestError(`too many scopes: at most ${MAX_SCOPES} per request`);
  }
  return mergeScopes(parts.map(parseScope));
}

/** Merges scopes naming the same resource into one, with the union of their actions. */
export function mergeScopes(scopes: readonly Scope[]): Scope[] {
  const byKey = new Map<string, { scope: Scope; actions: string[] }>();
  for (const scope of scopes) {
    const key = resourceKey(scope);
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, { scope, actions: [...scope.actions] });
      continue;
    }
    for (const a of scope.actions) if (!seen.actions.includes(a)) seen.actions.push(a);
  }
  return [...byKey.values()].map(({ scope, actions }) => ({ ...scope, actions }));
}

/** A stable identity for a resource: type, class and name. */
export function resourceKey(scope: Pick<Scope, 'type' | 'class' | 'name'>): string {
  return `${scope.type}(${scope.class ?? ''}):${scope.name}`;
}

/** Formats a scope back to the wire form. */
export function formatScope(scope: Scope): string {
  const type = scope.class === undefined ? scope.type : `${scope.type}(${scope.class})`;
  return `${type}:${scope.name}:${scope.actions.join(',')}`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
