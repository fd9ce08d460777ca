import { describe, expect, it, test } from 'vitest';
import { InvalidRequestError } from '../../src/domain/errors.js';
import {
  MAX_NAME_LENGTH,
  MAX_SCOPES,
  MAX_SCOPE_LENGTH,
  formatScope,
  isValidResourceName,
  mergeScopes,
  parseScope,
  parseScopes,
  type Scope,
} from '../../src/domain/scope.js';

/** Runs `fn`, which must throw an InvalidRequestError, and returns that error. */
function rejection(fn: () => unknown): InvalidRequestError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected an InvalidRequestError, nothing was thrown').toBeInstanceOf(InvalidRequestError);
  const err = thrown as InvalidRequestError;
  expect(err.status).toBe(400);
  expect(err.code).toBe('invalid_request');
  return err;
}

/** The rejection of `raw` must name it: `invalid scope "<raw, JSON-escaped, cut at 80 chars>"`. */
function expectScopeRejected(raw: string, why: string | RegExp, parse: (raw: string) => unknown = parseScope): void {
  const err = rejection(() => parse(raw));
  const shown = raw.length > 80 ? JSON.stringify(raw.slice(0, 80)).slice(0, -1) : JSON.stringify(raw);
  expect(err.message.startsWith(`invalid scope ${shown}`), `message ${JSON.stringify(err.message)} should name ${shown}`).toBe(true);
  if (typeof why === 'string') expect(err.message).toContain(why);
  else expect(err.message).toMatch(why);
}

const scope = (type: string, name: string, actions: string[], cls?: string): Scope =>
  cls === undefined ? { type, name, actions } : { type, class: cls, name, actions };

const GRAMMAR = 'resource name does not follow the repository name grammar';
const BAD_TYPE = 'resource type must be lower-case letters and digits';

describe('limits', () => {
  it('are the documented ones', () => {
    expect(MAX_NAME_LENGTH).toBe(255);
    expect(MAX_SCOPE_LENGTH).toBe(512);
    expect(MAX_SCOPES).toBe(32);
  });
});

describe('parseScope accepts the scope grammar type[(class)]:name:actions', () => {
  test.each<[string, Scope]>([
    ['repository:team/app:pull,push', scope('repository', 'team/app', ['pull', 'push'])],
    ['repository:team/app:pull', scope('repository', 'team/app', ['pull'])],
    ['repository:app:push', scope('repository', 'app', ['push'])],
    ['repository(plugin):x:pull', scope('repository', 'x', ['pull'], 'plugin')],
    ['registry:catalog:*', scope('registry', 'catalog', ['*'])],
    ['repository:a:delete', scope('repository', 'a', ['delete'])],
    ['repository:a:pull,push,delete', scope('repository', 'a', ['pull', 'push', 'delete'])],
    ['repository:a:*,pull', scope('repository', 'a', ['*', 'pull'])],
    // The name may carry host[:port]/: the type ends at the first `:`, the actions start after the last.
    ['repository:localhost:5000/team/app:pull', scope('repository', 'localhost:5000/team/app', ['pull'])],
    ['repository:registry.example.com:443/a/b:push', scope('repository', 'registry.example.com:443/a/b', ['push'])],
    ['repository:registry.example.com/a/b:pull', scope('repository', 'registry.example.com/a/b', ['pull'])],
    ['repository:localhost/a:pull', scope('repository', 'localhost/a', ['pull'])],
    ['repository:my-host.example:5000/a:pull', scope('repository', 'my-host.example:5000/a', ['pull'])],
    // Path-component separators of the distribution grammar: `.`, `_`, `__`, one or more `-`.
    ['repository:a.b_c__d-e--f/g:pull', scope('repository', 'a.b_c__d-e--f/g', ['pull'])],
    ['repository:0/9:pull', scope('repository', '0/9', ['pull'])],
    ['repository:a/b/c/d/e:pull', scope('repository', 'a/b/c/d/e', ['pull'])],
  ])('%s', (raw, expected) => {
    expect(parseScope(raw)).toStrictEqual(expected);
  });

  test.each<[string, string[]]>([
    ['repository:a:pull,pull', ['pull']],
    ['repository:a:pull,push,pull,push', ['pull', 'push']],
    ['repository:a:push,pull,push', ['push', 'pull']],
    ['repository:a:*,*', ['*']],
  ])('drops duplicate actions, keeping first-appearance order: %s', (raw, actions) => {
    expect(parseScope(raw).actions).toStrictEqual(actions);
  });

  it('accepts a name of exactly 255 characters', () => {
    const name = 'a'.repeat(255);
    expect(parseScope(`repository:${name}:pull`)).toStrictEqual(scope('repository', name, ['pull']));
  });

  it('accepts a scope of exactly 512 characters', () => {
    const raw = `${'t'.repeat(251)}:${'a'.repeat(255)}:pull`;
    expect(raw).toHaveLength(512);
    expect(parseScope(raw).name).toHaveLength(255);
  });
});

