import { describe, expect, it } from 'vitest';
import { parseAccountTemplate } from '../../src/authn/oidc-token/account-template.js';
import { claimAt } from '../../src/authn/oidc-token/claim-path.js';
import { parsePullTemplate } from '../../src/authn/oidc-token/pull-template.js';

/** The claims of a pod-bound service-account token, as a kube-apiserver mints them. */
const token = {
  sub: 'system:serviceaccount:team-a:puller',
  'kubernetes.io': { namespace: 'team-a', serviceaccount: { name: 'puller', uid: 'f1e2' }, pod: { name: 'app-1', uid: 'p9' }, node: { name: 'node-1' } },
};

describe('claim paths', () => {
  it('reach into nested objects through a top-level key that itself holds a dot', () => {
    expect(claimAt(token, 'kubernetes.io.namespace')).toBe('team-a');
    expect(claimAt(token, 'kubernetes.io.serviceaccount.uid')).toBe('f1e2');
    expect(claimAt(token, 'kubernetes.io.pod.name')).toBe('app-1');
    expect(claimAt(token, 'sub')).toBe('system:serviceaccount:team-a:puller');
    expect(claimAt(token, 'kubernetes.io.node.uid')).toBeUndefined();
    expect(claimAt(token, 'kubernetes.io.namespace.length')).toBeUndefined();
  });

  it('take the literal key first, then the longest key at each level', () => {
    expect(claimAt({ 'a.b': 'literal', a: { b: 'nested' } }, 'a.b')).toBe('literal');
    expect(claimAt({ 'a.b': { c: 'longest' }, a: { b: { c: 'shorter' } } }, 'a.b.c')).toBe('longest');
    expect(claimAt({ a: { b: { c: 'nested' } } }, 'a.b.c')).toBe('nested');
  });

  it('never follow arrays, inherited properties or the prototype', () => {
    expect(claimAt({ groups: ['a', 'b'] }, 'groups.0')).toBeUndefined();
    expect(claimAt({ a: {} }, 'a.constructor')).toBeUndefined();
    expect(claimAt({ a: {} }, 'a.__proto__')).toBeUndefined();
    expect(claimAt({}, 'toString')).toBeUndefined();
  });

  it('are what account templates read', () => {
    expect(parseAccountTemplate('k8s-${kubernetes.io.namespace}').render(token)).toEqual({ account: 'k8s-team-a' });
    expect(parseAccountTemplate('${kubernetes.io.pod.missing}').render(token)).toEqual({ error: 'the account template needs claim "kubernetes.io.pod.missing", which the token lacks' });
  });
});

describe('pull templates', () => {
  it('render a repository glob whose wildcards come only from the configuration', () => {
    expect(parsePullTemplate('${kubernetes.io.namespace}/*').render(token)).toEqual({ glob: 'team-a/*' });
    expect(parsePullTemplate('base/*').render(token)).toEqual({ glob: 'base/*' });
    expect(parsePullTemplate('mirror/${kubernetes.io.namespace}-?').render(token)).toEqual({ glob: 'mirror/team-a-?' });
    expect(parsePullTemplate('${team}/*').render({ team: 'Team-A' })).toEqual({ glob: 'team-a/*' });
  });

  it('grant nothing when a value is not one plain path component: no wildcard, slash, dot-dot or non-ASCII letter gets in', () => {
    const template = parsePullTemplate('${team}/*');
    for (const team of ['*', '?', 'a/b', '..', '.', 'a..b', 'team-*', '', ' a', 'te\u212Am', '\u0130stanbul', 'a'.repeat(300)]) {
      expect(template.render({ team })).toHaveProperty('error');
    }
    expect(template.render({ team: { name: 'a' } })).toEqual({ error: 'claim "team" used in the pull template "${team}/*" is not a string' });
    expect(template.render({})).toEqual({ error: 'the pull template "${team}/*" needs claim "team", which the token lacks' });
  });
});
