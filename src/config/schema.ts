import { z } from 'zod';
import { checkAccountPrefixes } from '../accounts/prefix-check.js';
import { loginProviders } from '../authn/login-registry.js';
import { passwordBackends } from '../authn/registry.js';
import { aclLinkSchema, anonymousDecisionsSchema, checkDeciderChain, deciders, staticAclSchema } from '../authz/registry.js';
import { cacheSchema } from '../cache/cache-config.js';
import { storeSchema } from '../store/store-config.js';

const seconds = (max: number) => z.number().int().min(1).max(max);

/**
 * The backend types a configuration may name: each registry's entries own their schemas, and the
 * config's unions are derived from them (a new backend touches its folder and its registry only).
 */
export const builtInBackends = { passwordBackends, loginProviders, deciders };

/** Backend registries of the shape of `builtInBackends` (tests add their own entries). */
export type BackendRegistries = typeof builtInBackends;

/** The whole configuration for a set of backend types; every field has its default beside it. */
export function configSchemaFor(backends: BackendRegistries) {
  return z.strictObject({
    server: z
      .strictObject({
        /** Listen address (env HOST). Default 127.0.0.1. */
        host: z.string().default('127.0.0.1'),
        /** Listen port (env PORT). Default 5001. */
        port: z.number().int().min(0).max(65535).default(5001),
        /** Public base URL clients reach Wharf at; the realm is `${publicUrl}/token` (env WHARF_PUBLIC_URL). Default `http://host:port`. */
        publicUrl: z.url().optional(),
        /**
         * Which X-Forwarded-For entries to believe (the client address for audit lines and every
         * per-address limit), as fastify's `trustProxy`: a hop count (1 = the one proxy in front,
         * e.g. an ingress controller), the proxies' addresses/CIDRs, or true (any sender: every
         * client then picks its own address; `config check` warns). Default false.
         */
        trustProxy: z.union([z.boolean(), z.number().int().min(1).max(10), z.string(), z.array(z.string())]).default(false),
        /**
         * IPv6 client addresses are grouped by this prefix length for every per-address limit (login
         * budgets, start limits, connection bounds): one subscriber usually holds a whole /64 and can
         * use a new address for each request. IPv4 addresses are limited one by one. Default 64.
         */
        ipv6PrefixLength: z.number().int().min(16).max(128).default(64),
        /** Serve HTTPS from these PEM files (the public URL then defaults to https). Default: plain HTTP, e.g. behind a TLS-terminating proxy. */
        tls: z.strictObject({ keyFile: z.string().min(1), certFile: z.string().min(1) }).optional(),
        /**
         * How long a connection may take over each part of its life before it is closed (docs/operations.md,
         * Slow clients). A client that trickles its headers, or connects and sends nothing, is closed
         * within `headersSeconds + checkIntervalSeconds` of connecting.
         */
        timeouts: z
          .strictObject({
            /** Time from a connection opening (or, on a kept-alive one, from a later request's first byte) to the request's complete headers; with TLS also the handshake's limit. Default 10. */
            headersSeconds: seconds(300).default(10),
            /** Time to receive a whole request, headers and body (bodies are small forms); at least `headersSeconds`. Not the time to answer it. Default 30. */
            requestSeconds: seconds(600).default(30),
            /** Idle time after an answer before a kept-alive connection is closed; behind a proxy that keeps connections to Wharf alive, set it above the proxy's own idle timeout. Default 5. */
            keepAliveSeconds: seconds(3600).default(5),
            /** How often connections are checked against the header and request timeouts. Default 1. */
            checkIntervalSeconds: seconds(60).default(1),
          })
          .refine((t) => t.headersSeconds <= t.requestSeconds, { message: 'headersSeconds must not exceed requestSeconds', path: ['headersSeconds'] })
          .prefault({}),
        /**
         * Open connections allowed per process, counted as they arrive; one past a bound is closed at
         * once without being read (`wharf_connections_refused_total{bound}`, and one `connections_refused`
         * log line per 10 s while it happens).
         */
        connections: z
          .strictObject({
            /**
             * From one client address (IPv6 grouped by `ipv6PrefixLength`), as the socket sees it: a
             * peer that `trustProxy` trusts (a listed proxy address, or every peer under a hop count or
             * `true`) is a proxy and counts only towards `total`. Default 128.
             */
            perAddress: z.number().int().min(1).max(1_000_000).default(128),
            /** From everyone together; never more than the process's file descriptor limit less 256 (read at start on Linux). Default 10000. */
            total: z.number().int().min(1).max(1_000_000).default(10_000),
          })
          .prefault({}),
      })
      .prefault({}),

    /** Directory for generated keys and state (env WHARF_DATA_DIR). Default `./data`. */
    dataDir: z.string().default('./data'),

    token: z
      .strictObject({
        /** JWT `iss`; must equal the registry's `auth.token.issuer` (env WHARF_ISSUER). Default `wharf`. */
        issuer: z.string().min(1).default('wharf'),
        /** Registry service name; must equal `auth.token.service` and becomes `aud` (env WHARF_SERVICE). Default `registry`. */
        service: z.string().min(1).default('registry'),
        /** Token lifetime in seconds. Default 300. At least 60, or clients re-fetch every minute. */
        lifetimeSeconds: z.number().int().min(60).max(86_400).default(300),
        /** Longer lifetimes when a token grants a given action (e.g. `push: 3600` for big uploads). Default none. */
        actionLifetimeSeconds: z.record(z.string(), z.number().int().min(60).max(86_400)).default({}),
        /** Which `kid` to put in the header: `libtrust` (registry 2.8) or `thumbprint` (RFC 7638, registry 3.x jwks). Default libtrust. */
        kidFormat: z.enum(['libtrust', 'thumbprint']).default('libtrust'),
        /** Send the certificate chain as `x5c`. Default true. */
        x5c: z.boolean().default(true),
        /** Memory for tokens kept for reuse (the same subject and access within a tenth of the lifetime get the same token): a table outside the V8 heap, 104 bytes per ES256 token (40 plus the signature with RS256). Default 16 (some 161,000 ES256 tokens). */
        reuseCacheMegabytes: z.number().int().min(1).max(4096).default(16),
      })
      .prefault({}),

    keys: z
      .strictObject({
        /** Algorithm of generated keys: ES256 (default) or RS256. File keys use their own type. */
        algorithm: z.enum(['ES256', 'RS256']).default('ES256'),
        /** PEM private key of the signing key. Default: a generated development key under `dataDir/keys`. */
        signingKeyFile: z.string().optional(),
        /** PEM certificate chain of the signing key, leaf first. */
        certificateChainFile: z.string().optional(),
        /** PEM root certificate(s) the registry trusts. Default: the chain's last certificate. */
        rootCertificateFile: z.string().optional(),
        /** Further certificates whose keys stay in the JWKS (rotation). Default none. */
        publishCertificateFiles: z.array(z.string()).default([]),
        /** Without a fixed key: the directory of short-lived signing leaves, shared by all replicas. Default `dataDir/keys/leaves`. */
        leafDirectory: z.string().optional(),
        /** The CA certificate the registry trusts (`rootcertbundle`). Default `dataDir/keys/ca.pem`, generated when absent. */
        caCertificateFile: z.string().optional(),
        /** The CA key that certifies new leaves; keep it off serving machines and rotate with `wharf keys rotate` where it is. Default `dataDir/keys/ca-key.pem`. */
        caKeyFile: z.string().optional(),
        rotation: z
          .strictObject({
            /** Rotate on schedule when the CA key is readable here. Default true. */
            automatic: z.boolean().default(true),
            /** Age of the newest leaf at which a new one is made, in hours. Default 24. */
            everyHours: z.number().min(0.01).max(24 * 365).default(24),
            /** Validity of each leaf certificate, in hours; must cover everyHours + publishLeadSeconds + the longest token. Default 72. */
            leafValidityHours: z.number().min(0.05).max(24 * 3650).default(72),
            /** A new leaf is published this long before it signs, so every verifier knows it first. Default 60. */
            publishLeadSeconds: z.number().int().min(0).max(86_400).default(60),
            /** How often replicas re-read the leaf directory, in seconds. Default 10. */
            rescanSeconds: z.number().min(0.1).max(3600).default(10),
          })
          .prefault({}),
      })
      .prefault({}),

    refreshTokens: z
      .strictObject({
        /** Issue refresh tokens (docker's `identitytoken`) on offline requests. Default true. */
        enabled: z.boolean().default(true),
        /** Maximum age in seconds; not extended by use. Default 90 days. */
        maxAgeSeconds: seconds(10 * 365 * 86_400).default(90 * 86_400),
      })
      .prefault({}),

    /**
     * The token exchange (`POST /api/v1/exchange`, docs/kubernetes.md): an ID token a trust rule
     * of an `oidc-token` backend admits (a pod's service-account token) for a credential that
     * can pull one repository.
     */
    exchange: z
      .strictObject({
        /** Answer exchanges. Default true (without an `oidc-token` backend every token is refused anyway). */
        enabled: z.boolean().default(true),
        /** Longest life of an exchanged credential, in minutes; it never outlives the token it came from either. Default 60. */
        maxMinutes: z.number().int().min(1).max(24 * 60).default(60),
      })
      .prefault({}),

    /** Cache backend. Default in-process memory (env WHARF_REDIS_URL switches to Redis). */
    cache: cacheSchema.default({ type: 'memory', maxEntries: 100_000 }),

    /** Durable records. Default: see `storeSchema`. */
    store: storeSchema.optional(),

    /** Secret for keyed hashes of credentials in cache keys: a file path (env WHARF_HASH_KEY holds the value itself), at least 32 bytes after trimming. Default: generated under `dataDir`. Replicas sharing a Redis must share it. */
    hashKeyFile: z.string().optional(),

    /** Authenticator chain, tried in order; the first that recognises the username decides. */
    authn: z.array(backends.passwordBackends.schema()).default([]),

    /** Authorization. */
    authz: z
      .strictObject({
        acl: staticAclSchema.prefault({}),
        /**
         * The deciders, asked in this order (`{type: acl}` places the ACL): each scope goes to the
         * first, and only scopes a decider gave no definite answer (no ACL rule matched, the webhook
         * unavailable) go on to the next; the first definite answer wins; a scope nobody decides gets
         * nothing (fail closed). Types: `acl`, `webhook`, `sage`, `command`. Default: the ACL and
         * `webhook` in `order`. Replaces `webhook` and `order` (not both).
         */
        deciders: z.array(z.discriminatedUnion('type', [aclLinkSchema, ...backends.deciders.schema().options])).min(1).optional(),
        /** The platform's decision endpoint: `type: webhook` (env WHARF_AUTHZ_WEBHOOK_URL), `type: sage` (env ecrAuthZEndpoint), or `type: command` (a local program, same contract over stdin/stdout). Default none. */
        webhook: backends.deciders.schema().optional(),
        /**
         * With a webhook: `acl-first` (default) lets matching ACL rules decide and sends the rest to the
         * webhook; `webhook-first` asks the webhook and falls back to the ACL only for scopes it could
         * not decide (it was unreachable). With `deciders`, the list is the order.
         */
        order: z.enum(['acl-first', 'webhook-first']).default('acl-first'),
        /** What anonymous requests may cost the webhook: their own bounded cache, calls per address and in all. */
        anonymous: anonymousDecisionsSchema.prefault({}),
      })
      .superRefine(checkDeciderChain)
      .prefault({}),

    /** Browser and device logins through identity providers; they hand out Wharf registry credentials. */
    federation: z
      .strictObject({
        /** Identity providers on the login page (`google`, `github`, `oidc`). Default none: no browser or device login. */
        providers: z.array(backends.loginProviders.schema()).default([]),
        /** Registry host shown in the `docker login` command on the account page. Default `<registry>`. */
        registryHost: z.string().optional(),
        /**
         * Re-check the provider identity behind a login's credentials this often, in minutes, at
         * their next use: OIDC and Google through the refresh token (else UserInfo while the access
         * token lives), GitHub through its API. A user the provider no longer knows, or who fails
         * `allowedDomains`, `allowedGroups`, `allowedOrgs` now, loses the credential (revoked);
         * changed groups apply. Keeps the provider's tokens sealed (AES-GCM) with the credential.
         * Default 1440 (a day); at most 10080 (a week). It cannot be turned off (0 is refused).
         */
        revalidateMinutes: z
          .number()
          .min(1, 're-checks can no longer be turned off (0): set how often, in minutes, at most 10080 (a week)')
          .max(7 * 24 * 60)
          .default(24 * 60),
        /**
         * While a provider cannot be asked (down, rate-limiting, misconfigured), its credentials keep
         * working for this many hours past their due re-check, then answer 503 until it answers
         * again (they are not revoked: an outage says nothing against the user). Default 72.
         */
        revalidateGraceHours: z.number().min(0).max(30 * 24).default(72),
        /**
         * Browser logins (redirects to a provider) one address group may start per 10 minutes (429
         * beyond). Counted in each process (a bounded table that refuses new addresses when full,
         * never forgetting a count early), so per replica. Default 60.
         */
        loginStartsPerIp: z.number().int().min(1).default(60),
        /**
         * Browser logins everyone together may start per 10 minutes, counted by one atomic counter in
         * the store shared by every replica: with a Redis cache each pending login is a Redis entry
         * for 600 s (about 300 bytes), so this bounds what a flood from many addresses writes there.
         * Default 10000.
         */
        loginStartsTotal: z.number().int().min(1).default(10_000),
        /** Browser session lifetime in hours. Default 8. */
        sessionHours: z.number().int().min(1).max(24 * 30).default(8),
        credentials: z
          .strictObject({
            /** Lifetime offered by default on the account page, and of device-login credentials, in days. Default 30. */
            defaultDays: z.number().int().min(1).default(30),
            /** Longest lifetime any credential may have, in days. Default 90. */
            maxDays: z.number().int().min(1).max(3650).default(90),
            /**
             * Longest lifetime, in days, of a credential whose identity cannot be re-checked for its
             * whole life: from a login that gave no refresh token (its access token ends within
             * hours) or no provider tokens at all. Default 1.
             */
            maxDaysWithoutRecheck: z.number().int().min(1).max(3650).default(1),
            /**
             * Lower ceilings, in days, for credentials made one way: `browser` (the account page),
             * `device` (`wharf login`), `api` (`/api/v1/credentials`). `maxDays` stays the ceiling
             * above them all. Default none: each is `maxDays`.
             */
            maxDaysBySource: z
              .strictObject({
                /** Credentials made on the account page. Default: `maxDays`. */
                browser: z.number().int().min(1).max(3650).optional(),
                /** Credentials from a device login (`wharf login`). Default: `maxDays`. */
                device: z.number().int().min(1).max(3650).optional(),
                /** Credentials made through `/api/v1/credentials`. Default: `maxDays`. */
                api: z.number().int().min(1).max(3650).optional(),
              })
              .default({}),
            /**
             * After a rotation, how long the credential's earlier secret keeps working unless it is
             * retired sooner (`retire-previous`), in hours. Default 24.
             */
            rotationOverlapHours: z.number().int().min(0).max(24 * 30).default(24),
          })
          .prefault({}),
        device: z
          .strictObject({
            /** How long a device code may wait for approval, in seconds. Default 600. */
            expiresInSeconds: z.number().int().min(60).max(3600).default(600),
            /** Minimum polling interval, in seconds. Default 5 (RFC 8628). */
            intervalSeconds: z.number().int().min(1).max(60).default(5),
            /** Device logins one address group may start per 10 minutes, counted in each process (per replica, as `loginStartsPerIp`). Default 20. */
            maxStartsPerIp: z.number().int().min(1).default(20),
            /**
             * Device logins everyone together may start per 10 minutes (each is a record in the store
             * until it expires), counted by one atomic counter in the store shared by every replica. Default 2000.
             */
            maxStartsTotal: z.number().int().min(1).default(2000),
          })
          .prefault({}),
      })
      .prefault({}),

    /**
     * Brute-force protection on the token endpoint (429 with Retry-After): failed logins per
     * address, per account from an address and per account from every address, and bounds on
     * verifications under way. Addresses are counted by group (`server.ipv6PrefixLength`). With a
     * Redis cache the budgets are shared by every replica; the bounds on verifications under way
     * are per process. A credential verified recently (each backend's verified cache) is not
     * verified again and costs no counter; a refused request is verified not at all and creates
     * no record. Refusals past the first three per address and minute are not logged one by one
     * but counted (`wharf_rate_limited_total{limit}`) and summarised in one line a minute.
     */
    bruteForce: z
      .strictObject({
        /** Default true; false turns off the budgets and the concurrency bounds. */
        enabled: z.boolean().default(true),
        /** Failed logins from one address group, counted before verifying (logins under way count until they succeed). Default 50 per 300 s. */
        perIp: z.strictObject({ failures: z.number().int().min(1).default(50), windowSeconds: z.number().int().min(1).default(300) }).prefault({}),
        /**
         * Failed logins for one account from one address group. Only a failure against an account
         * a backend knows counts (a wrong password for a configured user or a directory entry; an
         * unknown username creates no counter); logins under way in this process count until they
         * succeed. A success from that address clears it. Default 10 per 300 s.
         */
        perAccount: z.strictObject({ failures: z.number().int().min(1).default(10), windowSeconds: z.number().int().min(1).default(300) }).prefault({}),
        /**
         * Failed logins for one account from every address together, counted as `perAccount`: a
         * guesser spread over many addresses is refused once it is spent. A remembered credential
         * (a login the backend verified recently) is never refused by it, but a fresh login of the
         * owner is, until the window ends. Default 100 per 300 s.
         */
        perAccountTotal: z.strictObject({ failures: z.number().int().min(1).default(100), windowSeconds: z.number().int().min(1).default(300) }).prefault({}),
        /** Credential verifications (bcrypt, LDAP bind, upstream call) under way at once for one client address, per process; more get 429 at once. Default 16. */
        maxConcurrentPerAddress: z.number().int().min(1).default(16),
        /** Credential verifications under way at once in one process; more get 503 with Retry-After. Default 64. */
        maxConcurrentVerifications: z.number().int().min(1).default(64),
      })
      .prefault({}),

    /** Endpoints for platform backends (cache invalidation), enabled when a secret is available. */
    admin: z
      .strictObject({
        /** File holding the admin bearer secret; wins over `secretEnv`. */
        secretFile: z.string().optional(),
        /** Environment variable holding it. Default WHARF_ADMIN_SECRET. */
        secretEnv: z.string().default('WHARF_ADMIN_SECRET'),
      })
      .prefault({}),

    /** Create the `demo` user (password from WHARF_DEMO_PASSWORD, else generated and printed once). Default true only when no config file is given. */
    demoUser: z.boolean().default(false),

    log: z
      .strictObject({
        /** pino level (env WHARF_LOG_LEVEL). Default info. */
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
  }).superRefine((config, ctx) => checkAccountPrefixes(config, backends, ctx));
}

/** The configuration with the built-in backends. */
export const configSchema = configSchemaFor(builtInBackends);

/** Validated configuration with every default filled in. */
export type Config = z.infer<typeof configSchema>;
/** Configuration as written in a file. */
export type ConfigInput = z.input<typeof configSchema>;
