import type { Config } from './schema.js';

/** The URL clients reach Wharf at: `server.publicUrl`, else `http://host:port`. */
export function publicUrl(config: Config, port = config.server.port): string {
  if (config.server.publicUrl) return config.server.publicUrl.replace(/\/+$/, '');
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return `${config.server.tls ? 'https' : 'http'}://${host}:${port}`;
}
