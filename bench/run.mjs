#!/usr/bin/env node
// `npm run bench [-- --quick]`: Wharf's token endpoint under load, next to the HTTP and crypto
// ceilings measured in the same run on the same machine. See bench/README.md.
//
// Wharf runs as in production: the compiled `node dist/main.js serve --config FILE` as a child
// process, logging at info to a file, with a real redis-server and an in-process (worker thread)
// fake platform for introspection and the authz webhook. autocannon drives it from this process.
//
// This file parses the options and sequences the run; each concern has a module of its own
// (bench/README.md, "Where the runner's parts are"), so the order of a run reads here in one place.
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { interleavedRatio, measureAnswerFloor, measureFastify, measureFloor, measureSigning, sampleAnswer, startFastifyBaseline } from './baselines.mjs';
import { quietest, waitQuiet } from './cpu.mjs';
import { startFakePlatform } from './fake-platform.mjs';
import { loadScenario } from './load.mjs';
import { USAGE, UsageError, parseOptions } from './options.mjs';
import { cleanup } from './processes.mjs';
import { profile } from './profiling.mjs';
import { startRedis } from './redis.mjs';
import { gitInfo, machineInfo, ratio, report } from './report.mjs';
import { buildGroups } from './scenarios/groups.mjs';
import { herdScenario } from './scenarios/herd.mjs';
import { productionNodeFlags, secrets } from './servers.mjs';
import { BenchError, DIST, RESULTS, SNAPSHOT, tail } from './support.mjs';
import { evaluateTargets } from './targets.mjs';

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const { settings, selected } = options;

// Everything started from here on is stopped on the way out, whatever happens.
const stopAll = () => cleanup({ keepLogs: options.keepLogs, extraDirs: [SNAPSHOT] });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping the processes it started\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

