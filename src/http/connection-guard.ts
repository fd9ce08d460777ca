import type { Server, Socket } from 'node:net';
import { addressGroup } from '../domain/client-address.js';
import { ConnectionGate, RefusalTally, type ConnectionBound, type ConnectionLimits } from './connection-gate.js';

/** How the guard bounds connections, and where it reports refusals. */
export interface ConnectionGuardOptions {
  limits: ConnectionLimits;
  /** IPv6 peers are counted by this prefix (`server.ipv6PrefixLength`). */
  ipv6PrefixLength: number;
  /** Whether a peer is a trusted proxy, counted towards the total only. */
  trusted(address: string): boolean;
  /** Counts one refusal (the metric). */
  countRefusal(bound: ConnectionBound): void;
  /** Writes the summary line of an interval with refusals. */
  warn(fields: Record<string, unknown>, message: string): void;
  /** Length of the interval one summary line covers. Default 10 s. */
  summaryEveryMs?: number;
}

/** A server's connection bounds, installed. */
export interface ConnectionGuard {
  gate: ConnectionGate;
  /** Writes the pending summary line, if any, and stops the timer. */
  close(): void;
}

/** Files a process needs beside client connections: Redis, upstream calls, the store, logs. */
const RESERVED_DESCRIPTORS = 256;

/**
 * The total bound that fits the process: past its file descriptor limit every accept, Redis
 * reconnection and upstream call fails alike, so the bound stays `RESERVED_DESCRIPTORS` below it.
 */
export function totalWithin(total: number, descriptorLimit: number | undefined): number {
  if (descriptorLimit === undefined) return total;
  return Math.max(1, Math.min(total, descriptorLimit - RESERVED_DESCRIPTORS));
}

/**
 * Bounds the open connections of `server`, counted as they arrive: one past a bound is reset at
 * once, before anything reads from it or builds a parser for it. The server's own connection
 * handlers (HTTP, or TLS then HTTP) run only for connections that were admitted, so this must be
 * installed before `listen`.
 */
export function guardConnections(server: Server, options: ConnectionGuardOptions): ConnectionGuard {
  const gate = new ConnectionGate(options.limits);
  const tally = new RefusalTally();
  const every = options.summaryEveryMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  // One line per interval with refusals, not one per connection: under a flood that is
  // thousands a second, and the log would become the attack.
  const report = () => {
    timer = undefined;
    const summary = tally.drain();
    if (!summary) return;
    const { per_address: perAddress, total } = summary.refused;
    options.warn(
      { event: 'connections_refused', ...summary, open: gate.open, limits: options.limits, intervalSeconds: every / 1000 },
      `${perAddress + total} connections refused in ${every / 1000} s: ${perAddress} past the per-address bound (${options.limits.perAddress}), ${total} past the total bound (${options.limits.total})`,
    );
  };
  const handlers = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    // No address (a peer gone before this turn, or not a TCP peer): counted towards the total only.
    const group = address === undefined || options.trusted(address) ? undefined : addressGroup(address, options.ipv6PrefixLength);
    const refused = gate.admit(group);
    if (refused !== undefined) {
      // A refused socket must never take the process down, whatever it reports on the way out.
      socket.on('error', () => {});
      // A reset, not a FIN: the client learns at once, and the server side keeps no TIME_WAIT.
      if (address !== undefined) socket.resetAndDestroy();
      else socket.destroy();
      options.countRefusal(refused);
      if (tally.record(refused, group) && timer === undefined) timer = setTimeout(report, every).unref();
      return;
    }
    socket.once('close', () => gate.release(group));
    for (const handle of handlers) handle.call(server, socket);
  });
  return {
    gate,
    close() {
      if (timer !== undefined) clearTimeout(timer);
      report();
    },
  };
}
