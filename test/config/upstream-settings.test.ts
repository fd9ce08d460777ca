import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commandAuthnSchema } from '../../src/authn/command/command-config.js';
import { introspectionAuthnSchema } from '../../src/authn/introspection/introspection-config.js';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { githubTokenAuthnSchema } from '../../src/authn/provider-token/github-token-config.js';
import { googleTokenAuthnSchema } from '../../src/authn/provider-token/google-token-config.js';
import { commandAuthzSchema } from '../../src/authz/command/command-authz-config.js';
import { sageAuthzSchema } from '../../src/authz/sage/sage-config.js';
import { webhookAuthzSchema } from '../../src/authz/webhook/webhook-config.js';
import { upstreamSettings, type UpstreamDefaults } from '../../src/upstream/upstream-settings.js';
import { UPSTREAM_FIELDS } from '../support/upstream-fields.js';

/*
 * Every backend that calls an upstream takes the same settings with the same bounds, from one
 * fragment: its defaults and bounds are tested once here, and each backend only for taking the
 * fragment's fields (with its own default timeout, where the upstream is known to need it) and
 * none that does not apply to it. Backend tests pin only their own settings (`ownSettings`).
 */

const GH = 'https://token.actions.githubusercontent.com';

interface Backend {
  name: string;
  schema: z.ZodObject;
  minimal: Record<string, unknown>;
  /** The settings it has, with their defaults (`undefined`: chosen at run time). */
  defaults: Record<string, number | undefined>;
}

const http = (timeoutMs: number | undefined) => ({ timeoutMs, retries: 1, failureThreshold: 5, openSeconds: 10 });

const backends: Backend[] = [
  { name: 'authz webhook', schema: webhookAuthzSchema, minimal: { type: 'webhook', url: 'https://platform.example/authz' }, defaults: http(2000) },
  { name: 'authz sage', schema: sageAuthzSchema, minimal: { type: 'sage', url: 'http://sage-ecr:5000/authz' }, defaults: http(5000) },
  { name: 'authz command', schema: commandAuthzSchema, minimal: { type: 'command', command: ['/usr/local/bin/decide'] }, defaults: { timeoutMs: 5000, failureThreshold: 5, openSeconds: 10 } },
  { name: 'authn introspection', schema: introspectionAuthnSchema, minimal: { type: 'introspection', url: 'https://platform.example/introspect' }, defaults: http(undefined) },
  {
    name: 'authn oidc-token',
    schema: oidcTokenAuthnSchema,
    minimal: { type: 'oidc-token', issuers: [{ issuer: GH, audiences: ['wharf'] }], rules: [{ issuer: GH, account: '${repository_owner}' }] },
    defaults: http(3000),
  },
  { name: 'authn github-token', schema: githubTokenAuthnSchema, minimal: { type: 'github-token', allowedOrgs: ['acme'] }, defaults: http(3000) },
  { name: 'authn google-token', schema: googleTokenAuthnSchema, minimal: { type: 'google-token', clientIds: ['client'], allowedDomains: ['acme.com'] }, defaults: http(3000) },
  { name: 'authn command', schema: commandAuthnSchema, minimal: { type: 'command', command: ['/usr/local/bin/check-password'] }, defaults: { timeoutMs: 5000 } },
];

/** Lowest and highest accepted value of each setting. */
const BOUNDS: Record<string, [number, number]> = { timeoutMs: [50, 60_000], retries: [0, 5], failureThreshold: [1, 1000], openSeconds: [1, 3600] };

describe('upstreamSettings, the fragment every upstream backend takes', () => {
  it('fills its defaults, and a backend’s own default replaces only that one', () => {
    expect(upstreamSettings().parse({})).toEqual({ timeoutMs: 2000, retries: 1, failureThreshold: 5, openSeconds: 10 });
    expect(upstreamSettings({ timeoutMs: 5000 }).parse({})).toEqual({ timeoutMs: 5000, retries: 1, failureThreshold: 5, openSeconds: 10 });
  });

  it('accepts each setting from its lowest to its highest whole value and nothing beyond', () => {
    const parse = (patch: Record<string, unknown>) => upstreamSettings().safeParse(patch);
    expect(Object.keys(BOUNDS)).toEqual(UPSTREAM_FIELDS);
    for (const [field, [low, high]] of Object.entries(BOUNDS)) {
      expect(parse({ [field]: low }).success, `${field}: ${low}`).toBe(true);
      expect(parse({ [field]: high }).success, `${field}: ${high}`).toBe(true);
      expect(parse({ [field]: low - 1 }).success, `${field}: ${low - 1}`).toBe(false);
      expect(parse({ [field]: high + 1 }).success, `${field}: ${high + 1}`).toBe(false);
      expect(parse({ [field]: low + 0.5 }).success, `${field}: ${low + 0.5}`).toBe(false);
    }
  });
});

describe.each(backends)('$name: upstream settings', ({ schema, minimal, defaults }) => {
  it('takes the fragment’s fields, with its own defaults', () => {
    const own = Object.fromEntries(Object.entries(defaults).filter((e): e is [keyof UpstreamDefaults, number] => e[1] !== undefined));
    const fragment = upstreamSettings(own).shape;
    for (const field of Object.keys(defaults) as Array<keyof UpstreamDefaults>) {
      // A default chosen at run time: the fragment's field, bounds and all, without one.
      const expected = field in own ? fragment[field] : fragment[field].unwrap();
      expect(z.toJSONSchema(schema.shape[field]!), field).toEqual(z.toJSONSchema(expected));
    }
    const parsed = schema.parse(minimal) as Record<string, unknown>;
    for (const [field, value] of Object.entries(defaults)) expect(parsed[field], field).toBe(value);
  });

  it('has no upstream setting that does not apply to it', () => {
    for (const field of UPSTREAM_FIELDS.filter((f) => !(f in defaults))) expect(schema.safeParse({ ...minimal, [field]: BOUNDS[field]![0] }).success, field).toBe(false);
  });
});
