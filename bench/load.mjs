// Driving load with autocannon (in the runner's process) and measuring one scenario around it:
// the sanity check, warm-up, the max-rate pass and the pass at 80 % of that rate, inside the
// server's stats windows, with CPU, Redis and upstream counts taken at the same moments.
//
// `run` below is the run's `{ settings, redis }` (bench/run.mjs).
import autocannon from 'autocannon';
import { cpuMeter } from './cpu.mjs';
import { redisCommandStats, redisPerRequest } from './redis.mjs';
import { BenchError, tail } from './support.mjs';

/** autocannon with the run's connection count (an option may override it), as a promise. */
export function cannon(settings, options) {
  // autocannon takes per-request hooks only inside `requests`.
  // The path goes into the URL: autocannon has no top-level `path` option.
  const { setupRequest, path, ...rest } = options;
  if (path) rest.url = `${rest.url}${path}`;
  const full = setupRequest ? { ...rest, requests: [{ method: rest.method ?? 'GET', setupRequest }] } : rest;
  return new Promise((resolveRun, reject) => {
    autocannon({ connections: settings.connections, ...full }, (err, result) => (err ? reject(err) : resolveRun(result)));
  });
}

function passSummary(r) {
  const seconds = r.duration || 1;
  return {
    rps: Math.round(r.requests.total / seconds),
    requests: r.requests.total,
    seconds: Math.round(seconds * 100) / 100,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    errors: r.errors + r.timeouts + r.non2xx,
    bytesPerResponse: r.requests.total > 0 ? Math.round(r.throughput.total / r.requests.total) : undefined,
    detail: { errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, statusCodes: r.statusCodeStats },
  };
}

/** The event-loop figures of a window: monitorEventLoopDelay's, and what its longest gap was made of. */
export function eventLoopOf(stats) {
  return { maxMs: stats.elMaxMs, p99Ms: stats.elP99Ms, p50Ms: stats.elP50Ms, ownMaxMs: stats.elOwnMaxMs, worstGap: stats.elWorstGap, gcMaxMs: stats.gcMaxMs, gcMaxKind: stats.gcMaxKind };
}

/**
 * One load scenario: a sanity request, then warm-up, the max-rate pass, and a pass at 80% of that
 * rate (autocannon `overallRate`), inside one stats window of the server.
 */
export async function loadScenario(run, server, platform, scenario, { profileOnly = false } = {}) {
  const { settings, redis } = run;
  try {
    await scenario.check?.();
  } catch (err) {
    const why = err instanceof BenchError ? err.message : `${err?.message ?? err}${err?.cause ? ` (${err.cause.message ?? err.cause})` : ''}`;
    const state = server.exited?.() ? `; ${server.name} has exited: ${JSON.stringify(server.exited())}` : '';
    throw new BenchError(`scenario ${scenario.id}: sanity request failed: ${why}${state}\n${server.logFile ? tail(server.logFile, 15) : ''}`);
  }
  const upstreamBefore = platform?.counts();
  const logBefore = server.logBytes();
  const opening = await server.window(); // closes whatever came before and opens this scenario's window
  const request = { url: server.url, ...scenario.request };
  const cpu = cpuMeter({ server: server.pids?.() ?? server.pid, bench: process.pid, redis: redis.pid });
  // Redis is counted for Wharf's scenarios only: a baseline never talks to it.
  const redisBefore = platform && redis.port ? await redisCommandStats(redis.port) : undefined;
  let total = 0;
  if (settings.warmupS > 0) total += (await cannon(settings, { ...request, duration: settings.warmupS })).requests.total;
  // The warm-up gets a window of its own: in a freshly started server the first second of load
  // runs the hot path unoptimised (20-40 ms loop iterations until V8 has compiled it), a one-off
  // reported apart from the loaded, warm figures.
  const warm = settings.warmupS > 0 ? await server.window() : undefined;
  // Redis commands and upstream calls of the max-rate pass alone: the steady state, with nothing
  // of the warm-up in it.
  const maxRedisBefore = redisBefore ? await redisCommandStats(redis.port) : undefined;
  const maxUpstreamBefore = platform?.counts();
  // --profile: the CPU profile covers this pass alone (bench/preload.mjs).
  if (profileOnly) process.kill(server.pid, 'SIGWINCH');
  const max = passSummary(await cannon(settings, { ...request, duration: settings.durationS }));
  if (profileOnly) process.kill(server.pid, 'SIGWINCH');
  const maxUpstreamAfter = platform?.counts();
  const maxRedisAfter = redisBefore ? await redisCommandStats(redis.port) : undefined;
  const maxPass = {
    redisPerRequest: redisPerRequest(maxRedisBefore, maxRedisAfter, max.requests),
    upstream: maxUpstreamBefore && { introspect: maxUpstreamAfter.introspect - maxUpstreamBefore.introspect, authz: maxUpstreamAfter.authz - maxUpstreamBefore.authz },
  };
  total += max.requests;
  let at80;
  if (!profileOnly) {
    const rate = Math.max(1, Math.floor(max.rps * 0.8));
    at80 = { rate, ...passSummary(await cannon(settings, { ...request, duration: settings.durationS, overallRate: rate })) };
    total += at80.requests;
  }
  const cpuUsed = cpu();
  const redisAfter = redisBefore ? await redisCommandStats(redis.port) : undefined;
  const stats = await server.window();
  const upstreamAfter = platform?.counts();
  return {
    id: scenario.id,
    name: scenario.name,
    server: server.group ?? 'fastify-baseline',
    ...max,
    maxPass,
    at80,
    requestsInWindow: total,
    upstream: upstreamBefore && { introspect: upstreamAfter.introspect - upstreamBefore.introspect, authz: upstreamAfter.authz - upstreamBefore.authz },
    rssStartMB: opening.rssMB,
    rssMaxMB: Math.max(stats.rssMaxMB, warm?.rssMaxMB ?? 0),
    heapUsedMB: stats.heapUsedMB,
    processes: stats.processes ?? 1,
    rssPerProcessMaxMB: Math.max(...[stats, ...(warm ? [warm] : [])].map((w) => (w.perProcess ? Math.max(...w.perProcess.map((p) => p.rssMaxMB)) : w.rssMaxMB))),
    eventLoop: eventLoopOf(stats),
    eventLoopWarmup: warm && eventLoopOf(warm),
    logBytesPerRequest: total > 0 ? Math.round((server.logBytes() - logBefore) / total) : undefined,
    cpuCores: cpuUsed,
    // CPU time per request over the warm-up and both passes: the server's main thread alone (the
    // event loop), and the whole process (with the thread pool's signatures and GC threads).
    cpuMicrosecondsPerRequest: total > 0 && cpuUsed ? { mainThread: cpuUsed.serverMainThreadS === undefined ? undefined : Math.round((cpuUsed.serverMainThreadS * 1e6) / total), process: Math.round((cpuUsed.server * cpuUsed.seconds * 1e6) / total) } : undefined,
    redisPerRequest: redisPerRequest(redisBefore, redisAfter, total),
  };
}
