import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { clientErrorAnswer, errorHandler, frameworkErrorAnswer, pageErrorHandler } from './http/error-handler.js';
import { publicUrl as publicUrlOf } from './config/public-url.js';
import { accountRoutes } from './http/routes/account.js';
import { adminRoutes } from './http/routes/admin.js';
import { credentialApiRoutes } from './http/routes/credentials-api.js';
import { deviceRoutes } from './http/routes/device.js';
import { exchangeRoutes } from './http/routes/exchange.js';
import { loginRoutes } from './http/routes/login.js';
import { healthRoutes } from './http/routes/health.js';
import { metricsRoutes, tokenOutcome } from './http/routes/metrics.js';
import { accessApiRoutes } from './http/routes/access-api.js';
import { AccessExplainer } from './tokens/access-explainer.js';
import { jwksRoutes } from './http/routes/jwks.js';
import { revokeRoutes } from './http/routes/revoke.js';
import { tokenRoutes } from './http/routes/token.js';
import { guardConnections, totalWithin } from './http/connection-guard.js';
import { requestLoggers } from './http/request-loggers.js';
import { trustedPeer } from './http/trusted-peer.js';
import type { Services } from './services.js';
import type { Config } from './config/schema.js';

/** Largest request body accepted (form posts are a few hundred bytes). */
const BODY_LIMIT = 64 * 1024;

/** The realm of the Basic challenge every 401 carries. */
const BASIC_REALM = 'Wharf';

/**
 * Starts anyone may flood without signing in (`POST /device/code`, `GET /login/<name>`): fastify's
 * two lines per request (450 bytes) would log every refused start; their own lines say what
 * happened instead (device_code_issued, and start_refused for the first few refusals per address,
 * the rest summarised).
 */
const UNLOGGED_STARTS = /^\/(?:device\/code|login\/[^/?]+)(?:\?|$)/;

/** Facts about where the app is served that only the caller knows. */
export interface AppOptions {
  /** The URL browsers and CLIs reach Wharf at (redirect URIs, verification URIs). */
  publicUrl: string;
  /** Serve HTTPS with this key and certificate (PEM). */
  https?: { key: Buffer; cert: Buffer };
  /** The process's file descriptor limit, when known: the total connection bound stays below it. */
  descriptorLimit?: number;
}

/** The one Fastify factory, used by `main` and by every test. Holds no globals. */
export async function buildApp(deps: Services, options: AppOptions = { publicUrl: publicUrlOf(deps.config) }): Promise<FastifyInstance> {
  const timeouts = deps.config.server.timeouts;
  // Node's defaults (60 s for headers, checked every 30 s) let a client that trickles its headers,
  // or sends nothing, hold a descriptor for up to 90 s. A silent connection is covered too: the
  // header clock starts when the connection opens. Over TLS the handshake comes first, with its own
  // limit (Node's default 120 s).
  const headers = { headersTimeout: timeouts.headersSeconds * 1000, connectionsCheckingInterval: timeouts.checkIntervalSeconds * 1000 };
  const app = Fastify({
    ...(options.https ? { https: { ...options.https, ...headers, handshakeTimeout: headers.headersTimeout } } : { http: headers }),
    requestTimeout: timeouts.requestSeconds * 1000,
    keepAliveTimeout: timeouts.keepAliveSeconds * 1000,
    loggerInstance: deps.logger as FastifyBaseLogger,
    trustProxy: trustProxyOption(deps.config.server.trustProxy),
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    childLoggerFactory: requestLoggers(),
    logController: new LogController({ disableRequestLogging: (request) => UNLOGGED_STARTS.test((request as { url?: string }).url ?? '') }),
    // Every way an error reaches a client goes through the one mapping of the error tree: what
    // Node's parser refuses before a request exists, what fastify refuses before routing (a bad
    // percent-encoded path...), and what routes throw.
    clientErrorHandler: clientErrorAnswer(BASIC_REALM),
    frameworkErrors: frameworkErrorAnswer(BASIC_REALM),
  });

  const limits = deps.config.server.connections;
  const total = totalWithin(limits.total, options.descriptorLimit);
  if (total < limits.total) app.log.info({ event: 'connection_bound_lowered', configured: limits.total, total, descriptorLimit: options.descriptorLimit }, `at most ${total} connections at once: the process may open ${options.descriptorLimit} files`);
  const guard = guardConnections(app.server, {
    limits: { perAddress: limits.perAddress, total },
    ipv6PrefixLength: deps.config.server.ipv6PrefixLength,
    trusted: trustedPeer(deps.config.server.trustProxy),
    countRefusal: (bound) => deps.metrics.countRefusedConnection(bound),
    warn: (fields, message) => app.log.warn(fields, message),
  });
  deps.metrics.setOpenConnectionsSource(() => guard.gate.open);
  app.addHook('onClose', (_app, done) => {
    guard.close();
    done();
  });

  await app.register(errorHandler, { basicRealm: BASIC_REALM });
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  await app.register(async (scope) => {
    // Token metrics, in a scope of their own so no other route pays for the hook. Callback style,
    // not async: it runs after every token response, and a promise per call is measurable.
    scope.addHook('onResponse', (request, reply, done) => {
      const grant = request.method === 'GET' ? 'get' : String((request.body as Record<string, unknown> | undefined)?.grant_type ?? 'none');
      const grantType = grant === 'get' || grant === 'password' || grant === 'refresh_token' ? grant : 'other';
      deps.metrics.observeTokenRequest(tokenOutcome(reply.statusCode), grantType, reply.elapsedTime / 1000);
      done();
    });
    await scope.register(tokenRoutes, { tokens: deps.tokens });
  });
  await app.register(revokeRoutes, { refreshTokens: deps.refreshTokens });
  await app.register(jwksRoutes, { keys: deps.keys });
  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(metricsRoutes, { metrics: deps.metrics });
  // Cookies only where sessions live: the plugin's hooks stay off the token endpoint's hot path.
  if (deps.loginProviders.length > 0) await app.register(federationPages, { deps, publicUrl: options.publicUrl });
  if (deps.adminSecret) await app.register(adminRoutes, { secret: deps.adminSecret, invalidator: deps.invalidator });
  const credentialDays = deps.config.federation.credentials;
  await app.register(credentialApiRoutes, {
    credentials: deps.credentials,
    authenticator: deps.credentialAuthenticator,
    sessions: deps.loginProviders.length > 0 ? deps.sessions : undefined,
    cookieSecret: deps.cookieSecret,
    adminSecret: deps.adminSecret,
    bindings: deps.bindings,
    admit: (i) => deps.authenticators.admit(i),
    defaultDays: Math.min(credentialDays.defaultDays, credentialDays.maxDays),
    rotationOverlapHours: credentialDays.rotationOverlapHours,
    authorizer: deps.authorizer,
    service: deps.config.token.service,
    now: deps.now,
  });
  if (deps.exchange) await app.register(exchangeRoutes, { exchange: deps.exchange, count: (outcome) => deps.metrics.exchanges.inc({ outcome }) });
  const explainer = new AccessExplainer({ authorizer: deps.authorizer, bindings: deps.bindings, credentials: deps.credentials, service: deps.config.token.service });
  await app.register(accessApiRoutes, { explainer, adminSecret: deps.adminSecret });
  return app;
}

