import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear; secrets must never reach a log line. */
// Exact paths only: wildcard paths make pino's redaction walk every logged object, a measurable
// share of the hot path. No code logs secrets; this is the safety net for request objects.
export const REDACTED_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'password', 'token', 'refresh_token'];

/** The process logger: JSON lines, redacted. Tests pass a destination to read the lines. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const out = destination ?? batchedStdout();
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'wharf' } }, out);
}

/** How often a partly filled batch is written anyway. */
const FLUSH_EVERY_MS = 500;

/**
 * Standard output, written asynchronously in 4 KiB batches: a busy token endpoint makes one write
 * per dozen lines instead of one per line. A quiet server would otherwise hold a lone audit line
 * until 4 KiB more arrive, so the batch is also written every half second.
 */
function batchedStdout(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  let flushing = false;
  const timer = setInterval(() => {
    if (flushing) return;
    flushing = true;
    out.flush(() => (flushing = false));
  }, FLUSH_EVERY_MS);
  timer.unref();
  return out;
}
