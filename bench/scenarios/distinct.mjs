// Scenarios 9 and 10, the headline: a fleet of distinct clients (bench/README.md, "Distinct
// clients"). What the rotation sends is recorded request by request, so the result can prove that
// the one-second answer reuse never answered any of it.
import { randomBytes } from 'node:crypto';
import { cannon } from '../load.mjs';
import { BenchError } from '../support.mjs';
import { basic, checkGrant, platformToken, tokenPath } from './requests.mjs';

/** Scopes Wharf takes in one request (src/domain/scope.ts MAX_SCOPES): the warming requests stay within it. */
const WARM_SCOPES_PER_REQUEST = 32;

/**
 * Scenarios 9 and 10, the headline: `users` platform users, each with a platform token of their
 * own, pull their repositories in rotation, as a fleet does, so that no identical request comes
 * twice within a second and Wharf's one-second answer reuse (keyed on the request as sent) cannot
 * answer them: every request is authenticated, authorized and minted, from caches warmed
 * beforehand.
 *
 * A rotation over the users alone would repeat within a second once Wharf runs faster than
 * `users` requests/s, so each user also pulls `reposPerUser` repositories (`<user>/app-<k>`),
 * enough that one pass over all (user, repository) pairs takes longer than a second even at 1.5
 * times the bare fastify route's rate. Request i is user i mod users, repository
 * (i div users) mod reposPerUser: consecutive requests come from different users, and each pair
 * comes back only after the whole rotation. Every request sent is recorded, and the result says
 * how many repeated one sent less than a second before (0, or the scenario measured the wrong thing).
 *
 * The check warms the caches first: one request per user naming all its repositories (Wharf
 * caches each scope's decision on its own, with the platform's ttl of 300 s), so introspection
 * and every decision the rotation will need are in Redis before anything is measured.
 *
 * `ceilingRps()` is the HTTP ceiling's rate at the start of the run, known only once the check runs.
 * `authFor(server, names)`, when given, makes each user's Authorization header before the check
 * (Wharf credentials, scenarios/credentials.mjs) instead of a platform token; the sanity request
 * then uses the first user's.
 */
export function distinctClients(id, users, serverRef, platform, { settings, ceilingRps, authFor }) {
  const runId = randomBytes(3).toString('hex');
  const names = Array.from({ length: users }, (_, i) => `d${runId}-${i}`);
  let auth = names.map((user) => basic(user, platformToken(user)));
  const state = { authMade: false, reposPerUser: 1, next: 0, lastSent: new Float64Array(0), t0: 0, perSecond: [], repeats: 0, warming: undefined };
  const pathOf = (u, k) => tokenPath(`repository:${names[u]}/app-${k}:pull`, names[u]);
  // The rotation's generator; `rotation` holds its counters. The answer floor gets one of its own
  // (twinRequest): the same users, repositories, order and work per request, counted apart.
  const generator = (rotation) => ({
    method: 'GET',
    setupRequest: (req) => {
      const distinct = rotation.lastSent.length;
      const i = rotation.next++ % distinct;
      const now = performance.now();
      if (now - rotation.lastSent[i] < 1000) rotation.repeats++;
      rotation.lastSent[i] = now;
      const second = Math.floor((now - rotation.t0) / 1000);
      rotation.perSecond[second] = (rotation.perSecond[second] ?? 0) + 1;
      const u = i % users;
      return { ...req, path: pathOf(u, Math.floor(i / users) % state.reposPerUser), headers: { authorization: auth[u] } };
    },
  });
  const request = generator(state);
  return {
    id,
    name: `distinct clients: ${users.toLocaleString('en-US')} users in rotation, warm Redis cache`,
    distinct: true,
    interleave: true,
    request,
    check: async () => {
      const server = serverRef();
      const extra = `d${runId}-check`;
      if (authFor && !state.authMade) {
        auth = await authFor(server, names);
        state.authMade = true;
      }
      if (authFor) await checkGrant(`distinct clients (${users})`, `${server.url}${pathOf(0, 0)}`, { headers: { authorization: auth[0] } });
      else await checkGrant(`distinct clients (${users})`, `${server.url}${tokenPath(`repository:${extra}/app-0:pull`, extra)}`, { headers: { authorization: basic(extra, platformToken(extra)) } });
      // 1.5x the ceiling: Wharf does not outrun the bare route, and the VM's speed drifts.
      state.reposPerUser = Math.max(1, Math.ceil(((ceilingRps() ?? 40_000) * 1.5) / users));
      const chunks = Math.ceil(state.reposPerUser / WARM_SCOPES_PER_REQUEST);
      const before = platform.counts();
      const started = performance.now();
      let w = 0;
      const warmed = await cannon(settings, {
        url: server.url,
        amount: users * chunks,
        setupRequest: (req) => {
          const n = w++;
          const u = n % users;
          const first = Math.floor(n / users) * WARM_SCOPES_PER_REQUEST;
          const scopes = [];
          for (let k = first; k < Math.min(state.reposPerUser, first + WARM_SCOPES_PER_REQUEST); k++) scopes.push(`scope=${encodeURIComponent(`repository:${names[u]}/app-${k}:pull`)}`);
          return { ...req, path: `/token?service=registry&account=${encodeURIComponent(names[u])}&${scopes.join('&')}`, headers: { authorization: auth[u] } };
        },
      });
      const failed = warmed.errors + warmed.timeouts + warmed.non2xx;
      if (failed > 0 || warmed.requests.total < users * chunks) {
        throw new BenchError(`warming ${users} users: ${warmed.requests.total}/${users * chunks} requests sent, ${failed} failed (${JSON.stringify(warmed.statusCodeStats)})`);
      }
      const after = platform.counts();
      state.warming = {
        requests: warmed.requests.total,
        seconds: Math.round((performance.now() - started) / 100) / 10,
        upstream: { introspect: after.introspect - before.introspect, authz: after.authz - before.authz },
      };
      // One rotation for the whole scenario (a noisy attempt measured again, the alternating
      // slices): the repeat check covers every request it sent.
      if (state.lastSent.length !== users * state.reposPerUser) {
        state.lastSent = new Float64Array(users * state.reposPerUser).fill(-Infinity);
        state.next = 0;
        state.repeats = 0;
        state.perSecond = [];
        state.t0 = performance.now();
      }
    },
    /** A generator like `request`, with counters of its own: what drives the answer floor. */
    twinRequest: () => generator({ next: 0, lastSent: new Float64Array(state.lastSent.length).fill(-Infinity), t0: performance.now(), perSecond: [], repeats: 0 }),
    /** One request of the rotation's shape (user 0, its first repository), for sampling Wharf's answer. */
    sampleRequest: () => ({ path: pathOf(0, 0), init: { headers: { authorization: auth[0] } } }),
    /** What the rotation sent: how distinct it was, checked on every request. */
    summary: () => ({
      users,
      reposPerUser: state.reposPerUser,
      distinctRequests: state.lastSent.length,
      sent: state.next,
      maxInOneSecond: Math.max(0, ...state.perSecond.filter((n) => n !== undefined)),
      repeatsWithinOneSecond: state.repeats,
      warming: state.warming,
    }),
  };
}
