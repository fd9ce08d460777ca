import { describe, expect, it } from 'vitest';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../../src/authz/authorizer.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';

/**
 * What the decider behind an authorizer allows: repository name → the actions it names for it,
 * which may be actions nobody asked for, or `*`. A decider answers for every listed name whether
 * or not it was asked about it, as a careless platform would.
 */
export type Policy = Readonly<Record<string, readonly string[]>>;

/** One authorizer built for one case. */
export interface AuthorizerUnderTest {
  readonly authorizer: Authorizer;
  /** What its logger wrote; absent for authorizers that take no logger. */
  readonly logs?: () => string;
  /** Secrets it holds (the webhook's shared secret, the SAGE token) that no log line may hold. */
  readonly secrets?: readonly string[];
  /** Releases what it or its decider hold. */
  close?(): Promise<void>;
}

/** How one kind of authorizer is run through the contract. */
export interface AuthorizerHarness {
  /** Builds the authorizer with its decider following `policy`; every call a fresh one, nothing cached. */
  make(policy: Policy): Promise<AuthorizerUnderTest>;
  /**
   * Each way the decider can be down, building the authorizer against a decider down that way
   * that would otherwise follow `policy`. Empty only for an authorizer that calls nothing (say so
   * where it is used).
   */
  readonly outages: Readonly<Record<string, (policy: Policy) => Promise<AuthorizerUnderTest>>>;
  /**
   * For an authorizer that caches decisions: builds it following `policy`, with a way to take its
   * decider down afterwards, to show what the cache proved before an outage still stands.
   */
  readonly cachesThenFails?: (policy: Policy) => Promise<AuthorizerUnderTest & { breakDecider(): void }>;
}

/** The account every request acts as. */
export const ALICE: Identity = { account: 'alice', provider: 'static', subject: 'alice', attributes: { groups: ['dev'] } };

function request(...scopes: string[]): AuthorizationRequest {
  return { identity: ALICE, service: 'registry', clientIp: '192.0.2.20', scopes: scopes.map(parseScope) };
}

/** One decision per requested scope, in order, for that very scope, granting only actions it asked for, each once. */
function expectWithinRequest(asked: AuthorizationRequest, decisions: readonly ScopeDecision[]): void {
  expect(decisions.map((d) => d.scope)).toEqual(asked.scopes);
  decisions.forEach((d, i) => {
    const requested = asked.scopes[i]!.actions;
    expect(d.granted.filter((a) => !requested.includes(a)), `actions granted on ${d.scope.name} that were not asked for`).toEqual([]);
    expect(new Set(d.granted).size, `an action granted twice on ${d.scope.name}`).toBe(d.granted.length);
  });
}

/** Runs `check` on a fresh authorizer, then checks its logs hold no secret, then releases it. */
async function withAuthorizer(make: () => Promise<AuthorizerUnderTest>, check: (sut: AuthorizerUnderTest) => Promise<void>): Promise<void> {
  const sut = await make();
  try {
    await check(sut);
    const logs = sut.logs?.() ?? '';
    for (const secret of sut.secrets ?? []) expect(logs.includes(secret), 'a log line holds a secret of the authorizer').toBe(false);
  } finally {
    await sut.close?.();
  }
}

/**
 * The behaviour every Authorizer must have: deny by default, grant exactly what the decider
 * allows and never more than was asked (whatever extra actions or scopes the decider answers),
 * and fail closed when the decider cannot be had, answering rather than throwing. `name` is the
 * decider's registry type where it runs one (`test/architecture/contract-coverage.test.ts` finds
 * the runs of every registered type by it), or says what else it runs (the ACL, a combination).
 */
export function authorizerContract(name: string, harness: AuthorizerHarness): void {
  describe(`${name} authorizer contract`, () => {
    it('denies by default: one empty decision per requested scope, in order', async () => {
      // The decider grants everything on another repository, and nothing it was asked about.
      await withAuthorizer(
        () => harness.make({ 'acme/other': ['*'] }),
        async ({ authorizer }) => {
          const asked = request('repository:acme/app:pull,push', 'repository:acme/lib:pull', 'repository(plugin):acme/tool:pull', 'registry:catalog:*');
          const decisions = await authorizer.authorize(asked);
          expectWithinRequest(asked, decisions);
          expect(decisions.map((d) => d.granted)).toEqual([[], [], [], []]);
        },
      );
    });

    it('grants what the decider allows, on the scope it allows it', async () => {
      await withAuthorizer(
        () => harness.make({ 'acme/app': ['pull'], 'acme/lib': ['pull', 'push'] }),
        async ({ authorizer }) => {
          const asked = request('repository:acme/app:pull,push', 'repository:acme/nope:pull', 'repository:acme/lib:pull');
          const decisions = await authorizer.authorize(asked);
          expectWithinRequest(asked, decisions);
          expect(decisions.map((d) => d.granted)).toEqual([['pull'], [], ['pull']]);
        },
      );
    });

    it('never grants more than was asked, whatever extra actions or scopes the decider names', async () => {
      await withAuthorizer(
        () => harness.make({ 'acme/app': ['pull', 'push', 'delete'], 'acme/lib': ['*'], 'acme/extra': ['*'] }),
        async ({ authorizer }) => {
          const asked = request('repository:acme/app:pull', 'repository:acme/lib:push');
          const decisions = await authorizer.authorize(asked);
          expectWithinRequest(asked, decisions);
          expect(decisions.map((d) => d.granted)).toEqual([['pull'], ['push']]);
        },
      );
    });

    const cachesThenFails = harness.cachesThenFails;
    if (cachesThenFails) {
      it('keeps a decision it cached before its decider went down, and fails closed on the rest', async () => {
        await withAuthorizer(
          () => cachesThenFails({ 'acme/app': ['pull'], 'acme/lib': ['pull'] }),
          async (sut) => {
            expect((await sut.authorizer.authorize(request('repository:acme/app:pull')))[0]!.granted).toEqual(['pull']);
            (sut as Awaited<ReturnType<typeof cachesThenFails>>).breakDecider();
            const asked = request('repository:acme/app:pull', 'repository:acme/lib:pull');
            const decisions = await sut.authorizer.authorize(asked);
            expectWithinRequest(asked, decisions);
            expect(decisions.map((d) => d.granted)).toEqual([['pull'], []]);
            expect(decisions[1]!.source).toBe('unavailable');
          },
        );
      });
    }

    for (const [outage, make] of Object.entries(harness.outages)) {
      it(`fails closed while its decider is down (${outage}): nothing granted, source unavailable, no throw`, async () => {
        await withAuthorizer(
          () => make({ 'acme/app': ['*'], 'acme/lib': ['*'] }),
          async ({ authorizer }) => {
            const asked = request('repository:acme/app:pull,push', 'repository:acme/lib:pull');
            const decisions = await authorizer.authorize(asked);
            expectWithinRequest(asked, decisions);
            expect(decisions.map((d) => ({ granted: d.granted, source: d.source }))).toEqual([
              { granted: [], source: 'unavailable' },
              { granted: [], source: 'unavailable' },
            ]);
          },
        );
      });
    }
  });
}
