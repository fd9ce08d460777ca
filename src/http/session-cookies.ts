import type {} from '@fastify/cookie';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BrowserSessions, Session } from '../flows/browser-sessions.js';

export const SESSION_COOKIE = 'wharf_session';
export const LOGIN_COOKIE = 'wharf_login';

/** Cookie attributes: HttpOnly, SameSite=Lax, Secure when Wharf is served over https, signed. */
export function cookieOptions(secure: boolean, maxAgeSeconds: number, crossSitePost = false) {
  // A browser sends a SameSite=Lax cookie on top-level GETs from other sites only; a provider that
  // posts the browser back needs SameSite=None, which browsers accept only with Secure.
  if (crossSitePost) return { path: '/', httpOnly: true, sameSite: 'none' as const, secure: true, signed: true, maxAge: maxAgeSeconds };
  return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure, signed: true, maxAge: maxAgeSeconds };
}

/** The value of a signed cookie, or undefined when absent or tampered with. */
export function signedCookie(request: FastifyRequest, name: string): string | undefined {
  const raw = request.cookies[name];
  if (!raw) return undefined;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid && unsigned.value !== null ? unsigned.value : undefined;
}

/** The session of this browser, if it is signed in. */
export async function currentSession(request: FastifyRequest, sessions: BrowserSessions): Promise<{ id: string; session: Session } | undefined> {
  const id = signedCookie(request, SESSION_COOKIE);
  const session = await sessions.get(id);
  return id && session ? { id, session } : undefined;
}

/**
 * Whether a secret the browser sent back (a CSRF token, an OAuth `state`) is the expected one.
 * Both are hashed to equal-length digests and compared in constant time, so the time taken tells
 * an attacker neither how much of a guess was right nor the expected length. A missing or empty
 * value on either side never matches.
 */
export function sameSecret(given: unknown, expected: string | undefined): boolean {
  if (typeof given !== 'string' || given === '' || expected === undefined || expected === '') return false;
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** Sends the browser to log in, coming back to where it was. */
export function redirectToLogin(request: FastifyRequest, reply: FastifyReply) {
  return reply.redirect(`/login?return_to=${encodeURIComponent(request.url)}`);
}

/** Longest `return_to` followed; a longer one is not a page of Wharf's. */
const MAX_RETURN_TO = 500;

/**
 * Where to send the browser after login: `value` resolved against `publicUrl` the way a browser
 * resolves a Location header (tabs and newlines dropped, `\\` read as `/`), followed only when
 * it stays on publicUrl's origin, else `/account`. The answer is absolute, so no path that
 * normalises to `//host` can turn into a protocol-relative redirect (no open redirect).
 */
export function safeReturnTo(value: unknown, publicUrl: string): string {
  const fallback = new URL('/account', publicUrl).href;
  if (typeof value !== 'string' || value.length >= MAX_RETURN_TO) return fallback;
  let target: URL;
  try {
    target = new URL(value, publicUrl);
  } catch {
    return fallback;
  }
  return target.origin === new URL(publicUrl).origin && target.username === '' && target.password === '' ? target.href : fallback;
}
