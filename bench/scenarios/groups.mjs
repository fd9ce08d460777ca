// Scenario groups: each group is one Wharf process with its own config and data dir, and the
// scenarios measured against it, in order (the table in bench/README.md, "What runs").
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { startWharf } from '../servers.mjs';
import { BenchError } from '../support.mjs';
import { credentialClients } from './credentials.mjs';
import { distinctClients } from './distinct.mjs';
import { basic, checkGrant, platformToken, tokenPath } from './requests.mjs';

/** Workers in scenario 8: one per core of this machine, the setting operators are told to use. */
const WORKERS = Math.max(2, availableParallelism());

function platformConfig(platform, cache) {
  return {
    cache,
    authn: [{ type: 'introspection', url: `${platform.url}/introspect`, retries: 0, cacheSeconds: 300 }],
    authz: { webhook: { type: 'webhook', url: `${platform.url}/authz`, retries: 0 } },
    // Every connection comes from 127.0.0.1, which stands for a whole fleet here: the cold path's
    // 50 connections each verify a new token at once, beyond one real address's share.
    bruteForce: { perIp: { failures: 1000 }, maxConcurrentPerAddress: 64 },
  };
}

/** The hot-path request: a platform token in Basic auth and one pull scope, answered from cache after the first. */
function hotPath(id, name, serverRef) {
  const token = platformToken('alice');
  const path = tokenPath('repository:alice/app:pull', 'alice');
  const headers = { authorization: basic('alice', token) };
  return {
    id,
    name,
    interleave: true,
    request: { method: 'GET', path, headers },
    check: () => checkGrant(name, `${serverRef().url}${path}`, { headers }),
  };
}

/**
 * The groups in the order they run. `wharfOptions` go to every Wharf started (--node-flags,
 * --profile-allocations); `ceilingRps()` sizes the distinct-client rotation (distinct.mjs).
 */
export function buildGroups({ settings, platform, redis, staticUser, wharfOptions, ceilingRps }) {
  let wharfA, wharfB, wharfC, wharfW, wharfD, wharfK;
  const adminSecret = randomBytes(16).toString('hex');
  const start = (group, config, extra) => startWharf(group, config, { ...wharfOptions, ...extra });
  const coldRun = randomBytes(3).toString('hex');
  let cold = 0;
  let refreshToken;
  return [
    {
      // The headline: a fleet of distinct clients. A Wharf process of its own, so that its RSS and
      // caches hold this fleet and nothing the other scenarios left behind.
      name: 'platform-redis-distinct',
      ids: [9, 10],
      start: async (extra) => (wharfD = await start('platform-redis-distinct', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-d:' }), extra)),
      scenarios: [
        distinctClients(9, 2_000, () => wharfD, platform, { settings, ceilingRps }),
        distinctClients(10, 20_000, () => wharfD, platform, { settings, ceilingRps }),
      ],
    },
    {
      // Scoped against unscoped Wharf credentials: one process, the same users and load shape as (9).
      name: 'credentials-redis',
      ids: [11, 12],
      start: async (extra) =>
        (wharfK = await start('credentials-redis', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-k:' }), { ...extra, env: { WHARF_ADMIN_SECRET: adminSecret } })),
      scenarios: [
        credentialClients(11, 2_000, false, () => wharfK, platform, { settings, ceilingRps, adminSecret }),
        credentialClients(12, 2_000, true, () => wharfK, platform, { settings, ceilingRps, adminSecret }),
      ],
    },
    {
      name: 'platform-redis',
      ids: [1, 3, 7],
      start: async (extra) => (wharfA = await start('platform-redis', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-a:' }), extra)),
      scenarios: [
        hotPath(1, 'hot path: platform token, Redis cache', () => wharfA),
        {
          id: 3,
          name: `cold path: new token+account per request, upstream ${settings.upstreamLatencyMs} ms`,
          request: {
            method: 'GET',
            // A new platform token for a new account on every request: introspection and the webhook are both called.
            setupRequest: (req) => {
              const user = `cold-${coldRun}-${cold++}`;
              return { ...req, path: tokenPath(`repository:${user}/app:pull`, user), headers: { authorization: basic(user, platformToken(user)) } };
            },
          },
          check: () => {
            const user = `cold-${coldRun}-check`;
            return checkGrant('cold path', `${wharfA.url}${tokenPath(`repository:${user}/app:pull`, user)}`, { headers: { authorization: basic(user, platformToken(user)) } });
          },
        },
        // Not a load pass: bench/scenarios/herd.mjs runs it.
        { id: 7, herd: true },
      ],
    },
    {
      // What an operator runs on a machine with more than one core: `serve --workers N`.
      name: 'platform-redis-workers',
      ids: [8],
      start: async (extra) => (wharfW = await start('platform-redis-workers', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-w:' }), { ...extra, workers: WORKERS })),
      scenarios: [hotPath(8, `hot path as (1), serve --workers ${WORKERS}`, () => wharfW)],
    },
    {
      name: 'platform-memory',
      ids: [2],
      start: async (extra) => (wharfB = await start('platform-memory', platformConfig(platform, { type: 'memory' }), extra)),
      scenarios: [hotPath(2, 'hot path: platform token, in-process cache', () => wharfB)],
    },
    {
      name: 'local-redis',
      ids: [4, 5, 6],
      start: async (extra) =>
        (wharfC = await start(
          'local-redis',
          {
            cache: { type: 'redis', url: redis.url, keyPrefix: 'wharf-c:' },
            authn: [{ type: 'static', users: { bob: { passwordHash: staticUser.hash } }, verifiedCacheSeconds: 300 }],
            authz: { acl: { anonymous: { pull: ['public/*'] } } },
          },
          extra,
        )),
      scenarios: [
        (() => {
          const path = tokenPath('repository:bob/app:pull', 'bob');
          const headers = { authorization: basic('bob', staticUser.password) };
          return { id: 4, name: 'static bcrypt user, warm', interleave: true, request: { method: 'GET', path, headers }, check: () => checkGrant('static user', `${wharfC.url}${path}`, { headers }) };
        })(),
        (() => {
          const path = tokenPath('repository:public/app:pull');
          return { id: 5, name: 'anonymous public pull', request: { method: 'GET', path }, check: () => checkGrant('anonymous', `${wharfC.url}${path}`) };
        })(),
        (() => {
          const form = { 'content-type': 'application/x-www-form-urlencoded' };
          const request = { method: 'POST', path: '/token', headers: form };
          return {
            id: 6,
            name: 'POST refresh_token grant',
            request,
            check: async () => {
              // One password grant with offline access (one bcrypt run), then every request redeems its refresh token.
              const login = await fetch(`${wharfC.url}/token`, {
                method: 'POST',
                headers: form,
                body: new URLSearchParams({ grant_type: 'password', username: 'bob', password: staticUser.password, service: 'registry', scope: 'repository:bob/app:pull', access_type: 'offline' }),
              });
              const answer = await login.json();
              if (login.status !== 200 || !answer.refresh_token) throw new BenchError(`refresh grant: password login answered ${login.status} ${JSON.stringify(answer).slice(0, 300)}`);
              refreshToken = answer.refresh_token;
              request.body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, service: 'registry', scope: 'repository:bob/app:pull' }).toString();
              await checkGrant('refresh grant', `${wharfC.url}/token`, { method: 'POST', headers: form, body: request.body });
            },
          };
        })(),
      ],
    },
  ];
}
