import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { requireCommand } from './prerequisites.js';
import { startProcess, waitUntil } from './processes.js';

/** Path of the redis server binary the harness runs. */
export const REDIS_SERVER = '/usr/bin/redis-server';

/** A running, throw-away redis-server owned by the test. */
export interface RedisHandle {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Last lines of the server's output, for failure messages. */
  logs(): string;
  /** Stops the server and removes its working directory. */
  stop(): Promise<void>;
  /** Stops the server (SIGTERM, or SIGKILL when `kill`) and keeps its directory, so `start` brings the same data back. */
  halt(opts?: { kill?: boolean }): Promise<void>;
  /** Starts the halted server again on the same port and directory, and waits for PING. */
  start(): Promise<void>;
}

/** How the throw-away server is configured. */
export interface RedisOptions {
  timeoutMs?: number;
  /** Append-only file on, fsync on every write (as the store needs). Default: no persistence at all. */
  persistence?: boolean;
  /** Further `--name value` arguments (e.g. a `maxmemory-policy`, a renamed command). */
  args?: readonly string[];
}

/**
 * Sends PING over a raw socket and resolves with the first reply line (e.g. `+PONG`).
 * Raw RESP keeps the harness free of a client library whose reconnect logic could mask a dead server.
 */
export function pingRedis(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no PING reply within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      reply += d;
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.once('end', () => fail(new Error(`connection closed after ${JSON.stringify(reply)}`)));
  });
}

/**
 * Starts `redis-server` in the foreground on a free loopback port with persistence disabled, and
 * waits until it answers PING. Foreground (not daemonized) so the test owns and can kill the pid.
 */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisHandle> {
  requireCommand(REDIS_SERVER, 'redis-server');
  const persistence = opts.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  // freePort() cannot reserve the port; on a lost race redis exits at once, so try a fresh one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // A private cwd/dir so a stray dump or log never lands in the repository.
    const dir = await mkdtemp(join(tmpdir(), 'wharf-redis-'));
    const launch = async () => {
      const proc = await startProcess(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no', '--dir', dir, ...(opts.args ?? [])],
        { name: `redis-server:${port}`, cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      );
      await waitUntil(`redis PING on 127.0.0.1:${port}`, async () => ((await pingRedis(port)) === '+PONG' ? true : undefined), {
        process: proc,
        timeoutMs: opts.timeoutMs ?? 15_000,
      });
      return proc;
    };
    let proc: Awaited<ReturnType<typeof startProcess>> | undefined;
    const halt = async (how: { kill?: boolean } = {}): Promise<void> => {
      if (how.kill) proc?.child.kill('SIGKILL');
      await proc?.stop();
    };
    const stop = async (): Promise<void> => {
      await halt();
      await rm(dir, { recursive: true, force: true });
    };
    let lastLogs = '';
    try {
      proc = await launch();
    } catch (err) {
      lastLogs = String(err);
      await stop();
      if (attempt < 3 && /address already in use/i.test(lastLogs)) continue;
      throw err;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      logs: () => proc?.logs() ?? lastLogs,
      stop,
      halt,
      start: async () => void (proc = await launch()),
    };
  }
}
