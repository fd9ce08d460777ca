import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { createRootCa } from './certificates.js';
import { KeyRotator, type RotationSettings } from './key-rotator.js';
import {
  StaticKeyStore,
  type KeyStore,
  parseCertificateChain,
  verificationKeyFromChain,
  type KidFormat,
  type SigningAlgorithm,
} from './keys.js';
import { signingKeyFromFiles } from './key-pair-files.js';
import { RotatingKeyStore } from './rotating-key-store.js';

/** Where signing material comes from. */
export interface KeySource {
  /** PEM private key of a fixed signing key; with `certificateChainFile`, turns rotation off. */
  signingKeyFile?: string | undefined;
  /** PEM certificates of the fixed key, leaf first, then intermediates; sent as `x5c`. */
  certificateChainFile?: string | undefined;
  /** PEM root certificate(s) for the registry's `rootcertbundle` (fixed key); default: the chain's last certificate. */
  rootCertificateFile?: string | undefined;
  /** Extra certificates whose keys stay published in the JWKS (fixed key). */
  publishCertificateFiles?: readonly string[] | undefined;
  /** Directory for generated development material (CA, leaves), used when nothing else is given. */
  generatedDir: string;
  /** Rotating leaves: the shared directory. Default `<generatedDir>/leaves`. */
  leafDirectory?: string | undefined;
  /** The CA the registry trusts. Default `<generatedDir>/ca.pem`, generated with its key when absent. */
  caCertificateFile?: string | undefined;
  /** The CA key that certifies leaves; without it Wharf cannot rotate by itself. Default `<generatedDir>/ca-key.pem`. */
  caKeyFile?: string | undefined;
  rotation?: Omit<RotationSettings, 'leafDirectory' | 'caKeyFile' | 'caCertificateFile' | 'algorithm'> & { automatic: boolean; rescanSeconds: number };
  /** Longest token lifetime, so a leaf outlives every token it signs. */
  maxTokenLifetimeSeconds?: number;
  /** Algorithm of generated keys. */
  algorithm: SigningAlgorithm;
  kidFormat: KidFormat;
}

/** Rotation machinery, when keys rotate. */
export interface KeyRotation {
  store: RotatingKeyStore;
  /** Present when the CA key is readable here. */
  rotator: KeyRotator | undefined;
  automatic: boolean;
  rescanSeconds: number;
}

/** What loading did, so the CLI can say it. */
export interface LoadedKeys {
  store: KeyStore;
  /** Files written because they did not exist yet (empty when nothing was generated). */
  generated: string[];
  /** Path of the PEM bundle the registry must trust. */
  rootBundleFile: string;
  rotation: KeyRotation | undefined;
}

const CA_DAYS = 3650;
const DEFAULT_ROTATION = { automatic: true, everyHours: 24, leafValidityHours: 72, publishLeadSeconds: 60, rescanSeconds: 10 };

/** Loads a fixed key from files, or rotating leaves certified by a (possibly generated) CA. */
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
    return { store: new StaticKeyStore(signing, extra, rootPem), generated: [], rootBundleFile: rootFile, rotation: undefined };
  }
  return loadRotating(source, now);
}

async function loadRotating(source: KeySource, now: Date): Promise<LoadedKeys> {
  const dir = source.generatedDir;
  const caCert = source.caCertificateFile ?? join(dir, 'ca.pem');
  const caKey = source.caKeyFile ?? join(dir, 'ca-key.pem');
  const leafDirectory = source.leafDirectory ?? join(dir, 'leaves');
  const rotation = { ...DEFAULT_ROTATION, ...source.rotation };
  const maxLifetime = source.maxTokenLifetimeSeconds ?? 300;
  const needed = rotation.everyHours * 3600 + rotation.publishLeadSeconds + maxLifetime;
  if (rotation.leafValidityHours * 3600 < needed) {
    throw new Error(
      `keys.rotation.leafValidityHours (${rotation.leafValidityHours}) must cover everyHours + publishLeadSeconds + the longest token lifetime (${Math.ceil(needed / 3600)} h), so no leaf expires before the tokens it signed`,
    );
  }
  const generated: string[] = [];
  if (!source.caCertificateFile && !(await exists(caCert))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const ca = await createRootCa(source.algorithm, 'Wharf development CA', CA_DAYS, now);
    await writeFile(caKey, ca.privateKeyPem, { mode: 0o600 });
    await writeFile(caCert, ca.certificatePem);
    generated.push(caCert, caKey);
  }
  // `now` may be in the future (tests of renewal): both clocks run from it.
  const offset = now.getTime() - Date.now();
  const clock = () => Date.now() + offset;
  const store = new RotatingKeyStore(leafDirectory, await readFile(caCert, 'utf8'), source.kidFormat, maxLifetime, clock);
  const rotator = (await exists(caKey))
    ? new KeyRotator({ leafDirectory, caKeyFile: caKey, caCertificateFile: caCert, algorithm: source.algorithm, ...rotation }, store, clock)
    : undefined;
  const created = rotator ? await rotator.ensureSigningKey() : (await store.refresh(), undefined);
  if (created) generated.push(join(leafDirectory, created));
  store.current(); // throws, naming the fix, when no leaf can sign
  return { store, generated, rootBundleFile: caCert, rotation: { store, rotator, automatic: rotation.automatic, rescanSeconds: rotation.rescanSeconds } };
}

function lastCertificatePem(pem: string): string {
  const last = parseCertificateChain(pem).at(-1);
  if (!last) throw new Error('certificate chain file holds no certificate');
  return last.toString();
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
