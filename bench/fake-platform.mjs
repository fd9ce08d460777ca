// The platform Wharf talks to, for the benchmark: RFC 7662 introspection (`POST /introspect`) and
// the authz webhook (`POST /authz`, docs/authz-webhook.md), with a configurable answer latency.
//
// It runs in a worker thread of the runner: in-process (no extra service to start), yet on its
// own event loop, so autocannon driving the load on the main thread does not delay its answers.
// Call counters and the latency live in a SharedArrayBuffer, readable and settable at any time.
//
// Policy, as in test/e2e/platform.test.ts: a token `plat_<user>_<anything>` is active for <user>;
// an account may pull and push `<account>/*`. Wharf's client credentials are checked (a mismatch
// answers 401, which Wharf turns into 503, which the benchmark counts as errors); the webhook's
// HMAC signature is not verified, since the benchmark measures Wharf, not the platform.
import { createServer } from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const INTROSPECT = 0;
const AUTHZ = 1;
const LATENCY_MS = 2;
const OTHER = 3;

if (!isMainThread && workerData?.fakePlatform) runServer(workerData);

/**
 * Starts the fake platform in a worker thread.
 * @param {{ clientSecret: string, webhookSecret: string, clientId?: string, latencyMs?: number }} options
 */
export async function startFakePlatform(options) {
  const shared = new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT);
  const slots = new Int32Array(shared);
  Atomics.store(slots, LATENCY_MS, options.latencyMs ?? 0);
  const worker = new Worker(new URL(import.meta.url), {
    workerData: {
      fakePlatform: true,
      shared,
      expectedIntrospectionAuth: `Basic ${Buffer.from(`${options.clientId ?? 'wharf'}:${options.clientSecret}`).toString('base64')}`,
      expectedWebhookAuth: `Bearer ${options.webhookSecret}`,
    },
  });
  const port = await new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`fake platform worker exited with ${code} before listening`)));
    worker.once('message', (m) => resolve(m.port));
  });
  worker.on('error', (err) => process.stderr.write(`fake platform worker failed: ${err?.stack ?? err}\n`));
  return {
    url: `http://127.0.0.1:${port}`,
    /** Upstream calls received so far. */
    counts: () => ({ introspect: Atomics.load(slots, INTROSPECT), authz: Atomics.load(slots, AUTHZ), other: Atomics.load(slots, OTHER) }),
    /** Delay before every answer, in ms (0 = answer at once). */
    setLatency: (ms) => void Atomics.store(slots, LATENCY_MS, Math.max(0, Math.round(ms))),
    close: () => worker.terminate().then(() => undefined),
  };
}

function runServer({ shared, expectedIntrospectionAuth, expectedWebhookAuth }) {
  const slots = new Int32Array(shared);
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?', 1)[0];
      let answer;
      if (req.method === 'POST' && path === '/introspect') {
        Atomics.add(slots, INTROSPECT, 1);
        answer = introspect(req.headers.authorization, body);
      } else if (req.method === 'POST' && path === '/authz') {
        Atomics.add(slots, AUTHZ, 1);
        answer = decide(req.headers.authorization, body);
      } else {
        Atomics.add(slots, OTHER, 1);
        answer = { status: 404, body: { error: `fake platform: nothing at ${req.method} ${path}` } };
      }
      const latency = Atomics.load(slots, LATENCY_MS);
      if (latency > 0) setTimeout(() => send(res, answer), latency);
      else send(res, answer);
    });
  });

  function introspect(authorization, body) {
    if (authorization !== expectedIntrospectionAuth) return { status: 401, body: { error: 'invalid_client' } };
    const token = new URLSearchParams(body).get('token') ?? '';
    const match = /^plat_([a-z0-9-]+)_[A-Za-z0-9]+$/.exec(token);
    return { status: 200, body: match ? { active: true, username: match[1], scope: 'registry' } : { active: false } };
  }

  function decide(authorization, body) {
    if (authorization !== expectedWebhookAuth) return { status: 401, body: {} };
    let request;
    try {
      request = JSON.parse(body);
    } catch {
      return { status: 400, body: { error: 'not JSON' } };
    }
    const account = typeof request.account === 'string' ? request.account : '';
    const decisions = (Array.isArray(request.scopes) ? request.scopes : [])
      .filter((s) => account !== '' && typeof s.name === 'string' && s.name.startsWith(`${account}/`))
      .map((s) => ({ type: s.type, name: s.name, allowed: ['pull', 'push'] }));
    return { status: 200, body: { decisions, ttl: 300 } };
  }

  server.keepAliveTimeout = 60_000;
  server.listen({ host: '127.0.0.1', port: 0 }, () => parentPort.postMessage({ port: server.address().port }));
}

function send(res, answer) {
  if (res.destroyed) return;
  const payload = JSON.stringify(answer.body);
  res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
