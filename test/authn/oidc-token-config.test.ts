import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { oidcTokenAuthnSchema } from '../../src/authn/oidc-token/oidc-token-config.js';
import { githubTokenAuthnSchema } from '../../src/authn/provider-token/github-token-config.js';
import { googleTokenAuthnSchema } from '../../src/authn/provider-token/google-token-config.js';
import { ownSettings } from '../support/upstream-fields.js';

const GH = 'https://token.actions.githubusercontent.com';
const GL = 'https://gitlab.com';

const issues = (input: unknown) => {
  const result = oidcTokenAuthnSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('oidcTokenAuthnSchema', () => {
  it('fills the documented defaults of its own (the upstream settings: test/config/upstream-settings.test.ts)', () => {
    const config = oidcTokenAuthnSchema.parse({
      type: 'oidc-token',
      issuers: [{ issuer: GH, audiences: ['wharf'] }],
      rules: [{ issuer: GH, account: '${repository_owner}' }],
    });
    expect(ownSettings(config)).toEqual({
      type: 'oidc-token',
      issuers: [{ issuer: GH, audiences: ['wharf'], algorithms: ['RS256', 'ES256'], clockToleranceSeconds: 30 }],
      rules: [{ issuer: GH, account: '${repository_owner}', claims: {} }],
      jwksCacheSeconds: 600,
      jwksMaxStaleSeconds: 3600,
    });
  });

  it('refuses none and HS* as algorithms, and an issuer without audiences', () => {
    expect(issues({ type: 'oidc-token', issuers: [{ issuer: GH, audiences: [], algorithms: ['none', 'HS256', 'RS256'] }], rules: [{ issuer: GH, account: '${repository_owner}' }] })).toEqual([
      'issuers.0.audiences: give at least one audience (e.g. the one your CI jobs request)',
      'issuers.0.algorithms.0: must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519 (never none or HS*)',
      'issuers.0.algorithms.1: must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519 (never none or HS*)',
    ]);
  });

  it('reports every rule problem at once, with its path', () => {
    expect(
      issues({
        type: 'oidc-token',
        issuers: [
          { issuer: GH, audiences: ['wharf'] },
          { issuer: GH, audiences: ['other'] },
        ],
        rules: [
          { issuer: GL, account: '${namespace_path}' },
          { issuer: GH, audience: 'sigstore', account: '${repository_owner}' },
          { issuer: GH, account: 'ci-bot' },
          { issuer: GH, account: '${repository_owner', claims: { repository: 'acme/app' } },
          { issuer: GH, account: 'CI-${repository_owner}', claims: { repository: 'acme/app' } },
          { issuer: GH, account: '${repo owner}', claims: { repository: 'acme/app' } },
          { issuer: GH, account: 'ci', claims: { repository: '${account}/*' } },
        ],
      }),
    ).toEqual([
      'rules.6.claims.repository: claim patterns are plain globs; `${…}` is not substituted here',
      `issuers.1.issuer: issuer ${GH} is listed twice`,
      `rules.0.issuer: ${GL} is not one of issuers[].issuer (it must match exactly)`,
      'rules.1.audience: "sigstore" is not one of the issuer\'s audiences',
      'rules.2.claims: a rule with a literal account must bind at least one claim (e.g. repository_id or repository), or any token of the issuer gets this account',
      'rules.3.account: unclosed "${" in account template "${repository_owner"',
      'rules.4.account: account template "CI-${repository_owner}" does not make a lower-case registry name (a-z, 0-9, and . _ - / between them)',
      'rules.5.account: "${repo owner}" in account template "${repo owner}" is not a claim name',
    ]);
  });

  it('sits in a discriminated union on type, as the root config uses it', () => {
    const authn = z.discriminatedUnion('type', [oidcTokenAuthnSchema, githubTokenAuthnSchema, googleTokenAuthnSchema]);
    const parsed = z.array(authn).parse([
      { type: 'oidc-token', issuers: [{ issuer: GH, audiences: ['wharf'] }], rules: [{ issuer: GH, account: '${repository_owner}' }] },
      { type: 'github-token', allowedOrgs: ['acme'] },
      { type: 'google-token', clientIds: ['123.apps.googleusercontent.com'], allowedDomains: ['acme.com'] },
    ]);
    expect(parsed.map((p) => p.type)).toEqual(['oidc-token', 'github-token', 'google-token']);
    const bad = z.array(authn).safeParse([{ type: 'oidc-token', issuers: [{ issuer: GH, audiences: ['wharf'] }], rules: [{ issuer: GL, account: 'x', claims: { a: 'b' } }] }]);
    expect(bad.success).toBe(false);
  });
});

describe('docs/oidc-tokens.md', () => {
  it('has config examples that validate', () => {
    const doc = readFileSync(new URL('../../docs/oidc-tokens.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]!) as Record<string, unknown>).filter((b) => 'authn' in b);
    const authn = z.discriminatedUnion('type', [oidcTokenAuthnSchema, githubTokenAuthnSchema, googleTokenAuthnSchema]);
    const entries = blocks.flatMap((b) => b.authn as unknown[]);
    expect(entries.map((e) => (e as { type: string }).type)).toEqual(['oidc-token', 'oidc-token', 'github-token', 'google-token']);
    for (const entry of entries) {
      const result = authn.safeParse(entry);
      expect(result.success ? [] : result.error.issues).toEqual([]);
    }
  });
});
