import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { algorithmOf, parseCertificateChain, verificationKeyFromChain, type KidFormat, type SigningKey } from './keys.js';

/** Reads a signing key and its chain, and checks that they belong together. */
export async function signingKeyFromFiles(keyFile: string, chainFile: string, kidFormat: KidFormat): Promise<SigningKey> {
  const privateKey = createPrivateKey(await readFile(keyFile, 'utf8'));
  const chain = parseCertificateChain(await readFile(chainFile, 'utf8'));
  const verification = await verificationKeyFromChain(chain, kidFormat);
  assertSameKey(privateKey, verification.publicKey, keyFile, chainFile);
  return { ...verification, privateKey };
}

function assertSameKey(privateKey: KeyObject, publicKey: KeyObject, keyFile: string, chainFile: string): void {
  algorithmOf(privateKey);
  const fromPrivate = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCert = publicKey.export({ type: 'spki', format: 'der' });
  if (!fromPrivate.equals(fromCert)) {
    throw new Error(`the key in ${keyFile} does not match the first certificate of ${chainFile}`);
  }
}

