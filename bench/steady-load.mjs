// An open-loop load generator for "p99 at 80% of the maximum rate".
//
// autocannon's rate option is a per-connection quota per second: the connections run flat out
// until the quota is used up, then wait for the next one-second tick. That is a saturated burst
// followed by silence, not a steady 80%. Here requests are scheduled at evenly spaced instants
// (every 1/rate s, dispatched on a 1 ms ticker) over keep-alive connections, and each latency is
// measured from the instant the request was due, not from when a free connection sent it. A
// server that falls behind therefore shows its queueing in the latencies instead of slowing the
// generator down (no coordinated omission).
//
// It speaks just enough HTTP/1.1 for the benchmark: one request in flight per connection and
// responses with a Content-Length (fastify always sends one for these bodies).
import { connect } from 'node:net';

/**
 * @param {object} o
 * @param {string} o.url            base URL, http://host:port
 * @param {(i: number) => { method?: string, path: string, headers?: Record<string,string>, body?: string }} o.request
 * @param {number} o.rate           requests per second
 * @param {number} o.durationS
 * @param {number} o.connections
 * @param {boolean} [o.fixed]       the request never changes: encode it once
 */
export async function steadyLoad({ url, request, rate, durationS, connections, fixed = false }) {
  const { hostname, port } = new URL(url);
  const total = Math.floor(rate * durationS);
  const latencies = new Float64Array(total);
  let recorded = 0;
  let errors = 0;
  let non2xx = 0;
  let scheduled = 0;
  const due = []; // intended send instants not sent yet
  let dueHead = 0;
  const idle = [];
  const encode = (i) => {
    const r = request(i);
    const body = r.body ?? '';
    const head = [`${r.method ?? 'GET'} ${r.path} HTTP/1.1`, `host: ${hostname}:${port}`, 'connection: keep-alive'];
    for (const [k, v] of Object.entries(r.headers ?? {})) head.push(`${k}: ${v}`);
    if (body) head.push(`content-length: ${Buffer.byteLength(body)}`);
    return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`);
  };
  const constant = fixed ? encode(0) : undefined;

  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  let stopping = false;
  const inFlight = new Set();

  const check = () => {
    if (stopping && inFlight.size === 0) finish();
  };

  function open() {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.setNoDelay(true);
    const conn = { socket, intended: 0, buf: null, closedByUs: false };
    socket.on('data', (chunk) => {
      conn.buf = conn.buf ? Buffer.concat([conn.buf, chunk]) : chunk;
      for (;;) {
        const end = conn.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headText = conn.buf.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headText)?.[1] ?? 0);
        if (conn.buf.length < end + 4 + length) return;
        const status = Number(headText.slice(9, 12));
        conn.buf = conn.buf.length > end + 4 + length ? conn.buf.subarray(end + 4 + length) : null;
        if (status < 200 || status > 299) non2xx++;
        if (recorded < latencies.length) latencies[recorded++] = performance.now() - conn.intended;
        inFlight.delete(conn);
        idle.push(conn);
        dispatch();
        check();
        if (!conn.buf) return;
      }
    });
    // 'close' follows 'error' too; a connection closed under a request counts that request as an error.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (conn.closedByUs) return;
      if (inFlight.delete(conn)) errors++;
      const at = idle.indexOf(conn);
      if (at >= 0) idle.splice(at, 1);
      if (!stopping) open();
      else check();
    });
    socket.once('connect', () => {
      idle.push(conn);
      dispatch();
    });
  }

  function dispatch() {
    while (dueHead < due.length && idle.length > 0) {
      const conn = idle.pop();
      const i = dueHead;
      conn.intended = due[dueHead++];
      inFlight.add(conn);
      conn.socket.write(constant ?? encode(i));
    }
  }

  for (let i = 0; i < connections; i++) open();
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the connections open
  const start = performance.now();
  const ticker = setInterval(() => {
    const target = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
    while (scheduled < target) due.push(start + (scheduled++ * 1000) / rate);
    dispatch();
    if (scheduled >= total) {
      clearInterval(ticker);
      stopping = true;
      check();
    }
  }, 1);
  const deadline = setTimeout(() => finish(), (durationS + 10) * 1000);
  await finished;
  clearTimeout(deadline);
  const elapsed = (performance.now() - start) / 1000;
  const unsent = due.length - dueHead + (total - scheduled);
  const unfinished = inFlight.size;
  for (const conn of [...idle, ...inFlight]) {
    conn.closedByUs = true;
    conn.socket.destroy();
  }

  const sorted = latencies.subarray(0, recorded).sort();
  const pct = (p) => (recorded ? Math.round(sorted[Math.min(recorded - 1, Math.ceil((p / 100) * recorded) - 1)] * 100) / 100 : undefined);
  return {
    rate,
    requests: recorded,
    seconds: Math.round(elapsed * 100) / 100,
    rps: Math.round(recorded / elapsed),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: recorded ? Math.round(sorted[recorded - 1] * 100) / 100 : undefined,
    errors: errors + non2xx + unfinished + unsent,
    detail: { errors, non2xx, unfinished, unsent },
  };
}
