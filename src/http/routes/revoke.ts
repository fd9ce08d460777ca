import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RefreshTokenStore } from '../../credentials/refresh/refresh-token-store.js';
import { InvalidRequestError, UnsupportedMediaTypeError } from '../../domain/errors.js';

/**
 * RFC 7009-style revocation of a refresh token by whoever holds it (e.g. `docker logout`
 * tooling). Answers 200 whether or not the token existed, so it reveals nothing.
 */
export async function revokeRoutes(app: FastifyInstance, options: { refreshTokens: RefreshTokenStore }): Promise<void> {
  app.post('/token/revoke', async (request: FastifyRequest, reply) => {
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') throw new UnsupportedMediaTypeError('send application/x-www-form-urlencoded');
    const token = (request.body as Record<string, unknown> | undefined)?.token;
    if (typeof token !== 'string' || token === '') throw new InvalidRequestError('token is required');
    const revoked = await options.refreshTokens.revoke(token);
    request.log.info({ event: 'refresh_token_revoked', found: revoked }, 'refresh token revocation');
    return reply.status(200).send({});
  });
}
