import { z } from 'zod';

/** A string that parses as an absolute http: or https: URL. */
export const httpUrl = z.string().refine((s) => {
  try {
    return ['http:', 'https:'].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}, 'not an http(s) URL');
