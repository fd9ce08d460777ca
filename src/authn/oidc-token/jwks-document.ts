import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';

/** Key types an ID token may be verified with: asymmetric only (an `oct` key is a shared secret). */
const PUBLIC_KEY_TYPES = ['RSA', 'EC', 'OKP'];

/**
 * The public signing keys of a JWKS document. Fetched documents (`strict: false`) may list other
 * entries (an issuer's mistake): those are dropped and counted, never used. A JWKS written into
 * Wharf's own configuration (`strict: true`) must hold public keys only, each one usable: a
 * private key there is a leak to fix, not to skip. Pure (validation calls it).
 */
export function publicSigningKeys(doc: unknown, options: { strict: boolean }): { keys: JSONWebKeySet; dropped: number } | { error: string } {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { error: 'is not a JSON object' };
  const entries: unknown = (doc as Record<string, unknown>).keys;
  if (!Array.isArray(entries)) return { error: 'is not a JWK set (no "keys" array)' };
  const keys: JWK[] = [];
  for (const [i, entry] of entries.entries()) {
    const problem = keyProblem(entry, options.strict);
    if (problem === undefined) keys.push(entry as JWK);
    else if (options.strict) return { error: `key ${i} ${problem}` };
  }
  if (keys.length === 0) return { error: 'holds no public signing key' };
  return { keys: { keys }, dropped: entries.length - keys.length };
}

function keyProblem(entry: unknown, usable: boolean): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'is not an object';
  const key = entry as JWK;
  if (!PUBLIC_KEY_TYPES.includes(String(key.kty))) return `has kty ${JSON.stringify(key.kty)}, not ${PUBLIC_KEY_TYPES.join(', ')}`;
  if (key.d !== undefined) return 'is a private key ("d"): publish only the public half';
  if (key.use !== undefined && key.use !== 'sig') return `is for use ${JSON.stringify(key.use)}, not sig`;
  if (!usable) return undefined;
  try {
    createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
  } catch (err) {
    return `is not a usable public key (${err instanceof Error ? err.message : String(err)})`;
  }
  return undefined;
}
