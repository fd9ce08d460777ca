import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear; secrets must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'password',
  'token',
  'refresh_token',
  '*.password',
  '*.token',
  '*.refresh_token',
];

/** The process logger: JSON lines, redacted. Tests pass a destination to read the lines. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'wharf' } }, destination);
}
