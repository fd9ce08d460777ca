import { request as undiciRequest, type Dispatcher } from 'undici';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';

/** Why an upstream call produced no usable answer. */
export type UpstreamFailure = 'timeout' | 'connection' | 'circuit_open' | 'server_error' | 'too_large';

/** An upstream call that failed for a reason other than the upstream's own 4xx/2xx answer. */
export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly failure: UpstreamFailure,
    /** What went wrong, without the upstream's name the message starts with (for reasons shown to users). */
    readonly why: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(`${upstream}: ${why}`, options);
    this.name = 'UpstreamError';
  }
}

/** An upstream's answer, read whole (bounded). */
export interface UpstreamResponse {
  status: number;
  contentType: string;
  body: string;
  /** The `Link` header (RFC 8288), by which paged APIs name the next page. */
  link?: string | undefined;
}

/** Options of one upstream (introspection endpoint, authz webhook...). */
export interface UpstreamClientOptions {
  /** Name used in errors and logs. */
  name: string;
  /** Per-attempt timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** Extra attempts after a connection error or a 502/503/504. Default 1. */
  retries?: number;
  /** Base of the jittered exponential backoff between attempts, in ms. Default 50. */
  retryBaseDelayMs?: number;
  /** Largest response body read, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long an open circuit refuses calls, in ms. Default 10000. */
  openMs?: number;
  /**
   * The breaker to consult and feed instead of one built from `failureThreshold` and `openMs`:
   * for an owner that reports the circuit itself (a remote authorizer's readiness).
   */
  circuit?: CircuitBreaker;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Told the outcome and duration of every request (metrics). */
  observer?: UpstreamObserver;
  /** The connection pool to use instead of undici's global one: an upstream with its own CA bundle brings its own. */
  dispatcher?: Dispatcher;
}

/** Receives `ok` or the failure kind, and the seconds a request took (retries included). */
export type UpstreamObserver = (upstream: string, outcome: 'ok' | UpstreamFailure, seconds: number) => void;

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * HTTP to an upstream with a timeout, bounded retries with full jitter on connection errors and
 * 502/503/504, a circuit breaker, and a cap on the body size. Any other status is returned for
 * the caller to interpret; 5xx after retries count as failures and throw.
 */
export class UpstreamClient {
  readonly name: string;
  private readonly breaker: CircuitBreaker;
  private readonly options: Required<Omit<UpstreamClientOptions, 'name' | 'observer' | 'circuit' | 'dispatcher'>>;
  private readonly observer: UpstreamObserver | undefined;
  private readonly dispatcher: Dispatcher | undefined;

  constructor(options: UpstreamClientOptions) {
    this.name = options.name;
    this.options = {
      timeoutMs: options.timeoutMs ?? 2000,
      retries: options.retries ?? 1,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 50,
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      failureThreshold: options.failureThreshold ?? 5,
      openMs: options.openMs ?? 10_000,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      random: options.random ?? Math.random,
    };
    this.observer = options.observer;
    this.dispatcher = options.dispatcher;
    this.breaker = options.circuit ?? new CircuitBreaker({ failureThreshold: this.options.failureThreshold, openMs: this.options.openMs, now: this.options.now });
  }

  circuitState(): CircuitState {
    return this.breaker.state();
  }

  async request(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<UpstreamResponse> {
    const started = performance.now();
    try {
      const response = await this.send(url, init);
      this.observer?.(this.name, 'ok', (performance.now() - started) / 1000);
      return response;
    } catch (err) {
      this.observer?.(this.name, err instanceof UpstreamError ? err.failure : 'connection', (performance.now() - started) / 1000);
      throw err;
    }
  }

  private async send(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<UpstreamResponse> {
    if (!this.breaker.allow()) throw new UpstreamError(this.name, 'circuit_open', 'circuit open after repeated failures; not calling');
    let lastError: UpstreamError | undefined;
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (attempt > 0) await this.options.sleep(this.options.random() * this.options.retryBaseDelayMs * 2 ** (attempt - 1));
      try {
        const response = await this.attempt(url, init);
        if (!RETRYABLE_STATUS.has(response.status) && response.status < 500) {
          this.breaker.success();
          return response;
        }
        lastError = new UpstreamError(this.name, 'server_error', `answered ${response.status}`, response.status);
        if (!RETRYABLE_STATUS.has(response.status)) break;
      } catch (err) {
        lastError = err as UpstreamError;
        if (lastError.failure === 'timeout' || lastError.failure === 'too_large') break;
      }
    }
    this.breaker.failure();
    throw lastError!;
  }

  // undici's request() rather than fetch(): the same connection pool, without a WHATWG Request,
  // Response and web stream per call. Upstream calls are on every cold token request, and fetch's
  // per-call objects were a third of the cold path's allocation.
  private async attempt(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<UpstreamResponse> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      const response = await undiciRequest(url, { method: init.method as 'GET' | 'POST', headers: init.headers, body: init.body ?? null, signal: controller.signal, ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}) });
      if (response.statusCode >= 300 && response.statusCode < 400) {
        response.body.destroy();
        throw new UpstreamError(this.name, 'connection', `answered ${response.statusCode}: redirects are not followed`, response.statusCode);
      }
      const body = await readBounded(response.body, this.options.maxBodyBytes, this.name);
      const type = response.headers['content-type'];
      const link = response.headers.link;
      return { status: response.statusCode, contentType: (Array.isArray(type) ? type[0] : type) ?? '', body, ...(link !== undefined ? { link: Array.isArray(link) ? link.join(', ') : link } : {}) };
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      if (controller.signal.aborted) throw new UpstreamError(this.name, 'timeout', `no answer within ${this.options.timeoutMs} ms`, undefined, { cause: err });
      throw new UpstreamError(this.name, 'connection', `connection failed (${describe(err)})`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) {
      body.destroy();
      throw new UpstreamError(name, 'too_large', `answer larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  // The system error under undici's own (ECONNREFUSED under UND_ERR_SOCKET...) says more.
  return e?.cause?.code ?? e?.code ?? (err instanceof Error ? err.message : String(err));
}
