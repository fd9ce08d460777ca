import { describe, expect, it } from 'vitest';
import type { ScopeDecision } from '../../src/authz/authorizer.js';
import { parseScopes } from '../../src/domain/scope.js';
import { logTokenIssued, type IssuedLine } from '../../src/tokens/audit-line.js';
import { captureLog } from '../support/log-capture.js';

const decide = (scope: string, granted: string[], source = 'webhook', reason = 'allowed by the webhook'): ScopeDecision => ({ scope: parseScopes([scope])[0]!, granted, source, matched: true, reason });

const line = (decisions: ScopeDecision[], extra: Partial<IssuedLine> = {}): IssuedLine => ({
  account: 'alice',
  provider: 'static',
  grantType: 'get',
  clientId: undefined,
  clientIp: '127.0.0.1',
  decisions,
  anonymous: false,
  refreshTokenIssued: false,
  jti: 'j1',
  kid: 'k1',
  reused: false,
  ...extra,
});

describe('the token_issued audit line', () => {
  it('names every requested scope and decision, in the fields and order operators parse', () => {
    const log = captureLog('info');
    const granted = logTokenIssued(log.logger.child({ component: 'token' }), line(
      [decide('repository:alice/app:pull,push', ['pull', 'push']), decide('repository:bob/app:pull,push', ['pull'], 'acl', 'rule 2'), decide('repository:carol/app:pull', [], 'acl', 'no rule')],
      { clientId: 'docker', grantType: 'password', refreshTokenIssued: true, reused: true },
    ));
    const { time, ...written } = log.lines[0]!;
    expect(typeof time).toBe('number');
    expect(written).toEqual({
      level: 30,
      service: 'wharf',
      component: 'token',
      event: 'token_issued',
      account: 'alice',
      provider: 'static',
      grantType: 'password',
      clientId: 'docker',
      clientIp: '127.0.0.1',
      requested: ['repository:alice/app:pull,push', 'repository:bob/app:pull,push', 'repository:carol/app:pull'],
      decisions: [
        { scope: 'repository:alice/app:pull,push', granted: ['pull', 'push'], source: 'webhook', reason: 'allowed by the webhook' },
        { scope: 'repository:bob/app:pull,push', granted: ['pull'], source: 'acl', reason: 'rule 2' },
        { scope: 'repository:carol/app:pull', granted: [], source: 'acl', reason: 'no rule' },
      ],
      refreshTokenIssued: true,
      jti: 'j1',
      kid: 'k1',
      reused: true,
      msg: 'token issued',
    });
    expect(Object.keys(log.lines[0]!)).toEqual(['level', 'time', 'service', 'component', 'event', 'account', 'provider', 'grantType', 'clientId', 'clientIp', 'requested', 'decisions', 'refreshTokenIssued', 'jti', 'kid', 'reused', 'msg']);
    // What the token grants, as its reuses are audited: a scope cut down names only what was granted.
    expect(granted).toEqual(['repository:alice/app:pull,push', 'repository:bob/app:pull']);
  });

  it('for an anonymous request: what was granted in full, refusals counted, the first 8 names and their number', () => {
    const log = captureLog('info');
    const refused = Array.from({ length: 10 }, (_, i) => decide(`repository:n${i}/a:pull`, [], 'webhook', 'not in the webhook answer'));
    logTokenIssued(log.logger, line([decide('repository:public/a:pull', ['pull']), ...refused, decide('repository:x/a:pull', [], 'unavailable', 'webhook down')], { account: '', provider: 'anonymous', anonymous: true }));
    const written = log.events('token_issued')[0]!;
    expect(written).toMatchObject({
      requested: ['repository:public/a:pull', ...refused.slice(0, 7).map((_, i) => `repository:n${i}/a:pull`)],
      requestedCount: 12,
      decisions: [{ scope: 'repository:public/a:pull', granted: ['pull'], source: 'webhook', reason: 'allowed by the webhook' }],
      denied: [
        { source: 'webhook', reason: 'not in the webhook answer', count: 10 },
        { source: 'unavailable', reason: 'webhook down', count: 1 },
      ],
    });
    expect(Object.keys(written)).not.toContain('clientId');
    const few = captureLog('info');
    logTokenIssued(few.logger, line([decide('repository:public/a:pull', ['pull'])], { anonymous: true }));
    expect(few.lines[0]).toMatchObject({ requested: ['repository:public/a:pull'], denied: [] });
    expect(few.lines[0]).not.toHaveProperty('requestedCount');
  });

  it('is not written when the level is warn, and the grants are still named', () => {
    const log = captureLog('warn');
    expect(logTokenIssued(log.logger, line([decide('repository:alice/app:pull', ['pull'])]))).toEqual(['repository:alice/app:pull']);
    expect(log.text()).toBe('');
  });
});
