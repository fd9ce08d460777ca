import { isAscii } from '../../domain/account-name.js';
import { isRepositoryPathComponent, MAX_NAME_LENGTH } from '../../domain/scope.js';
import { claimAt } from './claim-path.js';
import { parseTemplateParts, type TemplatePart } from './account-template.js';

/**
 * A repository glob a trust rule may grant pull on, such as `${kubernetes.io.namespace}/*` or
 * `base/*`: literal glob text (`*`, `?`, `/` and lower-case name characters) and `${claim}`
 * placeholders. The glob's wildcards come from the configuration only: a substituted value must
 * be ASCII and, lower-cased, exactly one registry path component (`team-a`), else the login is
 * denied. So a namespace named `*`, `a/b`, `..` or `team-*` can never widen what the rule grants:
 * `${ns}/*` stays inside one top-level namespace whatever the token says.
 */
export interface PullTemplate {
  /** The template as configured. */
  readonly source: string;
  /** Claim paths the template reads, in order of first use. */
  readonly claims: readonly string[];
  /** The repository glob for these claims, or why there is none. */
  render(claims: Readonly<Record<string, unknown>>): { glob: string } | { error: string };
}

/** What the literal text of a pull template may hold: lower-case name characters, `/` between components, and the glob wildcards. */
const GLOB_TEXT = /^[a-z0-9._\-*?]+(?:\/[a-z0-9._\-*?]+)*$/;

/**
 * Parses a pull template. Throws an Error naming the problem when it is malformed; config
 * validation calls this to report it, so the authenticator never sees a bad one.
 */
export function parsePullTemplate(source: string): PullTemplate {
  const { parts, claims } = parseTemplateParts(source, 'pull template');
  if (parts.length === 0) throw new Error('the pull template is empty');
  // The literal text must itself make a glob: render with a harmless stand-in for every claim.
  const probe = parts.map((p) => ('literal' in p ? p.literal : 'x')).join('');
  if (Buffer.byteLength(probe) > MAX_NAME_LENGTH || !GLOB_TEXT.test(probe)) {
    throw new Error(`pull template ${JSON.stringify(source)} does not make a repository glob (lower-case a-z, 0-9, . _ - and the wildcards * ?, components separated by /)`);
  }
  return { source, claims, render: (values) => render(source, parts, values) };
}

function render(source: string, parts: readonly TemplatePart[], values: Readonly<Record<string, unknown>>): { glob: string } | { error: string } {
  let glob = '';
  for (const part of parts) {
    if ('literal' in part) {
      glob += part.literal;
      continue;
    }
    const value = claimAt(values, part.claim);
    if (value === undefined || value === null) return { error: `the pull template ${JSON.stringify(source)} needs claim "${part.claim}", which the token lacks` };
    if (typeof value !== 'string' && typeof value !== 'number') return { error: `claim "${part.claim}" used in the pull template ${JSON.stringify(source)} is not a string` };
    const text = String(value);
    // Lower-casing only after the ASCII check: folding `\u212A` (Kelvin) would make a `k`.
    if (!isAscii(text) || !isRepositoryPathComponent(text.toLowerCase())) {
      return {
        error: `claim "${part.claim}" is ${JSON.stringify(text.slice(0, 100))}, which is not one registry path component (a-z, 0-9, and . _ - between them), so the pull template ${JSON.stringify(source)} grants nothing`,
      };
    }
    glob += text.toLowerCase();
  }
  if (Buffer.byteLength(glob) > MAX_NAME_LENGTH) return { error: `the repository glob made from the pull template ${JSON.stringify(source)} is longer than ${MAX_NAME_LENGTH} bytes` };
  return { glob };
}
