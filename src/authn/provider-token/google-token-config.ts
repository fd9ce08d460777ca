import { z } from 'zod';
import { openSignupShape, requireRestriction } from '../../accounts/open-signup.js';
import { providerTokenCommonShape } from './provider-token-config.js';

/**
 * `type: google-token`: a Google OAuth access token as password (`ya29.…`, e.g. from
 * `gcloud auth print-access-token` or a workload's metadata server), checked with Google's
 * tokeninfo endpoint. The token must have been issued to one of `clientIds` and carry a verified
 * email (the `email` scope).
 */
export const googleTokenAuthnSchema = z
  .strictObject({
    type: z.literal('google-token'),
    /** Google's tokeninfo endpoint. Default `https://oauth2.googleapis.com/tokeninfo`. */
    tokeninfoUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('https://oauth2.googleapis.com/tokeninfo'),
    /** OAuth client ids whose tokens are accepted (the token's `aud` or `azp`). Required: any Google user can get a token for any client, so this is what keeps other apps' tokens out. */
    clientIds: z.array(z.string().min(1)).min(1, 'give the OAuth client ids whose tokens Wharf accepts'),
    /** Only these domains (the Workspace `hd`, else the email's domain; case-insensitive). Default: any. Required, with exactly one domain, for `accountFrom: email-local-part`. */
    allowedDomains: z.array(z.string().min(1)).default([]),
    /**
     * How the account is made from the verified email: `email-local-part` (default) `alice@acme.com` → `alice`;
     * `email` → `alice_at_acme.com` (lossless, so two domains can never collide). The result must be a
     * lower-case registry name, else the login is denied (nothing is rewritten to fit).
     */
    accountFrom: z.enum(['email-local-part', 'email']).default('email-local-part'),
    /** `any` (default, the `oauth2accesstoken` convention): any docker username. `match`: the username must be the account or the email (case-insensitive). */
    usernamePolicy: z.enum(['match', 'any']).default('any'),
    ...openSignupShape,
    ...providerTokenCommonShape,
  })
  .superRefine((config, ctx) => {
    requireRestriction(config, config.allowedDomains.length > 0, 'every Google account with a token for the client', 'allowedDomains', ctx);
    // alice@acme.com and alice@gmail.com would both be `alice`.
    if (config.accountFrom === 'email-local-part' && config.allowedDomains.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedDomains'],
        message: 'accountFrom email-local-part needs exactly one allowed domain, or users of different domains share accounts (use accountFrom: email otherwise)',
      });
    }
  });

/** The validated `type: google-token` config. */
export type GoogleTokenAuthnConfig = z.infer<typeof googleTokenAuthnSchema>;
