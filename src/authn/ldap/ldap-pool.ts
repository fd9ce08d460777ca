import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError, type Entry, type SearchOptions } from 'ldapts';

/** What a pooled connection needs to know. */
export interface LdapPoolOptions {
  /** `ldap://host:port` or `ldaps://host:port`. */
  url: string;
  /** Upgrade `ldap://` with StartTLS before anything else is sent. */
  startTls: boolean;
  /** TLS settings for `ldaps://` and StartTLS (CA certificates...). */
  tls: ConnectionOptions;
  connectTimeoutMs: number;
  /** Per-operation timeout. */
  timeoutMs: number;
  /** Most connections open at once. */
  size: number;
  /** The service account, bound before searches. */
  bindDn: string;
  bindPassword: string;
}

/** What a connection is currently authenticated as. */
type BindState = 'anonymous' | 'service' | 'user';

/** The connection was lost or could not be made (as opposed to an LDAP result such as invalidCredentials). */
export class LdapConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LdapConnectionError';
  }
}

/**
 * One connection to the directory. It never reconnects by itself: ldapts would silently open a new
 * plain socket after a drop, which on a StartTLS connection would send the next bind password in
 * clear text. A lost connection is discarded by the pool instead.
 */
export class LdapConnection {
  private readonly client: Client;
  private readonly sockets: Socket[] = [];
  private bindState: BindState = 'anonymous';
  private prepared = false;
  private destroyed = false;
  /** Whether this connection served an earlier request (a stale one may be retried once). */
  reused = false;

  constructor(private readonly options: LdapPoolOptions) {
    const ldaps = options.url.startsWith('ldaps:');
    this.client = new Client({
      url: options.url,
      timeout: options.timeoutMs,
      connectTimeout: options.connectTimeoutMs,
      // Only for ldaps://: ldapts treats any tlsOptions as "TLS from the first byte".
      ...(ldaps ? { tlsOptions: options.tls } : {}),
      createConnection: ((port: number, host: string) => this.adopt(netConnect({ port, host }))) as typeof netConnect,
      createSecureConnection: ((...args: unknown[]) => {
        if (typeof args[0] === 'object' && args[0] !== null) {
          // StartTLS: wrapping the socket already adopted, not a new connection.
          const upgraded = tlsConnect(args[0] as ConnectionOptions);
          this.sockets.push(upgraded);
          return upgraded;
        }
        return this.adopt(tlsConnect({ ...(args[2] as ConnectionOptions), port: args[0] as number, host: args[1] as string }));
      }) as typeof tlsConnect,
    });
  }

  /** Whether the connection can still be used (not lost, not destroyed). */
  usable(): boolean {
    return !this.destroyed && (!this.prepared || this.client.isConnected);
  }

  /** Binds as the service account unless already bound as it. */
  async bindAsService(): Promise<void> {
    if (this.bindState === 'service') return;
    await this.bind(this.options.bindDn, this.options.bindPassword, 'service');
  }

  /** Binds as a user; the connection then needs a service bind before the next search. */
  async bindAsUser(dn: string, password: string): Promise<void> {
    await this.bind(dn, password, 'user');
  }

  /** Searches; the connection must be bound as the service account. */
  async search(base: string, options: SearchOptions): Promise<Entry[]> {
    await this.prepare();
    this.assertConnected();
    const { searchEntries } = await this.wrap(() => this.client.search(base, options));
    return searchEntries;
  }

  /** Lets idle connections not keep the process alive; `ref` undoes it when the connection is taken. */
  setRef(ref: boolean): void {
    for (const s of this.sockets) {
      if (ref) s.ref();
      else s.unref();
    }
  }

  /** Closes the connection at once (no unbind round trip: it may be hung). */
  destroy(): void {
    this.destroyed = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Polite close: unbind, then destroy. */
  async close(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      if (this.client.isConnected) await this.client.unbind();
    } catch {
      // Closing anyway.
    }
    for (const s of this.sockets) s.destroy();
  }

