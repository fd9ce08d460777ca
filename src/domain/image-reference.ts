import { InvalidRequestError } from './errors.js';
import { isValidResourceName } from './scope.js';

/** An image reference split the way a registry client splits it. */
export interface ImageReference {
  /** The registry host (with its port), `docker.io` when the reference names none. */
  readonly registry: string;
  /** The repository within it, without tag or digest (`team-a/app`). */
  readonly repository: string;
}

/** Longest image reference read: a 255-byte name, a host, a tag and a sha512 digest fit well. */
const MAX_REFERENCE_LENGTH = 1024;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/**
 * Reads an image reference as the kubelet hands it to a credential provider
 * (`registry.example:5000/team-a/app:1.0`, `…/app@sha256:…`, `localhost/app`), with the
 * reference grammar of distribution: the first component is a host only when it holds a `.` or a
 * `:`, or is `localhost`; otherwise the reference is Docker Hub's (`library/` added to a one-part
 * name). Throws InvalidRequestError saying what is wrong.
 */
export function parseImageReference(image: string): ImageReference {
  const fail = (why: string): never => {
    throw new InvalidRequestError(`invalid image reference ${JSON.stringify(image.slice(0, 200))}: ${why}`);
  };
  if (image.length === 0 || image.length > MAX_REFERENCE_LENGTH) fail(`expected 1 to ${MAX_REFERENCE_LENGTH} characters`);
  let rest = image;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) fail('the digest is not algorithm:hex');
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasHost ? first : 'docker.io';
  let path = hasHost ? rest.slice(slash + 1) : rest;
  // A tag follows the last `:` after the last `/` (a host's port is not a tag).
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    if (!TAG.test(path.slice(colon + 1))) fail('the tag is not a valid tag');
    path = path.slice(0, colon);
  }
  if (!hasHost && !path.includes('/')) path = `library/${path}`;
  if (!isValidResourceName(path) || path.includes(':')) fail('the repository is not a valid name (lower-case components separated by /)');
  return { registry, repository: path };
}
