import { describe, expect, it } from 'vitest';
import { actionsInScope, parseCredentialScope, parseScopeShorthand, scopeWithin } from '../../src/domain/credential-scope.js';
import { InvalidRequestError } from '../../src/domain/errors.js';
import { parseScope } from '../../src/domain/scope.js';

describe('credential scopes', () => {
  it('allow actions on repositories by glob, push implying pull, and the catalog only by its entry', () => {
    const scope = parseCredentialScope([{ repositories: ['team/*', 'alice/a?p'], actions: ['push'] }]);
    expect(actionsInScope(scope, parseScope('repository:team/x/y:pull,push,delete'))).toEqual(['pull', 'push']);
    expect(actionsInScope(scope, parseScope('repository:alice/app:pull'))).toEqual(['pull']);
    expect(actionsInScope(scope, parseScope('repository:alice/apps:pull'))).toEqual([]);
    expect(actionsInScope(scope, parseScope('registry:catalog:*'))).toEqual([]);
    expect(actionsInScope(parseCredentialScope([{ catalog: true }]), parseScope('registry:catalog:*'))).toEqual(['*']);
  });

  it('refuse what is not a scope, saying why', () => {
    const bad: unknown[] = [
      'pull',
      [{ repositories: ['a/*'] }],
      [{ repositories: ['a/*'], actions: ['write'] }],
      [{ repositories: ['${account}/*'], actions: ['pull'] }],
      [{ repositories: [], actions: ['pull'] }],
      [{ manage: 'yes' }],
      [{}],
      [{ catalog: true, extra: 1 }],
    ];
    for (const raw of bad) expect(() => parseCredentialScope(raw), JSON.stringify(raw)).toThrow(InvalidRequestError);
  });

  it('tell whether one scope lies inside another, never letting a glob widen', () => {
    const outer = parseCredentialScope([{ repositories: ['alice/*'], actions: ['push'] }, { manage: true }]);
    expect(scopeWithin([{ repositories: ['alice/app'], actions: ['pull'] }], outer)).toBe(true);
    expect(scopeWithin([{ repositories: ['alice/*'], actions: ['push', 'pull'] }, { manage: true }], outer)).toBe(true);
    expect(scopeWithin([{ repositories: ['*'], actions: ['pull'] }], outer)).toBe(false);
    expect(scopeWithin([{ repositories: ['alice/app'], actions: ['delete'] }], outer)).toBe(false);
    expect(scopeWithin([{ catalog: true }], outer)).toBe(false);
    expect(scopeWithin(undefined, outer)).toBe(false); // the account's full rights
    expect(scopeWithin([{ repositories: ['a*c'], actions: ['pull'] }], [{ repositories: ['a?c'], actions: ['pull'] }])).toBe(false);
    expect(scopeWithin([{ repositories: ['a?c'], actions: ['pull'] }], [{ repositories: ['a*'], actions: ['pull'] }])).toBe(true);
    expect(scopeWithin(outer, undefined)).toBe(true);
  });

  it('read the CLI shorthand', () => {
    expect(parseScopeShorthand('repository:alice/app:pull')).toEqual({ repositories: ['alice/app'], actions: ['pull'] });
    expect(parseScopeShorthand('repository:registry.example.com:5000/a/*:pull,push')).toEqual({ repositories: ['registry.example.com:5000/a/*'], actions: ['pull', 'push'] });
    expect(parseScopeShorthand('registry:catalog:*')).toEqual({ catalog: true });
    expect(() => parseScopeShorthand('alice/app')).toThrow(InvalidRequestError);
  });
});
