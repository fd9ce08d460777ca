import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../src/keys/libtrust-kid.js';

// Computed independently with openssl and coreutils:
//   openssl pkey -pubin -in key.pub -outform DER | sha256sum | cut -c1-60 | xxd -r -p | base32 | tr -d = | fold -w4 | paste -sd:
const VECTOR_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExz69FM7NlZW1ihRFAA/5ApbLfvUY
NHm+Ld3dNtrzCD7H169+WLwjNND1c5NUiBMIZnAusrc77xwZ+5RmJnbErg==
-----END PUBLIC KEY-----`;
const VECTOR_KID = 'FSYF:RANL:IFDO:X2L6:MHU5:PNEN:7BJA:5ALG:TVZ3:HWEC:2ZH4:GL7F';

describe('libtrustKeyId', () => {
  it('matches the known vector', () => {
    expect(libtrustKeyId(createPublicKey(VECTOR_PUBLIC_KEY))).toBe(VECTOR_KID);
  });

  it('has 12 groups of 4 base32 characters and differs per key', () => {
    const a = libtrustKeyId(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    const b = libtrustKeyId(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    expect(a).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
    expect(b).toMatch(/^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
    expect(a).not.toBe(b);
  });
});