/** Browser and device login pages, with cookies, in their own encapsulated context. */
async function federationPages(pages: FastifyInstance, { deps, publicUrl }: { deps: Services; publicUrl: string }): Promise<void> {
  const federation = deps.config.federation;
  const credentialDays = Math.min(federation.credentials.defaultDays, federation.credentials.maxDays);
  pages.setErrorHandler(pageErrorHandler);
  await pages.register(cookie, { secret: deps.cookieSecret });
  // No page may be framed by another site: a hidden frame over "Approve" or "Revoke" would
  // turn a visitor's click into a device approval (clickjacking). X-Frame-Options for old browsers.
  pages.addHook('onSend', (_request, reply, payload, done) => {
    void reply.header('content-security-policy', "frame-ancestors 'none'").header('x-frame-options', 'DENY');
    done(null, payload);
  });
  await pages.register(loginRoutes, { providers: deps.loginProviders, sessions: deps.sessions, publicUrl, sessionSeconds: federation.sessionHours * 3600, sealUpstream: deps.sealUpstream, admit: (i) => deps.authenticators.admit(i, { proven: true }) });
  await pages.register(accountRoutes, {
    sessions: deps.sessions,
    credentials: deps.credentials,
    bindings: deps.bindings,
    registryHost: federation.registryHost ?? '<registry>',
    defaultDays: credentialDays,
    maxDays: federation.credentials.maxDays,
    rotationOverlapHours: federation.credentials.rotationOverlapHours,
    admit: (i) => deps.authenticators.admit(i),
    now: deps.now,
  });
  await pages.register(deviceRoutes, { flow: deps.deviceFlow, sessions: deps.sessions, credentials: deps.credentials, publicUrl, credentialDays, admit: (i) => deps.authenticators.admit(i) });
}

/**
 * fastify's `trustProxy` for the configured setting. A hop count becomes "trust the nearest N
 * peers" (proxy-addr counts the socket peer as hop 0): fastify 5 turns a bare number into
 * "trust nothing", as a count cannot tell the proxy from a client that connects directly, so the
 * deployment has to make the proxy the only way in (the Kubernetes example's NetworkPolicy).
 */
function trustProxyOption(setting: Config['server']['trustProxy']): boolean | string | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== 'number') return setting;
  return (_address, hop) => hop < setting;
}
