import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics.js';

/** `GET /metrics` in the Prometheus text format; token requests are counted by an onResponse hook. */
export async function metricsRoutes(app: FastifyInstance, options: { metrics: Metrics }): Promise<void> {
  const { metrics } = options;
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/** The outcome label of a token response. */
export function tokenOutcome(status: number): string {
  if (status === 200) return 'issued';
  if (status === 401) return 'unauthorized';
  if (status === 429) return 'rate_limited';
  if (status === 503) return 'unavailable';
  if (status >= 500) return 'error';
  return 'invalid';
}
