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
export async function startRedis(opts: { timeoutMs?: number } = {}): Promise<RedisHandle> {
  requireCommand(REDIS_SERVER, 'redis-server');
  // freePort() cannot reserve the port; on a lost race redis exits at once, so try a fresh one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    // A private cwd/dir so a stray dump or log never lands in the repository.
    const dir = await mkdtemp(join(tmpdir(), 'wharf-redis-'));
    const proc = await startProcess(
      REDIS_SERVER,
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--dir', dir,
      ],
      { name: `redis-server:${port}`, cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    const stop = async (): Promise<void> => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitUntil(
        `redis PING on 127.0.0.1:${port}`,
        async () => ((await pingRedis(port)) === '+PONG' ? true : undefined),
        { process: proc, timeoutMs: opts.timeoutMs ?? 15_000 },
      );
    } catch (err) {
      await stop();
      if (attempt < 3 && /address already in use/i.test(proc.logs())) continue;
      throw err;
    }
    return { url: `redis://127.0.0.1:${port}`, port, logs: () => proc.logs(), stop };
  }
}
