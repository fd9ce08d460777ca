import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';

/** One request the fake platform received, parsed. */
export interface FakeRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Lower-cased header names, as node:http gives them. */
  readonly headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (signatures are computed over it). */
  readonly body: string;
  /** The body parsed as JSON when it is JSON, else undefined. */
  readonly json: unknown;
  /** The body parsed as a form when it is `application/x-www-form-urlencoded`, else undefined. */
  readonly form: URLSearchParams | undefined;
}

/** What a handler answers. An object body is sent as JSON. */
export interface FakeResponse {
  status: number;
  body?: string | object;
  /** Default `application/json` for object bodies, `text/plain` for strings. */
  contentType?: string;
  headers?: Record<string, string>;
}

/** Produces the answer for one path. */
export type FakeHandler = (request: FakeRequest) => FakeResponse | Promise<FakeResponse>;

/**
 * A misbehaviour applied to a path instead of (or around) its handler. `times` limits it to the
 * next N requests on that path; without it the fault stays until cleared.
 */
export type Fault = (
  | { kind: 'slow'; ms: number } // waits, then answers normally
  | { kind: 'status'; status: number; body?: string; contentType?: string }
  | { kind: 'malformed' } // 200 application/json with broken JSON
  | { kind: 'reset' } // reads the request, then destroys the socket without answering
  | { kind: 'wrong_content_type' } // the handler's answer, sent as text/html
  | { kind: 'huge' } // 200 application/json of several MB
) & { times?: number };

/** The ways an HTTP upstream is down, as the conformance suites try each; `refused`: nothing listens. */
export const HTTP_OUTAGES: Readonly<Record<string, Fault | 'refused'>> = {
  'connection refused': 'refused',
  'answers 500': { kind: 'status', status: 500 },
  'times out': { kind: 'slow', ms: 1500 },
  'resets the connection': { kind: 'reset' },
  'answers garbage': { kind: 'malformed' },
};

/** A real HTTP server standing in for a platform (authz webhook, introspection, SAGE). */
export interface FakePlatform {
  /** Base URL, `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** Every request received, in arrival order (faulted ones included). */
  readonly calls: FakeRequest[];
  /** Requests received on `path`. */
  count(path: string): number;
  setHandler(path: string, handler: FakeHandler): void;
  setFault(path: string, fault: Fault | undefined): void;
  close(): Promise<void>;
}

/** Size of the `huge` answer: well above UpstreamClient's default 1 MiB cap. */
const HUGE_BYTES = 4 * 1024 * 1024;

