import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import type { SigningKey } from '../../src/keys/keys.js';
import { BatchSigner, startSigningThread, type KeyHeader } from '../../src/tokens/batch-signer.js';
import { testKeys } from '../support/keys.js';

// BatchSigner (src/tokens/batch-signer.ts): the minter's signatures, made on a thread of their own
// in batches of what one turn of the event loop asked for. A signature is asked for by its payload;
// the key's header goes to the thread once, and each signature covers header and payload joined.

/** A key's header as the minter makes it: base64url text and a dot, as latin1 bytes. */
const headerOf = (key: SigningKey, label = key.kid): KeyHeader => ({ key, bytes: Buffer.from(`${Buffer.from(label).toString('base64url')}.`, 'latin1') });

/** A payload as the minter makes it: base64url text. */
const payloadOf = (bytes = 400) => randomBytes(bytes).toString('base64url');

/** Whether `signature` (base64url) is the header's key's signature of header and payload joined. */
const signs = (header: KeyHeader, payload: string, signature: string) =>
  verify(
    'sha256',
    Buffer.concat([header.bytes, Buffer.from(payload, 'latin1')]),
    header.key.alg === 'ES256' ? { key: header.key.publicKey, dsaEncoding: 'ieee-p1363' } : header.key.publicKey,
    Buffer.from(signature, 'base64url'),
  );

/** Signs on the libuv pool only, as in a process that can start no thread. */
const threadless = () =>
  new BatchSigner(() => {
    throw new Error('ERR_WORKER_INIT_FAILED');
  });

/** Signing threads holding the process open (a ref'd worker shows as a MessagePort). */
const holding = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;

