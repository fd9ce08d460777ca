import type { FastifyInstance } from 'fastify';
import { toJwk, type KeyStore, type VerificationKey } from '../../keys/keys.js';

/** Public keys as a JWKS, for registries (distribution 3.x `jwks`) and other verifiers. */
export async function jwksRoutes(app: FastifyInstance, options: { keys: KeyStore }): Promise<void> {
  let cached: { keys: readonly VerificationKey[]; body: string } | undefined;
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    const keys = options.keys.verificationKeys();
    if (cached?.keys !== keys) cached = { keys, body: JSON.stringify({ keys: keys.map(toJwk) }) };
    reply.header('cache-control', 'public, max-age=300').type('application/json');
    return cached.body;
  });
}
