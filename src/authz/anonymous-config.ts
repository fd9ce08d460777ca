import { z } from 'zod';

/**
 * What anonymous requests may cost the platform's decider (`authz.webhook`): anyone can send
 * them, with a new repository name each time, so neither their decisions nor their calls may
 * grow with the traffic. Scopes the ACL decides (`acl.anonymous`) cost nothing here.
 */
export const anonymousDecisionsSchema = z.strictObject({
  /**
   * Memory for the decider's answers to anonymous requests, in megabytes: an in-process cache of
   * their own (never Redis, never the first tier proven users' decisions live in), the least
   * recently used going first. Default 4 (some 14,000 decisions).
   */
  cacheMegabytes: z.number().int().min(1).max(1024).default(4),
  /**
   * Scopes of anonymous requests one client address (an IPv6 address by its
   * `server.ipv6PrefixLength` prefix) may send to the decider per minute, per replica: a call
   * costs as many as it asks about (a pull asks about one repository; a flood asks about 32 fresh
   * names a request, each an audit entry and a cache entry). Past it such requests get 429
   * `too_many_requests` with `Retry-After`, without a call. Default 60.
   */
  webhookScopesPerMinute: z.number().int().min(1).default(60),
  /** The same for all addresses together, per replica: what a flood from many addresses may cost the platform. Default 1200. */
  webhookScopesPerMinuteTotal: z.number().int().min(1).default(1200),
});

/** Validated anonymous-decision bounds. */
export type AnonymousDecisionsConfig = z.infer<typeof anonymousDecisionsSchema>;

/** The bounds when none are configured. */
export const DEFAULT_ANONYMOUS_DECISIONS: AnonymousDecisionsConfig = { cacheMegabytes: 4, webhookScopesPerMinute: 60, webhookScopesPerMinuteTotal: 1200 };
