import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { InvalidRequestError, UnauthorizedError, UnsupportedMediaTypeError } from '../../domain/errors.js';
import type { Invalidator } from '../../invalidation/invalidator.js';

const invalidateBody = z
  .strictObject({
    token: z.string().min(1).max(8192).optional(),
    account: z.string().min(1).max(255).optional(),
  })
  .refine((b) => b.token !== undefined || b.account !== undefined, 'give token, account or both');

/**
 * Endpoints for platform backends, behind `Authorization: Bearer <admin secret>`.
 * `POST /admin/invalidate` `{token?, account?}` drops a token's cached introspection and/or an
 * account's cached decisions; 204 when done.
 */
export async function adminRoutes(app: FastifyInstance, options: { secret: string; invalidator: Invalidator }): Promise<void> {
  const expected = createHash('sha256').update(options.secret).digest();

  app.post('/admin/invalidate', async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const given = createHash('sha256').update(header.startsWith('Bearer ') ? header.slice(7) : '').digest();
    if (!timingSafeEqual(given, expected)) throw new UnauthorizedError('admin endpoints need Authorization: Bearer <admin secret>');
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new UnsupportedMediaTypeError('send application/json');
    const body = invalidateBody.safeParse(request.body);
    if (!body.success) throw new InvalidRequestError(`invalid invalidation request: ${body.error.issues.map((i) => i.message).join('; ')}`);
    await options.invalidator.invalidate(body.data, 'http');
    return reply.status(204).send();
  });
}
