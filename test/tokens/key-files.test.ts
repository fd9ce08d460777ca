import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadKeys } from '../../src/tokens/key-files.js';

const dir = () => mkdtemp(join(tmpdir(), 'wharf-keyfiles-'));

describe('loadKeys', () => {
  it('generates a development CA and leaf once, then reuses them', async () => {
    const generatedDir = await dir();
    const first = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' });
    expect(first.generated.map((f) => f.slice(generatedDir.length + 1)).sort()).toEqual(['ca-key.pem', 'ca.pem', 'signing-chain.pem', 'signing-key.pem']);
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

  it('renews a generated leaf that is about to expire, under the same CA', async () => {
    const generatedDir = await dir();
    const first = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' });
    const later = new Date(first.store.current().notAfter.getTime() - 10 * 86_400_000);
    const renewed = await loadKeys({ generatedDir, algorithm: 'ES256', kidFormat: 'libtrust' }, later);
    expect(renewed.generated.some((f) => f.endsWith('signing-key.pem'))).toBe(true);
    expect(renewed.store.current().kid).not.toBe(first.store.current().kid);
    expect(renewed.store.rootBundlePem()).toBe(first.store.rootBundlePem());
  });

  it('loads file keys, publishes extra certificates, and rejects a key that does not match its chain', async () => {
    const a = await dir();
    const b = await dir();
    await loadKeys({ generatedDir: a, algorithm: 'ES256', kidFormat: 'libtrust' });
    await loadKeys({ generatedDir: b, algorithm: 'RS256', kidFormat: 'libtrust' });
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
