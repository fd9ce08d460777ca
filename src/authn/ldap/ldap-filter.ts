import { FilterParser } from 'ldapts';

/**
 * Escapes a value for an LDAP search filter (RFC 4515 section 3): `*`, `(`, `)`, `\` and NUL
 * become `\2a`, `\28`, `\29`, `\5c`, `\00`. Other ASCII control characters are escaped too, so a
 * filter never carries a raw control byte. Non-ASCII characters stay as they are (RFC 4515 allows
 * UTF-8 as is; ldapts would decode a `\XX` escape as one Latin-1 character, not a UTF-8 byte).
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const c of value) {
    const code = c.codePointAt(0)!;
    if (c === '*' || c === '(' || c === ')' || c === '\\' || code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else {
      out += c;
    }
  }
  return out;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The placeholders (`{name}`) a filter template uses, in order of appearance, without duplicates. */
export function filterPlaceholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/**
 * Fills a filter template: every `{name}` is replaced by the RFC 4515-escaped value. A placeholder
 * without a value is a programming error (templates are validated with {@link filterTemplateProblem}).
 */
export function fillFilter(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (value === undefined) throw new Error(`filter placeholder ${whole} has no value`);
    return escapeFilterValue(value);
  });
}

/**
 * Why a filter template is unusable, or undefined when it is fine: it must use only the `allowed`
 * placeholders, at least one of `required`, and parse as an LDAP filter once they are filled in.
 */
export function filterTemplateProblem(template: string, allowed: readonly string[], required: readonly string[]): string | undefined {
  const used = filterPlaceholders(template);
  const unknown = used.filter((p) => !allowed.includes(p));
  const list = (names: readonly string[]) => names.map((n) => `{${n}}`).join(', ');
  if (unknown.length > 0) {
    return `unknown placeholder${unknown.length > 1 ? 's' : ''} ${list(unknown)}: only ${list(allowed)} ${allowed.length > 1 ? 'are' : 'is'} allowed`;
  }
  if (!used.some((p) => required.includes(p))) return `must contain ${required.length > 1 ? 'one of ' : ''}${list(required)}`;
  if (!template.startsWith('(') || !template.endsWith(')')) return 'must be a parenthesised LDAP filter, e.g. (uid={username})';
  try {
    FilterParser.parseString(fillFilter(template, Object.fromEntries(allowed.map((p) => [p, 'x']))));
  } catch (err) {
    return `is not a valid LDAP filter: ${(err as Error).message.split('.')[0]}`;
  }
  return undefined;
}
