import cluster from 'node:cluster';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
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
  const logger = pino(
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
  // Inherited by every child (pino's children are created from their parent).
  Object.defineProperty(logger, TAKES_SERIALIZED, { value: true });
  return logger;
}

/** Marks the loggers made by createLogger, whose lines logSerialized may write itself. */
const TAKES_SERIALIZED = Symbol('wharf.takesSerializedFields');

/**
 * Top-level names pino treats apart: what its redaction censors and what its serializers rewrite
 * (`req` here, `err` by default; `res` for fastify's). Fields with any of them take pino's own path.
 */
const PINO_TREATED = [...new Set([...REDACTED_PATHS.map((path) => path.split('.')[0]!), 'req', 'res', 'err'])];

const { symbols } = pino;

/** What pino keeps on a logger (or inherits from its parent) to start, end and write a line. */
interface PinoLineParts {
  [TAKES_SERIALIZED]?: true;
  /** `{"level":30` by level number. */
  [symbols.lsCacheSym]: Record<number, string>;
  /** `,"time":…` now (the logger's timestamp function). */
  [symbols.timeSym]: () => string;
  /** `,"service":"wharf",…`: the base and every binding down to this logger, serialised. */
  [symbols.chindingsSym]: string;
  [symbols.streamSym]: DestinationStream & { [symbols.needsMetadataGsym]?: boolean };
  /** `}` and the end of line. */
  [symbols.endSym]: string;
  [symbols.mixinSym]?: unknown;
  [symbols.formattersSym]: { log?: unknown };
}

/** pino traces its line making here (diagnostics_channel); a line made without it is not traced. */
const pinoLineTracing = diagnosticsChannel.tracingChannel('pino_asJson');

/** The log levels logSerialized writes at. */
export type SerializedLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Writes one line with `fields` (a plain JSON object, its last key `msg`) through `logger` at
 * `level`: the same line as `logger[level](fields)`, keys in the same order after the logger's
 * bindings, and nothing when the level is off. On the loggers createLogger makes (and their
 * children), the fields are serialised in one JSON.stringify and the line is put together here
 * from what pino would write first (level, time, bindings) and handed to the logger's stream:
 * pino's own serialisation joins every field into the line piece by piece, which for the
 * token_issued audit line was 3 KB of garbage per request, and its per-call steps (arguments,
 * format, merging) are for lines this one is not. Fields pino's redaction would censor (`token`,
 * `password`...) or its serializers rewrite (`err`, `req`) take pino's path, which does so, as do
 * loggers whose lines pino would change further (a mixin, a log formatter, a stream that reads
 * pino's metadata, a tracer subscribed to pino's line making).
 */
export function logSerialized(logger: Logger, level: SerializedLevel, fields: Readonly<Record<string, unknown>> & { readonly msg: string }): void {
  if (!logger.isLevelEnabled(level)) return;
  const parts = logger as unknown as PinoLineParts;
  const stream = parts[symbols.streamSym];
  if (parts[TAKES_SERIALIZED] !== true || parts[symbols.mixinSym] !== undefined || parts[symbols.formattersSym].log !== undefined || stream[symbols.needsMetadataGsym] === true || pinoLineTracing.hasSubscribers || hasTreatedField(fields)) {
    logger[level](fields);
    return;
  }
  // pino's line for no fields is `{"level":30,"time":…,<bindings>}` and a newline: the fields'
  // members go before its closing brace, so the fields' opening brace becomes that head.
  const head = `${parts[symbols.lsCacheSym][logger.levels.values[level]!]}${parts[symbols.timeSym]()}${parts[symbols.chindingsSym]},`;
  const object = JSON.stringify(fields);
  // Replacing the first character keeps the serialised fields as they are (the line is joined
  // into its batch later), where slicing them flattened a copy: 0.5 KB per audit line. A `$` in
  // the head would be read as a replacement pattern.
  const line = head.includes('$') ? head + object.slice(1) : object.replace('{', head);
  stream.write(parts[symbols.endSym] === '}\n' ? `${line}\n` : line.slice(0, -1) + parts[symbols.endSym]);
}

function hasTreatedField(fields: object): boolean {
  for (const name of PINO_TREATED) if (name in fields) return true;
  return false;
}

/**
 * Log lines on their way to a file descriptor, written asynchronously in batches: one write per
 * `batchBytes` of lines, and whatever is pending every `flushEveryMs`, so a lone line on a quiet
 * server does not wait for company.
 *
 * In place of pino.destination (sonic-boom): its string mode measures its pending chunk with
 * Buffer.byteLength on every line, which flattens the growing string each time; under load that
 * was 7.6 KB of garbage per audit line, the largest allocation of a token request. Here a line is
 * pushed onto an array and the batch is joined once.
 */
export class BatchedOutput implements DestinationStream {
  private lines: string[] = [];
  /** Characters pending (the batch threshold; bytes only differ for non-ASCII). */
  private pending = 0;
  private writing = false;
  /** Lines refused while the descriptor did not keep up and `maxPendingBytes` were waiting. */
  private dropped = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly timer: NodeJS.Timeout;
  private readonly batchBytes: number;
  private readonly maxPendingBytes: number;

