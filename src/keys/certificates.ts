// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { webcrypto, createPrivateKey, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { SigningAlgorithm } from './keys.js';

type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
type X509Key = x509.X509CertificateCreateWithKeyParams['signingKey'];

x509.cryptoProvider.set(webcrypto as unknown as X509Crypto);

/** A private key and its certificate, both PEM. */
export interface GeneratedKey {
  readonly privateKeyPem: string;
  readonly certificatePem: string;
}

const DAY_MS = 86_400_000;

function webAlgorithm(alg: SigningAlgorithm) {
  return alg === 'ES256'
    ? { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
}

async function generate(alg: SigningAlgorithm) {
  const pair = (await webcrypto.subtle.generateKey(webAlgorithm(alg), true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const privateKeyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { keys: pair as unknown as { privateKey: X509Key; publicKey: X509Key }, privateKeyPem };
}

async function importSigningKey(key: KeyObject): Promise<X509Key> {
  const alg: SigningAlgorithm = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', der, webAlgorithm(alg), false, ['sign'])) as unknown as X509Key;
}

/**
 * Creates a long-lived root CA for the registry's `rootcertbundle`. Its key certifies signing
 * keys and never signs tokens: the registry would accept tokens it signed, so it stays off the
 * serving path.
 */
export async function createRootCa(alg: SigningAlgorithm, commonName: string, validDays: number, now = new Date()): Promise<GeneratedKey> {
  const { keys, privateKeyPem } = await generate(alg);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validDays * DAY_MS),
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    signingAlgorithm: webAlgorithm(alg),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { privateKeyPem, certificatePem: `${cert.toString('pem').trimEnd()}\n` };
}

/** Creates a token-signing leaf key certified by `ca`, valid for `validDays`. */
export async function createSigningLeaf(
  alg: SigningAlgorithm,
  ca: { privateKey: KeyObject; certificatePem: string },
  commonName: string,
  validDays: number,
  now = new Date(),
): Promise<GeneratedKey> {
  const caCert = new x509.X509Certificate(ca.certificatePem);
  const caAlg: SigningAlgorithm = ca.privateKey.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
  const { keys, privateKeyPem } = await generate(alg);
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${commonName}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validDays * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.privateKey),
    signingAlgorithm: webAlgorithm(caAlg),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { privateKeyPem, certificatePem: `${cert.toString('pem').trimEnd()}\n` };
}
