import { z } from 'zod';
import { nonAsciiAccountProblem } from '../../domain/account-name.js';
import { isRepositoryPathComponent } from '../../domain/scope.js';

/** One static user. */
export const staticUserSchema = z.strictObject({
  /** bcrypt hash made with `wharf hash-password` ($2a$/$2b$/$2y$). */
  passwordHash: z.string().regex(/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/, 'must be a bcrypt hash (make one with `wharf hash-password`)'),
  /** Extra identity attributes (e.g. groups) passed to authorizers. */
  attributes: z.record(z.string(), z.unknown()).default({}),
});

/** `type: static`: users with bcrypt password hashes in the config file. */
export const staticAuthnSchema = z
  .strictObject({
  type: z.literal('static'),
  /** Map of username to user; each name is the account, so it must be a valid registry name (a lower-case path component). */
  users: z.record(z.string(), staticUserSchema).default({}),
  /** How long a successful bcrypt check is remembered (keyed hash of the credentials). Default 60 s; 0 disables. */
  verifiedCacheSeconds: z.number().int().min(0).max(3600).default(60),
  })
  .superRefine((config, ctx) => {
    for (const name of Object.keys(config.users)) {
      const nonAscii = nonAsciiAccountProblem('the user name', name);
      if (nonAscii) {
        ctx.addIssue({ code: 'custom', path: ['users', name], message: nonAscii });
      } else if (!isRepositoryPathComponent(name)) {
        ctx.addIssue({ code: 'custom', path: ['users', name], message: 'a user name is an account and must be a lower-case registry name: letters and digits joined by single ".", "_", "__" or "-"' });
      }
    }
  });

export type StaticAuthnConfig = z.infer<typeof staticAuthnSchema>;