  private async bind(dn: string, password: string, as: BindState): Promise<void> {
    await this.prepare();
    this.assertConnected();
    // RFC 4513 4.2: a failed bind leaves the connection anonymous.
    this.bindState = 'anonymous';
    await this.wrap(() => this.client.bind(dn, password));
    this.bindState = as;
  }

  /** Opens the connection (and upgrades it with StartTLS) on first use. */
  private async prepare(): Promise<void> {
    if (this.prepared) return;
    this.prepared = true;
    if (!this.options.startTls) return;
    const host = new URL(this.options.url).hostname.replace(/^\[(.*)\]$/, '$1');
    // servername only for names: Node refuses an IP address as SNI; IPs are checked against IP SANs.
    await this.wrap(() => this.client.startTLS({ ...this.options.tls, host, ...(isIP(host) ? {} : { servername: host }) }));
  }

  private assertConnected(): void {
    if (this.destroyed) throw new LdapConnectionError('connection closed');
    // Before the first operation ldapts connects lazily (through adopt, which allows one socket).
    if (this.sockets.length > 0 && !this.client.isConnected) throw new LdapConnectionError('connection lost');
  }

  /** Allows exactly one socket per connection; see the class comment. */
  private adopt<S extends Socket>(socket: S): S {
    if (this.sockets.length > 0 || this.destroyed) {
      socket.destroy();
      throw new LdapConnectionError('connection lost; not reconnecting on the same client');
    }
    this.sockets.push(socket);
    return socket;
  }

  /** LDAP results pass through; everything else (network, TLS, timeouts) becomes LdapConnectionError. */
  private async wrap<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof ResultCodeError || err instanceof LdapConnectionError) throw err;
      this.destroy();
      throw new LdapConnectionError(describeNetworkError(err), { cause: err });
    }
  }
}

/** A short, secret-free description of a network or TLS failure. */
function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code) return `${e.code}${e.message && !e.message.startsWith(e.code) ? ` (${e.message.split('\n')[0]})` : ''}`;
  return (e?.message ?? String(err)).split('\n')[0]!;
}

interface Waiter {
  resolve(connection: LdapConnection): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A small pool of directory connections. Each login takes one, uses it for its binds and
 * searches, and gives it back; at most `size` exist, further logins queue until their deadline.
 * Connections that failed at the network level are discarded, never reused.
 */
export class LdapPool {
  private readonly idle: LdapConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private count = 0;
  private closed = false;

  constructor(private readonly options: LdapPoolOptions) {}

  /** Takes a connection, waiting at most until `deadline` (epoch ms) for one to be free. */
  acquire(deadline: number): Promise<LdapConnection> {
    if (this.closed) return Promise.reject(new LdapConnectionError('the LDAP pool is closed'));
    while (this.idle.length > 0) {
      const connection = this.idle.pop()!;
      if (connection.usable()) {
        connection.setRef(true);
        return Promise.resolve(connection);
      }
      connection.destroy();
      this.count -= 1;
    }
    if (this.count < this.options.size) {
      this.count += 1;
      return Promise.resolve(new LdapConnection(this.options));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new LdapConnectionError(`all ${this.options.size} LDAP connections stayed busy`));
        }, Math.max(0, deadline - Date.now())),
      };
      this.waiters.push(waiter);
    });
  }

  /** Gives a connection back; `healthy: false` (or a lost connection) discards it. */
  release(connection: LdapConnection, healthy: boolean): void {
    connection.reused = true;
    const keep = healthy && connection.usable() && !this.closed;
    if (!keep) {
      connection.destroy();
      this.count -= 1;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      if (keep) {
        waiter.resolve(connection);
      } else {
        this.count += 1;
        waiter.resolve(new LdapConnection(this.options));
      }
      return;
    }
    if (keep) {
      connection.setRef(false);
      this.idle.push(connection);
    }
  }

  /** Open connections (idle and in use), for tests and metrics. */
  size(): number {
    return this.count;
  }

  /** Closes idle connections and refuses new work; connections in use close when released. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new LdapConnectionError('the LDAP pool is closed'));
    }
    const idle = this.idle.splice(0);
    this.count -= idle.length;
    await Promise.all(idle.map((c) => c.close()));
  }
}
