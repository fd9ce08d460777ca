import { z } from 'zod';

/**
 * A login button's logo URL. Only https (or http on a loopback host, for local setups): the
 * login page is the one place a user decides whom to trust, so it never loads mixed content or
 * `javascript:`/`data:` URLs.
 */
export const loginLogoUrl = z.url().refine((value) => {
  const url = new URL(value);
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && /^(localhost|127\.[0-9.]+|\[::1\])$/.test(url.hostname);
}, 'must be an https URL (http only on a loopback host)');