describe('formatScope', () => {
  test.each([
    'repository:team/app:pull,push',
    'repository(plugin):x:pull',
    'registry:catalog:*',
    'repository:localhost:5000/team/app:pull',
    'repository:registry.example.com:443/a/b:push',
    'repository:a:delete',
  ])('round-trips %s', (raw) => {
    expect(formatScope(parseScope(raw))).toBe(raw);
  });

  it('writes the class in parentheses and joins actions with commas', () => {
    expect(formatScope(scope('repository', 'x/y', ['pull', 'push'], 'plugin'))).toBe('repository(plugin):x/y:pull,push');
    expect(formatScope(scope('registry', 'catalog', ['*']))).toBe('registry:catalog:*');
  });

  it('formats a parsed scope with duplicate actions in canonical form', () => {
    expect(formatScope(parseScope('repository:a:push,pull,push'))).toBe('repository:a:push,pull');
  });
});

describe('parseScope rejects hostile input with an InvalidRequestError naming the scope', () => {
  test.each<[string, string, string | RegExp]>([
    ['empty string', '', 'expected type:name:actions'],
    ['one colon', ':', 'expected type:name:actions'],
    ['two colons', '::', BAD_TYPE],
    ['only colons', ':::::', BAD_TYPE],
    ['no colon', 'repository', 'expected type:name:actions'],
    ['one colon only', 'repository:a', 'expected type:name:actions'],
    ['no type', ':a:pull', BAD_TYPE],
    ['empty name', 'repository::pull', GRAMMAR],
    ['empty actions', 'repository:a:', 'no actions'],
    ['empty action between commas', 'repository:a:pull,,push', 'bad action ""'],
    ['leading comma in actions', 'repository:a:,pull', 'bad action ""'],
    ['trailing comma in actions', 'repository:a:pull,', 'bad action ""'],
    ['upper-case action', 'repository:a:PULL', 'bad action "PULL"'],
    ['mixed-case action', 'repository:a:Pull', 'bad action "Pull"'],
    ['action with a digit', 'repository:a:pull2', 'bad action "pull2"'],
    ['action glob', 'repository:a:pu*', 'bad action "pu*"'],
    ['upper-case type', 'REPOSITORY:a:pull', BAD_TYPE],
    ['type with a dash', 'my-type:a:pull', BAD_TYPE],
    ['unclosed class', 'repository(:a:pull', BAD_TYPE],
    ['empty class', 'repository():a:pull', BAD_TYPE],
    ['two classes', 'repository(a)(b):a:pull', BAD_TYPE],
    ['upper-case class', 'repository(Plugin):a:pull', BAD_TYPE],
    ['upper-case single path component', 'repository:App:pull', GRAMMAR],
    ['upper-case second path component', 'repository:team/App:pull', GRAMMAR],
    ['upper-case path component after a host', 'repository:localhost:5000/Team/app:pull', GRAMMAR],
    ['name of 256 characters', `repository:${'a'.repeat(256)}:pull`, GRAMMAR],
    ['scope of 513 characters', `${'t'.repeat(252)}:${'a'.repeat(255)}:pull`, 'longer than 512 characters'],
    ['scope far over the length limit', `repository:${'a/'.repeat(5000)}b:pull`, 'longer than 512 characters'],
    ['`..` as the name', 'repository:..:pull', GRAMMAR],
    ['`..` as a path component', 'repository:a/../b:pull', GRAMMAR],
    ['`.` as a path component', 'repository:a/./b:pull', GRAMMAR],
    ['double dot inside a component', 'repository:a..b:pull', GRAMMAR],
    ['leading slash', 'repository:/a:pull', GRAMMAR],
    ['trailing slash', 'repository:a/:pull', GRAMMAR],
    ['double slash', 'repository:a//b:pull', GRAMMAR],
    ['leading dash', 'repository:-a:pull', GRAMMAR],
    ['trailing dash', 'repository:a-:pull', GRAMMAR],
    ['leading dot', 'repository:.a:pull', GRAMMAR],
    ['trailing dot', 'repository:a.:pull', GRAMMAR],
    ['leading underscore', 'repository:_a:pull', GRAMMAR],
    ['trailing underscore', 'repository:a_:pull', GRAMMAR],
    ['triple underscore', 'repository:a___b:pull', GRAMMAR],
    ['mixed separators', 'repository:a._b:pull', GRAMMAR],
    ['space inside the name', 'repository:a b:pull', GRAMMAR],
    ['space inside the actions', 'repository:a:pull, push', 'bad action " push"'],
    ['leading space', ' repository:a:pull', BAD_TYPE],
    ['trailing space', 'repository:a:pull ', 'bad action "pull "'],
    ['tab in the name', 'repository:a\tb:pull', GRAMMAR],
    ['NUL in the name', 'repository:a\u0000b:pull', GRAMMAR],
    ['NUL in the type', 'repo\u0000sitory:a:pull', BAD_TYPE],
    ['NUL after the actions', 'repository:a:pull\u0000', 'bad action "pull\\u0000"'],
    ['newline in the name', 'repository:a\n:pull', GRAMMAR],
    ['CR after the actions', 'repository:a:pull\r', 'bad action "pull\\r"'],
    ['DEL in the name', 'repository:a\u007fb:pull', GRAMMAR],
    ['C1 control in the name', 'repository:a\u0085b:pull', GRAMMAR],
    ['line separator in the name', 'repository:a\u2028b:pull', GRAMMAR],
    ['fullwidth letter in the name', 'repository:\uff41pp:pull', GRAMMAR],
    ['Cyrillic a in the name', 'repository:\u0430pp:pull', GRAMMAR],
    ['Cyrillic letters in the type', 'r\u0435p\u043esitory:a:pull', BAD_TYPE],
    ['fullwidth letters in the action', 'repository:a:\uff50ull', 'bad action'],
    ['zero-width space in the name', 'repository:a\u200bb:pull', GRAMMAR],
    ['zero-width space after the actions', 'repository:a:pull\u200b', 'bad action'],
    ['combining accent in the name', 'repository:a\u0301:pull', GRAMMAR],
    ['fullwidth colons only', 'repository\uff1aa\uff1apull', 'expected type:name:actions'],
    ['percent-encoded slash', 'repository:a%2Fb:pull', GRAMMAR],
    ['percent-encoded letter', 'repository:%61pp:pull', GRAMMAR],
    ['percent-encoded NUL', 'repository:a%00:pull', GRAMMAR],
    ['percent-encoded colon in the actions', 'repository:a:pull%3Apush', 'bad action "pull%3Apush"'],
    ['an extra colon inside the name', 'repository:a:b:pull', GRAMMAR],
    ['an empty segment before the actions', 'repository:a::pull', GRAMMAR],
    ['host:port with no path', 'repository:localhost:5000:pull', GRAMMAR],
    ['host with an empty port', 'repository:localhost:/a:pull', GRAMMAR],
    ['host with a non-numeric port', 'repository:localhost:http/a:pull', GRAMMAR],
    ['host with an underscore', 'repository:local_host:5000/a:pull', GRAMMAR],
    ['host with a leading dash', 'repository:-host:5000/a:pull', GRAMMAR],
  ])('%s', (_label, raw, why) => {
    expectScopeRejected(raw, why);
  });

  it('cuts a long bad scope in the message but still names its start', () => {
    const raw = `repository:${'a'.repeat(300)}:pull`;
    const err = rejection(() => parseScope(raw));
    expect(err.message).toContain(`invalid scope "${raw.slice(0, 80)}…"`);
    expect(err.message.length).toBeLessThan(200);
  });
});