/** Starts a fake platform on 127.0.0.1 and a kernel-chosen port. */
export async function startFakePlatform(): Promise<FakePlatform> {
  const handlers = new Map<string, FakeHandler>();
  const faults = new Map<string, Fault>();
  const calls: FakeRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const target = new URL(req.url ?? '/', 'http://fake');
      const contentType = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
      const request: FakeRequest = {
        method: req.method ?? 'GET',
        path: target.pathname,
        query: target.searchParams,
        headers: req.headers,
        body,
        json: parseJson(body),
        form: contentType === 'application/x-www-form-urlencoded' ? new URLSearchParams(body) : undefined,
      };
      calls.push(request);
      void respond(request, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) send(res, { status: 500, body: `fake platform handler failed: ${String(err)}` });
      });
    });
  });

  async function respond(request: FakeRequest, res: ServerResponse): Promise<void> {
    const fault = takeFault(request.path);
    const handle = async () => {
      const handler = handlers.get(request.path);
      return handler ? handler(request) : { status: 404, body: { error: `fake platform: no handler for ${request.path}` } };
    };
    switch (fault?.kind) {
      case undefined:
        return send(res, await handle());
      case 'slow':
        await pause(fault.ms);
        return send(res, await handle());
      case 'status':
        return send(res, { status: fault.status, body: fault.body ?? '', contentType: fault.contentType ?? 'text/plain' });
      case 'malformed':
        return send(res, { status: 200, body: '{"decisions": [{"type": "repository", "name": ', contentType: 'application/json' });
      case 'reset':
        res.socket?.destroy();
        return;
      case 'wrong_content_type': {
        const answer = await handle();
        return send(res, { ...answer, contentType: 'text/html; charset=utf-8' });
      }
      case 'huge': {
        const item = '{"type":"repository","name":"filler","allowed":["pull"]},';
        const filler = item.repeat(Math.ceil(HUGE_BYTES / item.length));
        return send(res, { status: 200, body: `{"decisions":[${filler}{"type":"repository","name":"end","allowed":[]}]}`, contentType: 'application/json' });
      }
    }
  }

  function takeFault(path: string): Fault | undefined {
    const fault = faults.get(path);
    if (fault?.times === undefined) return fault;
    if (fault.times <= 1) faults.delete(path);
    else faults.set(path, { ...fault, times: fault.times - 1 });
    return fault;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    count: (path) => calls.filter((c) => c.path === path).length,
    setHandler: (path, handler) => void handlers.set(path, handler),
    setFault: (path, fault) => void (fault ? faults.set(path, fault) : faults.delete(path)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        // Keep-alive sockets of fetch's pool would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

/**
 * A fake platform for a whole test file: started before its first test and closed after its last.
 * Before each test every path of `routes` gets its handler back and loses any fault, so what one
 * test set up on them never leaks into the next. The platform answers only once the file's
 * `beforeAll` has run (inside tests and hooks).
 */
export function useFakePlatform(routes: Readonly<Record<string, FakeHandler>> = {}): FakePlatform {
  let started: FakePlatform | undefined;
  const platform = (): FakePlatform => {
    if (!started) throw new Error('the fake platform starts in beforeAll: use it inside tests and hooks');
    return started;
  };
  beforeAll(async () => {
    started = await startFakePlatform();
  });
  afterAll(async () => started?.close());
  beforeEach(() => {
    for (const [path, handler] of Object.entries(routes)) {
      platform().setFault(path, undefined);
      platform().setHandler(path, handler);
    }
  });
  return {
    get url() {
      return platform().url;
    },
    get calls() {
      return platform().calls;
    },
    count: (path) => platform().count(path),
    setHandler: (path, handler) => platform().setHandler(path, handler),
    setFault: (path, fault) => platform().setFault(path, fault),
    close: async () => started?.close(),
  };
}

/**
 * Checks that a client retries a 503 and a connection reset once each: `path` fails once with a
 * 503, then once with a reset, and each time `pull(repository)` (one call through the client, for
 * a repository not asked before, answering what it was granted) still gets pull, with `path`
 * asked twice.
 */
export async function expectRetriesOf503AndReset(platform: FakePlatform, path: string, pull: (repository: string) => Promise<ReadonlyArray<readonly string[]>>): Promise<void> {
  const before = platform.count(path);
  platform.setFault(path, { kind: 'status', status: 503, times: 1 });
  expect(await pull('alice/a')).toEqual([['pull']]);
  expect(platform.count(path)).toBe(before + 2);
  platform.setFault(path, { kind: 'reset', times: 1 });
  expect(await pull('alice/b')).toEqual([['pull']]);
  expect(platform.count(path)).toBe(before + 4);
}

function send(res: ServerResponse, answer: FakeResponse): void {
  if (res.destroyed) return;
  const isString = typeof answer.body === 'string' || answer.body === undefined;
  const payload = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.on('error', () => undefined);
  res.writeHead(answer.status, {
    'content-type': answer.contentType ?? (isString ? 'text/plain; charset=utf-8' : 'application/json'),
    'content-length': Buffer.byteLength(payload),
    ...answer.headers,
  });
  res.end(payload);
}

function parseJson(body: string): unknown {
  if (body === '') return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a Wharf webhook request the way a platform should: both headers present, the timestamp
 * within `windowSeconds` of the platform's clock, and `v1=` + HMAC-SHA256(secret, timestamp + "." +
 * raw body) equal in constant time.
 */
export function verifyWharfSignature(
  request: Pick<FakeRequest, 'headers' | 'body'>,
  secret: string,
  platformNowSeconds: number,
  windowSeconds = 300,
): boolean {
  const timestamp = request.headers['x-wharf-timestamp'];
  const signature = request.headers['x-wharf-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string' || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(platformNowSeconds - Number(timestamp)) > windowSeconds) return false;
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Fresh secrets for a Wharf in front of the fake platform, by their environment variables: its
 * introspection client secret, the webhook's shared secret, the admin secret and the hash key.
 */
export function platformSecrets() {
  return {
    WHARF_INTROSPECTION_CLIENT_SECRET: randomBytes(12).toString('hex'),
    WHARF_AUTHZ_WEBHOOK_SECRET: randomBytes(12).toString('hex'),
    WHARF_ADMIN_SECRET: randomBytes(12).toString('hex'),
    WHARF_HASH_KEY: randomBytes(24).toString('hex'),
  };
}
