// What a run prints and records about itself: the report text (the table, the headline, the
// targets) and the machine and commit it ran on.
import { execFileSync } from 'node:child_process';
import { arch, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os';
import { NOISY_CORES } from './cpu.mjs';
import { ROOT } from './support.mjs';

export const fmt = (n, digits = 0) => (n === undefined || n === null || Number.isNaN(n) ? '-' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
export const ratio = (a, b) => (a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : undefined);

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i <= 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const loopText = (l) => `${fmt(l.maxMs, 1)}/${fmt(l.p99Ms, 1)}/${l.ownMaxMs === undefined ? '-' : fmt(l.ownMaxMs, 1)}`;
export const cpuText = (c) => (c ? `${fmt(c.server, 2)}/${fmt(c.bench, 2)}/${fmt(c.foreign, 2)}/${fmt(c.steal, 2)}` : '-');
const waitText = (c) => (c?.serverWaiting === undefined ? '-' : `${fmt(c.serverWaiting * 100, 0)}%`);

/** The headline lines: distinct clients first, the repeated request as the secondary line. */
function headlineText(distinct, repeated, floor) {
  const floorRps = floor?.rps;
  const lines = ['Headline: distinct clients, warm caches, Redis cache (no identical request within a second):'];
  if (floor) lines.push(`  floor: fastify signing a fresh token-sized ES256 JWT per request (no authentication, decision or log line): ${fmt(floor.rps)} req/s, p99 ${fmt(floor.p99)} ms`);
  const answer = distinct.find((d) => d.answerFloor)?.answerFloor;
  if (answer) {
    lines.push(
      `  answer floor: fastify sending Wharf's own ${answer.bodyBytes}-byte answer as a constant, driven by the same distinct-client generator: ` +
        distinct.filter((d) => d.answerFloor).map((d) => `with (${d.id}) ${fmt(d.answerFloor.pass.rps)} req/s, p99 ${fmt(d.answerFloor.pass.p99)} ms`).join('; '),
    );
  }
  for (const d of distinct) {
    const r = d.distinct;
    const a = d.answerFloor?.interleaved;
    lines.push(
      `  (${d.id}) ${r.users.toLocaleString('en-US')} users: ${fmt(d.rps)} req/s, ${a ? `${a.ratio.toFixed(2)}x the answer floor, ` : ''}${d.interleaved ? `${d.interleaved.ratio.toFixed(2)}x fastify (alternating slices)` : '-'}` +
        `${floorRps ? `, ${(d.rps / floorRps).toFixed(2)}x the floor (whole passes)` : ''}, ` +
        `p50/p90/p99 ${fmt(d.p50)}/${fmt(d.p90)}/${fmt(d.p99)} ms, p99@80% ${fmt(d.at80?.p99)} ms, RSS max ${fmt(d.rssMaxMB, 0)} MB, errors ${d.errors + (d.at80?.errors ?? 0)}, ` +
        `upstream i/a ${d.upstream ? `${d.upstream.introspect}/${d.upstream.authz}` : '-'}, Redis ${fmt(d.maxPass?.redisPerRequest?.total, 2)} commands/request, ` +
        `${fmt(r.distinctRequests)} distinct requests in rotation, ${r.repeatsWithinOneSecond} repeats within a second, ` +
        `CPU ${fmt(d.cpuMicrosecondsPerRequest?.mainThread)} µs/request on the main thread (${fmt(d.cpuMicrosecondsPerRequest?.process)} µs with the thread pool and GC threads)`,
    );
  }
  if (repeated) {
    lines.push(
      `Secondary: one client repeating one request (1): ${fmt(repeated.rps)} req/s, ${repeated.interleaved ? `${repeated.interleaved.ratio.toFixed(2)}x fastify (alternating slices)` : '-'}, ` +
        `p99 ${fmt(repeated.p99)} ms, p99@80% ${fmt(repeated.at80?.p99)} ms (answered from the one-second answer reuse)`,
    );
  }
  return lines.join('\n');
}

/** The text printed at the end of a run: baselines, headline, the table, scenario 7's rounds, targets, legend. */
export function report(results) {
  const { settings } = results;
  const fastify = results.baselines.fastify;
  const jose = results.baselines.sign?.joseEs256PerSec;
  const nodeSign = results.baselines.sign?.nodeCryptoEs256PerSec;
  const out = [];
  out.push(
    `Wharf benchmark (${results.mode}): ${results.machine.cpuCount} x ${results.machine.cpuModel}, ${results.machine.memGB} GB, Node ${results.node}, commit ${results.commit.sha?.slice(0, 10) ?? '?'}${results.commit.dirty ? ' (dirty)' : ''}`,
    `autocannon -c ${settings.connections}, warm-up ${settings.warmupS} s, ${settings.durationS} s per pass; latencies in ms (autocannon's 1 ms resolution); "p99@80%" = p99 of a second pass at 80% of the max rate`,
    '',
  );
  out.push(
    `Baselines: fastify constant JSON ${fmt(fastify?.rps)} req/s, the higher of ${(results.baselines.fastifyRuns ?? []).map((r) => fmt(r)).join(' (start) and ')} (end) ` +
      `(p99 ${fmt(fastify?.p99)} ms, p99@80% ${fmt(fastify?.at80?.p99)} ms); ` +
      `ES256 one at a time: jose ${fmt(jose)}/s, node:crypto sign ${fmt(results.baselines.sign?.nodeCryptoEs256PerSec)}/s` +
      ` (other processes meanwhile: ${fmt(results.baselines.sign?.cpuCores?.foreign, 2)} cores)`,
    '',
  );
  const headline = results.scenarios.filter((x) => x.distinct);
  if (headline.length) out.push(headlineText(headline, results.scenarios.find((x) => x.id === 1), results.baselines.floor), '');
  // The distinct-client scenarios lead the table: they are the headline.
  const ordered = [...headline, ...results.scenarios.filter((x) => !x.distinct)];
  const rows = ordered.map((x) => [
    x.id,
    x.name,
    fmt(x.rps),
    fmt(ratio(x.rps, fastify?.rps), 2),
    x.interleaved ? x.interleaved.ratio.toFixed(2) : '-',
    fmt(ratio(x.rps, jose), 2),
    fmt(ratio(x.rps, nodeSign), 2),
    fmt(x.p50),
    fmt(x.p90),
    fmt(x.p99),
    x.at80 ? `${fmt(x.at80.p99)} @${fmt(x.at80.rate)}` : '-',
    x.errors + (x.at80?.errors ?? 0),
    x.upstream ? `${x.upstream.introspect}/${x.upstream.authz}` : '-',
    `${fmt(x.rssStartMB, 0)}/${fmt(x.rssMaxMB, 0)}`,
    loopText(x.eventLoop),
    fmt(x.logBytesPerRequest),
    x.redisPerRequest ? fmt(x.redisPerRequest.total, 1) : '-',
    waitText(x.cpuCores),
    cpuText(x.cpuCores),
  ]);
  if (fastify) {
    rows.unshift(['B', 'fastify constant JSON (HTTP ceiling)', fmt(fastify.rps), '1.00', '-', fmt(ratio(fastify.rps, jose), 2), fmt(ratio(fastify.rps, nodeSign), 2), fmt(fastify.p50), fmt(fastify.p90), fmt(fastify.p99), `${fmt(fastify.at80?.p99)} @${fmt(fastify.at80?.rate)}`, fastify.errors + (fastify.at80?.errors ?? 0), '-', `${fmt(fastify.rssStartMB, 0)}/${fmt(fastify.rssMaxMB, 0)}`, loopText(fastify.eventLoop), '-', '-', waitText(fastify.cpuCores), cpuText(fastify.cpuCores)]);
  }
  out.push(table(['#', 'scenario', 'req/s', 'x fastify', 'x fastify alt', 'x jose', 'x sign', 'p50', 'p90', 'p99', 'p99@80%', 'errors', 'upstream i/a', 'RSS start/max MB', 'loop max/p99/own ms', 'log B/req', 'redis/req', 'srv waiting', 'cores srv/bench/other/steal'], rows));
  const herd = results.scenarios.find((x) => x.id === 7);
  if (herd) {
    out.push('', `Scenario 7: ${herd.herd.rounds.length} rounds of ${herd.herd.size} simultaneous requests for a fresh token, upstream latency ${herd.herd.upstreamLatencyMs} ms:`);
    // No wall time: autocannon notices `amount` is reached on its 1 s ticker, so every round "takes" ~1 s.
    for (const r of herd.herd.rounds) out.push(`  round ${r.round}: ${r.ok}/${r.requests} ok, latency p50 ${r.p50} ms, p99 ${r.p99} ms; upstream calls: introspect ${r.introspect}, authz ${r.authz}`);
  }
  out.push('', 'Targets:');
  for (const t of results.targets) out.push(`  ${t.ok ? 'ok    ' : 'MISSED'}  ${t.name}: ${t.measured} (limit ${t.limit})${t.ratio ? ` [${t.ratio}]` : ''}`);
  out.push(
    '',
    '"x fastify", "x jose", "x sign": req/s over the fastify baseline, over jose ES256 signatures/s and over node:crypto ES256 sign()/s;',
    '"x fastify alt": the same ratio from alternating short slices against Wharf and the fastify route (drift cancels out);',
    '"upstream i/a": introspection/webhook calls the fake platform received during the scenario (warm-up and both passes; for 9 and 10,',
    'after the caches were warmed);',
    '"redis/req": Redis commands per request (INFO commandstats; per command in latest.json); "log B/req": log bytes per request;',
    '"loop": event-loop delay measured inside the server process (bench/preload.mjs): monitorEventLoopDelay max and p99, and',
    '"own", the longest stretch the main thread spent on the CPU between two ticks of a 5 ms timer; "cores": CPU cores used during the',
    'scenario by the server, by this runner (autocannon + fake platform), by processes outside the benchmark (noise), and',
    'stolen by the hypervisor; "srv waiting": share of the time the server\'s main thread was ready to run but had no CPU',
    '(/proc schedstat): a block of the event loop nobody\'s code caused. With workers, RSS is the sum over the processes.',
  );
  const noisy = results.scenarios.concat(fastify ? [fastify] : []).filter((x) => (x.cpuCores?.foreign ?? 0) > NOISY_CORES);
  if (noisy.length) {
    out.push(`WARNING: other processes used > ${NOISY_CORES} core during ${noisy.map((x) => x.id).join(', ')}: those numbers are low by roughly that share; rerun on a quiet machine.`);
  }
  return out.join('\n');
}

/** The commit measured, and whether the tree had changes: part of every results file. */
export function gitInfo() {
  const git = (...args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const status = git('status', '--porcelain');
  return { sha: git('rev-parse', 'HEAD'), subject: git('log', '-1', '--format=%s'), dirty: status === undefined ? undefined : status !== '' };
}

/** The machine the run measured, part of every results file: absolute numbers mean nothing without it. */
export function machineInfo() {
  const list = cpus();
  return {
    hostname: hostname(),
    cpuCount: list.length,
    cpuModel: list[0]?.model?.trim() ?? 'unknown',
    memGB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    platform: platform(),
    release: release(),
    arch: arch(),
    loadavgAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