async function main() {
  if (!existsSync(join(DIST, 'main.js'))) throw new BenchError(`missing ${join(DIST, 'main.js')}: run \`npm run build\` first (\`npm run bench\` does)`);
  mkdirSync(RESULTS, { recursive: true });
  cpSync(DIST, join(SNAPSHOT, 'dist'), { recursive: true });
  const buildTime = statSync(join(DIST, 'main.js')).mtime.toISOString();
  const started = new Date();
  const results = {
    schema: 1,
    mode: settings.mode,
    startedAt: started.toISOString(),
    machine: machineInfo(),
    node: process.version,
    commit: gitInfo(),
    settings: { ...settings, scenarios: [...selected] },
    wharfCommand: `node ${[...productionNodeFlags(), ...options.nodeFlags].join(' ')} --import bench/preload.mjs dist/main.js serve --config FILE (dist/ copied at start)`,
    distBuiltAt: buildTime,
    baselines: {},
    scenarios: [],
  };

  const redis = await startRedis();
  const run = { settings, redis };
  const platform = await startFakePlatform({
    clientSecret: secrets.WHARF_INTROSPECTION_CLIENT_SECRET,
    webhookSecret: secrets.WHARF_AUTHZ_WEBHOOK_SECRET,
    latencyMs: settings.upstreamLatencyMs,
  });
  const staticPassword = randomBytes(12).toString('base64url');
  const staticUser = { password: staticPassword, hash: await bcrypt.hash(staticPassword, 10) };
  // The HTTP ceiling's rate at the start of the run sizes the distinct-client rotation (scenarios/distinct.mjs).
  let ceilingStartRps;
  const groups = buildGroups({
    settings,
    platform,
    redis,
    staticUser,
    wharfOptions: { nodeFlags: options.nodeFlags, profileAllocations: options.profileAllocations },
    ceilingRps: () => ceilingStartRps,
  });
  let broken = false;
  let ceiling;
  // The answer floor (bench/README.md, "What runs"): started once Wharf's answer to a distinct
  // client is known, with (9) or (10), and kept up, idle, for the alternating slices of both.
  let answerFloor;

  try {
    if (settings.mode === 'profile') {
      return await profile(run, groups, platform, options);
    }

    const [load1] = loadavg();
    if (load1 > 0.5) process.stdout.write(`bench: WARNING: 1-minute load average is ${load1.toFixed(2)} before starting: other work on this machine will skew the numbers\n`);
    process.stdout.write(`bench: ${settings.mode} run; HTTP ceiling (fastify constant JSON)...\n`);
    ceiling = await startFastifyBaseline();
    const fastifyRuns = [await measureFastify(run, ceiling)];
    ceilingStartRps = fastifyRuns[0].rps;
    if (selected.has(9) || selected.has(10)) {
      process.stdout.write('bench: floor (fastify signing a fresh token-sized JWT per request)...\n');
      results.baselines.floor = await measureFloor(run);
    }
    process.stdout.write(`bench: crypto ceiling (ES256 signatures, ${settings.signSeconds} s)...\n`);
    results.baselines.sign = await measureSigning(run);

    for (const group of groups) {
      const wanted = group.scenarios.filter((s) => selected.has(s.id));
      if (wanted.length === 0) continue;
      process.stdout.write(`bench: starting Wharf (${group.name})...\n`);
      const server = await group.start();
      try {
        for (const scenario of wanted) {
          process.stdout.write(`bench: scenario ${scenario.id}${scenario.name ? `: ${scenario.name}` : ''}...\n`);
          const pids = { server: server.pids?.() ?? server.pid, bench: process.pid, redis: redis.pid };
          const result = scenario.herd ? (await waitQuiet(settings, pids), await herdScenario(run, server, platform)) : await quietest(settings, pids, () => loadScenario(run, server, platform, scenario));
          if (scenario.interleave) {
            process.stdout.write(`bench: scenario ${scenario.id}: ${settings.interleaveRounds} alternating ${settings.sliceS} s slices against the HTTP ceiling...\n`);
            result.interleaved = await interleavedRatio(settings, server, scenario.request, ceiling);
            result.errors += result.interleaved.errors;
          }
          if (scenario.distinct) result.distinct = scenario.summary();
          if (scenario.id === 9 || scenario.id === 10) {
            if (!answerFloor) {
              const sample = scenario.sampleRequest();
              const answer = await sampleAnswer(`${server.url}${sample.path}`, sample.init);
              answerFloor = await startFastifyBaseline('answer', answer);
              answerFloor.bodyBytes = answer.bodyBytes;
            }
            process.stdout.write(`bench: scenario ${scenario.id}: the answer floor (fastify sending Wharf's ${answerFloor.bodyBytes}-byte answer as a constant), driven by the same generator...\n`);
            const pass = await measureAnswerFloor(run, answerFloor, scenario.twinRequest(), answerFloor.bodyBytes);
            process.stdout.write(`bench: scenario ${scenario.id}: ${settings.interleaveRounds} alternating ${settings.sliceS} s slices against the answer floor...\n`);
            const interleaved = await interleavedRatio(settings, server, scenario.request, answerFloor, scenario.twinRequest());
            result.answerFloor = { bodyBytes: answerFloor.bodyBytes, pass, interleaved };
            result.errors += interleaved.errors + pass.errors + (pass.at80?.errors ?? 0);
          }
          results.scenarios.push(result);
          if (result.errors + (result.at80?.errors ?? 0) > 0) {
            broken = true;
            process.stderr.write(`bench: scenario ${scenario.id} had errors: ${JSON.stringify(result.detail ?? result.herd?.rounds)}\n${tail(server.logFile, 5)}\n`);
          }
        }
      } finally {
        const exit = await server.stop();
        if (exit.code !== 0 && exit.signal !== 'SIGTERM') {
          broken = true;
          process.stderr.write(`bench: ${server.name} stopped badly: ${JSON.stringify(exit)}\n${tail(server.logFile, 10)}\n`);
        }
        if (options.keepLogs) process.stdout.write(`bench: ${server.name} log kept at ${server.logFile}\n`);
      }
    }
    // The machine's speed drifts during a run (the baseline has moved 37k-77k req/s between runs):
    // the ceiling is measured again at the end, and ratios use the higher of the two.
    process.stdout.write('bench: HTTP ceiling again...\n');
    fastifyRuns.push(await measureFastify(run, ceiling));
    results.baselines.fastifyRuns = fastifyRuns.map((r) => r.rps);
    if (fastifyRuns.some((r) => r.errors + (r.at80?.errors ?? 0) > 0)) {
      broken = true;
      process.stderr.write(`bench: the fastify baseline had errors: ${JSON.stringify(fastifyRuns.map((r) => r.detail))}\n`);
    }
    results.baselines.fastify = fastifyRuns.reduce((a, b) => (b.rps > a.rps ? b : a));
    results.scenarios.sort((a, b) => a.id - b.id);
    for (const x of results.scenarios) {
      x.ratios = {
        toFastify: ratio(x.rps, results.baselines.fastify?.rps),
        toJoseEs256: ratio(x.rps, results.baselines.sign?.joseEs256PerSec),
        toNodeCryptoEs256: ratio(x.rps, results.baselines.sign?.nodeCryptoEs256PerSec),
      };
    }
    results.targets = evaluateTargets(results);
    results.finishedAt = new Date().toISOString();
    results.machine.loadavgAtEnd = loadavg().map((l) => Math.round(l * 100) / 100);
    results.wallSeconds = Math.round((Date.now() - started.getTime()) / 1000);
    results.broken = broken;
    const text = report(results);
    process.stdout.write(`\n${text}\n\n`);
    const json = `${JSON.stringify(results, null, 2)}\n`;
    writeFileSync(join(RESULTS, 'latest.json'), json);
    writeFileSync(join(RESULTS, `${settings.mode}-${started.toISOString().replace(/[:.]/g, '-')}.json`), json);
    process.stdout.write(`bench: results in bench/results/latest.json (${results.wallSeconds} s)${broken ? '; the benchmark itself FAILED (see errors above)' : ''}\n`);
    return broken ? 1 : 0;
  } finally {
    await answerFloor?.stop();
    await ceiling?.stop();
    await platform.close();
    await redis.stop();
  }
}

let code;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench: FAILED: ${err instanceof BenchError ? err.message : (err?.stack ?? String(err))}\n`);
  code = 1;
} finally {
  await stopAll();
}
process.exit(code);
