/**
 * Compiles a glob (`*` any run of characters including `/`, `?` one character) to an anchored
 * RegExp. `${account}` is replaced by the literal account, never as a pattern.
 */
export function compileGlob(pattern: string, account = ''): RegExp {
  const source = pattern
    .split('${account}')
    .map((part) => part.split('').map(globChar).join(''))
    .join(escapeRegExp(account));
  return new RegExp(`^${source}$`);
}

function globChar(c: string): string {
  if (c === '*') return '.*';
  if (c === '?') return '.';
  return escapeRegExp(c);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
