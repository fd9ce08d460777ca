import { randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchSigner } from '../../src/tokens/batch-signer.js';
import { testKeys } from '../support/keys.js';

// BatchSigner (src/tokens/batch-signer.ts): the minter's signatures, made on a thread of their own
// in batches of what one turn of the event loop asked for.
const checks = (publicKey: Parameters<typeof verify>[2], alg: 'ES256' | 'RS256') => (input: Buffer, signature: Buffer) =>
  verify('sha256', input, alg === 'ES256' ? { key: publicKey as never, dsaEncoding: 'ieee-p1363' } : publicKey, signature);

describe('BatchSigner', () => {
  it.each(['ES256', 'RS256'] as const)('signs %s inputs asked for together, each signature its own input’s', async (alg) => {
    const key = (await testKeys(alg)).store.current();
    const signer = new BatchSigner();
    const inputs = Array.from({ length: 200 }, () => randomBytes(2400));
    const signatures = await Promise.all(inputs.map((input) => signer.sign(Buffer.from(input), key))); // handed over: copies
    const valid = checks(key.publicKey, alg);
    expect(signatures.every((s, i) => valid(inputs[i]!, s))).toBe(true);
    expect(valid(inputs[0]!, signatures[1]!)).toBe(false);
    if (alg === 'ES256') expect(new Set(signatures.map((s) => s.length))).toEqual(new Set([64]));
    await signer.close();
  });

  it('signs with the key each signature names, when keys change between and within turns', async () => {
    const one = (await testKeys('ES256')).store.current();
    const two = (await testKeys('ES256')).store.current();
    const signer = new BatchSigner();
    const input = randomBytes(100);
    const [a, b] = await Promise.all([signer.sign(Buffer.from(input), one), signer.sign(Buffer.from(input), two)]);
    expect(checks(one.publicKey, 'ES256')(input, a)).toBe(true);
    expect(checks(two.publicKey, 'ES256')(input, b)).toBe(true);
    expect(checks(one.publicKey, 'ES256')(input, b)).toBe(false);
    expect(checks(two.publicKey, 'ES256')(input, await signer.sign(Buffer.from(input), two))).toBe(true);
    // More keys than the thread holds, then the first again: it is given again, not missing.
    const more = await Promise.all(Array.from({ length: 5 }, async () => (await testKeys('ES256')).store.current()));
    for (const key of more) expect(checks(key.publicKey, 'ES256')(input, await signer.sign(Buffer.from(input), key))).toBe(true);
    expect(checks(one.publicKey, 'ES256')(input, await signer.sign(Buffer.from(input), one))).toBe(true);
    await signer.close();
  });

  it('hands an input of its own over (no copy), and refuses one already handed over rather than sign nothing', async () => {
    const key = (await testKeys('ES256')).store.current();
    const signer = new BatchSigner();
    const input = Buffer.allocUnsafeSlow(300).fill(1);
    const copy = Buffer.from(input);
    const signature = await signer.sign(input, key);
    expect(input.length).toBe(0); // handed over to the signing thread
    expect(checks(key.publicKey, 'ES256')(copy, signature)).toBe(true);
    await expect(signer.sign(input, key)).rejects.toThrow(/already handed over/); // never a signature of nothing
    const twice = Buffer.allocUnsafeSlow(10).fill(2);
    const both = await Promise.all([signer.sign(twice, key), signer.sign(twice, key)]); // one turn, one batch
    for (const s of both) expect(checks(key.publicKey, 'ES256')(Buffer.alloc(10, 2), s)).toBe(true);
    await signer.close();
  });

  it('refuses the signatures under way when its thread stops, and starts a new thread for the next', async () => {
    const key = (await testKeys('ES256')).store.current();
    const signer = new BatchSigner();
    await signer.sign(randomBytes(10), key); // the thread is up
    const underWay = Array.from({ length: 20 }, () => signer.sign(randomBytes(2400), key));
    const settling = Promise.allSettled(underWay);
    await new Promise((resolve) => setImmediate(resolve)); // the batch is sent
    await signer.close();
    const settled = await settling;
    expect(settled.some((s) => s.status === 'rejected' && /signing thread/.test(String(s.reason)))).toBe(true);

    const input = randomBytes(50);
    expect(checks(key.publicKey, 'ES256')(input, await signer.sign(Buffer.from(input), key))).toBe(true); // a new thread, given the key again
    await signer.close();
  });
});
