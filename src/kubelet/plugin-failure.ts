/**
 * The plugin's exit codes. The kubelet treats every non-zero exit the same (it logs stderr and
 * pulls without this plugin's credential); the codes tell an operator running the plugin by hand
 * which side to fix.
 */
export const PLUGIN_EXIT = {
  ok: 0,
  /** A bug: an error nothing below expected (its message, never a stack trace). */
  internal: 1,
  /** The plugin's own settings: args or env of the CredentialProviderConfig, the CA file. */
  usage: 2,
  /** The CredentialProviderRequest on stdin: another apiVersion or kind, no token, a bad image. */
  request: 3,
  /** Wharf refused: the token, the image or the request (400, 401, 403). */
  refused: 4,
  /** Wharf unreachable, too slow, rate-limiting or failing (429, 5xx), or its answer unusable. */
  unavailable: 5,
} as const;

/** One of {@link PLUGIN_EXIT}'s codes. */
export type PluginExitCode = (typeof PLUGIN_EXIT)[keyof typeof PLUGIN_EXIT];

/**
 * Why the plugin gives no credential: one line for the kubelet's log that says what to fix, and
 * the exit code. Thrown wherever the plugin finds it and printed once by the entry point.
 */
export class PluginFailure extends Error {
  constructor(
    readonly exitCode: Exclude<PluginExitCode, 0>,
    message: string,
  ) {
    super(message);
    this.name = 'PluginFailure';
  }
}

// Base64url of `{"`, then anything a JWS's parts hold: a whole JWT, or a cut-off piece of one.
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)*/g;

/** Text with everything shaped like a JWT (or the start of one) replaced by `[redacted]`. */
export function redactJwts(text: string): string {
  return text.replace(JWT_LIKE, '[redacted]');
}
