import { z } from 'zod';
import { upstreamSettings } from '../../upstream/upstream-settings.js';
import { CLAIM_NAME, parseAccountTemplate } from './account-template.js';
import { publicSigningKeys } from './jwks-document.js';
import { parsePullTemplate } from './pull-template.js';

/**
 * Signature algorithms an ID token may be signed with: asymmetric ones only. `none` is never
 * accepted, nor HS* (an HMAC key is a secret shared with the issuer, which Wharf never holds; a
 * verifier that accepts HS256 can be fooled with the issuer's *public* key as the secret).
 */
export const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** One trusted issuer of ID tokens (GitHub Actions, GitLab CI, Google, a platform's own IdP). */
export const oidcTokenIssuerSchema = z.strictObject({
  /** The issuer, exactly as the tokens' `iss` claim spells it (e.g. `https://token.actions.githubusercontent.com`, no trailing slash). Required. */
  issuer: httpUrl,
  /** Where the issuer's signing keys are. Default: the `jwks_uri` of `${issuer}/.well-known/openid-configuration` (whose `issuer` must equal `issuer`). A Kubernetes API server serves them at `/openid/v1/jwks`. */
  jwksUri: httpUrl.optional(),
  /**
   * The issuer's public keys written into the config (`{keys: [...]}`, e.g. the output of
   * `kubectl get --raw /openid/v1/jwks`), for an issuer Wharf cannot reach: nothing is fetched, and
   * a key rotation needs a config change. Public keys only. Default none (keys are fetched).
   */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
  /**
   * A file holding the issuer's JWKS, as `jwks` but re-read every `jwksCacheSeconds` (and, at most
   * every 30 s, for a token whose `kid` it lacks), so a rotation is a file update (a mounted
   * ConfigMap). Read at start-up: an unreadable or invalid file stops Wharf. Default none.
   */
  jwksFile: z.string().min(1).optional(),
  /** PEM CA bundle trusted, instead of the system's, for HTTPS to the issuer's discovery and JWKS (a cluster's private CA, `ca.crt`). Default: the system CAs. */
  caFile: z.string().min(1).optional(),
  /**
   * A file holding a bearer token sent with discovery and JWKS requests, for an API server that
   * does not serve them anonymously. Read at start-up and again at every fetch, as projected tokens rotate; sent only
   * over HTTPS and only to the issuer's or `jwksUri`'s origin. Default none (anonymous).
   */
  bearerTokenFile: z.string().min(1).optional(),
  /**
   * The cluster's name, for an issuer that is a Kubernetes API server: its service accounts'
   * groups then name it (`NAME:system:serviceaccounts`, `NAME:system:serviceaccounts:NS`) in place of
   * the groups Kubernetes gives them, which do not say which cluster a token came from: with two
   * clusters, an ACL rule for `system:serviceaccounts:payments` would admit the `payments`
   * namespace of both. A DNS label (lower case, digits, `-`). Default none (Kubernetes' own names).
   */
  cluster: z
    .string()
    .regex(/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and -, at most 63')
    .refine((name) => name !== 'system', 'system is the prefix of Kubernetes’ own groups: name the cluster otherwise')
    .optional(),
  /** Accepted `aud` values; a token must carry at least one. Required, non-empty: an issuer's tokens for other audiences must not log in here. */
  audiences: z.array(z.string().min(1)).min(1, 'give at least one audience (e.g. the one your CI jobs request)'),
  /** Accepted signature algorithms. Default `[RS256, ES256]`. `none` and HS* are not accepted at all. */
  algorithms: z
    .array(z.enum(ID_TOKEN_ALGORITHMS, { error: `must be one of ${ID_TOKEN_ALGORITHMS.join(', ')} (never none or HS*)` }))
    .min(1)
    .default(['RS256', 'ES256']),
  /** Allowed clock skew when checking `exp`, `nbf` and `iat`, in seconds. Default 30. */
  clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
});

/** A claim condition: one glob, or a list of globs any of which may match. */
const claimPatternSchema = z.union([
  z.string().min(1).refine((s) => !s.includes('${'), 'claim patterns are plain globs; `${…}` is not substituted here'),
  z.array(z.string().min(1).refine((s) => !s.includes('${'), 'claim patterns are plain globs; `${…}` is not substituted here')).min(1),
]);

/**
 * A trust rule (the trusted-publishing model): tokens of `issuer` (and `audience`) whose claims
 * all match `claims` log in as `account`. The first matching rule wins; no matching rule denies.
 */
export const oidcTokenRuleSchema = z.strictObject({
  /** The issuer this rule trusts; must be one of `issuers[].issuer`. Required. */
  issuer: httpUrl,
  /** Only tokens whose `aud` includes this value; must be one of that issuer's `audiences`. Default: any of them. */
  audience: z.string().min(1).optional(),
  /**
   * The account the token acts as: a literal (`ci-bot`) or a template of `${claim}` placeholders
   * (`${repository_owner}`, `gitlab-${namespace_path}`). Substituted values must be ASCII and are
   * lower-cased, and the result must be a registry name, else the login is denied. Required.
   */
  account: z.string().min(1).max(255),
  /**
   * Claim → glob, or list of globs (any may match); every listed claim must match (`*` any run of
   * characters including `/`, `?` one character; case-sensitive). Numbers and booleans are matched
   * as their text. Default none, allowed only when `account` is built from a claim.
   */
  claims: z.record(z.string().regex(CLAIM_NAME, 'must be a claim name'), claimPatternSchema).default({}),
  /** The repositories this account is meant for, e.g. `acme/*`: documentation, and passed on as an attribute; the ACL or webhook still decides. Default none. */
  namespace: z.string().min(1).optional(),
  /**
   * Repository globs the token may pull at most, templated like `account`
   * (`["${kubernetes.io.namespace}/*", "base/*"]`): a ceiling like a credential's scope (the ACL or
   * webhook still decides within it), and nothing but pull. A substituted value must be one
   * registry path component, else the login is denied. Default none: no ceiling beyond the account's rights.
   */
  pull: z.array(z.string().min(1).max(255)).min(1).max(32).optional(),
  /**
   * The claim whose value tells the account's owners apart within the issuer
   * (`kubernetes.io.namespace`, `kubernetes.io.serviceaccount.uid`): the account is bound to
   * (issuer, that value), so a token with another value cannot use it. Default none: the issuer as a whole owns it.
   */
  owner: z.string().regex(CLAIM_NAME, 'must be a claim path').optional(),
});

/**
 * `type: oidc-token`: OIDC ID tokens as passwords (`docker login -u anything -p $ID_TOKEN`), so
 * CI jobs push without a stored secret. Tokens from an issuer not listed here are not this
 * backend's to judge and pass to the next one.
 */
export const oidcTokenAuthnSchema = z
  .strictObject({
    type: z.literal('oidc-token'),
    /** Trusted issuers. Required, non-empty. */
    issuers: z.array(oidcTokenIssuerSchema).min(1),
    /** Trust rules, tried in order; the first match decides. Required, non-empty. */
    rules: z.array(oidcTokenRuleSchema).min(1),
    /** How long an issuer's JWKS (and discovery document) is used before it is fetched again, in seconds. Default 600. A token with an unknown `kid` refetches sooner, at most once per 30 s. */
    jwksCacheSeconds: z.number().int().min(1).max(86_400).default(600),
    /** How long past `jwksCacheSeconds` the last good JWKS still verifies tokens while the issuer cannot be reached, in seconds; 0 = never (503 at once). Default 3600. */
    jwksMaxStaleSeconds: z.number().int().min(0).max(7 * 86_400).default(3600),
    /** `timeoutMs` (default 3000), `retries`, `failureThreshold`, `openSeconds`: how discovery and JWKS are fetched (upstreamSettings), with one circuit per issuer. */
    ...upstreamSettings({ timeoutMs: 3000 }).shape,
  })
  .superRefine((config, ctx) => {
    const byIssuer = new Map<string, (typeof config.issuers)[number]>();
    config.issuers.forEach((issuer, i) => {
      if (byIssuer.has(issuer.issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'issuer'], message: `issuer ${issuer.issuer} is listed twice` });
      byIssuer.set(issuer.issuer, issuer);
    });
    config.issuers.forEach((issuer, i) => issuerProblems(issuer).forEach(([field, message]) => ctx.addIssue({ code: 'custom', path: ['issuers', i, field], message })));
    // Two clusters under one name would share their groups again.
    const clusters = new Map<string, string>();
    config.issuers.forEach((issuer, i) => {
      if (issuer.cluster === undefined) return;
      const other = clusters.get(issuer.cluster);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'cluster'], message: `cluster ${issuer.cluster} is already the name of ${other}: each cluster needs a name of its own` });
      else clusters.set(issuer.cluster, issuer.issuer);
    });
    config.rules.forEach((rule, i) => {
      (rule.pull ?? []).forEach((template, j) => {
        try {
          parsePullTemplate(template);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['rules', i, 'pull', j], message: (err as Error).message });
        }
      });
      const issuer = byIssuer.get(rule.issuer);
      if (!issuer) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'issuer'], message: `${rule.issuer} is not one of issuers[].issuer (it must match exactly)` });
      } else if (rule.audience !== undefined && !issuer.audiences.includes(rule.audience)) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'audience'], message: `${JSON.stringify(rule.audience)} is not one of the issuer's audiences` });
      }
      let templateClaims: readonly string[];
      try {
        templateClaims = parseAccountTemplate(rule.account).claims;
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'account'], message: (err as Error).message });
        return;
      }
      // A literal account with no claim condition would let every token of the issuer in: for a
      // public CI issuer, any repository in the world that asks for your audience.
      if (Object.keys(rule.claims).length === 0 && templateClaims.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'claims'],
          message: 'a rule with a literal account must bind at least one claim (e.g. repository_id or repository), or any token of the issuer gets this account',
        });
      }
    });
  });

