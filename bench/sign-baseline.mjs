// The crypto ceiling: ES256 signatures per second in one process, one at a time.
// `node bench/sign-baseline.mjs SECONDS` prints one JSON line:
//   {"joseEs256PerSec": n, "nodeCryptoEs256PerSec": n}
// jose (SignJWT, what the issue names as the ceiling) and node:crypto `sign()` with ieee-p1363
// (what src/tokens/minter.ts uses on the hot path), each for half of the given time.
import { generateKeyPairSync, sign } from 'node:crypto';
import { SignJWT } from 'jose';

const seconds = Number(process.argv[2] ?? 2);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const claims = {
  iss: 'wharf',
  sub: 'alice',
  aud: 'registry',
  jti: 'AAAAAAAAAAAAAAAAAAAAAA',
  access: [{ type: 'repository', name: 'alice/app', actions: ['pull'] }],
};

async function jose(ms) {
  const end = performance.now() + ms;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    const now = Math.floor(Date.now() / 1000);
    await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'bench' }).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300).sign(privateKey);
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

function nodeCrypto(ms) {
  const header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid: 'bench' })).toString('base64url');
  const end = performance.now() + ms;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    const now = Math.floor(Date.now() / 1000);
    const input = `${header}.${Buffer.from(JSON.stringify({ ...claims, iat: now, nbf: now, exp: now + 300 })).toString('base64url')}`;
    sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

// A short warm-up so both run JIT-compiled.
await jose(200);
nodeCrypto(200);
const half = (seconds * 1000) / 2;
const joseRate = await jose(half);
const nodeRate = nodeCrypto(half);
process.stdout.write(`${JSON.stringify({ joseEs256PerSec: Math.round(joseRate), nodeCryptoEs256PerSec: Math.round(nodeRate) })}\n`);
