import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../../domain/readiness.js';

/** Liveness and readiness, JSON bodies. */
export async function healthRoutes(app: FastifyInstance, options: { readiness: () => Promise<Readiness> }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => options.readiness());
}
