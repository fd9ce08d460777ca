import type { Scope } from './scope.js';

/** What a token grants on one resource; the JWT `access` array holds these. */
export type Grant = Scope;

/**
 * Intersects requested actions with allowed ones. `*` on the allowed side grants whatever was
 * asked; `push` allowed implies `pull`. The result keeps the requested order.
 */
export function intersectActions(requested: readonly string[], allowed: readonly string[]): string[] {
  if (allowed.includes('*')) return [...requested];
  const effective = new Set(allowed);
  if (effective.has('push')) effective.add('pull');
  return requested.filter((a) => effective.has(a));
}
