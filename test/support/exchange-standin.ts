import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/**
 * What the stand-in does with the next exchange: grant a credential for the image asked about
 * (fields overridable), refuse with the registry spec's error body, answer some raw status and
 * body, reset the connection, or never answer.
 */
export type ExchangeBehaviour =
  | { kind: 'grant'; expiresIn?: number; username?: string; password?: string; registry?: string | null; repository?: string }
  | { kind: 'refuse'; status: number; code: string; message: string }
  | { kind: 'raw'; status: number; body: string; contentType?: string }
  | { kind: 'reset' }
  | { kind: 'hang' };

/** One request the stand-in received. */
export interface ExchangeCall {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The JSON body, parsed (undefined when it was not JSON). */
  body: unknown;
}

/** A running stand-in of Wharf's `POST /api/v1/exchange` (issue 24's contract). */
export interface ExchangeStandIn {
  /** http://127.0.0.1:PORT (https with `tls`). */
  url: string;
  /** What the next requests get; `grant` until changed. */
  behaviour: ExchangeBehaviour;
  /** Every request so far. */
  calls: ExchangeCall[];
  close(): Promise<void>;
}

/** The host and repository of an image reference, the way the exchange reads `image`. */
function splitImage(image: string): { registry: string; repository: string } {
  const name = image.split('@')[0]!;
  const slash = name.indexOf('/');
  const path = name.slice(slash + 1);
  const colon = path.lastIndexOf(':');
  return { registry: name.slice(0, slash), repository: colon >= 0 ? path.slice(0, colon) : path };
}

/**
 * Starts the stand-in on 127.0.0.1 (HTTPS when `tls` is given). A real HTTP server, so the plugin
 * is driven over a real socket; only the contract's shape is implemented, no token is verified.
 */
export async function startExchangeStandIn(tls?: { key: string; cert: string }): Promise<ExchangeStandIn> {
  const sockets = new Set<Socket>();
  const standIn: ExchangeStandIn = { url: '', behaviour: { kind: 'grant' }, calls: [], close: async () => undefined };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      standIn.calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const behaviour = standIn.behaviour;
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (behaviour.kind === 'hang') return;
      if (behaviour.kind === 'reset') return req.socket.destroy();
      if (behaviour.kind === 'raw') {
        res.writeHead(behaviour.status, { 'content-type': behaviour.contentType ?? 'application/json' });
        return res.end(behaviour.body);
      }
      if (behaviour.kind === 'refuse') return json(behaviour.status, { errors: [{ code: behaviour.code, message: behaviour.message }] });
      if (req.method !== 'POST' || req.url !== '/api/v1/exchange') return json(404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
      const image = (body as { image?: unknown } | undefined)?.image;
      if (typeof image !== 'string') return json(400, { errors: [{ code: 'INVALID_REQUEST', message: 'image is required' }] });
      const { registry, repository } = splitImage(image);
      const expiresIn = behaviour.expiresIn ?? 600;
      json(200, {
        username: behaviour.username ?? repository.split('/')[0],
        password: behaviour.password ?? 'wharf_xc_standin-credential-secret',
        ...(behaviour.registry === null ? {} : { registry: behaviour.registry ?? registry }),
        repository: behaviour.repository ?? repository,
        actions: ['pull'],
        expires_in: expiresIn,
        expires_at: new Date(Date.now() + expiresIn * 1000).toISOString(),
      });
    });
  };

  const server: Server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  standIn.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  standIn.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return standIn;
}
