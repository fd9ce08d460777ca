// The ceilings Wharf is read against, measured in the same run on the same machine: the HTTP
// ceiling (a bare fastify route), the floor (fastify signing a token-sized JWT per request), the
// answer floor (fastify sending one of Wharf's own answers as a constant) and the crypto ceiling (ES256 signatures per second), plus the alternating slices that compare Wharf
// with the HTTP ceiling seconds apart. `run` is the run's `{ settings, redis }` (bench/run.mjs).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NOISY_CORES, cpuMeter, quietest, waitQuiet } from './cpu.mjs';
import { cannon, loadScenario } from './load.mjs';
import { freePort, makeTempDir, startChild } from './processes.mjs';
import { withStats } from './servers.mjs';
import { BENCH, BenchError, PRELOAD, ROOT } from './support.mjs';

/**
 * bench/baseline-server.mjs under the preload, measured as Wharf is: `constant` JSON, the `floor`,
 * or the `answer` floor sending `answer` (`{ headers, body }`, one of Wharf's answers).
 */
export async function startFastifyBaseline(mode = 'constant', answer = undefined) {
  const dir = await makeTempDir(`wharf-bench-fastify-${mode}-`);
  const answerFile = join(dir, 'answer.json');
  if (mode === 'answer') writeFileSync(answerFile, JSON.stringify(answer));
  const port = await freePort();
  const logFile = join(dir, 'fastify.log');
  const statsFile = join(dir, 'stats.jsonl');
  const url = `http://127.0.0.1:${port}`;
  const child = await startChild(`fastify-baseline-${mode}`, process.execPath, ['--import', PRELOAD, join(BENCH, 'baseline-server.mjs'), String(port), ...(mode === 'floor' ? ['floor'] : mode === 'answer' ? ['answer', answerFile] : [])], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', WHARF_BENCH_STATS: statsFile },
    logFile,
    ready: async () => (await fetch(`${url}/token`)).status === 200,
  });
  return withStats(child, statsFile, logFile, url);
}

/** The HTTP ceiling's passes, as a scenario "B"; run at the start and again at the end of the run. */
export function measureFastify(run, server) {
  return quietest(run.settings, { server: server.pid, bench: process.pid, redis: run.redis.pid }, () =>
    loadScenario(run, server, undefined, { id: 'B', name: 'fastify constant JSON', request: { method: 'GET', path: '/token' } }),
  );
}

/** The floor, measured once (with 9 and 10): its server is started and stopped here. */
export async function measureFloor(run) {
  const floorServer = await startFastifyBaseline('floor');
  try {
    return await quietest(run.settings, { server: floorServer.pid, bench: process.pid, redis: run.redis.pid }, () =>
      loadScenario(run, floorServer, undefined, { id: 'F', name: 'floor: fastify + a fresh ES256 token per request', request: { method: 'GET', path: '/token' } }),
    );
  } finally {
    await floorServer.stop();
  }
}

/**
 * One of Wharf's answers to a distinct-client request, as the answer floor sends it: the body and
 * the headers that belong to the answer (not those of the connection or the moment).
 */
export async function sampleAnswer(url, init) {
  const res = await fetch(url, init);
  const body = await res.text();
  if (res.status !== 200) throw new BenchError(`sampling Wharf's answer for the answer floor: ${res.status}: ${body.slice(0, 300)}`);
  const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  const headers = Object.fromEntries([...res.headers].filter(([name]) => !skip.has(name)));
  return { headers, body, bodyBytes: Buffer.byteLength(body) };
}

/**
 * The answer floor, measured as a scenario "A" beside (9) or (10): fastify sending Wharf's own
 * answer as a constant, driven by `request`, a generator of the same shape as the scenario's (its
 * own rotation over the same users and repositories).
 */
export function measureAnswerFloor(run, server, request, bodyBytes) {
  return quietest(run.settings, { server: server.pid, bench: process.pid, redis: run.redis.pid }, () =>
    loadScenario(run, server, undefined, { id: 'A', name: `answer floor: fastify sending Wharf's answer (${bodyBytes} B) as a constant, distinct-client requests`, request }),
  );
}

/** The crypto ceiling: bench/sign-baseline.mjs in its own process, with the CPU used meanwhile. */
export async function measureSigning(run) {
  const { settings, redis } = run;
  await waitQuiet(settings, { bench: process.pid, redis: redis.pid });
  const signCpu = cpuMeter({ bench: process.pid, redis: redis.pid }, true);
  const seconds = settings.signSeconds;
  const out = execFileSync(process.execPath, [join(BENCH, 'sign-baseline.mjs'), String(seconds)], { cwd: ROOT, encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const sign = JSON.parse(out.trim().split('\n').pop());
  sign.cpuCores = signCpu(); // "bench" includes the signing child: ~1 core expected
  if (sign.cpuCores?.foreign > NOISY_CORES) {
    process.stdout.write(`bench:   other processes used ${sign.cpuCores.foreign} cores during the signing baseline\n`);
  }
  return sign;
}

/**
 * The hot path's ratio to the HTTP ceiling, measured in alternating slices against both servers
 * (the ceiling stays up, idle, all run long): on a VM whose speed drifts by 2-3x within minutes,
 * only measurements taken seconds apart can be compared. The order alternates per round, so a
 * steady drift favours neither side.
 */
export async function interleavedRatio(settings, server, request, ceiling, ceilingRequest = { method: 'GET', path: '/token' }) {
  const slices = [];
  for (let round = 0; round < settings.interleaveRounds; round++) {
    const slice = {};
    for (const who of round % 2 === 0 ? ['ceiling', 'wharf'] : ['wharf', 'ceiling']) {
      const target = who === 'ceiling' ? { url: ceiling.url, ...ceilingRequest } : { url: server.url, ...request };
      const r = await cannon(settings, { ...target, duration: settings.sliceS });
      slice[who] = r.requests.total;
      // A fast error answer would flatter the ratio: any failed request breaks the run.
      slice.errors = (slice.errors ?? 0) + r.errors + r.timeouts + r.non2xx;
    }
    slices.push(slice);
  }
  const sum = (k) => slices.reduce((t, x) => t + x[k], 0);
  const perRound = slices.map((x) => Math.round((x.wharf / x.ceiling) * 1000) / 1000).sort((a, b) => a - b);
  return { rounds: slices.length, sliceS: settings.sliceS, errors: sum('errors'), ratio: Math.round((sum('wharf') / sum('ceiling')) * 1000) / 1000, lowest: perRound[0], highest: perRound[perRound.length - 1], slices };
}
