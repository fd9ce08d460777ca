import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear; secrets must never reach a log line. */
// Exact paths only: wildcard paths make pino's redaction walk every logged object, a measurable
// share of the hot path. No code logs secrets; this is the safety net for request objects.
export const REDACTED_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'password', 'token', 'refresh_token'];

/** The process logger: JSON lines, redacted. Tests pass a destination to read the lines. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  // Standard output is written asynchronously in 4 KiB batches (and flushed on exit), so a busy
  // token endpoint does not make one write syscall per log line.
  const out = destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'wharf' } }, out);
}
