/**
 * One path component of a registry repository name (distribution's grammar), which an account
 * made from a provider's login or email must be: `ACL ${account}/*` rules interpolate it.
 * (The same grammar is in oidc-token/account-template.ts; backends do not import each other. It
 * belongs in domain/identity.ts once that file is free to change.)
 */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** True when `name` is one lower-case registry name component of at most 255 bytes. */
export function isRegistryNameComponent(name: string): boolean {
  return Buffer.byteLength(name) <= 255 && COMPONENT.test(name);
}
