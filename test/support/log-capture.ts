import pino, { type DestinationStream, type Logger } from 'pino';
import { createLogger } from '../../src/logging.js';

/**
 * One parsed log line. Fields are `any`: tests read what a component chose to log and assert on
 * it, so the assertion is the check.
 */
export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  [field: string]: any;
}

/** The log lines a test reads back: every test that looks at logs captures them this way. */
export interface LogCapture {
  /** A logger writing here (see `captureLog` for which). */
  readonly logger: Logger;
  /** Where the lines go: hand it to a logger built elsewhere (`createLogger(level, sink)`). */
  readonly sink: DestinationStream;
  /** Every line written since the start or the last `clear()`, parsed, oldest first. */
  readonly lines: LogLine[];
  /** Everything written since the start or the last `clear()`, exactly as written (for "no secret anywhere in the log" checks). */
  text(): string;
  /** The lines whose `event` is `name`, oldest first. */
  events(name: string): LogLine[];
  /** Forgets what was written so far, so a test reads only what its own requests log. */
  clear(): void;
}

/** How `captureLog` builds its logger. */
export interface CaptureOptions {
  /**
   * Plain pino without the process logger's redaction: what a component hands its logger, before
   * any safety net, so a search for secrets sees everything. Default false: `createLogger`.
   */
  unredacted?: boolean;
  /** Another capture that also receives every line (one capture for a whole file, say). */
  also?: LogCapture;
}

/**
 * Captures JSON log lines in memory. Its logger is the process logger (`createLogger`: redacted,
 * the `service` field, the request serializer) at `level`, or plain pino when `unredacted`.
 */
export function captureLog(level = 'debug', options: CaptureOptions = {}): LogCapture {
  let text = '';
  const lines: LogLine[] = [];
  const sink: DestinationStream = {
    // pino writes one line per call; a split keeps this honest for any other writer.
    write(chunk: string) {
      text += chunk;
      for (const line of chunk.split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      options.also?.sink.write(chunk);
    },
  };
  const logger = options.unredacted ? pino({ level }, sink) : createLogger(level, sink);
  return {
    logger,
    sink,
    lines,
    text: () => text,
    events: (name) => lines.filter((l) => l.event === name),
    clear: () => {
      text = '';
      lines.length = 0;
    },
  };
}