describe('isValidResourceName', () => {
  test.each<[string, string, boolean]>([
    ['simple', 'app', true],
    ['two components', 'team/app', true],
    ['host:port prefix', 'localhost:5000/team/app', true],
    ['dotted host with port', 'registry.example.com:443/a/b', true],
    ['separators', 'a.b_c__d-e---f', true],
    ['255 characters', 'a'.repeat(255), true],
    ['255 characters over several components', `${'a'.repeat(127)}/${'b'.repeat(127)}`, true],
    ['empty', '', false],
    ['256 characters', 'a'.repeat(256), false],
    ['256 characters over several components', `${'a'.repeat(127)}/${'b'.repeat(128)}`, false],
    ['upper case', 'App', false],
    ['upper case after a slash', 'team/App', false],
    ['slash only', '/', false],
    ['leading slash', '/a', false],
    ['trailing slash', 'a/', false],
    ['dot-dot', '..', false],
    ['space', 'a b', false],
    ['NUL', 'a\u0000', false],
    ['host and port only', 'localhost:5000', false],
    ['unicode look-alike', '\u0430pp', false],
  ])('%s → %s', (_label, name, valid) => {
    expect(isValidResourceName(name)).toBe(valid);
  });
});

describe('mergeScopes', () => {
  it('merges repeats of one resource into the union of their actions, in first-appearance order', () => {
    expect(
      mergeScopes([scope('repository', 'a', ['pull']), scope('repository', 'b', ['pull']), scope('repository', 'a', ['push', 'pull'])]),
    ).toStrictEqual([scope('repository', 'a', ['pull', 'push']), scope('repository', 'b', ['pull'])]);
  });

  it('keeps resources that differ by type or class apart', () => {
    const merged = mergeScopes([
      scope('repository', 'x', ['pull']),
      scope('repository', 'x', ['push'], 'plugin'),
      scope('registry', 'x', ['*']),
      scope('repository', 'x', ['delete']),
    ]);
    expect(merged).toStrictEqual([
      scope('repository', 'x', ['pull', 'delete']),
      scope('repository', 'x', ['push'], 'plugin'),
      scope('registry', 'x', ['*']),
    ]);
  });

  it('does not mutate its input', () => {
    const first = scope('repository', 'a', ['pull']);
    mergeScopes([first, scope('repository', 'a', ['push'])]);
    expect(first.actions).toStrictEqual(['pull']);
  });

  it('returns an empty list for no scopes', () => {
    expect(mergeScopes([])).toStrictEqual([]);
  });
});

