// The benchmark's real Redis, and its command counts read over a raw socket: a client library
// here would add connections and commands of its own to the figures it reports.
import { connect } from 'node:net';
import { join } from 'node:path';
import { findOnPath, freePort, makeTempDir, startChild } from './processes.mjs';
import { BenchError } from './support.mjs';

function pingRedis(port) {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(500, () => (socket.destroy(), resolvePing(false)));
    socket.once('error', () => resolvePing(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolvePing(reply.startsWith('+PONG'));
      }
    });
  });
}

/** Calls per command since Redis started (`INFO commandstats`), over a raw socket. */
export function redisCommandStats(port) {
  return new Promise((resolveStats) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(2000, () => (socket.destroy(), resolveStats(undefined)));
    socket.once('error', () => resolveStats(undefined));
    socket.once('connect', () => socket.write('INFO commandstats\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      reply += d;
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (header && Buffer.byteLength(reply) >= header[0].length + Number(header[1])) {
        socket.destroy();
        const stats = {};
        for (const m of reply.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[m[1]] = Number(m[2]);
        resolveStats(stats);
      }
    });
  });
}

/** Commands per request between two INFO snapshots, leaving out INFO itself. */
export function redisPerRequest(before, after, requests) {
  if (!before || !after || requests <= 0) return undefined;
  const perCommand = {};
  let total = 0;
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info') continue;
    const delta = calls - (before[name] ?? 0);
    if (delta <= 0) continue;
    perCommand[name] = Math.round((delta / requests) * 100) / 100;
    total += delta;
  }
  return { total: Math.round((total / requests) * 100) / 100, perCommand };
}

/** A redis-server of the run's own in a temp dir; the handle carries its `pid`, `port` and `url`. */
export async function startRedis() {
  const binary = findOnPath('redis-server');
  if (!binary) {
    throw new BenchError('redis-server not found: the benchmark runs a real Redis. Install it with `apt-get install -y redis-server` (as root) and run again.');
  }
  const dir = await makeTempDir('wharf-bench-redis-');
  const port = await freePort();
  const child = await startChild(
    `redis-server:${port}`,
    binary,
    // As Wharf's store requires of it (docs/operations.md): with a Redis cache the store is on
    // Redis too, and without these settings /readyz says degraded and the run stops at start.
    // everysec, Redis's default, fsyncs in the background once a second.
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--dir', dir],
    { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, logFile: join(dir, 'redis.log'), ready: () => pingRedis(port), timeoutMs: 15_000 },
  );
  return { ...child, url: `redis://127.0.0.1:${port}`, port };
}
