import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear; secrets must never reach a log line. */
// Exact paths only: wildcard paths make pino's redaction walk every logged object, a measurable
// share of the hot path. No code logs secrets; this is the safety net for request objects.
export const REDACTED_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'password', 'token', 'refresh_token'];

/**
 * Query parameters whose values are one-time secrets or credentials: an OAuth `code` and `state`
 * on the login callback, a device `user_code`, and tokens a client may put in a URL. Whoever reads
 * the log must not be able to finish someone else's sign-in with them.
 */
const SECRET_QUERY_PARAMETERS = new Set(['code', 'state', 'user_code', 'device_code', 'access_token', 'id_token', 'refresh_token', 'token', 'password', 'client_secret']);

/** `url` with the values of secret query parameters replaced by `[redacted]`; everything else as sent. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return SECRET_QUERY_PARAMETERS.has(decodedName(name)) ? `${name}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** A parameter name as the query parser reads it (`us%65r_code` is `user_code`), lower-cased. */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/** The request fields fastify logs by default, with the URL redacted. */
interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** The process logger: JSON lines, redacted. Tests pass a destination to read the lines. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const out = destination ?? batchedStdout();
  return pino(
    {
      level,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { service: 'wharf' },
      // Fastify's request serializer, except that the URL loses its secret query values; the
      // logger's own serializers take precedence over fastify's.
      serializers: {
        req: (req: LoggedRequest) => ({ method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }),
      },
    },
    out,
  );
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
