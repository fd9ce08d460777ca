import { describe, expect, it } from 'vitest';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { parseConfig } from '../../src/config/load.js';
import { builtInBackends } from '../../src/config/schema.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';

const who = (account: string): Identity => ({ account, provider: 'static', subject: account, attributes: {} });

/** An identity's groups as services.ts reads them: through the registry entry of the backend that proved it. */
const groupsOf = (identity: Identity) => [...builtInBackends.passwordBackends.groupsOf(identity), ...builtInBackends.loginProviders.groupsOf(identity)];

function acl(input: unknown) {
  return new StaticAclAuthorizer(parseConfig({ authz: { acl: input } }, {}).authz.acl, undefined, groupsOf);
}

async function granted(authorizer: StaticAclAuthorizer, identity: Identity | undefined, scope: string, service = 'registry') {
  const [decision] = await authorizer.authorize({ identity, service, clientIp: '127.0.0.1', scopes: [parseScope(scope)] });
  return decision!.granted;
}

describe('StaticAclAuthorizer', () => {
  it('by default lets each account push and pull its own namespace and nothing else', async () => {
    const a = acl({});
    expect(await granted(a, who('alice'), 'repository:alice/app:pull,push,delete')).toEqual(['pull', 'push']);
    expect(await granted(a, who('alice'), 'repository:alice/deep/nested:pull')).toEqual(['pull']);
    expect(await granted(a, who('alice'), 'repository:bob/app:pull')).toEqual([]);
    expect(await granted(a, who('alice'), 'repository:alicex/app:pull')).toEqual([]);
    expect(await granted(a, undefined, 'repository:alice/app:pull')).toEqual([]);
    expect(await granted(a, who('alice'), 'registry:catalog:*')).toEqual([]);
  });

  it('uses the first matching rule, even when a later one is more generous', async () => {
    const a = acl({ rules: [{ account: 'ci-*', name: 'team/*', actions: ['pull'] }, { account: '*', name: '*', actions: ['*'] }] });
    expect(await granted(a, who('ci-bot'), 'repository:team/app:pull,push')).toEqual(['pull']);
    expect(await granted(a, who('dev'), 'repository:team/app:pull,push,delete')).toEqual(['pull', 'push', 'delete']);
  });

  it('treats push as implying pull, and * as everything requested', async () => {
    const a = acl({ rules: [{ name: 'p/*', actions: ['push'] }, { type: 'registry', name: 'catalog', actions: ['*'] }] });
    expect(await granted(a, who('x'), 'repository:p/a:pull')).toEqual(['pull']);
    expect(await granted(a, who('x'), 'repository:p/a:delete')).toEqual([]);
    expect(await granted(a, who('x'), 'registry:catalog:*')).toEqual(['*']);
  });

  it('substitutes ${account} literally, never as a pattern', async () => {
    const a = acl({ rules: [{ name: 'home/${account}', actions: ['pull'] }] });
    expect(await granted(a, who('a.b'), 'repository:home/a.b:pull')).toEqual(['pull']);
    expect(await granted(a, who('a.b'), 'repository:home/axb:pull')).toEqual([]);
  });

  it('matches service and type', async () => {
    const a = acl({ rules: [{ service: 'prod', name: '*', actions: ['pull'] }] });
    expect(await granted(a, who('x'), 'repository:a:pull', 'prod')).toEqual(['pull']);
    expect(await granted(a, who('x'), 'repository:a:pull', 'staging')).toEqual([]);
    expect(await granted(a, who('x'), 'repository(plugin):a:pull', 'prod')).toEqual(['pull']);
  });

  it('lets anonymous clients pull only the allow list minus the deny list', async () => {
    const a = acl({ anonymous: { pull: ['public/*'], deny: ['public/internal-*'] } });
    expect(await granted(a, undefined, 'repository:public/base:pull,push')).toEqual(['pull']);
    expect(await granted(a, undefined, 'repository:public/internal-tools:pull')).toEqual([]);
    expect(await granted(a, undefined, 'repository:private/x:pull')).toEqual([]);
    expect(await granted(a, undefined, 'registry:catalog:*')).toEqual([]);
  });
});

