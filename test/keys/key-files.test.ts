import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createRootCa, createSigningLeaf } from '../../src/keys/certificates.js';
import { describe, expect, it } from 'vitest';
import { loadKeys } from '../../src/keys/key-files.js';

const dir = () => mkdtemp(join(tmpdir(), 'wharf-keyfiles-'));

describe('loadKeys', () => {
  it('generates a development CA and a first leaf once, then reuses them', async () => {
    const generatedDir = await dir();
    const first = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' });
    const names = first.generated.map((f) => f.slice(generatedDir.length + 1));
    expect(names.slice(0, 2).sort()).toEqual(['ca-key.pem', 'ca.pem']);
    expect(names[2]).toMatch(/^leaves\/\d{8}t\d{9}z-[0-9a-f]{6}$/);
    const again = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' });
    expect(again.generated).toEqual([]);
    expect(again.store.current().kid).toBe(first.store.current().kid);

    const ca = new X509Certificate(await readFile(join(generatedDir, 'ca.pem')));
    const leaf = new X509Certificate(Buffer.from(first.store.current().x5c[0]!, 'base64'));
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(first.store.rootBundlePem()).toBe(await readFile(join(generatedDir, 'ca.pem'), 'utf8'));
  });

  it('makes a new leaf under the same CA when the last one is about to expire', async () => {
    const generatedDir = await dir();
    const first = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' });
    const later = new Date(first.store.current().notAfter.getTime() - 30_000);
    const renewed = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' }, later);
    expect(renewed.generated).toHaveLength(1);
    expect(renewed.store.current().kid).not.toBe(first.store.current().kid);
    expect(renewed.store.rootBundlePem()).toBe(first.store.rootBundlePem());
  });

  it('refuses a leaf validity too short for the rotation period and token lifetime', async () => {
    await expect(
      loadKeys({ generatedDir: await dir(), algorithm: 'ES256', kidFormat: 'libtrust', maxTokenLifetimeSeconds: 3600, rotation: { automatic: true, everyHours: 24, leafValidityHours: 24, publishLeadSeconds: 60, rescanSeconds: 10 } }),
    ).rejects.toThrow(/leafValidityHours/);
  });

  it('loads file keys, publishes extra certificates, and rejects a key that does not match its chain', async () => {
    const a = await dir();
    const b = await dir();
    // Fixed-key files as `wharf keys generate` writes them.
    for (const [out, alg] of [[a, 'ES256'], [b, 'RS256']] as const) {
      const ca = await createRootCa(alg, 'test CA', 10);
      const leaf = await createSigningLeaf(alg, { privateKey: createPrivateKey(ca.privateKeyPem), certificatePem: ca.certificatePem }, 'leaf', 5);
      await writeFile(join(out, 'ca.pem'), ca.certificatePem);
      await writeFile(join(out, 'signing-key.pem'), leaf.privateKeyPem);
      await writeFile(join(out, 'signing-chain.pem'), leaf.certificatePem);
    }
    const loaded = await loadKeys({
      generatedDir: await dir(),
      algorithm: 'ES256',
      kidFormat: 'thumbprint',
      signingKeyFile: join(a, 'signing-key.pem'),
      certificateChainFile: join(a, 'signing-chain.pem'),
      rootCertificateFile: join(a, 'ca.pem'),
      publishCertificateFiles: [join(b, 'signing-chain.pem')],
    });
    const keys = loaded.store.verificationKeys();
    expect(keys.map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    expect(keys[0]!.kid).toMatch(/^[A-Za-z0-9_-]{43}$/); // RFC 7638 thumbprint
    expect(loaded.generated).toEqual([]);

    await expect(
      loadKeys({ generatedDir: await dir(), algorithm: 'ES256', kidFormat: 'libtrust', signingKeyFile: join(a, 'signing-key.pem'), certificateChainFile: join(b, 'signing-chain.pem') }),
    ).rejects.toThrow(/does not match/);
    await expect(loadKeys({ generatedDir: await dir(), algorithm: 'ES256', kidFormat: 'libtrust', signingKeyFile: join(a, 'signing-key.pem') })).rejects.toThrow(/together/);
    const empty = join(await dir(), 'empty.pem');
    await writeFile(empty, '');
    await expect(
      loadKeys({ generatedDir: await dir(), algorithm: 'ES256', kidFormat: 'libtrust', signingKeyFile: join(a, 'signing-key.pem'), certificateChainFile: empty }),
    ).rejects.toThrow(/empty/);
  });
});
