import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

/**
 * Fastify makes a child logger per request. For a route with its own level (the quiet token
 * routes) pino would rebuild every log method of each child; a child of one shared logger at that
 * level costs only its bindings. Fastify also passes `{}` options where there are none, which
 * takes pino's slower child path. (A stand-in that made the child only at a request's first line
 * saved a quarter of a microsecond per token request, for a partial logger of its own: not kept.)
 */
export function requestLoggers(): NonNullable<FastifyServerOptions['childLoggerFactory']> {
  const atLevel = new Map<string, FastifyBaseLogger>();
  return (logger, bindings, options) => {
    if (options.serializers) return logger.child(bindings, options);
    const level = options.level;
    if (level === undefined) return logger.child(bindings);
    let base = atLevel.get(level);
    if (!base) {
      base = logger.child({}, { level });
      atLevel.set(level, base);
    }
    return base.child(bindings);
  };
}
