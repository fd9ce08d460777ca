import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for the few upstream secrets Wharf must keep to re-check an identity later (a
 * GitHub access token): stored sealed, with a key derived from the hash key, never in clear.
 */
export class SealedBox {
  private readonly key: Buffer;

  /** `purpose` keeps boxes of different uses apart: one never opens another's. */
  constructor(hashKey: Buffer, purpose = 'wharf sealed box v1') {
    this.key = createHmac('sha256', hashKey).update(purpose).digest();
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The plaintext, or undefined when the box was tampered with or sealed under another key. */
  open(sealed: string): string | undefined {
    try {
      const raw = Buffer.from(sealed, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
