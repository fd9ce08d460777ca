import { nonAsciiAccountProblem } from '../../domain/account-name.js';
import { REPOSITORY_PATH_COMPONENT } from '../../domain/scope.js';
import { claimAt } from './claim-path.js';
/**
 * An account template such as `${repository_owner}` or `ci-${project_id}`: literal text and
 * `${claim}` placeholders. Substituted values must be ASCII and are then lower-cased (registry
 * names are lower-case, GitHub and GitLab names are not; folding a non-ASCII value could turn
 * `\u212Aevin` into `kevin`), and the result must be one registry path component
 * (`acme`, `gh-acme`, `ci-1234`), as every account name must (the account gate refuses others:
 * `alice/mallory` would live inside alice's namespace), so a claim value can never smuggle `/`,
 * `*`, `..`, `:` or spaces into an account that ACL rules then interpolate.
 */
export interface AccountTemplate {
  /** The template as configured. */
  readonly source: string;
  /** Claim paths the template reads, in order of first use. */
  readonly claims: readonly string[];
  /** The account for these claims, or why there is none. */
  render(claims: Readonly<Record<string, unknown>>): { account: string } | { error: string };
}

/** A claim path a placeholder or condition may name: a top-level claim, or dotted keys into nested objects (claim-path.ts). */
export const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

const COMPONENT = REPOSITORY_PATH_COMPONENT;
/** A whole account: one path component, no `/`. */
export const ACCOUNT_NAME = new RegExp(`^${COMPONENT}$`);
const MAX_ACCOUNT_BYTES = 255;

/** One piece of a template: literal text, or a claim path whose value is put in its place. */
export type TemplatePart = { readonly literal: string } | { readonly claim: string };

/**
 * Splits a template (`what` names it in errors, e.g. `account template`) into literal text and
 * `${claim}` placeholders, and lists the claim paths it reads in order of first use. Throws an
 * Error naming the problem when it is malformed.
 */
export function parseTemplateParts(source: string, what: string): { parts: TemplatePart[]; claims: string[] } {
  const parts: TemplatePart[] = [];
  const claims: string[] = [];
  let rest = source;
  while (rest !== '') {
    const start = rest.indexOf('${');
    if (start === -1) {
      parts.push({ literal: rest });
      break;
    }
    if (start > 0) parts.push({ literal: rest.slice(0, start) });
    const end = rest.indexOf('}', start);
    if (end === -1) throw new Error(`unclosed "\${" in ${what} ${JSON.stringify(source)}`);
    const claim = rest.slice(start + 2, end);
    if (!CLAIM_NAME.test(claim)) throw new Error(`"\${${claim}}" in ${what} ${JSON.stringify(source)} is not a claim name`);
    parts.push({ claim });
    if (!claims.includes(claim)) claims.push(claim);
    rest = rest.slice(end + 1);
  }
  return { parts, claims };
}

/**
 * Parses a template. Throws an Error naming the problem when it is malformed; config validation
 * calls this to report it, so the authenticator never sees a bad one.
 */
export function parseAccountTemplate(source: string): AccountTemplate {
  const { parts, claims } = parseTemplateParts(source, 'account template');
  if (parts.length === 0) throw new Error('the account template is empty');
  // Literal text must itself be valid: render with a harmless stand-in for every claim.
  const probe = parts.map((p) => ('literal' in p ? p.literal : 'x')).join('');
  if (!isAccountName(probe)) {
    throw new Error(`account template ${JSON.stringify(source)} does not make a lower-case registry name (a-z, 0-9, and . _ - / between them)`);
  }

  return {
    source,
    claims,
    render(values) {
      let account = '';
      for (const part of parts) {
        if ('literal' in part) {
          account += part.literal;
          continue;
        }
        const value = claimAt(values, part.claim);
        if (value === undefined || value === null) return { error: `the account template needs claim "${part.claim}", which the token lacks` };
        if (typeof value !== 'string' && typeof value !== 'number') return { error: `claim "${part.claim}" used in the account template is not a string` };
        const text = String(value);
        const nonAscii = nonAsciiAccountProblem(`claim "${part.claim}" used in the account template`, text);
        if (nonAscii) return { error: nonAscii };
        account += text.toLowerCase();
      }
      if (!isAccountName(account)) return { error: `the account ${JSON.stringify(account.slice(0, 100))} made from template ${JSON.stringify(source)} is not a valid registry name` };
      return { account };
    },
  };
}

function isAccountName(name: string): boolean {
  return Buffer.byteLength(name) <= MAX_ACCOUNT_BYTES && ACCOUNT_NAME.test(name);
}
