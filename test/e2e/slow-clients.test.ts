import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { startProcess, waitUntil, type ManagedProcess } from '../support/processes.js';
import { WHARF_BIN, writeConfig } from '../support/wharf.js';

// Two loopback addresses (Linux routes all of 127.0.0.0/8 to lo): the slow clients come from one,
// the user who wants a token from the other.
const SLOW_FROM = '127.0.0.1';
const USER_FROM = '127.0.0.2';
/** What the issue asks: every slow connection is closed within this long of its first byte. */
const CLOSED_WITHIN_MS = 15_000;
/** How long a slow client is watched before it counts as never closed. */
const WATCH_MS = 25_000;
/** The default per-address bound (`server.connections.perAddress`). */
const PER_ADDRESS = 128;

/** Resident memory of a process, in MB. */
function rssMegabytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** File descriptors a process holds open (its sockets among them). */
function descriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** One GET over `agent` (keep-alive, from USER_FROM). */
function get(agent: Agent, port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** A metric's value from the exposition text (0 when absent). */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * A slow client as an attacker writes one: it connects, and (trickling) sends a partial request
 * and one more header line every 3 s, or (silent) nothing at all; it ignores the server's FIN and
 * keeps its own side open. Resolves with how long after its first byte (silent: its connection)
 * the server ended the connection or refused it, or Infinity if it did not within WATCH_MS.
 */
function slowClient(port: number, trickle: boolean, sockets: Socket[]): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: SLOW_FROM, allowHalfOpen: true });
    sockets.push(socket);
    let start = performance.now();
    let line = 0;
    const ended = () => {
      clearTimeout(watch);
      resolve(performance.now() - start);
    };
    const watch = setTimeout(() => resolve(Infinity), WATCH_MS);
    socket.on('connect', () => {
      start = performance.now();
      if (trickle) socket.write('GET /token?service=registry&scope=repository:victim/app:pull HTTP/1.1\r\nHost: wharf\r\n');
    });
    // Written even after the server's FIN, as an attacker would: only a server that let go of its
    // side answers with a reset.
    const drip = setInterval(() => {
      if (trickle && socket.writable) socket.write(`X-Slow-${line++}: .\r\n`);
    }, 3000);
    // Reads (and drops) whatever the server answers, so its FIN is seen when it comes.
    socket.resume();
    socket.on('end', ended);
    socket.on('error', ended);
    socket.on('close', () => {
      clearInterval(drip);
      ended();
    });
  });
}

/**
 * Opens `count` slow clients at about 1,200 a second (the rate the issue's attacker reached) and
 * waits for each to be closed or given up on.
 */
async function slowClients(port: number, count: number, trickle: boolean, sockets: Socket[]): Promise<number[]> {
  const outcomes: Array<Promise<number>> = [];
  for (let i = 0; i < count; i++) {
    outcomes.push(slowClient(port, trickle, sockets));
    if (i % 50 === 49) await sleep(40);
  }
  return Promise.all(outcomes);
}

/**
 * A user from another address asking for a token every 50 ms over one kept-alive connection, and
 * reading the open-connection gauge in between.
 */
function userTraffic(port: number, authorization: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: USER_FROM });
  const scrapes = new Agent({ keepAlive: true, maxSockets: 1, localAddress: USER_FROM });
  const latencies: number[] = [];
  const failures: string[] = [];
  let mostOpen = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const res = await get(agent, port, '/token?service=registry&scope=repository:ci/app:pull', { authorization });
        latencies.push(performance.now() - started);
        if (res.status !== 200 || typeof (JSON.parse(res.body) as { token?: unknown }).token !== 'string') failures.push(`${res.status} ${res.body.slice(0, 200)}`);
        if (latencies.length % 5 === 0) mostOpen = Math.max(mostOpen, metric((await get(scrapes, port, '/metrics')).body, 'wharf_connections_open'));
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      scrapes.destroy();
      return { latencies, failures, mostOpen };
    },
  };
}