  constructor(
    private readonly fd: number,
    private readonly options: {
      batchBytes?: number;
      flushEveryMs?: number;
      maxPendingBytes?: number;
      /**
       * Other processes write to the same pipe (the workers of serve --workers): write whole lines
       * of at most PIPE_BUF at a time, which the kernel keeps in one piece. Each such write is a
       * trip to the thread pool, behind the signatures, so a lone process writes a batch at once.
       */
      sharedPipe?: boolean;
    } = {},
  ) {
    this.batchBytes = options.batchBytes ?? 16 * 1024;
    this.maxPendingBytes = options.maxPendingBytes ?? 32 * 1024 * 1024;
    this.timer = setInterval(() => this.pending > 0 && !this.writing && this.writeBatch(), options.flushEveryMs ?? 500);
    this.timer.unref();
  }

  write(line: string): void {
    // A reader that stopped reading (a stuck log collector) must not grow the heap without bound:
    // lines beyond the cap are counted, and the count is logged once writing resumes.
    if (this.pending + line.length > this.maxPendingBytes) {
      this.dropped++;
      return;
    }
    this.lines.push(line);
    this.pending += line.length;
    if (!this.writing && this.pending >= this.batchBytes) this.writeBatch();
  }

  /** Calls `done` once every line written so far has reached the descriptor. */
  flush(done?: (err?: Error) => void): void {
    if (!this.writing && this.pending === 0) {
      if (done) setImmediate(done);
      return;
    }
    if (done) this.waiters.push(done);
    if (!this.writing) this.writeBatch();
  }

  /** At exit: what is pending, synchronously (a batch already under way finishes on its own). */
  flushSync(): void {
    const data = this.take();
    if (data.length > 0) writeAllSync(this.fd, data, this.options.sharedPipe === true);
  }

  /** Stops the timer; pending lines stay until flush(). */
  close(): void {
    clearInterval(this.timer);
  }

  private take(): Buffer {
    if (this.dropped > 0) {
      this.lines.push(`${JSON.stringify({ level: 40, time: Date.now(), service: 'wharf', msg: `${this.dropped} log lines dropped: the log output did not keep up` })}\n`);
      this.dropped = 0;
    }
    const data = Buffer.from(this.lines.join(''));
    this.lines = [];
    this.pending = 0;
    return data;
  }

  private writeBatch(): void {
    this.writing = true;
    this.writeOut(this.take(), 0);
  }

  private writeOut(data: Buffer, offset: number): void {
    const end = this.options.sharedPipe ? wholeLinesEnd(data, offset) : data.length;
    fs.write(this.fd, data, offset, end - offset, null, (err, written) => {
      if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
        // A non-blocking pipe that is full: try again shortly.
        setTimeout(() => this.writeOut(data, offset), 10).unref();
        return;
      }
      // Any other error (the reader went away) loses the rest of this batch: counted with the
      // dropped lines, so the notice says so if writing works again.
      if (err) this.dropped += countLines(data, offset);
      else if (offset + written < data.length) {
        this.writeOut(data, offset + written);
        return;
      }
      this.writing = false;
      if (this.pending > 0 && (this.waiters.length > 0 || this.pending >= this.batchBytes)) {
        this.writeBatch();
        return;
      }
      if (this.pending === 0) for (const done of this.waiters.splice(0)) done();
    });
  }
}

function countLines(data: Buffer, offset: number): number {
  let lines = 0;
  for (let at = data.indexOf(0x0a, offset); at !== -1; at = data.indexOf(0x0a, at + 1)) lines++;
  return lines;
}

function isRegularFile(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** Bytes a pipe takes in one piece (POSIX PIPE_BUF; 4096 on Linux). */
const PIPE_BUF = 4096;

/**
 * Where the write starting at `offset` should end: after the last newline within PIPE_BUF bytes,
 * or after the first newline beyond (a line longer than that goes whole, alone), or at the end.
 * UTF-8 never has a newline byte inside a character, so a cut there never splits one.
 */
function wholeLinesEnd(data: Buffer, offset: number): number {
  if (data.length - offset <= PIPE_BUF) return data.length;
  const last = data.lastIndexOf(0x0a, offset + PIPE_BUF - 1);
  if (last >= offset) return last + 1;
  const next = data.indexOf(0x0a, offset);
  return next === -1 ? data.length : next + 1;
}

function writeAllSync(fd: number, data: Buffer, wholeLines: boolean): void {
  let offset = 0;
  // A full non-blocking pipe gets a bounded number of tries: exiting matters more than the tail.
  for (let tries = 0; offset < data.length && tries < 10_000; tries++) {
    try {
      offset += fs.writeSync(fd, data, offset, (wholeLines ? wholeLinesEnd(data, offset) : data.length) - offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/** Standard output in batches, flushed when the process exits. */
function batchedStdout(): DestinationStream {
  // A regular file takes each write whole whatever its size; a pipe or socket only up to PIPE_BUF.
  const out = new BatchedOutput(1, { sharedPipe: cluster.isWorker && !isRegularFile(1) });
  process.once('exit', () => out.flushSync());
  return out;
}
