import { isAbsolute } from 'node:path';
import { z } from 'zod';

/** A program and its arguments; run without a shell, so no quoting, globbing or `$VAR` expansion. */
export const commandArgvSchema = z
  .array(z.string().min(1))
  .min(1, 'name the program to run, e.g. [/usr/local/bin/check-password]')
  .refine((argv) => isAbsolute(argv[0]!), 'the program must be an absolute path (no PATH lookup)');

/** Extra environment variables for the command (not for secrets: the config file is not a secret store). */
export const commandEnvSchema = z
  .record(z.string(), z.string())
  .superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'must be an environment variable name' });
    }
  })
  .default({});
