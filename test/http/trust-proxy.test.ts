import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { type ConfigError, parseConfig } from '../../src/config/load.js';
import { createServices } from '../../src/services.js';
import { testKeys } from '../support/keys.js';
import { captureLog } from '../support/log-capture.js';

// The client address is what every per-address limit counts and every audit line names: whoever
// Wharf believes in X-Forwarded-For chooses it.
describe('server.trustProxy', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => app?.close());

  /** The clientIp of the audit line written for one refused login sent through `peer` with X-Forwarded-For `forwarded`. */
  async function clientIpSeen(trustProxy: boolean | number | string, peer: string, forwarded: string) {
    const { logger, lines } = captureLog('info');
    const config = parseConfig({ server: { trustProxy }, authn: [{ type: 'static', users: {} }] }, {});
    app = await buildApp(createServices(config, { store: tempStore(), logger, keys: (await testKeys()).store, hashKey: randomBytes(32) }));
    const res = await app.inject({
      method: 'GET',
      url: '/token?service=registry',
      headers: { authorization: `Basic ${Buffer.from('mallory:guess').toString('base64')}`, 'x-forwarded-for': forwarded },
      remoteAddress: peer,
    });
    expect(res.statusCode).toBe(401);
    const denied = lines.find((l) => l.event === 'token_denied');
    await app.close();
    app = undefined;
    return denied?.clientIp;
  }

  it('with a hop count of 1 takes the address the proxy appended, not what the client wrote before it', async () => {
    // The client wrote 198.51.100.66 itself; the ingress (10.0.0.5) appended the real peer 203.0.113.7.
    expect(await clientIpSeen(1, '10.0.0.5', '198.51.100.66, 203.0.113.7')).toBe('203.0.113.7');
  });

  it('with a hop count of 2 goes one proxy further back', async () => {
    expect(await clientIpSeen(2, '10.0.0.5', '198.51.100.66, 203.0.113.7')).toBe('198.51.100.66');
  });

  it('without trust takes the peer and ignores the header', async () => {
    expect(await clientIpSeen(false, '10.0.0.5', '198.51.100.66, 203.0.113.7')).toBe('10.0.0.5');
  });

  it('refuses a hop count that is not a small positive integer', () => {
    for (const trustProxy of [0, 1.5]) {
      const problems = (() => {
        try {
          parseConfig({ server: { trustProxy } }, {});
          return [];
        } catch (err) {
          return (err as ConfigError).problems.map((p) => p.path);
        }
      })();
      expect(problems).toEqual(['server.trustProxy']);
    }
  });
});
