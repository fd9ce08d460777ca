import { createPrivateKey } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/keys/certificates.js';
import { KeyRotator } from '../../src/keys/key-rotator.js';
import { RotatingKeyStore } from '../../src/keys/rotating-key-store.js';
import { writeFile } from 'node:fs/promises';

const HOUR = 3_600_000;
let caDir: string;

beforeAll(async () => {
  caDir = await mkdtemp(join(tmpdir(), 'wharf-ca-'));
  const ca = await createRootCa('ES256', 'rotation test CA', 10);
  await writeFile(join(caDir, 'ca.pem'), ca.certificatePem);
  await writeFile(join(caDir, 'ca-key.pem'), ca.privateKeyPem);
  void createPrivateKey;
});

async function setup() {
  let now = Date.now();
  const leaves = await mkdtemp(join(tmpdir(), 'wharf-leaves-'));
  const store = new RotatingKeyStore(leaves, 'root', 'libtrust', 600, () => now);
  const rotator = new KeyRotator(
    { leafDirectory: leaves, caKeyFile: join(caDir, 'ca-key.pem'), caCertificateFile: join(caDir, 'ca.pem'), algorithm: 'ES256', everyHours: 24, leafValidityHours: 72, publishLeadSeconds: 60 },
    store,
    () => now,
  );
  return { store, rotator, advance: (ms: number) => void (now += ms), refresh: () => store.refresh() };
}

describe('RotatingKeyStore with KeyRotator', () => {
  it('publishes a new leaf before it signs, then signs with it', async () => {
    const { store, rotator, advance } = await setup();
    await rotator.ensureSigningKey();
    const first = store.current().kid;
    await rotator.rotate(60);
    expect(store.current().kid).toBe(first); // not yet
    expect(store.verificationKeys().map((k) => k.kid)).toHaveLength(2); // but published
    expect(store.verificationKeys()[0]!.kid).toBe(first);
    advance(61_000);
    store.select();
    expect(store.current().kid).not.toBe(first);
  });

  it('keeps a superseded leaf published until every token it signed has expired', async () => {
    const { store, rotator, advance } = await setup();
    await rotator.ensureSigningKey();
    const old = store.current().kid;
    advance(1000);
    await rotator.rotate(0);
    advance(1000);
    store.select();
    expect(store.verificationKeys().map((k) => k.kid)).toContain(old);
    advance(600_000 + 60_000 - 2000); // max token lifetime + skew, not yet over
    store.select();
    expect(store.verificationKeys().map((k) => k.kid)).toContain(old);
    advance(5000);
    store.select();
    expect(store.verificationKeys().map((k) => k.kid)).not.toContain(old);
  });

  it('rotates when the newest leaf is older than everyHours, not before', async () => {
    const { store, rotator, advance } = await setup();
    await rotator.ensureSigningKey();
    expect(await rotator.rotateIfDue()).toBeUndefined();
    advance(25 * HOUR);
    expect(await rotator.rotateIfDue()).toMatch(/^\d{8}t/);
    expect(store.entries()).toHaveLength(2);
  });

  it('keeps object identity while nothing changes, so signers can cache the header', async () => {
    const { store, rotator } = await setup();
    await rotator.ensureSigningKey();
    const key = store.current();
    const published = store.verificationKeys();
    await store.refresh();
    expect(store.current()).toBe(key);
    expect(store.verificationKeys()).toBe(published);
  });

  it('lets only one of two rotators on the same directory rotate at a time', async () => {
    const { store, rotator } = await setup();
    await rotator.ensureSigningKey();
    const results = await Promise.all([rotator.rotate(0), rotator.rotate(0)]);
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect(store.entries()).toHaveLength(2);
  });
});
