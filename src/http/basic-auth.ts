import { InvalidRequestError, UnauthorizedError } from '../domain/errors.js';

/** Longest Authorization header accepted; platform tokens and JWT passwords fit easily. */
export const MAX_AUTHORIZATION_LENGTH = 8192;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// ignoreBOM keeps a leading U+FEFF as part of the username instead of silently dropping it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Every Authorization header of a request. Node keeps only the first of repeated Authorization
 * headers, so they are counted from the raw list: a proxy reading the last one must not see a
 * different identity than Wharf.
 */
export function authorizationHeaders(rawHeaders: readonly string[]): string | string[] | undefined {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'authorization') values.push(rawHeaders[i + 1]!);
  }
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
}

/** Username and password from an HTTP Basic header, or undefined when there is no header. */
export function parseBasicAuth(header: string | string[] | undefined): { username: string; password: string } | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw new InvalidRequestError('more than one Authorization header');
  if (header.length > MAX_AUTHORIZATION_LENGTH) throw new InvalidRequestError(`Authorization header longer than ${MAX_AUTHORIZATION_LENGTH} bytes`);
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'basic') {
    throw new UnauthorizedError(`unsupported authorization scheme ${JSON.stringify(scheme.slice(0, 20))}: use HTTP Basic with your username and password or token`);
  }
  const encoded = header.slice(space + 1).trim();
  if (space < 0 || encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
    throw new InvalidRequestError('Basic credentials are not valid base64');
  }
  const decoded = decodeCredentials(encoded);
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidRequestError('Basic credentials must be username:password');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Room for the longest header's credentials, decoded: base64 takes 4 characters for 3 bytes. */
const scratch = Buffer.alloc((MAX_AUTHORIZATION_LENGTH / 4) * 3);

/**
 * `encoded` (checked base64) as the UTF-8 text it encodes. Decoded into one buffer kept for it
 * (used and read again before anything else runs): every token request carries Basic credentials,
 * and a buffer of their own per request was most of this parse's cost. ASCII, what nearly every
 * username and token is, is the same text read as latin1, which asks no decoder.
 */
function decodeCredentials(encoded: string): string {
  const length = scratch.write(encoded, 'base64');
  try {
    let ascii = true;
    for (let i = 0; i < length && ascii; i++) ascii = scratch[i]! < 0x80;
    if (ascii) return scratch.toString('latin1', 0, length);
    try {
      return utf8.decode(scratch.subarray(0, length));
    } catch {
      throw new InvalidRequestError('Basic credentials are not valid UTF-8');
    }
  } finally {
    // The buffer outlives the request: the password it held is not left in it for the next one.
    scratch.fill(0, 0, length);
  }
}
