/**
 * The value of a DN's first RDN, unescaped (RFC 4514): `cn=team-x,ou=groups,dc=example,dc=org`
 * gives `team-x`; `cn=R\2cD\, Inc.,ou=...` gives `R,D, Inc.`. This is what a group is called in
 * `groups`. Undefined when the DN does not start with `type=value`.
 */
export function firstRdnValue(dn: string): string | undefined {
  const eq = dn.indexOf('=');
  if (eq <= 0) return undefined;
  const chunks: Buffer[] = [];
  for (const m of dn.slice(eq + 1).matchAll(/\\([0-9A-Fa-f]{2})|\\(.)|([^,+\\]+)|([,+])/gsu)) {
    if (m[4] !== undefined) break;
    chunks.push(m[1] !== undefined ? Buffer.from([Number.parseInt(m[1], 16)]) : Buffer.from(m[2] ?? m[3]!, 'utf8'));
  }
  const bytes = Buffer.concat(chunks);
  const value = bytes.toString('utf8').trim();
  return value === '' ? undefined : value;
}

/**
 * Whether two DNs name the same entry: compared case-insensitively, ignoring spaces around
 * separators, and with either escape form (`\,` or `\2C`). Good enough for DNs a directory
 * returned; not a schema-aware comparison.
 */
export function sameDn(a: string, b: string): boolean {
  return normalizeDn(a) === normalizeDn(b);
}

/** One canonical spelling: values unescaped then re-escaped as lower-case hex, no spaces around `,` `+` `=`. */
function normalizeDn(dn: string): string {
  let out = '';
  let value: Buffer[] = [];
  const flush = () => {
    const text = Buffer.concat(value).toString('utf8').trim().toLowerCase();
    out += text.replace(/[,+"\\<>;=]/g, (c) => `\\${c.charCodeAt(0).toString(16)}`);
    value = [];
  };
  for (const m of dn.matchAll(/\\([0-9A-Fa-f]{2})|\\(.)|([^,+=\\]+)|([,+=])/gsu)) {
    if (m[4] !== undefined) {
      flush();
      out += m[4];
    } else {
      value.push(m[1] !== undefined ? Buffer.from([Number.parseInt(m[1], 16)]) : Buffer.from(m[2] ?? m[3]!, 'utf8'));
    }
  }
  flush();
  return out;
}
