import type { FastifyInstance } from 'fastify';
import type { Cache } from '../../cache/cache.js';

/** Liveness and readiness, JSON bodies. */
export async function healthRoutes(app: FastifyInstance, options: { cache: Cache }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const cacheOk = await options.cache.healthy();
    reply.status(cacheOk ? 200 : 503);
    return { status: cacheOk ? 'ready' : 'degraded', checks: { keys: 'ok', cache: cacheOk ? 'ok' : 'unreachable' } };
  });
}
