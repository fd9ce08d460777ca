import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createServices } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { requireCommand } from '../support/prerequisites.js';
import { runCommand } from '../support/processes.js';
import { tempStore } from '../support/store.js';
import { captureLog, type LogLine } from '../support/log-capture.js';

let app: FastifyInstance | undefined;
let port = 0;
let lines: LogLine[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await app?.close();
  app = undefined;
});

/** Builds and starts Wharf on a free loopback port with `server` settings. */
async function serve(server: NonNullable<ConfigInput['server']>, https?: { key: Buffer; cert: Buffer }) {
  const log = captureLog('info');
  lines = log.lines;
  const logger = log.logger;
  const config = parseConfig({ server }, {});
  app = await buildApp(createServices(config, { store: tempStore(), logger, keys: (await testKeys()).store, hashKey: randomBytes(32) }), {
    publicUrl: 'http://127.0.0.1',
    ...(https ? { https } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
}

/** A connection from `from` that has had one answer (and stays open), or `refused` when it got none. */
function open(from: string): Promise<Socket | 'refused'> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  sockets.push(socket);
  socket.write('GET /healthz HTTP/1.1\r\nHost: wharf\r\n\r\n');
  return new Promise((resolve) => {
    socket.once('data', () => resolve(socket));
    socket.once('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
  });
}

/** Opens connections from `from` one after another; how many were served and how many refused. */
async function openMany(from: string, count: number): Promise<{ served: Socket[]; refused: number }> {
  const served: Socket[] = [];
  let refused = 0;
  for (let i = 0; i < count; i++) {
    const result = await open(from);
    if (result === 'refused') refused++;
    else served.push(result);
  }
  return { served, refused };
}

async function scrape(): Promise<string> {
  return (await app!.inject({ method: 'GET', url: '/metrics' })).body;
}

/**
 * Resolves with what the server answered once `socket` is closed. With `ignoreFin` the client
 * keeps its own side open and goes on writing after the server's FIN, as an attacker would: only a
 * server that has let go of the connection then resets it.
 */
function closed(socket: Socket, ignoreFin: boolean): Promise<{ answer: string }> {
  let answer = '';
  let drip: NodeJS.Timeout | undefined;
  socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
  socket.on('error', () => {});
  if (ignoreFin) socket.once('end', () => (drip = setInterval(() => socket.writable && socket.write('X-More: .\r\n'), 200)));
  return new Promise((resolve) =>
    socket.once('close', () => {
      clearInterval(drip);
      resolve({ answer });
    }),
  );
}

describe('connection bounds (server.connections)', () => {
  it('refuses connections past the per-address and the total bound at once, counts them, and takes new ones once slots free', async () => {
    await serve({ connections: { perAddress: 3, total: 5 } });
    const first = await openMany('127.0.0.1', 4);
    expect(first.served).toHaveLength(3);
    expect(first.refused).toBe(1);
    // Another address still gets in, up to the total.
    const second = await openMany('127.0.0.2', 3);
    expect(second.served).toHaveLength(2);
    expect(second.refused).toBe(1);

    const metrics = await scrape();
    expect(metrics).toContain('wharf_connections_refused_total{bound="per_address"} 1');
    expect(metrics).toContain('wharf_connections_refused_total{bound="total"} 1');
    expect(metrics).toMatch(/^wharf_connections_open 5$/m);

    // A closed connection gives its slot back.
    first.served[0]!.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await open('127.0.0.1')).not.toBe('refused');
  });

  it('writes one summary line for all the refusals of an interval, naming the addresses refused most', async () => {
    await serve({ connections: { perAddress: 2, total: 100 } });
    expect((await openMany('127.0.0.1', 12)).refused).toBe(10);
    expect((await openMany('127.0.0.2', 3)).refused).toBe(1);
    expect(lines.filter((l) => l.event === 'connections_refused')).toEqual([]);
    // The interval's line is written at its end, or when the server closes.
    await app!.close();
    app = undefined;
    const summaries = lines.filter((l) => l.event === 'connections_refused');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      level: 40,
      refused: { per_address: 11, total: 0 },
      addresses: [
        { address: '127.0.0.1', refused: 10 },
        { address: '127.0.0.2', refused: 1 },
      ],
      limits: { perAddress: 2, total: 100 },
    });
  });

  it('counts a trusted proxy towards the total only: every user behind it shares its address', async () => {
    await serve({ trustProxy: '127.0.0.3', connections: { perAddress: 2, total: 6 } });
    expect((await openMany('127.0.0.3', 5)).refused).toBe(0);
    expect((await openMany('127.0.0.1', 2)).refused).toBe(1);
  });

  it('counts every peer as a proxy under a hop count (the proxy is the only way in)', async () => {
    await serve({ trustProxy: 1, connections: { perAddress: 2, total: 100 } });
    expect((await openMany('127.0.0.1', 6)).refused).toBe(0);
  });
});

describe('timeouts (server.timeouts)', () => {
  it('answers 408 to a connection that sends nothing, and lets go of it although the client keeps its side open', async () => {
    await serve({ timeouts: { headersSeconds: 1, requestSeconds: 2, checkIntervalSeconds: 1 } });
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    sockets.push(socket);
    const { answer } = await closed(socket, true);
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(answer).toContain('"error":"invalid_request","error_description":"request timed out"');
    expect(await scrape()).toMatch(/^wharf_connections_open 0$/m);
  });

  it('closes a connection trickling its headers after the header timeout, and one trickling its body after the request timeout', async () => {
    await serve({ timeouts: { headersSeconds: 1, requestSeconds: 2, checkIntervalSeconds: 1 } });
    const headers = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const body = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    sockets.push(headers, body);
    headers.write('GET /token?service=registry HTTP/1.1\r\nHost: wharf\r\n');
    const headersDrip = setInterval(() => headers.writable && headers.write('X-Slow: .\r\n'), 200);
    body.write('POST /token HTTP/1.1\r\nHost: wharf\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=');
    const bodyDrip = setInterval(() => body.writable && body.write('p'), 200);
    const [headersClosed, bodyClosed] = await Promise.all([closed(headers, true), closed(body, false)]);
    clearInterval(headersDrip);
    clearInterval(bodyDrip);
    expect(headersClosed.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(bodyClosed.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a TLS connection that never finishes its handshake after the header timeout', async () => {
    requireCommand('/usr/bin/openssl', 'openssl');
    const dir = await mkdtemp(join(tmpdir(), 'wharf-tls-'));
    const made = await runCommand('/usr/bin/openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'),
    ]);
    expect(made.code, made.stderr).toBe(0);
    await serve({ timeouts: { headersSeconds: 1, requestSeconds: 2, checkIntervalSeconds: 1 } }, { key: await readFile(join(dir, 'tls.key')), cert: await readFile(join(dir, 'tls.crt')) });
    const silent = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    sockets.push(silent);
    await closed(silent, true);
    // After the handshake the header timeout applies as over plain HTTP.
    const secure = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    sockets.push(secure);
    const { answer } = await closed(secure, false);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('refuses a header timeout longer than the request timeout', () => {
    expect(() => parseConfig({ server: { timeouts: { headersSeconds: 40, requestSeconds: 30 } } }, {})).toThrow(/server\.timeouts\.headersSeconds/);
  });
});
