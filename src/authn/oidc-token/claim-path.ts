/**
 * The value a claim path names in a token's claims: a top-level claim (`repository_owner`), or
 * dotted keys into nested objects (`kubernetes.io.namespace`). Keys may themselves hold dots
 * (Kubernetes puts its facts under the one key `kubernetes.io`), so at each level the longest run
 * of segments that is a key there is taken, the whole remaining path first: `kubernetes.io.namespace`
 * is the top-level claim of that name if the token has one, else `namespace` inside
 * `kubernetes.io`. The longest key found is kept (no backtracking), so one path names one value.
 * Only own keys of plain objects are followed (never arrays, never `__proto__` or inherited
 * properties); undefined when the path names nothing.
 */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  return walk(claims, path.split('.'), 0);
}

function walk(object: Readonly<Record<string, unknown>>, segments: readonly string[], from: number): unknown {
  for (let end = segments.length; end > from; end--) {
    const key = segments.slice(from, end).join('.');
    if (!Object.hasOwn(object, key)) continue;
    const value = object[key];
    if (end === segments.length) return value;
    return isPlainObject(value) ? walk(value, segments, end) : undefined;
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
