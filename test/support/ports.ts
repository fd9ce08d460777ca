import { createServer, type Server, type Socket } from 'node:net';
import { afterAll } from 'vitest';

/**
 * Returns a TCP port that was free on 127.0.0.1 a moment ago.
 * Asking the kernel (port 0) avoids collisions between parallel test files; there is still a
 * small window before the caller binds it, so callers that can retry on EADDRINUSE should.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Silent servers for a test file: each call starts a TCP server on 127.0.0.1 that accepts
 * connections and never says a word (a hung directory, a blackholing proxy) and returns its port.
 * They and their connections are closed after the file's last test.
 */
export function useSilentServers(): () => Promise<number> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  afterAll(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });
  return async () => {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  };
}