describe('slow clients against wharf serve (default timeouts and connection bounds)', () => {
  let wharf: ManagedProcess;
  let port: number;
  let authorization: string;
  const scrapeAgent = new Agent({ keepAlive: false, localAddress: USER_FROM });

  beforeAll(async () => {
    if (!existsSync(WHARF_BIN)) throw new Error(`missing ${WHARF_BIN}: run \`npm run build\` first`);
    const dir = await mkdtemp(join(tmpdir(), 'wharf-slow-'));
    const password = randomBytes(12).toString('base64url');
    authorization = `Basic ${Buffer.from(`ci:${password}`).toString('base64')}`;
    port = await freePort();
    const config = await writeConfig(
      // Warnings only: the refusal summaries are what this test reads from the log.
      { server: { port }, dataDir: join(dir, 'data'), authn: [{ type: 'static', users: { ci: { passwordHash: await bcrypt.hash(password, 4) } } }], log: { level: 'warn' } },
      dir,
    );
    wharf = await startProcess(process.execPath, [WHARF_BIN, 'serve', '--config', config], { cwd: dir, env: { PATH: process.env.PATH ?? '' }, logLines: 2000 });
    await waitUntil('wharf answers', async () => ((await get(scrapeAgent, port, '/healthz').catch(() => undefined))?.status === 200 ? true : undefined), { process: wharf, timeoutMs: 20_000 });
  });
  afterAll(async () => wharf?.stop());

  const metrics = async () => (await get(scrapeAgent, port, '/metrics')).body;

  /** Runs `count` slow clients against Wharf while a user asks for tokens; checks what the issue asks. */
  async function withstands(count: number, trickle: boolean) {
    // Warm: the user's password verified once, the token cached, the allocator settled.
    const warm = userTraffic(port, authorization);
    await sleep(1500);
    expect((await warm.stop()).failures).toEqual([]);
    const baseRss = rssMegabytes(wharf.pid);
    const baseDescriptors = descriptors(wharf.pid);
    const refusedBefore = metric(await metrics(), 'wharf_connections_refused_total{bound="per_address"}');
    const linesBefore = wharf.logs().split('\n').filter((l) => l.includes('"connections_refused"')).length;

    const sockets: Socket[] = [];
    const user = userTraffic(port, authorization);
    const started = performance.now();
    try {
      const closedAfter = await slowClients(port, count, trickle, sockets);
      const { latencies, failures, mostOpen } = await user.stop();

      // Every slow connection was ended within 15 s of its first byte, or refused at once.
      const late = closedAfter.filter((ms) => ms > CLOSED_WITHIN_MS);
      expect(late, `${late.length} of ${count} connections were still open ${CLOSED_WITHIN_MS / 1000} s after their first byte`).toEqual([]);
      // ...and the server really let go of them, while the clients still hold their side open.
      await waitUntil('Wharf closes its side of every slow connection', async () => (descriptors(wharf.pid) <= baseDescriptors + 2 ? true : undefined), { process: wharf, timeoutMs: 5000 });

      // One address could not hold them all: past the bound, connections were refused.
      const text = await metrics();
      const refused = metric(text, 'wharf_connections_refused_total{bound="per_address"}') - refusedBefore;
      expect(refused).toBeGreaterThanOrEqual(count - 2 * PER_ADDRESS);
      expect(mostOpen).toBeLessThanOrEqual(PER_ADDRESS + 2);

      // The user from another address got every token, promptly.
      const p99 = percentile(latencies, 99);
      console.info(`${count} ${trickle ? 'trickling' : 'silent'} connections: slowest closed after ${Math.round(Math.max(...closedAfter))} ms; ${refused} refused; ` +
        `user: ${latencies.length} tokens, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ` +
        `RSS ${baseRss.toFixed(1)} MB before, ${rssMegabytes(wharf.pid).toFixed(1)} MB after`);
      expect(failures).toEqual([]);
      expect(latencies.length).toBeGreaterThan(50);
      // The issue's target is a p99 under 100 ms (printed above); this shared machine's scheduler
      // gets a generous margin, far below the seconds a starved server would take.
      expect(p99).toBeLessThan(1000);

      // Refusals were summarised in a line per 10 s at most, adding up to the metric (the last
      // interval's line comes at its end).
      const summaries = () => wharf.logs().split('\n').filter((l) => l.includes('"connections_refused"')).slice(linesBefore).map((l) => JSON.parse(l) as { refused: { per_address: number } });
      await waitUntil('refusal summaries adding up to the metric', async () => (summaries().reduce((sum, l) => sum + l.refused.per_address, 0) === refused ? true : undefined), {
        process: wharf,
        timeoutMs: 12_000,
      });
      expect(summaries().length).toBeLessThanOrEqual(Math.ceil((performance.now() - started) / 10_000) + 1);

      // Memory went back to where it was.
      await waitUntil(`RSS back within 20 MB of ${baseRss.toFixed(1)} MB`, async () => (rssMegabytes(wharf.pid) <= baseRss + 20 ? true : undefined), { process: wharf, timeoutMs: 10_000 });
    } finally {
      for (const socket of sockets) socket.destroy();
      await user.stop();
    }
  }

  it('closes 2,000 connections trickling their headers from one address within 15 s, while another address gets its tokens', async () => {
    await withstands(2000, true);
  }, 90_000);

  it('closes 200 connections that send nothing at all within 15 s, while another address gets its tokens', async () => {
    await withstands(200, false);
  }, 90_000);

  it('shuts down cleanly and promptly while slow clients hold connections part-way through their headers', async () => {
    const sockets: Socket[] = [];
    try {
      void slowClients(port, 100, true, sockets);
      await waitUntil('the slow clients are connected', async () => (sockets.length === 100 && sockets.every((s) => !s.connecting) ? true : undefined), { timeoutMs: 10_000 });
      await sleep(500);
      const stopping = performance.now();
      wharf.child.kill('SIGTERM');
      const exit = await wharf.exited;
      // Before: the close waited for the header timeout, past the 10 s hard deadline (exit 1).
      expect(exit.code).toBe(0);
      expect(performance.now() - stopping).toBeLessThan(9000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }, 60_000);
});