describe('BatchSigner', () => {
  it.each(['ES256', 'RS256'] as const)('signs %s payloads asked for together, each signature its own header and payload’s', async (alg) => {
    const header = headerOf((await testKeys(alg)).store.current());
    const signer = new BatchSigner();
    const payloads = Array.from({ length: 200 }, () => payloadOf());
    const signatures = await Promise.all(payloads.map((payload) => signer.sign(header, payload)));
    expect(signatures.every((s, i) => signs(header, payloads[i]!, s))).toBe(true);
    expect(signs(header, payloads[0]!, signatures[1]!)).toBe(false);
    // The payload alone, without the header, is not what was signed.
    expect(signs({ ...header, bytes: Buffer.alloc(0) }, payloads[0]!, signatures[0]!)).toBe(false);
    if (alg === 'ES256') expect(new Set(signatures.map((s) => Buffer.from(s, 'base64url').length))).toEqual(new Set([64]));
    await signer.close();
  });

  it('sends a busy turn’s first signatures to the thread while the turn goes on, eight at a time, and the rest when it ends', async () => {
    const header = headerOf((await testKeys('ES256')).store.current());
    // What the thread is sent, and whether the turn had ended by then.
    const sent: Array<{ payloads: number; turnEnded: boolean }> = [];
    let turnEnded = false;
    const signer = new BatchSigner(() => {
      const thread = startSigningThread();
      const post = thread.postMessage.bind(thread);
      thread.postMessage = (message: { payloads?: string[] }) => {
        if (message.payloads) sent.push({ payloads: message.payloads.length, turnEnded });
        post(message);
      };
      return thread;
    });
    setImmediate(() => (turnEnded = true));
    const payloads = Array.from({ length: 20 }, () => payloadOf());
    const signatures = await Promise.all(payloads.map((payload) => signer.sign(header, payload)));
    expect(sent).toEqual([
      { payloads: 8, turnEnded: false },
      { payloads: 8, turnEnded: false },
      { payloads: 4, turnEnded: true },
    ]);
    expect(signatures.every((s, i) => signs(header, payloads[i]!, s))).toBe(true);
    await signer.close();
  });

  it('signs with the key and header each signature names, when keys change between and within turns', async () => {
    const one = headerOf((await testKeys('ES256')).store.current(), 'one');
    const two = headerOf((await testKeys('ES256')).store.current(), 'two, a longer header than one’s');
    const signer = new BatchSigner();
    const payload = payloadOf(100);
    const [a, b, c] = await Promise.all([signer.sign(one, payload), signer.sign(two, payload), signer.sign(one, payload)]);
    expect(signs(one, payload, a)).toBe(true);
    expect(signs(two, payload, b)).toBe(true);
    expect(signs(one, payload, c)).toBe(true);
    expect(signs(one, payload, b)).toBe(false);
    expect(signs({ key: two.key, bytes: one.bytes }, payload, b)).toBe(false); // two's key, and two's header
    expect(signs(two, payload, await signer.sign(two, payload))).toBe(true);
    // More keys than the thread holds, then the first again: it is given again, not missing.
    const more = await Promise.all(Array.from({ length: 5 }, async (_, i) => headerOf((await testKeys('ES256')).store.current(), `more-${i}`)));
    for (const header of more) expect(signs(header, payload, await signer.sign(header, payload))).toBe(true);
    expect(signs(one, payload, await signer.sign(one, payload))).toBe(true);
    await signer.close();
  });

  it('signs a payload longer than any before it, and a short one after it, each whole and no more', async () => {
    const header = headerOf((await testKeys('ES256')).store.current());
    const signer = new BatchSigner();
    for (const payload of [payloadOf(300), payloadOf(6000), payloadOf(10), payloadOf(20_000), payloadOf(300)]) {
      expect(signs(header, payload, await signer.sign(header, payload))).toBe(true);
    }
    await signer.close();
  });

  it.each(['ES256', 'RS256'] as const)('signs %s header and payload on the libuv pool where no thread can start', async (alg) => {
    const header = headerOf((await testKeys(alg)).store.current());
    const signer = threadless();
    const payloads = Array.from({ length: 20 }, () => payloadOf());
    const signatures = await Promise.all(payloads.map((payload) => signer.sign(header, payload)));
    expect(signatures.every((s, i) => signs(header, payloads[i]!, s))).toBe(true);
    await signer.close();
  });

  it('refuses the signatures of a key that cannot sign, and signs the others of the same turn', async () => {
    const good = headerOf((await testKeys('ES256')).store.current());
    const ed = generateKeyPairSync('ed25519'); // no SHA-256 signatures: node:crypto refuses them
    const bad = headerOf({ ...good.key, privateKey: ed.privateKey, publicKey: ed.publicKey, alg: 'RS256' });
    const signer = new BatchSigner();
    const payload = payloadOf();
    const settled = await Promise.allSettled([signer.sign(good, payload), signer.sign(bad, payload), signer.sign(good, payload)]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((settled[1] as PromiseRejectedResult).reason)).toMatch(/signing failed/);
    for (const s of [settled[0], settled[2]]) expect(signs(good, payload, (s as PromiseFulfilledResult<string>).value)).toBe(true);
    await signer.close();
  });

  it('holds the process open while it signs, and not once the signatures are in', async () => {
    const header = headerOf((await testKeys('ES256')).store.current());
    const signer = new BatchSigner();
    await signer.sign(header, payloadOf()); // the thread is up
    const idle = holding();
    const signing = Promise.all(Array.from({ length: 20 }, () => signer.sign(header, payloadOf())));
    await new Promise((resolve) => setImmediate(resolve)); // the batch is sent
    expect(holding()).toBe(idle + 1);
    await signing;
    expect(holding()).toBe(idle);
    await signer.close();
  });

  it('refuses the signatures under way when it is closed (a shutdown) as a server going away, and starts a new thread for the next', async () => {
    const header = headerOf((await testKeys('ES256')).store.current());
    const signer = new BatchSigner();
    await signer.sign(header, payloadOf(10)); // the thread is up
    const underWay = Array.from({ length: 20 }, () => signer.sign(header, payloadOf(2400)));
    const settling = Promise.allSettled(underWay);
    await new Promise((resolve) => setImmediate(resolve)); // the batch is sent
    await signer.close();
    const settled = await settling;
    // A 503 saying so, as every request still waiting when a shutdown's grace ends is answered: not
    // a bug's 500 and a stack trace in the log per request.
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => s.reason as unknown);
    expect(refused.length).toBeGreaterThan(0);
    for (const reason of refused) {
      expect(reason).toBeInstanceOf(TemporarilyUnavailableError);
      expect(reason).toMatchObject({ status: 503, retryAfterSeconds: 1, message: 'the server is shutting down; try again' });
    }

    const payload = payloadOf(50);
    expect(signs(header, payload, await signer.sign(header, payload))).toBe(true); // a new thread, given the key again
    await signer.close();
  });
});
