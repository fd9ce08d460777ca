import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createServices } from '../../src/services.js';
import type { LmdbStore } from '../../src/store/lmdb-store.js';
import type { LoadedKeys } from '../../src/keys/key-files.js';
import { testKeys } from '../support/keys.js';
import { tempStore } from '../support/store.js';
import { captureLog } from '../support/log-capture.js';

const password = randomBytes(9).toString('base64url');
const basic = `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`;
let keys: LoadedKeys;
let hash: string;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  keys = await testKeys();
  hash = await bcrypt.hash(password, 4);
});
afterEach(async () => Promise.all(apps.splice(0).map((a) => a.close())));

async function wharf(store: LmdbStore = tempStore()) {
  const config = parseConfig({ authn: [{ type: 'static', users: { alice: { passwordHash: hash } } }] }, {});
  const { logger, lines } = captureLog('info');
  const app = await buildApp(createServices(config, { store, logger, keys: keys.store, hashKey: randomBytes(32) }));
  apps.push(app);
  const pull = () => app.inject({ method: 'GET', url: '/token?service=registry&scope=repository:alice/app:pull', headers: { authorization: basic } });
  const revoke = (token: string) => app.inject({ method: 'POST', url: '/token/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${encodeURIComponent(token)}` });
  const refreshToken = async () => (await app.inject({ method: 'GET', url: '/token?service=registry&offline_token=true', headers: { authorization: basic } })).json().refresh_token as string;
  /** Token decisions so far (a repeat answered from the recent answers makes none). */
  const decisions = () => lines.filter((l) => l.event === 'token_issued').length;
  return { app, pull, revoke, refreshToken, decisions };
}

describe('POST /token/revoke', () => {
  it('leaves recent answers alone for an unknown token, and drops them for a real revocation', async () => {
    const { pull, revoke, refreshToken, decisions } = await wharf();
    const token = await refreshToken();
    expect(decodeJwt((await pull()).json().token).sub).toBe('alice');
    const decided = decisions();
    // Anyone may post garbage: it must not make every replica decide every request anew.
    expect((await revoke(`wharf_rt_${randomBytes(32).toString('base64url')}`)).statusCode).toBe(200);
    expect((await pull()).statusCode).toBe(200);
    expect(decisions()).toBe(decided);
    expect((await revoke(token)).statusCode).toBe(200);
    expect((await pull()).statusCode).toBe(200);
    expect(decisions()).toBe(decided + 1);
  });

  it('answers 503 in the error shape when the revocation cannot be recorded, never 200', async () => {
    const store = tempStore();
    const { revoke, refreshToken } = await wharf(store);
    const token = await refreshToken();
    await store.close();
    const res = await revoke(token);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      errors: [{ code: 'UNAVAILABLE', message: 'could not read stored records; try again shortly' }],
      error: 'temporarily_unavailable',
      error_description: 'could not read stored records; try again shortly',
    });
  });
});