describe('parseScopes', () => {
  it('parses repeated parameters and space-separated scopes alike', () => {
    expect(parseScopes(['repository:a:pull', 'repository:b:push registry:catalog:*'])).toStrictEqual([
      scope('repository', 'a', ['pull']),
      scope('repository', 'b', ['push']),
      scope('registry', 'catalog', ['*']),
    ]);
  });

  it('ignores empty strings and runs of spaces', () => {
    expect(parseScopes(['', '  repository:a:pull   ', ' '])).toStrictEqual([scope('repository', 'a', ['pull'])]);
    expect(parseScopes([])).toStrictEqual([]);
  });

  it('merges the same scope sent twice (anonymous clients do) and repeats with other actions', () => {
    expect(parseScopes(['repository:a:pull', 'repository:a:pull'])).toStrictEqual([scope('repository', 'a', ['pull'])]);
    expect(parseScopes(['repository:a:pull repository:a:push,pull'])).toStrictEqual([scope('repository', 'a', ['pull', 'push'])]);
  });

  it('keeps host-prefixed names apart from the bare name', () => {
    expect(parseScopes(['repository:localhost:5000/a:pull', 'repository:a:pull'])).toStrictEqual([
      scope('repository', 'localhost:5000/a', ['pull']),
      scope('repository', 'a', ['pull']),
    ]);
  });

  it('accepts exactly 32 scopes', () => {
    const raws = Array.from({ length: 32 }, (_, i) => `repository:r${i}:pull`);
    expect(parseScopes(raws)).toHaveLength(32);
    expect(parseScopes([raws.join(' ')])).toHaveLength(32);
  });

  test.each<[string, string[]]>([
    ['33 parameters', Array.from({ length: 33 }, (_, i) => `repository:r${i}:pull`)],
    ['33 space-separated scopes in one parameter', [Array.from({ length: 33 }, (_, i) => `repository:r${i}:pull`).join(' ')]],
    ['33 copies of one scope (counted before merging)', Array.from({ length: 33 }, () => 'repository:a:pull')],
    ['1000 scopes', Array.from({ length: 1000 }, (_, i) => `repository:r${i}:pull`)],
  ])('rejects more than 32 scopes: %s', (_label, raws) => {
    const err = rejection(() => parseScopes(raws));
    expect(err.message).toContain('too many scopes');
    expect(err.message).toContain('32');
  });

  test.each<[string, string[], string, string | RegExp]>([
    ['the second of two parameters', ['repository:a:pull', 'repository:b:PULL'], 'repository:b:PULL', 'bad action "PULL"'],
    ['the middle of a space-separated list', ['repository:a:pull repository::pull repository:c:pull'], 'repository::pull', GRAMMAR],
    ['a space splitting one scope', ['repository:a b:pull'], 'repository:a', 'expected type:name:actions'],
    ['a tab is not a separator', ['repository:a:pull\trepository:b:pull'], 'repository:a:pull\trepository:b:pull', GRAMMAR],
    ['a look-alike among good scopes', ['repository:a:pull', 'repository:\u0430:pull'], 'repository:\u0430:pull', GRAMMAR],
  ])('names the bad scope in a list: %s', (_label, raws, bad, why) => {
    const err = rejection(() => parseScopes(raws));
    expect(err.message).toContain(`invalid scope ${JSON.stringify(bad)}`);
    if (typeof why === 'string') expect(err.message).toContain(why);
    else expect(err.message).toMatch(why);
  });
});
