// The HTTP ceiling: a bare fastify route answering a constant JSON body, as its own process (like
// Wharf) so both are measured the same way. `node bench/baseline-server.mjs PORT [floor | answer FILE]`;
// prints `listening <port>` once ready and stops on SIGTERM/SIGINT.
//
// With `floor`: the least any token endpoint does per request for a client it has not answered
// before: sign a fresh ES256 JWT with a certificate-chain-sized header (as src/tokens/minter.ts
// does, on the thread pool) and send it as a GET answer of the same size as Wharf's. No
// authentication, no decision, no log line. Wharf's distinct-client scenarios are read against it.
//
// With `answer FILE`: the answer floor. FILE (JSON `{ headers, body }`) holds one of Wharf's own
// answers as it was sent (body and headers); every GET, whatever its path and headers, gets exactly
// those bytes, a constant. The distinct-client scenarios drive it with their own generator, so
// what separates Wharf from it is Wharf's own work per request, not the HTTP layer, the client's
// requests or the answer's size.
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const floor = process.argv[3] === 'floor';
const answer = process.argv[3] === 'answer' ? JSON.parse(readFileSync(process.argv[4], 'utf8')) : undefined;
const app = Fastify({ logger: false });
if (answer) {
  app.get('/*', (request, reply) => reply.headers(answer.headers).send(answer.body));
} else if (floor) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // A two-certificate x5c chain is ~1.5 KB of base64, inside a base64url header.
  const header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid: 'ABCD:EFGH', x5c: [randomBytes(560).toString('base64'), randomBytes(520).toString('base64')] })).toString('base64url');
  let n = 0;
  app.get('/token', (request, reply) => {
    const iat = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(JSON.stringify({ iss: 'wharf', sub: `user-${n % 2000}`, aud: 'registry', exp: iat + 300, nbf: iat, iat, jti: randomUUID(), access: [{ type: 'repository', name: `user-${n % 2000}/app-${n++ % 32}`, actions: ['pull'] }] })).toString('base64url');
    const input = `${header}.${payload}`;
    sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }, (err, signature) => {
      if (err) return void reply.code(500).send();
      reply.type('application/json; charset=utf-8').send(`{"token":"${input}.${signature.toString('base64url')}","issued_at":"${new Date(iat * 1000).toISOString()}","expires_in":300}`);
    });
    return reply;
  });
} else {
  const body = { ok: true, service: 'registry' };
  app.get('/token', async () => body);
}
await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`listening ${app.server.address().port}\n`);
const stop = () => app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