describe('StaticAclAuthorizer group rules', () => {
  const member = (account: string, attributes: Record<string, unknown>, provider = 'ldap'): Identity => ({ account, provider, subject: account, attributes });

  it('matches any of the identity’s groups, orgs or teams', async () => {
    const a = acl({ rules: [{ group: 'cn=team-x,*', name: 'team-x/*', actions: ['push'] }, { group: 'acme/platform', name: 'infra/*', actions: ['pull'] }] });
    const ludwig = member('ludwig', { groups: ['cn=musicians,ou=groups,dc=example,dc=com', 'cn=team-x,ou=groups,dc=example,dc=com'] });
    expect(await granted(a, ludwig, 'repository:team-x/app:push,pull')).toEqual(['push', 'pull']);
    expect(await granted(a, member('kant', { groups: ['cn=philosophers,ou=groups,dc=example,dc=com'] }), 'repository:team-x/app:pull')).toEqual([]);
    expect(await granted(a, member('octocat', { orgs: ['acme'], teams: ['acme/platform'] }, 'github'), 'repository:infra/base:pull')).toEqual(['pull']);
    expect(await granted(a, member('nobody', {}), 'repository:infra/base:pull')).toEqual([]);
    expect(await granted(a, member('odd', { groups: 'cn=team-x,ou=x' }), 'repository:team-x/app:pull')).toEqual([]);
    // LDAP identities carry group names and DNs; either can be matched.
    const byName = acl({ rules: [{ group: 'team-x', name: 'team-x/*', actions: ['pull'] }] });
    expect(await granted(byName, member('ludwig', { groups: ['team-x'], groupDns: ['cn=team-x,ou=groups,dc=example,dc=com'] }), 'repository:team-x/a:pull')).toEqual(['pull']);
    expect(await granted(a, member('ludwig', { groups: ['team-x'], groupDns: ['cn=team-x,ou=groups,dc=example,dc=com'] }), 'repository:team-x/a:push')).toEqual(['push']);
  });

  it('reads each backend’s groups as README lists them: LDAP names and DNs, the OIDC groups claim, GitHub orgs and teams, static users’ attributes.groups', async () => {
    const a = acl({ rules: [{ group: 'platform', name: 'platform/*', actions: ['pull'] }] });
    const asks = async (provider: string, attributes: Record<string, unknown>) => granted(a, member('someone', attributes, provider), 'repository:platform/app:pull');
    expect(await asks('static', { groups: ['platform'] })).toEqual(['pull']);
    expect(await asks('ldap', { groups: ['platform'] })).toEqual(['pull']);
    expect(await asks('ldap', { groupDns: ['platform'] })).toEqual(['pull']);
    expect(await asks('oidc', { groups: ['platform'] })).toEqual(['pull']);
    expect(await asks('github', { orgs: ['platform'] })).toEqual(['pull']);
    expect(await asks('github', { teams: ['platform'] })).toEqual(['pull']);
    expect(await asks('github-token', { orgs: ['platform'] })).toEqual(['pull']);
    expect(await asks('command', { groups: ['platform'] })).toEqual(['pull']);
    expect(await asks('introspection', { groups: ['platform'] })).toEqual(['pull']);
    // An ID token's groups are only those Wharf derives from a verified Kubernetes service-account
    // token (`system:serviceaccounts[:NS]`, set by the backend); a claim the token carries stays
    // among its claims.
    expect(await asks('oidc-token', { groups: ['platform'] })).toEqual(['pull']);
    // An attribute is a group only where its backend says so: an LDAP attribute copied as `orgs`,
    // or a `groups` claim an ID token happens to carry, is not one.
    expect(await asks('ldap', { orgs: ['platform'] })).toEqual([]);
    expect(await asks('oidc-token', { claims: { groups: ['platform'] } })).toEqual([]);
  });
});
