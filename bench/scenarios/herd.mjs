// Scenario 7, the thundering herd: not a load pass but rounds of simultaneous requests for one
// token nobody has seen, counting the upstream calls each round causes (exactly 1 each is right).
// `run` is the run's `{ settings, redis }` (bench/run.mjs).
import { randomBytes } from 'node:crypto';
import { cpuMeter } from '../cpu.mjs';
import { cannon, eventLoopOf } from '../load.mjs';
import { basic, platformToken, tokenPath } from './requests.mjs';

/** Scenario 7: rounds of `herdSize` simultaneous requests for one token nobody has seen yet. */
export async function herdScenario(run, server, platform) {
  const { settings, redis } = run;
  platform.setLatency(settings.herdLatencyMs);
  const opening = await server.window();
  const cpu = cpuMeter({ server: server.pids?.() ?? server.pid, bench: process.pid, redis: redis.pid });
  const rounds = [];
  try {
    for (let round = 0; round < settings.herdRounds; round++) {
      const user = `herd-${round}-${randomBytes(4).toString('hex')}`;
      const token = platformToken(user);
      const before = platform.counts();
      const r = await cannon(settings, {
        url: `${server.url}${tokenPath(`repository:${user}/app:pull`, user)}`,
        headers: { authorization: basic(user, token) },
        connections: settings.herdSize,
        amount: settings.herdSize,
      });
      const after = platform.counts();
      rounds.push({
        round,
        requests: r.requests.total,
        ok: r['2xx'],
        errors: r.errors + r.timeouts + r.non2xx,
        p50: r.latency.p50,
        p99: r.latency.p99,
        introspect: after.introspect - before.introspect,
        authz: after.authz - before.authz,
      });
    }
  } finally {
    platform.setLatency(settings.upstreamLatencyMs);
  }
  const cpuUsed = cpu();
  const stats = await server.window();
  const requests = rounds.reduce((s, r) => s + r.requests, 0);
  return {
    id: 7,
    name: 'thundering herd: one uncached token',
    server: server.group,
    rps: undefined, // a burst of herdSize requests per round: latency and upstream calls matter, not throughput
    requests,
    p50: Math.max(...rounds.map((r) => r.p50)),
    p90: undefined,
    p99: Math.max(...rounds.map((r) => r.p99)),
    errors: rounds.reduce((s, r) => s + r.errors, 0),
    herd: { size: settings.herdSize, upstreamLatencyMs: settings.herdLatencyMs, rounds },
    upstream: { introspect: rounds.reduce((s, r) => s + r.introspect, 0), authz: rounds.reduce((s, r) => s + r.authz, 0) },
    rssStartMB: opening.rssMB,
    rssMaxMB: stats.rssMaxMB,
    heapUsedMB: stats.heapUsedMB,
    eventLoop: eventLoopOf(stats),
    cpuCores: cpuUsed,
  };
}
