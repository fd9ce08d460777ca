import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { InvalidRequestError, UnauthorizedError, UnsupportedMediaTypeError } from '../../domain/errors.js';
import { MAX_SCOPES } from '../../domain/scope.js';
import type { AccessExplainer } from '../../tokens/access-explainer.js';

const explainBody = z.strictObject({
  account: z.string().min(1).max(255),
  credential: z.string().min(1).max(64).optional(),
  scopes: z.array(z.string().min(1).max(512)).min(1).max(MAX_SCOPES),
  groups: z.array(z.string().min(1).max(255)).max(100).optional(),
});

/**
 * `POST /api/v1/access/explain` (admin secret): per requested action, whether a token request by
 * the account (with one of its credentials) would get it, and which ACL rule, decider answer or
 * credential scope entry decided (docs/openapi.yaml, docs/credentials.md). Always routed, so the
 * API is the same whatever the config; without an admin secret it answers 401.
 */
export async function accessApiRoutes(app: FastifyInstance, options: { explainer: AccessExplainer; adminSecret: string | undefined }): Promise<void> {
  const expected = options.adminSecret === undefined ? undefined : createHash('sha256').update(options.adminSecret).digest();

  app.post('/api/v1/access/explain', async (request) => {
    const header = request.headers.authorization ?? '';
    const given = createHash('sha256').update(/^Bearer /i.test(header) ? header.slice(7) : '').digest();
    if (expected === undefined) throw new UnauthorizedError('explanations need the admin secret, and this server has none (admin.secretFile or WHARF_ADMIN_SECRET)');
    if (!timingSafeEqual(given, expected)) throw new UnauthorizedError('explanations need Authorization: Bearer <admin secret>');
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new UnsupportedMediaTypeError('send application/json');
    const body = explainBody.safeParse(request.body ?? {});
    if (!body.success) throw new InvalidRequestError(`invalid explain request: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    const { account, credential, scopes, groups } = body.data;
    return options.explainer.explain({ account, credentialId: credential, scopes, groups, clientIp: request.ip });
  });
}
