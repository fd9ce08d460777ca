import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { createRootCa, createSigningLeaf } from './certificates.js';
import {
  StaticKeyStore,
  algorithmOf,
  parseCertificateChain,
  verificationKeyFromChain,
  type KidFormat,
  type SigningAlgorithm,
  type SigningKey,
} from './keys.js';

/** Where signing material comes from. */
export interface KeySource {
  /** PEM private key of the signing (leaf) key; with `certificateChainFile`, disables generation. */
  signingKeyFile?: string | undefined;
  /** PEM certificates, leaf first, then intermediates; sent as `x5c`. */
  certificateChainFile?: string | undefined;
  /** PEM root certificate(s) for the registry's `rootcertbundle`; default: the chain's last certificate. */
  rootCertificateFile?: string | undefined;
  /** Extra certificates whose keys stay published in the JWKS (keys being rotated out or in). */
  publishCertificateFiles?: readonly string[] | undefined;
  /** Directory for generated development keys, used when no key files are given. */
  generatedDir: string;
  /** Algorithm of generated keys. */
  algorithm: SigningAlgorithm;
  kidFormat: KidFormat;
}

/** What loading did, so the CLI can say it. */
export interface LoadedKeys {
  store: StaticKeyStore;
  /** Files written because they did not exist yet (empty when nothing was generated). */
  generated: string[];
  /** Path of the PEM bundle the registry must trust. */
  rootBundleFile: string;
}

const CA_DAYS = 3650;
const LEAF_DAYS = 90;
// Renew a generated leaf this long before it expires, so no token outlives its certificate.
const LEAF_RENEW_DAYS = 30;

/** Loads keys from files, or generates (once) and reuses a development CA and signing key. */
export async function loadKeys(source: KeySource, now = new Date()): Promise<LoadedKeys> {
  if (source.signingKeyFile || source.certificateChainFile) {
    if (!source.signingKeyFile || !source.certificateChainFile) {
      throw new Error('keys.signingKeyFile and keys.certificateChainFile must be given together');
    }
    const rootFile = source.rootCertificateFile ?? source.certificateChainFile;
    const signing = await signingKeyFromFiles(source.signingKeyFile, source.certificateChainFile, source.kidFormat);
    const rootPem = source.rootCertificateFile
      ? await readFile(source.rootCertificateFile, 'utf8')
      : lastCertificatePem(await readFile(source.certificateChainFile, 'utf8'));
    const extra = await Promise.all(
      (source.publishCertificateFiles ?? []).map(async (f) =>
        verificationKeyFromChain(parseCertificateChain(await readFile(f, 'utf8')), source.kidFormat),
      ),
    );
    return { store: new StaticKeyStore(signing, extra, rootPem), generated: [], rootBundleFile: rootFile };
  }
  return loadGenerated(source, now);
}

/** Reads a signing key and its chain, and checks that they belong together. */
export async function signingKeyFromFiles(keyFile: string, chainFile: string, kidFormat: KidFormat): Promise<SigningKey> {
  const privateKey = createPrivateKey(await readFile(keyFile, 'utf8'));
  const chain = parseCertificateChain(await readFile(chainFile, 'utf8'));
  const verification = await verificationKeyFromChain(chain, kidFormat);
  assertSameKey(privateKey, verification.publicKey, keyFile, chainFile);
  return { ...verification, privateKey };
}

async function loadGenerated(source: KeySource, now: Date): Promise<LoadedKeys> {
  const dir = source.generatedDir;
  const files = {
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    key: join(dir, 'signing-key.pem'),
    chain: join(dir, 'signing-chain.pem'),
  };
  const generated: string[] = [];
  await mkdir(dir, { recursive: true, mode: 0o700 });

  if (!(await exists(files.caCert))) {
    const ca = await createRootCa(source.algorithm, 'Wharf development CA', CA_DAYS, now);
    await writeFile(files.caKey, ca.privateKeyPem, { mode: 0o600 });
    await writeFile(files.caCert, ca.certificatePem);
    generated.push(files.caCert, files.caKey);
  }
  const needsLeaf =
    !(await exists(files.key)) ||
    !(await exists(files.chain)) ||
    leafExpiresSoon(await readFile(files.chain, 'utf8'), now) ||
    generated.length > 0;
  if (needsLeaf) {
    const caKey = createPrivateKey(await readFile(files.caKey, 'utf8'));
    const caPem = await readFile(files.caCert, 'utf8');
    const leaf = await createSigningLeaf(source.algorithm, { privateKey: caKey, certificatePem: caPem }, 'Wharf token signing', LEAF_DAYS, now);
    await writeFile(files.key, leaf.privateKeyPem, { mode: 0o600 });
    await writeFile(files.chain, leaf.certificatePem);
    generated.push(files.key, files.chain);
  }
  const signing = await signingKeyFromFiles(files.key, files.chain, source.kidFormat);
  return {
    store: new StaticKeyStore(signing, [], await readFile(files.caCert, 'utf8')),
    generated,
    rootBundleFile: files.caCert,
  };
}

function leafExpiresSoon(chainPem: string, now: Date): boolean {
  const leaf = parseCertificateChain(chainPem)[0];
  if (!leaf) return true;
  return new Date(leaf.validTo).getTime() - now.getTime() < LEAF_RENEW_DAYS * 86_400_000;
}

function lastCertificatePem(pem: string): string {
  const last = parseCertificateChain(pem).at(-1);
  if (!last) throw new Error('certificate chain file holds no certificate');
  return last.toString();
}

function assertSameKey(privateKey: KeyObject, publicKey: KeyObject, keyFile: string, chainFile: string): void {
  algorithmOf(privateKey);
  const fromPrivate = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCert = publicKey.export({ type: 'spki', format: 'der' });
  if (!fromPrivate.equals(fromCert)) {
    throw new Error(`the key in ${keyFile} does not match the first certificate of ${chainFile}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
