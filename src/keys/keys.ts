import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { libtrustKeyId } from './libtrust-kid.js';

/** Algorithms Wharf signs with. ES256 is the default: ~3x cheaper to sign than RS256. */
export type SigningAlgorithm = 'ES256' | 'RS256';

/** Which `kid` the JWT header carries: libtrust form (registry 2.8) or RFC 7638 thumbprint (3.x `jwks`). */
export type KidFormat = 'libtrust' | 'thumbprint';

/** A public key that verifiers should accept, with its certificate chain. */
export interface VerificationKey {
  readonly alg: SigningAlgorithm;
  readonly kid: string;
  readonly publicKey: KeyObject;
  /** Base64 DER certificates, leaf first, as the JWS `x5c` header wants them. */
  readonly x5c: readonly string[];
  /** End of the leaf certificate's validity; a token must never outlive it. */
  readonly notAfter: Date;
}

/** The key that signs new tokens. */
export interface SigningKey extends VerificationKey {
  readonly privateKey: KeyObject;
}

/** Where the token minter and the JWKS route get keys from. */
export interface KeyStore {
  /** The key that signs new tokens now. */
  current(): SigningKey;
  /** Every key verifiers should accept now (the JWKS), the current one first. */
  verificationKeys(): readonly VerificationKey[];
  /** PEM of the root certificate(s) the registry trusts (`auth.token.rootcertbundle`). */
  rootBundlePem(): string;
}

/** A key store over a fixed set of keys, loaded at start. */
export class StaticKeyStore implements KeyStore {
  constructor(
    private readonly signing: SigningKey,
    private readonly extra: readonly VerificationKey[],
    private readonly rootPem: string,
  ) {}

  current(): SigningKey {
    return this.signing;
  }

  verificationKeys(): readonly VerificationKey[] {
    return [this.signing, ...this.extra];
  }

  rootBundlePem(): string {
    return this.rootPem;
  }
}

/** Splits a PEM bundle into its certificates, in file order. */
export function parseCertificateChain(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** The algorithm a key pair signs with, or an explanation of why it cannot be used. */
export function algorithmOf(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256';
  throw new Error('signing key must be EC P-256 (ES256) or RSA of at least 2048 bits (RS256)');
}

/** Computes the `kid` of a public key in the configured format. */
export async function keyIdOf(publicKey: KeyObject, format: KidFormat): Promise<string> {
  if (format === 'libtrust') return libtrustKeyId(publicKey);
  return calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK, 'sha256');
}

/** Builds a verification key from a certificate chain (leaf first). */
export async function verificationKeyFromChain(chain: readonly X509Certificate[], format: KidFormat): Promise<VerificationKey> {
  const leaf = chain[0];
  if (!leaf) throw new Error('certificate chain is empty');
  const publicKey = createPublicKey(leaf.publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    alg: algorithmOf(publicKey),
    kid: await keyIdOf(publicKey, format),
    publicKey,
    x5c: chain.map((c) => c.raw.toString('base64')),
    notAfter: new Date(leaf.validTo),
  };
}

/** The JWK form of a verification key, as served at `/.well-known/jwks.json`. */
export function toJwk(key: VerificationKey): JWK {
  return {
    ...(key.publicKey.export({ format: 'jwk' }) as JWK),
    kid: key.kid,
    alg: key.alg,
    use: 'sig',
    x5c: [...key.x5c],
  };
}
