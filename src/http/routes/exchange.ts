import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { InvalidRequestError, UnsupportedMediaTypeError } from '../../domain/errors.js';
import type { TokenExchange } from '../../flows/token-exchange.js';

/** Longest token read: service-account and CI ID tokens are 1-3 KB. */
const MAX_TOKEN = 16 * 1024;

const exchangeBody = z
  .strictObject({
    token: z.string().min(1).max(MAX_TOKEN),
    image: z.string().min(1).max(1024).optional(),
    repository: z.string().min(1).max(255).optional(),
    // The kubelet passes the annotations a CredentialProviderConfig names; a few, short.
    annotations: z.record(z.string().max(253), z.string().max(4096)).refine((a) => Object.keys(a).length <= 64, 'at most 64 annotations').optional(),
  })
  .refine((b) => (b.image === undefined) !== (b.repository === undefined), 'send exactly one of "image" and "repository"');

/**
 * `POST /api/v1/exchange`: a workload's ID token (a pod's service-account token, handed over by
 * the kubelet credential provider) for a short-lived credential that can pull one repository
 * (docs/kubernetes.md, docs/openapi.yaml). Refusals use the registry's error shape like every
 * other answer: 400 for a malformed request, 401 for a token refused (saying why), 403 for a
 * repository outside what the rule or the annotations allow, 429 and 503 as at the token endpoint.
 */
export async function exchangeRoutes(app: FastifyInstance, options: { exchange: TokenExchange; count: (outcome: string) => void }): Promise<void> {
  // This plugin's scope holds the exchange route alone: the hook counts nothing else.
  app.addHook('onResponse', (_request, reply, done) => {
    options.count(outcomeOf(reply.statusCode));
    done();
  });
  app.post('/api/v1/exchange', async (request, reply) => {
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new UnsupportedMediaTypeError('send application/json');
    const body = exchangeBody.safeParse(request.body ?? {});
    if (!body.success) {
      // Never echo the body: it holds a token.
      throw new InvalidRequestError(`invalid exchange request: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    }
    const answer = await options.exchange.exchange({ ...body.data, clientIp: request.ip });
    // The answer is a secret for one pull: no cache on the way may keep it.
    void reply.header('cache-control', 'no-store');
    return answer;
  });
}

/** The metric's outcome for an answer's status. */
function outcomeOf(status: number): string {
  if (status === 200) return 'issued';
  if (status === 401) return 'refused';
  if (status === 403) return 'denied';
  if (status === 429) return 'limited';
  return status >= 500 ? 'unavailable' : 'invalid';
}
