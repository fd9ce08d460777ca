import { describe, expect, it } from 'vitest';
import { parseAccountTemplate } from '../../src/authn/oidc-token/account-template.js';

describe('account templates', () => {
  it('make one lower-case path component, as the account gate admits, and refuse a value with a slash', () => {
    expect(parseAccountTemplate('${repository_owner}').render({ repository_owner: 'Acme' })).toEqual({ account: 'acme' });
    expect(parseAccountTemplate('ci-${project_id}').render({ project_id: 1234 })).toEqual({ account: 'ci-1234' });
    // `acme/app` would be a name inside the namespace of the account acme: never an account.
    expect(parseAccountTemplate('${repository}').render({ repository: 'acme/app' })).toHaveProperty('error');
    expect(parseAccountTemplate('gh-${repository_owner}').render({ repository_owner: 'a/b' })).toHaveProperty('error');
  });
});
