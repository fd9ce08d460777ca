import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

/**
 * A logger writing JSON lines to memory, at the most verbose level and without pino's redaction:
 * what a component hands its logger, before any safety net. Conformance suites search it for
 * secrets.
 */
export function capturedLogger(): { logger: Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => text };
}