type IssuerInput = z.infer<typeof oidcTokenIssuerSchema>;

/** Problems of one issuer's key source, as [field, message]. */
function issuerProblems(issuer: IssuerInput): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const sources = (['jwksUri', 'jwks', 'jwksFile'] as const).filter((field) => issuer[field] !== undefined);
  if (sources.length > 1) problems.push([sources[1]!, `give one of jwksUri, jwks and jwksFile, not ${sources.join(' and ')}`]);
  if (issuer.jwks) {
    const checked = publicSigningKeys(issuer.jwks, { strict: true });
    if ('error' in checked) problems.push(['jwks', `the JWKS ${checked.error}`]);
  }
  const fixed = issuer.jwks ? 'jwks' : issuer.jwksFile ? 'jwksFile' : undefined;
  // Where the keys are fetched from: the JWKS URL, or the issuer (its discovery and whatever JWKS it names).
  const fetchedFrom = issuer.jwksUri ?? issuer.issuer;
  for (const field of ['caFile', 'bearerTokenFile'] as const) {
    if (issuer[field] === undefined) continue;
    if (fixed) problems.push([field, `${field} has no effect: the keys come from ${fixed}, nothing is fetched`]);
    else if (!fetchedFrom.startsWith('https:')) {
      problems.push([field, field === 'caFile' ? `caFile has no effect on ${fetchedFrom} (http://)` : `a bearer token is sent only over HTTPS, and ${fetchedFrom} is http://`]);
    }
  }
  return problems;
}

/** The validated `type: oidc-token` config. */
export type OidcTokenAuthnConfig = z.infer<typeof oidcTokenAuthnSchema>;
/** One configured issuer. */
export type OidcTokenIssuerConfig = OidcTokenAuthnConfig['issuers'][number];
/** One configured trust rule. */
export type OidcTokenRuleConfig = OidcTokenAuthnConfig['rules'][number];
