import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;
type Bindings = Parameters<ChildLoggerFactory>[1];

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

const noop = (): void => {};

/** A request's logger on a route with a level of its own, until it writes its first line. */
interface DeferredLogger {
  /** The request id, as fastify binds it. */
  bindings: Bindings;
  /** The pino child, made at the first line written. */
  made: FastifyBaseLogger | undefined;
}

/**
 * Fastify makes a child logger per request. For a route with its own level (the token routes, at
 * warn) the request gets a stand-in whose methods below that level do nothing, as the child's
 * would, and whose others make the child (with the request id) at the first line: a token request
 * that writes nothing through its request logger, the usual case, never builds a pino child.
 * Children of one shared logger at each level, so pino never rebuilds every log method per
 * request. Fastify also passes `{}` options where there are none, which takes pino's slower child
 * path: routes without a level get a child without options.
 */
export function requestLoggers(): ChildLoggerFactory {
  const atLevel = new Map<string, object>();
  return (logger, bindings, options) => {
    if (options.serializers) return logger.child(bindings, options);
    const level = options.level;
    if (level === undefined) return logger.child(bindings);
    let prototype = atLevel.get(level);
    if (!prototype) {
      prototype = deferredPrototype(logger.child({}, { level }));
      atLevel.set(level, prototype);
    }
    const deferred = Object.create(prototype) as DeferredLogger;
    deferred.bindings = bindings;
    deferred.made = undefined;
    return deferred as unknown as FastifyBaseLogger;
  };
}

/** The methods of the stand-ins over `base` (a logger at the route's level), shared by all of them. */
function deferredPrototype(base: FastifyBaseLogger): object {
  const made = (deferred: DeferredLogger) => (deferred.made ??= base.child(deferred.bindings));
  const prototype: Record<string, unknown> = {
    silent: noop,
    child(this: DeferredLogger, ...args: Parameters<FastifyBaseLogger['child']>) {
      return made(this).child(...args);
    },
  };
  for (const name of LEVELS) {
    // pino's methods below a logger's level are a no-op; the levels of `base` never change.
    prototype[name] = levelEnabled(base, name)
      ? function (this: DeferredLogger, ...args: unknown[]) {
          const child = made(this);
          (child[name] as (...a: unknown[]) => void).apply(child, args);
        }
      : noop;
  }
  // Read only: a request's level set at run time would have to remake these methods.
  Object.defineProperty(prototype, 'level', { get: () => base.level, enumerable: true });
  return prototype;
}

function levelEnabled(logger: FastifyBaseLogger, level: (typeof LEVELS)[number]): boolean {
  const probe = logger as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  // A logger other than pino (fastify allows any): ask nothing, defer every level to the child.
  return probe.isLevelEnabled ? probe.isLevelEnabled(level) : true;
}
