#!/usr/bin/env node
// `npm run bench [-- --quick]`: Wharf's token endpoint under load, next to the HTTP and crypto
// ceilings measured in the same run on the same machine. See bench/README.md.
//
// Wharf runs as in production: the compiled `node dist/main.js serve --config FILE` as a child
// process, logging at info to a file, with a real redis-server and an in-process (worker thread)
// fake platform for introspection and the authz webhook. autocannon drives it from this process.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, cpSync, existsSync, openSync, closeSync, readFileSync, readdirSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { availableParallelism, cpus, totalmem, tmpdir, platform, release, arch, loadavg, hostname } from 'node:os';
import { dirname, join, resolve, delimiter } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import bcrypt from 'bcrypt';
import { startFakePlatform } from './fake-platform.mjs';
import { formatProfileSummary, summariseProfile } from './cpuprofile-summary.mjs';
import { formatAllocationSummary, summariseAllocations } from './heapprofile-summary.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, 'bench');
const RESULTS = join(BENCH, 'results');
// Wharf runs from a private copy of dist/ taken at start: other people's `npm run build` (npm test
// does one) rewrites dist/ in place, which would change or break the code under test mid-run. The
// copy lives inside the repository so that `node_modules` and package.json ("type": "module")
// still resolve from it.
const DIST = join(ROOT, 'dist');
const SNAPSHOT = join(BENCH, 'results', `.dist-snapshot-${process.pid}`);
const WHARF_MAIN = join(SNAPSHOT, 'dist/main.js');
const PRELOAD = pathToFileURL(join(BENCH, 'preload.mjs')).href;

// ---------------------------------------------------------------------------------------------
// Options

const USAGE = `usage: npm run bench [-- OPTIONS]     (or: node bench/run.mjs OPTIONS after npm run build)

  --quick                 ~3 s per pass, whole run about 100 s (what CI runs)
  --duration S            seconds per measured pass (default 20; quick 3)
  --warmup S              seconds of unmeasured load before each scenario (default 5; quick 1)
  --connections N         autocannon connections (default 50)
  --scenarios LIST        comma-separated scenario ids to run (default all: 1-10; quick: 1-9,
                          since 10, distinct clients at 20,000 users, spends most of its time
                          warming their caches)
  --upstream-latency-ms N fake platform answer delay (default 5)
  --herd-latency-ms N     fake platform delay during scenario 7 (default 50)
  --herd-size N           concurrent requests per scenario-7 round (default 100)
  --profile               instead of the benchmark: run one scenario under the V8 CPU profiler on
                          Wharf and print where its CPU time goes
  --profile-scenario N    which scenario --profile runs (default 1, the hot path)
  --profile-allocations K with --profile: sample allocations instead of CPU time, K = all (every
                          allocation) or promoted (those that outlived the young generation, which
                          make full collections frequent); bytes per request by function
  --node-flags="F ..."    extra Node/V8 flags for Wharf, after the manifest's (experiments such as
                          --max-semi-space-size=16); the results record them
  --wait-quiet S          before each scenario, wait up to S s for other processes to use < 0.2
                          core (default 20; quick 0)
  --retry-noisy N         rerun a scenario up to N times when other processes used > 0.25 core
                          during it, keeping the quietest attempt (default 1; quick 0)
  --keep-logs             keep Wharf's log files and temp dirs (printed at the end)
`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '50' },
    scenarios: { type: 'string' },
    'upstream-latency-ms': { type: 'string', default: '5' },
    'herd-latency-ms': { type: 'string', default: '50' },
    'herd-size': { type: 'string', default: '100' },
    profile: { type: 'boolean', default: false },
    'profile-scenario': { type: 'string', default: '1' },
    'profile-allocations': { type: 'string' },
    'node-flags': { type: 'string' },
    'keep-logs': { type: 'boolean', default: false },
    'wait-quiet': { type: 'string' },
    'retry-noisy': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const num = (name, value, min = 0) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`bench: --${name} must be a number >= ${min}, got ${JSON.stringify(value)}\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const settings = {
  mode: opts.profile || opts['profile-allocations'] ? 'profile' : opts.quick ? 'quick' : 'full',
  durationS: num('duration', opts.duration ?? (opts.quick ? 3 : 20), 1),
  warmupS: num('warmup', opts.warmup ?? (opts.quick ? 1 : 5), 0),
  connections: num('connections', opts.connections, 1),
  upstreamLatencyMs: num('upstream-latency-ms', opts['upstream-latency-ms']),
  herdLatencyMs: num('herd-latency-ms', opts['herd-latency-ms']),
  herdSize: num('herd-size', opts['herd-size'], 2),
  herdRounds: opts.quick ? 3 : 10,
  interleaveRounds: opts.quick ? 3 : 8,
  sliceS: opts.quick ? 1 : 2,
  signSeconds: opts.quick ? 2 : 10,
  waitQuietS: num('wait-quiet', opts['wait-quiet'] ?? (opts.quick ? 0 : 20)),
  retryNoisy: num('retry-noisy', opts['retry-noisy'] ?? (opts.quick ? 0 : 1)),
};
/** Other processes' CPU above which a scenario's numbers are flagged (and retried with --retry-noisy). */
const NOISY_CORES = 0.25;
const ALL_SCENARIOS = opts.quick ? '1,2,3,4,5,6,7,8,9' : '1,2,3,4,5,6,7,8,9,10';
const selected = new Set((opts.scenarios ?? ALL_SCENARIOS).split(',').map((s) => s.trim()).filter(Boolean).map(Number));
if (selected.size === 0 || [...selected].some((id) => !Number.isInteger(id) || id < 1 || id > 10)) {
  process.stderr.write(`bench: --scenarios takes ids from 1 to 10, got ${JSON.stringify(opts.scenarios)}\n${USAGE}`);
  process.exit(2);
}
const profileScenario = num('profile-scenario', opts['profile-scenario'], 1);
const profileAllocations = opts['profile-allocations'];
if (profileAllocations !== undefined && !['all', 'promoted'].includes(profileAllocations)) {
  process.stderr.write(`bench: --profile-allocations takes all or promoted, got ${JSON.stringify(profileAllocations)}\n${USAGE}`);
  process.exit(2);
}
const extraNodeFlags = opts['node-flags']?.trim().split(/\s+/).filter(Boolean) ?? [];

// ---------------------------------------------------------------------------------------------
// Processes: everything started here is tracked and stopped on the way out, whatever happens.

const children = new Set();
const tempDirs = [];
let cleaningUp = false;

async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.all([...children].map((c) => c.stop().catch(() => undefined)));
  if (!opts['keep-logs']) await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
  await rm(SNAPSHOT, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping the processes it started\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

class BenchError extends Error {}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// CPU accounting from /proc (Linux; elsewhere the numbers are left out): how many cores the
// machine was busy, how much of that was the processes of this benchmark, and how much was
// someone else's. On a shared 2-core machine a compiler running next door halves the numbers, so
// every scenario reports the foreign load it ran under.
const CLK_TCK = 100;
function machineTicks() {
  try {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq (steal is reported on its own, not as "other")
    return f[0] + f[1] + f[2] + f[5] + f[6];
  } catch {
    return undefined;
  }
}
function stealTicks() {
  try {
    return Number(readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/)[8]);
  } catch {
    return undefined;
  }
}
/** Nanoseconds a thread has spent runnable but waiting for a CPU (`schedstat`, second field). */
function runQueueWaitNs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return undefined;
  }
}
function processTicks(pid, withChildren = false) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime + stime of all threads; with cutime + cstime, also of children already waited for.
    return Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return 0;
  }
}
/**
 * Starts measuring; the returned function gives cores used (busy ticks / elapsed) since.
 * `withChildren`: count the processes' exited children as theirs (the signing baseline child).
 */
function cpuMeter(pids, withChildren = false) {
  // An entry may be a list of pids (a primary and its workers): their ticks are added up.
  const processTicksOf = (pid) => (Array.isArray(pid) ? pid.reduce((sum, p) => sum + processTicks(p, withChildren), 0) : processTicks(pid, withChildren));
  const t0 = performance.now();
  const m0 = machineTicks();
  const s0 = stealTicks();
  // A server main thread (the process itself; with workers, the first worker): how long it waited
  // for a CPU it was ready to use.
  const servers = [pids.server ?? []].flat();
  const mainPid = servers[servers.length > 1 ? 1 : 0];
  const w0 = mainPid ? runQueueWaitNs(mainPid) : undefined;
  const p0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processTicksOf(pid)]));
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const m1 = machineTicks();
    const s1 = stealTicks();
    const w1 = mainPid ? runQueueWaitNs(mainPid) : undefined;
    if (m0 === undefined || m1 === undefined || seconds <= 0) return undefined;
    const cores = (ticks) => Math.round((ticks / CLK_TCK / seconds) * 100) / 100;
    const out = {};
    let ours = 0;
    for (const [k, pid] of Object.entries(pids)) {
      const used = processTicksOf(pid) - p0[k];
      ours += used;
      out[k] = cores(used);
    }
    out.machine = cores(m1 - m0);
    out.foreign = Math.max(0, cores(m1 - m0 - ours));
    // Time the hypervisor gave this VM's CPUs to someone else, and the share of the run a server
    // thread spent ready but waiting: both show up as event-loop delay no code can prevent.
    if (s0 !== undefined && s1 !== undefined) out.steal = cores(s1 - s0);
    if (w0 !== undefined && w1 !== undefined) out.serverWaiting = Math.round(((w1 - w0) / 1e9 / seconds) * 1000) / 1000;
    return out;
  };
}
let redisPid;
let redisPort;

/** Waits (up to `settings.waitQuietS`) for a 1 s window in which other processes use < 0.2 core. */
async function waitQuiet(pids) {
  if (settings.waitQuietS <= 0) return undefined;
  const deadline = Date.now() + settings.waitQuietS * 1000;
  let last;
  for (;;) {
    const meter = cpuMeter(pids);
    await sleep(1000);
    last = meter()?.foreign;
    if (last === undefined || last < 0.2) return last;
    if (Date.now() > deadline) {
      process.stdout.write(`bench:   machine still busy (other processes: ${last} cores) after ${settings.waitQuietS} s; measuring anyway\n`);
      return last;
    }
  }
}

/** Runs a measurement, again when it ran next to foreign load (up to `settings.retryNoisy` more times); keeps the quietest. */
async function quietest(pids, measure) {
  let best;
  for (let attempt = 0; attempt <= settings.retryNoisy; attempt++) {
    await waitQuiet(pids);
    const result = await measure();
    result.attempt = attempt + 1;
    // An attempt with errors is the result, however noisy: a quieter clean retry must not hide it.
    if (result.errors + (result.at80?.errors ?? 0) > 0) return result;
    if (!best || (result.cpuCores?.foreign ?? 0) < (best.cpuCores?.foreign ?? 0)) best = result;
    if ((result.cpuCores?.foreign ?? 0) <= NOISY_CORES) break;
    if (attempt < settings.retryNoisy) process.stdout.write(`bench:   other processes used ${result.cpuCores.foreign} cores meanwhile; measuring again\n`);
  }
  return best;
}

function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/**
 * Spawns a child with stdout+stderr going to `logFile`; `stop()` sends SIGTERM, then SIGKILL
 * after `graceMs`. Resolves once `ready()` says so; fails with the log tail if the child exits.
 */
async function startChild(name, command, args, { env, cwd, logFile, ready, timeoutMs = 30_000, graceMs = 12_000 }) {
  const fd = openSync(logFile, 'a');
  const proc = spawn(command, args, { cwd, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = null;
  const exit = new Promise((r) => proc.once('exit', (code, signal) => r((exited = { code, signal }))));
  const child = {
    name,
    pid: proc.pid,
    proc,
    exited: () => exited,
    async stop() {
      if (exited) return exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const result = await exit;
      clearTimeout(timer);
      children.delete(child);
      return result;
    },
  };
  children.add(child);
  proc.once('error', () => undefined);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new BenchError(`${name} exited (${JSON.stringify(exited)}) during startup; its output:\n${tail(logFile)}`);
    if (await ready().catch(() => false)) return child;
    if (Date.now() > deadline) {
      await child.stop();
      throw new BenchError(`${name} not ready after ${timeoutMs} ms; its output:\n${tail(logFile)}`);
    }
    await sleep(50);
  }
}

function findOnPath(command) {
  for (const dir of ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)]) {
    const file = join(dir, command);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function pingRedis(port) {
  return new Promise((resolvePing) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(500, () => (socket.destroy(), resolvePing(false)));
    socket.once('error', () => resolvePing(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      reply += d;
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolvePing(reply.startsWith('+PONG'));
      }
    });
  });
}

/** Calls per command since Redis started (`INFO commandstats`), over a raw socket. */
function redisCommandStats(port) {
  return new Promise((resolveStats) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(2000, () => (socket.destroy(), resolveStats(undefined)));
    socket.once('error', () => resolveStats(undefined));
    socket.once('connect', () => socket.write('INFO commandstats\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      reply += d;
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (header && Buffer.byteLength(reply) >= header[0].length + Number(header[1])) {
        socket.destroy();
        const stats = {};
        for (const m of reply.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[m[1]] = Number(m[2]);
        resolveStats(stats);
      }
    });
  });
}

/** Commands per request between two INFO snapshots, leaving out INFO itself. */
function redisPerRequest(before, after, requests) {
  if (!before || !after || requests <= 0) return undefined;
  const perCommand = {};
  let total = 0;
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info') continue;
    const delta = calls - (before[name] ?? 0);
    if (delta <= 0) continue;
    perCommand[name] = Math.round((delta / requests) * 100) / 100;
    total += delta;
  }
  return { total: Math.round((total / requests) * 100) / 100, perCommand };
}

async function startRedis() {
  const binary = findOnPath('redis-server');
  if (!binary) {
    throw new BenchError('redis-server not found: the benchmark runs a real Redis. Install it with `apt-get install -y redis-server` (as root) and run again.');
  }
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-redis-'));
  tempDirs.push(dir);
  const port = await freePort();
  const child = await startChild(
    `redis-server:${port}`,
    binary,
    // As Wharf's store requires of it (docs/operations.md): with a Redis cache the store is on
    // Redis too, and without these settings /readyz says degraded and the run stops at start.
    // everysec, Redis's default, fsyncs in the background once a second.
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--dir', dir],
    { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, logFile: join(dir, 'redis.log'), ready: () => pingRedis(port), timeoutMs: 15_000 },
  );
  redisPid = child.pid;
  redisPort = port;
  return { ...child, url: `redis://127.0.0.1:${port}`, port };
}

/** The pids of a process and its children (`serve --workers N`: the primary and its workers). */
function processTree(pid) {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...children];
  } catch {
    return [pid];
  }
}

/**
 * A server under test with the bench preload: per-window event-loop delay and RSS. With workers,
 * every process writes a line per window: RSS is their sum, event-loop delay the worst of them.
 */
function withStats(child, statsFile, logFile, url, processes = 1) {
  let windows = 0;
  return {
    ...child,
    url,
    logFile,
    processes,
    /** Closes the current stats window (and opens the next); resolves with the closed window's numbers. */
    async window() {
      const before = windows;
      process.kill(child.pid, 'SIGUSR2');
      const deadline = Date.now() + 10_000;
      for (;;) {
        const lines = existsSync(statsFile) ? readFileSync(statsFile, 'utf8').trim().split('\n').filter(Boolean) : [];
        if (lines.length >= before + processes) {
          windows = lines.length;
          return combineStats(lines.slice(-processes).map((line) => JSON.parse(line)));
        }
        if (child.exited()) throw new BenchError(`${child.name} exited: ${JSON.stringify(child.exited())}\n${tail(logFile)}`);
        if (Date.now() > deadline) throw new BenchError(`${child.name} wrote no stats after SIGUSR2 (is bench/preload.mjs loaded?)`);
        await sleep(20);
      }
    },
    logBytes: () => (existsSync(logFile) ? statSync(logFile).size : 0),
  };
}

/** The event-loop figures of a window: monitorEventLoopDelay's, and what its longest gap was made of. */
function eventLoopOf(stats) {
  return { maxMs: stats.elMaxMs, p99Ms: stats.elP99Ms, p50Ms: stats.elP50Ms, ownMaxMs: stats.elOwnMaxMs, worstGap: stats.elWorstGap, gcMaxMs: stats.gcMaxMs, gcMaxKind: stats.gcMaxKind };
}

/** One window's numbers over several processes. */
function combineStats(stats) {
  if (stats.length === 1) return stats[0];
  const sum = (k) => Math.round(stats.reduce((t, x) => t + x[k], 0) * 10) / 10;
  const max = (k) => Math.max(...stats.map((x) => x[k]));
  const worst = stats.reduce((a, b) => ((b.elWorstGap?.ms ?? 0) > (a.elWorstGap?.ms ?? 0) ? b : a));
  return {
    processes: stats.length,
    elMaxMs: max('elMaxMs'),
    elP99Ms: max('elP99Ms'),
    elP50Ms: max('elP50Ms'),
    ...(stats.every((x) => x.elOwnMaxMs !== undefined) ? { elOwnMaxMs: max('elOwnMaxMs'), elWorstGap: worst.elWorstGap } : {}),
    gcMaxMs: max('gcMaxMs'),
    gcMaxKind: stats.reduce((a, b) => (b.gcMaxMs > a.gcMaxMs ? b : a)).gcMaxKind,
    rssMaxMB: sum('rssMaxMB'),
    rssMB: sum('rssMB'),
    heapUsedMB: sum('heapUsedMB'),
    perProcess: stats,
  };
}

// ---------------------------------------------------------------------------------------------
// Servers under test

const secrets = {
  WHARF_HASH_KEY: randomBytes(24).toString('hex'),
  WHARF_INTROSPECTION_CLIENT_SECRET: randomBytes(16).toString('hex'),
  WHARF_AUTHZ_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
};

/**
 * Node flags production runs Wharf with: the heap cap of the Kubernetes manifest, read from it so
 * the benchmark cannot drift from what is deployed. Without a cap, V8 sizes the old generation from
 * this machine's RAM and lets dead objects pile up to several hundred MB before collecting them.
 */
function productionNodeFlags() {
  const manifest = readFileSync(join(ROOT, 'deploy', 'wharf-deployment.yaml'), 'utf8');
  // Wharf runs with the V8 flags the deployment gives it (NODE_OPTIONS), heap cap first.
  const options = /name: NODE_OPTIONS\s+value: ([^\n]+)/.exec(manifest)?.[1]?.trim().split(/\s+/) ?? [];
  if (!options.some((o) => /^--max-old-space-size=\d+$/.test(o))) throw new BenchError('deploy/wharf-deployment.yaml sets no --max-old-space-size in NODE_OPTIONS');
  return options.filter((o) => /^--max-(old|semi)-space-size=\d+$/.test(o));
}

async function startWharf(group, config, { cpuProfDir, workers = 1 } = {}) {
  const dir = await mkdtemp(join(tmpdir(), `wharf-bench-${group}-`));
  tempDirs.push(dir);
  const port = await freePort();
  const configFile = join(dir, 'wharf.yml');
  // JSON is YAML: no serializer needed.
  writeFileSync(configFile, JSON.stringify({ server: { host: '127.0.0.1', port }, dataDir: join(dir, 'data'), log: { level: 'info' }, ...config }, null, 2));
  const logFile = join(dir, 'wharf.log');
  const statsFile = join(dir, 'stats.jsonl');
  const url = `http://127.0.0.1:${port}`;
  const nodeArgs = [...productionNodeFlags(), ...extraNodeFlags, '--import', PRELOAD, WHARF_MAIN, 'serve', '--config', configFile, ...(workers > 1 ? ['--workers', String(workers)] : [])];
  const child = await startChild(`wharf[${group}]`, process.execPath, nodeArgs, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', WHARF_BENCH_STATS: statsFile, ...(cpuProfDir ? { WHARF_BENCH_PROFILE_DIR: cpuProfDir, ...(profileAllocations ? { WHARF_BENCH_PROFILE_ALLOCATIONS: profileAllocations } : {}) } : {}), ...secrets },
    logFile,
    ready: async () => {
      const res = await fetch(`${url}/readyz`);
      return res.status === 200 && (await res.json()).status === 'ready';
    },
  });
  // Workers answer /readyz before all of them listen: wait until the primary has forked them all.
  for (const deadline = Date.now() + 15_000; workers > 1 && processTree(child.pid).length < workers + 1; ) {
    if (Date.now() > deadline) throw new BenchError(`${child.name}: ${workers} workers did not start\n${tail(logFile)}`);
    await sleep(50);
  }
  return { ...withStats(child, statsFile, logFile, url, workers > 1 ? workers + 1 : 1), group, dir, nodeArgs, pids: () => processTree(child.pid) };
}

async function startFastifyBaseline(mode = 'constant') {
  const dir = await mkdtemp(join(tmpdir(), `wharf-bench-fastify-${mode}-`));
  tempDirs.push(dir);
  const port = await freePort();
  const logFile = join(dir, 'fastify.log');
  const statsFile = join(dir, 'stats.jsonl');
  const url = `http://127.0.0.1:${port}`;
  const child = await startChild(`fastify-baseline-${mode}`, process.execPath, ['--import', PRELOAD, join(BENCH, 'baseline-server.mjs'), String(port), ...(mode === 'floor' ? ['floor'] : [])], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', WHARF_BENCH_STATS: statsFile },
    logFile,
    ready: async () => (await fetch(`${url}/token`)).status === 200,
  });
  return withStats(child, statsFile, logFile, url);
}

function measureFastify(server) {
  return quietest({ server: server.pid, bench: process.pid, redis: redisPid }, () =>
    loadScenario(server, undefined, { id: 'B', name: 'fastify constant JSON', request: { method: 'GET', path: '/token' } }),
  );
}

/**
 * The hot path's ratio to the HTTP ceiling, measured in alternating slices against both servers
 * (the ceiling stays up, idle, all run long): on a VM whose speed drifts by 2-3x within minutes,
 * only measurements taken seconds apart can be compared. The order alternates per round, so a
 * steady drift favours neither side.
 */
async function interleavedRatio(server, request, ceiling) {
  const slices = [];
  for (let round = 0; round < settings.interleaveRounds; round++) {
    const slice = {};
    for (const who of round % 2 === 0 ? ['ceiling', 'wharf'] : ['wharf', 'ceiling']) {
      const target = who === 'ceiling' ? { url: ceiling.url, method: 'GET', path: '/token' } : { url: server.url, ...request };
      const r = await cannon({ ...target, duration: settings.sliceS });
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

function measureSigning(seconds) {
  const out = execFileSync(process.execPath, [join(BENCH, 'sign-baseline.mjs'), String(seconds)], { cwd: ROOT, encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  return JSON.parse(out.trim().split('\n').pop());
}

// ---------------------------------------------------------------------------------------------
// Load

function cannon(options) {
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

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const platformToken = (user) => `plat_${user}_${randomBytes(16).toString('hex')}`;
const tokenPath = (scope, account) => `/token?service=registry${account ? `&account=${encodeURIComponent(account)}` : ''}&scope=${encodeURIComponent(scope)}`;

/** Fails unless Wharf answers 200 with a token granting `pull` on something: a fast 401 or an empty grant is no benchmark. */
async function checkGrant(label, url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== 200) throw new BenchError(`${label}: sanity request answered ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text);
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString('utf8'));
  if (!Array.isArray(claims.access) || !claims.access.some((a) => a.actions?.includes('pull'))) {
    throw new BenchError(`${label}: sanity request got a token without the pull grant: access=${JSON.stringify(claims.access)}`);
  }
  return body;
}

/**
 * One load scenario: a sanity request, then warm-up, the max-rate pass, and a pass at 80% of that
 * rate (autocannon `overallRate`), inside one stats window of the server.
 */
async function loadScenario(server, platform, scenario, { profileOnly = false } = {}) {
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
  const cpu = cpuMeter({ server: server.pids?.() ?? server.pid, bench: process.pid, redis: redisPid });
  const redisBefore = platform && redisPort ? await redisCommandStats(redisPort) : undefined;
  let total = 0;
  if (settings.warmupS > 0) total += (await cannon({ ...request, duration: settings.warmupS })).requests.total;
  // The warm-up gets a window of its own: in a freshly started server the first second of load
  // runs the hot path unoptimised (20-40 ms loop iterations until V8 has compiled it), a one-off
  // reported apart from the loaded, warm figures.
  const warm = settings.warmupS > 0 ? await server.window() : undefined;
  // Redis commands and upstream calls of the max-rate pass alone: the steady state, with nothing
  // of the warm-up in it.
  const maxRedisBefore = redisBefore ? await redisCommandStats(redisPort) : undefined;
  const maxUpstreamBefore = platform?.counts();
  // --profile: the CPU profile covers this pass alone (bench/preload.mjs).
  if (profileOnly) process.kill(server.pid, 'SIGWINCH');
  const max = passSummary(await cannon({ ...request, duration: settings.durationS }));
  if (profileOnly) process.kill(server.pid, 'SIGWINCH');
  const maxUpstreamAfter = platform?.counts();
  const maxRedisAfter = redisBefore ? await redisCommandStats(redisPort) : undefined;
  const maxPass = {
    redisPerRequest: redisPerRequest(maxRedisBefore, maxRedisAfter, max.requests),
    upstream: maxUpstreamBefore && { introspect: maxUpstreamAfter.introspect - maxUpstreamBefore.introspect, authz: maxUpstreamAfter.authz - maxUpstreamBefore.authz },
  };
  total += max.requests;
  let at80;
  if (!profileOnly) {
    const rate = Math.max(1, Math.floor(max.rps * 0.8));
    at80 = { rate, ...passSummary(await cannon({ ...request, duration: settings.durationS, overallRate: rate })) };
    total += at80.requests;
  }
  const cpuUsed = cpu();
  const redisAfter = redisBefore ? await redisCommandStats(redisPort) : undefined;
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
    redisPerRequest: redisPerRequest(redisBefore, redisAfter, total),
  };
}

/** Scenario 7: rounds of `herdSize` simultaneous requests for one token nobody has seen yet. */
async function herdScenario(server, platform) {
  platform.setLatency(settings.herdLatencyMs);
  const opening = await server.window();
  const cpu = cpuMeter({ server: server.pids?.() ?? server.pid, bench: process.pid, redis: redisPid });
  const rounds = [];
  try {
    for (let round = 0; round < settings.herdRounds; round++) {
      const user = `herd-${round}-${randomBytes(4).toString('hex')}`;
      const token = platformToken(user);
      const before = platform.counts();
      const r = await cannon({
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

// ---------------------------------------------------------------------------------------------
// Scenario groups: each group is one Wharf process with its own config and data dir.

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

/** The HTTP ceiling's rate at the start of the run; sizes the distinct-client rotation (see distinctClients). */
let ceilingStartRps;
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
 */
function distinctClients(id, users, serverRef, platform) {
  const run = randomBytes(3).toString('hex');
  const names = Array.from({ length: users }, (_, i) => `d${run}-${i}`);
  const auth = names.map((user) => basic(user, platformToken(user)));
  const state = { reposPerUser: 1, next: 0, lastSent: new Float64Array(0), t0: 0, perSecond: [], repeats: 0, warming: undefined };
  const pathOf = (u, k) => tokenPath(`repository:${names[u]}/app-${k}:pull`, names[u]);
  const request = {
    method: 'GET',
    setupRequest: (req) => {
      const distinct = state.lastSent.length;
      const i = state.next++ % distinct;
      const now = performance.now();
      if (now - state.lastSent[i] < 1000) state.repeats++;
      state.lastSent[i] = now;
      const second = Math.floor((now - state.t0) / 1000);
      state.perSecond[second] = (state.perSecond[second] ?? 0) + 1;
      const u = i % users;
      return { ...req, path: pathOf(u, Math.floor(i / users) % state.reposPerUser), headers: { authorization: auth[u] } };
    },
  };
  return {
    id,
    name: `distinct clients: ${users.toLocaleString('en-US')} users in rotation, warm Redis cache`,
    distinct: true,
    interleave: true,
    request,
    check: async () => {
      const server = serverRef();
      const extra = `d${run}-check`;
      await checkGrant(`distinct clients (${users})`, `${server.url}${tokenPath(`repository:${extra}/app-0:pull`, extra)}`, { headers: { authorization: basic(extra, platformToken(extra)) } });
      // 1.5x the ceiling: Wharf does not outrun the bare route, and the VM's speed drifts.
      state.reposPerUser = Math.max(1, Math.ceil(((ceilingStartRps ?? 40_000) * 1.5) / users));
      const chunks = Math.ceil(state.reposPerUser / WARM_SCOPES_PER_REQUEST);
      const before = platform.counts();
      const started = performance.now();
      let w = 0;
      const warmed = await cannon({
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

/** Workers in scenario 8: one per core of this machine, the setting operators are told to use. */
const WORKERS = Math.max(2, availableParallelism());

function buildGroups(platform, redis, staticUser) {
  let wharfA, wharfB, wharfC, wharfW, wharfD;
  const coldRun = randomBytes(3).toString('hex');
  let cold = 0;
  let refreshToken;
  return [
    {
      // The headline: a fleet of distinct clients. A Wharf process of its own, so that its RSS and
      // caches hold this fleet and nothing the other scenarios left behind.
      name: 'platform-redis-distinct',
      ids: [9, 10],
      start: async (extra) => (wharfD = await startWharf('platform-redis-distinct', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-d:' }), extra)),
      scenarios: [distinctClients(9, 2_000, () => wharfD, platform), distinctClients(10, 20_000, () => wharfD, platform)],
    },
    {
      name: 'platform-redis',
      ids: [1, 3, 7],
      start: async (extra) => (wharfA = await startWharf('platform-redis', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-a:' }), extra)),
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
        { id: 7, herd: true },
      ],
    },
    {
      // What an operator runs on a machine with more than one core: `serve --workers N`.
      name: 'platform-redis-workers',
      ids: [8],
      start: async (extra) =>
        (wharfW = await startWharf('platform-redis-workers', platformConfig(platform, { type: 'redis', url: redis.url, keyPrefix: 'wharf-w:' }), { ...extra, workers: WORKERS })),
      scenarios: [hotPath(8, `hot path as (1), serve --workers ${WORKERS}`, () => wharfW)],
    },
    {
      name: 'platform-memory',
      ids: [2],
      start: async (extra) => (wharfB = await startWharf('platform-memory', platformConfig(platform, { type: 'memory' }), extra)),
      scenarios: [hotPath(2, 'hot path: platform token, in-process cache', () => wharfB)],
    },
    {
      name: 'local-redis',
      ids: [4, 5, 6],
      start: async (extra) =>
        (wharfC = await startWharf(
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

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n, digits = 0) => (n === undefined || n === null || Number.isNaN(n) ? '-' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (a, b) => (a !== undefined && b ? Math.round((a / b) * 1000) / 1000 : undefined);

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i <= 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function evaluateTargets(results) {
  const s = (id) => results.scenarios.find((x) => x.id === id);
  const fastify = results.baselines.fastify;
  const targets = [];
  const add = (name, measured, limit, ok, ratioText) => targets.push({ name, measured, limit, ok, ratio: ratioText });
  const s1 = s(1);
  // The headline: distinct clients, warm caches (issue 14's targets).
  for (const d of [s(9), s(10)]) {
    if (!d) continue;
    const id = `(${d.id})`;
    const users = d.distinct.users.toLocaleString('en-US');
    if (d.interleaved) {
      const x = d.interleaved;
      add(
        `${id} distinct clients (${users} users) req/s >= 40% of fastify constant (alternating slices)`,
        `${x.ratio.toFixed(3)}x over ${x.rounds} rounds of ${x.sliceS} s each (rounds ${x.lowest}-${x.highest}x; whole passes: ${fmt(d.rps)} vs ${fmt(fastify?.rps)} req/s)`,
        '>= 0.40x',
        x.ratio >= 0.4,
        `${x.ratio.toFixed(3)}x`,
      );
    }
    const redis = d.maxPass?.redisPerRequest;
    if (redis) {
      const top = Object.entries(redis.perCommand).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, n]) => `${c} ${n}`).join(', ');
      add(`${id} Redis commands per request <= 0.1 (max-rate pass)`, `${fmt(redis.total, 2)} (${top || 'none'})`, '<= 0.1', redis.total <= 0.1, `${(redis.total / 0.1).toFixed(1)}x limit`);
    }
    if (d.at80) add(`${id} p99 at 80% of its max rate < 10 ms`, `${fmt(d.at80.p99)} ms at ${fmt(d.at80.rate)} req/s`, '< 10 ms', d.at80.p99 < 10, `${(d.at80.p99 / 10).toFixed(2)}x limit`);
    add(`${id} zero errors`, `${d.errors + (d.at80?.errors ?? 0)}`, '0', d.errors + (d.at80?.errors ?? 0) === 0, '');
    add(`${id} RSS under load < 200 MB`, `${fmt(d.rssMaxMB, 1)} MB`, '< 200 MB', d.rssMaxMB < 200, `${(d.rssMaxMB / 200).toFixed(2)}x limit`);
    const up = d.upstream;
    if (up) {
      const w = d.distinct.warming;
      add(
        `${id} no upstream call once the caches are warm`,
        `introspect ${up.introspect}, authz ${up.authz} in the warm-up load and both passes (warming before: ${w?.requests} requests, introspect ${w?.upstream.introspect}, authz ${w?.upstream.authz}, ${w?.seconds} s)`,
        '0',
        up.introspect + up.authz === 0,
        '',
      );
    }
    const r = d.distinct;
    add(
      `${id} no identical request within a second (the one-second answer reuse cannot serve them)`,
      `${r.repeatsWithinOneSecond} repeats in ${fmt(r.sent)} requests; rotation of ${fmt(r.distinctRequests)} distinct requests (${users} users x ${r.reposPerUser} repositories), at most ${fmt(r.maxInOneSecond)} sent in one second`,
      '0',
      r.repeatsWithinOneSecond === 0,
      '',
    );
  }
  const [d9, d10] = [s(9), s(10)];
  if (d9 && d10) {
    const alt = d9.interleaved && d10.interleaved;
    const r = alt ? d10.interleaved.ratio / d9.interleaved.ratio : d10.rps / d9.rps;
    const measured = alt
      ? `${d10.interleaved.ratio.toFixed(3)}x vs ${d9.interleaved.ratio.toFixed(3)}x of fastify in alternating slices (whole passes: ${fmt(d10.rps)} vs ${fmt(d9.rps)} req/s)`
      : `${fmt(d10.rps)} vs ${fmt(d9.rps)} req/s`;
    add('(10) 20,000 distinct users within 20% of the 2,000-user rate (9)', measured, '>= 0.80x', r >= 0.8, `${r.toFixed(3)}x`);
  }
  // The hot-path targets, for one process (1) and for the production setting with workers (8).
  for (const hot of [s1, s(8)]) {
    if (!hot) continue;
    const id = `(${hot.id})`;
    if (hot.interleaved) {
      const x = hot.interleaved;
      add(
        `${id} hot path req/s >= 50% of fastify constant (alternating slices)`,
        `${x.ratio.toFixed(3)}x over ${x.rounds} rounds of ${x.sliceS} s each (rounds ${x.lowest}-${x.highest}x; whole passes: ${fmt(hot.rps)} vs ${fmt(fastify?.rps)} req/s)`,
        '>= 0.50x',
        x.ratio >= 0.5,
        `${x.ratio.toFixed(3)}x`,
      );
    } else if (fastify) {
      const r = hot.rps / fastify.rps;
      add(`${id} hot path req/s >= 50% of fastify constant`, `${fmt(hot.rps)} req/s vs ${fmt(fastify.rps)}`, '>= 0.50x', r >= 0.5, `${r.toFixed(3)}x`);
    }
    if (hot.at80) add(`${id} p99 at 80% of its max rate < 10 ms`, `${fmt(hot.at80.p99)} ms at ${fmt(hot.at80.rate)} req/s`, '< 10 ms', hot.at80.p99 < 10, `${(hot.at80.p99 / 10).toFixed(2)}x limit`);
    add(`${id} zero errors`, `${hot.errors + (hot.at80?.errors ?? 0)}`, '0', hot.errors + (hot.at80?.errors ?? 0) === 0, '');
  }
  // Scenarios measured minutes apart are compared through their alternating-slice ratios to the
  // same ceiling when both have one: whole passes minutes apart differ by the VM's drift.
  const relative = (x, limit, name) => {
    if (!s1 || !x) return;
    const alt = x.interleaved && s1.interleaved;
    const r = alt ? x.interleaved.ratio / s1.interleaved.ratio : x.rps / s1.rps;
    const measured = alt
      ? `${x.interleaved.ratio.toFixed(3)}x vs ${s1.interleaved.ratio.toFixed(3)}x of fastify in alternating slices (whole passes: ${fmt(x.rps)} vs ${fmt(s1.rps)} req/s)`
      : `${fmt(x.rps)} vs ${fmt(s1.rps)} req/s`;
    add(name, measured, `>= ${limit.toFixed(2)}x`, r >= limit, `${r.toFixed(3)}x`);
  };
  relative(s(2), 0.85, '(2) in-process cache within 15% of (1) or better');
  relative(s(4), 0.8, '(4) static bcrypt user within 20% of (1)');
  if (s(7)) {
    const rounds = s(7).herd.rounds;
    const bad = rounds.filter((r) => r.introspect !== 1 || r.authz !== 1);
    add(
      '(7) exactly 1 upstream call per herd',
      `introspect ${rounds.map((r) => r.introspect).join(',')}; authz ${rounds.map((r) => r.authz).join(',')} (${rounds.length} rounds of ${settings.herdSize})`,
      '1 each',
      bad.length === 0,
      bad.length ? `${bad.length}/${rounds.length} rounds off` : '',
    );
  }
  const single = results.scenarios.filter((x) => !(x.processes > 1));
  const rssMax = Math.max(...single.map((x) => x.rssMaxMB ?? 0));
  if (single.length) add('RSS under load < 200 MB (max over one-process scenarios)', `${fmt(rssMax, 1)} MB`, '< 200 MB', rssMax < 200, `${(rssMax / 200).toFixed(2)}x limit`);
  for (const x of results.scenarios.filter((y) => y.processes > 1)) {
    const each = x.rssPerProcessMaxMB;
    add(`(${x.id}) RSS under load < 200 MB per process (${x.processes} processes)`, `largest ${fmt(each, 1)} MB, all together ${fmt(x.rssMaxMB, 1)} MB`, '< 200 MB', each < 200, `${(each / 200).toFixed(2)}x limit`);
  }
  for (const x of results.scenarios) {
    const loop = x.eventLoop;
    const gap = loop.worstGap;
    const split = gap ? `; its longest gap, ${fmt(gap.ms, 1)} ms: ${fmt(gap.ranMs, 1)} ms Wharf's own work, ${fmt(gap.waitedMs, 1)} ms waiting for a CPU, ${fmt(gap.elsewhereMs, 1)} ms with no CPU at all (hypervisor)` : '';
    add(`(${x.id}) event loop never blocked > 20 ms (monitorEventLoopDelay)`, `max ${fmt(loop.maxMs, 1)} ms, p99 ${fmt(loop.p99Ms, 1)} ms${split}`, '< 20 ms', loop.maxMs < 20, `${(loop.maxMs / 20).toFixed(2)}x limit`);
    if (loop.ownMaxMs !== undefined) {
      const warm = x.eventLoopWarmup;
      const warmText = warm ? `; in the warm-up before: max ${fmt(warm.maxMs, 1)} ms, own work ${fmt(warm.ownMaxMs, 1)} ms` : '';
      add(`(${x.id}) event loop never blocked > 20 ms by Wharf's own work`, `longest stretch of main-thread CPU time between two 5 ms timer ticks: ${fmt(loop.ownMaxMs, 1)} ms (longest GC pause ${fmt(loop.gcMaxMs, 1)} ms, ${loop.gcMaxKind})${warmText}`, '< 20 ms', loop.ownMaxMs < 20, `${(loop.ownMaxMs / 20).toFixed(2)}x limit`);
    }
  }
  return targets;
}

const loopText = (l) => `${fmt(l.maxMs, 1)}/${fmt(l.p99Ms, 1)}/${l.ownMaxMs === undefined ? '-' : fmt(l.ownMaxMs, 1)}`;
const cpuText = (c) => (c ? `${fmt(c.server, 2)}/${fmt(c.bench, 2)}/${fmt(c.foreign, 2)}/${fmt(c.steal, 2)}` : '-');
const waitText = (c) => (c?.serverWaiting === undefined ? '-' : `${fmt(c.serverWaiting * 100, 0)}%`);

/** The headline lines: distinct clients first, the repeated request as the secondary line. */
function headlineText(distinct, repeated, floor) {
  const floorRps = floor?.rps;
  const lines = ['Headline: distinct clients, warm caches, Redis cache (no identical request within a second):'];
  if (floor) lines.push(`  floor: fastify signing a fresh token-sized ES256 JWT per request (no authentication, decision or log line): ${fmt(floor.rps)} req/s, p99 ${fmt(floor.p99)} ms`);
  for (const d of distinct) {
    const r = d.distinct;
    lines.push(
      `  (${d.id}) ${r.users.toLocaleString('en-US')} users: ${fmt(d.rps)} req/s, ${d.interleaved ? `${d.interleaved.ratio.toFixed(2)}x fastify (alternating slices)` : '-'}` +
        `${floorRps ? `, ${(d.rps / floorRps).toFixed(2)}x the floor (whole passes)` : ''}, ` +
        `p50/p90/p99 ${fmt(d.p50)}/${fmt(d.p90)}/${fmt(d.p99)} ms, p99@80% ${fmt(d.at80?.p99)} ms, RSS max ${fmt(d.rssMaxMB, 0)} MB, errors ${d.errors + (d.at80?.errors ?? 0)}, ` +
        `upstream i/a ${d.upstream ? `${d.upstream.introspect}/${d.upstream.authz}` : '-'}, Redis ${fmt(d.maxPass?.redisPerRequest?.total, 2)} commands/request, ` +
        `${fmt(r.distinctRequests)} distinct requests in rotation, ${r.repeatsWithinOneSecond} repeats within a second`,
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

function report(results) {
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

function gitInfo() {
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

function machineInfo() {
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

// ---------------------------------------------------------------------------------------------
// Main

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
    wharfCommand: `node ${[...productionNodeFlags(), ...extraNodeFlags].join(' ')} --import bench/preload.mjs dist/main.js serve --config FILE (dist/ copied at start)`,
    distBuiltAt: buildTime,
    baselines: {},
    scenarios: [],
  };

  const redis = await startRedis();
  const platform = await startFakePlatform({
    clientSecret: secrets.WHARF_INTROSPECTION_CLIENT_SECRET,
    webhookSecret: secrets.WHARF_AUTHZ_WEBHOOK_SECRET,
    latencyMs: settings.upstreamLatencyMs,
  });
  const staticPassword = randomBytes(12).toString('base64url');
  const staticUser = { password: staticPassword, hash: await bcrypt.hash(staticPassword, 10) };
  const groups = buildGroups(platform, redis, staticUser);
  let broken = false;
  let ceiling;

  try {
    if (settings.mode === 'profile') {
      return await profile(groups, platform);
    }

    const [load1] = loadavg();
    if (load1 > 0.5) process.stdout.write(`bench: WARNING: 1-minute load average is ${load1.toFixed(2)} before starting: other work on this machine will skew the numbers\n`);
    process.stdout.write(`bench: ${settings.mode} run; HTTP ceiling (fastify constant JSON)...\n`);
    ceiling = await startFastifyBaseline();
    const fastifyRuns = [await measureFastify(ceiling)];
    ceilingStartRps = fastifyRuns[0].rps;
    if (selected.has(9) || selected.has(10)) {
      process.stdout.write('bench: floor (fastify signing a fresh token-sized JWT per request)...\n');
      const floorServer = await startFastifyBaseline('floor');
      try {
        results.baselines.floor = await quietest({ server: floorServer.pid, bench: process.pid, redis: redisPid }, () =>
          loadScenario(floorServer, undefined, { id: 'F', name: 'floor: fastify + a fresh ES256 token per request', request: { method: 'GET', path: '/token' } }),
        );
      } finally {
        await floorServer.stop();
      }
    }
    process.stdout.write(`bench: crypto ceiling (ES256 signatures, ${settings.signSeconds} s)...\n`);
    await waitQuiet({ bench: process.pid, redis: redisPid });
    const signCpu = cpuMeter({ bench: process.pid, redis: redisPid }, true);
    results.baselines.sign = measureSigning(settings.signSeconds);
    results.baselines.sign.cpuCores = signCpu(); // "bench" includes the signing child: ~1 core expected
    if (results.baselines.sign.cpuCores?.foreign > NOISY_CORES) {
      process.stdout.write(`bench:   other processes used ${results.baselines.sign.cpuCores.foreign} cores during the signing baseline\n`);
    }

    for (const group of groups) {
      const wanted = group.scenarios.filter((s) => selected.has(s.id));
      if (wanted.length === 0) continue;
      process.stdout.write(`bench: starting Wharf (${group.name})...\n`);
      const server = await group.start();
      try {
        for (const scenario of wanted) {
          process.stdout.write(`bench: scenario ${scenario.id}${scenario.name ? `: ${scenario.name}` : ''}...\n`);
          const pids = { server: server.pids?.() ?? server.pid, bench: process.pid, redis: redisPid };
          const result = scenario.herd ? (await waitQuiet(pids), await herdScenario(server, platform)) : await quietest(pids, () => loadScenario(server, platform, scenario));
          if (scenario.interleave) {
            process.stdout.write(`bench: scenario ${scenario.id}: ${settings.interleaveRounds} alternating ${settings.sliceS} s slices against the HTTP ceiling...\n`);
            result.interleaved = await interleavedRatio(server, scenario.request, ceiling);
            result.errors += result.interleaved.errors;
          }
          if (scenario.distinct) result.distinct = scenario.summary();
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
        if (opts['keep-logs']) process.stdout.write(`bench: ${server.name} log kept at ${server.logFile}\n`);
      }
    }
    // The machine's speed drifts during a run (the baseline has moved 37k-77k req/s between runs):
    // the ceiling is measured again at the end, and ratios use the higher of the two.
    process.stdout.write('bench: HTTP ceiling again...\n');
    fastifyRuns.push(await measureFastify(ceiling));
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
    await ceiling?.stop();
    await platform.close();
    await redis.stop();
  }
}

/**
 * `--profile`: one scenario with the V8 profiler on over its max-rate pass, then where its CPU time
 * went; with `--profile-allocations`, where its allocations came from instead.
 */
async function profile(groups, platform) {
  const group = groups.find((g) => g.ids.includes(profileScenario));
  const scenario = group?.scenarios.find((s) => s.id === profileScenario && !s.herd);
  if (!scenario) throw new BenchError(`--profile-scenario ${profileScenario}: not a load scenario (use 1-6, 9 or 10)`);
  const dir = join(RESULTS, 'profile');
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  const extension = profileAllocations ? '.heapprofile' : '.cpuprofile';
  const profiler = profileAllocations ? `the sampling heap profiler (${profileAllocations === 'all' ? 'every allocation' : 'allocations that outlive the young generation'})` : 'the CPU profiler';
  process.stdout.write(`bench: profiling scenario ${scenario.id} (${scenario.name}) with ${profiler} over the max-rate pass, after ${settings.warmupS} s warm-up + ${settings.durationS} s...\n`);
  await waitQuiet({ bench: process.pid, redis: redisPid });
  const server = await group.start({ cpuProfDir: dir });
  let result;
  const written = () => readdirSync(dir).filter((f) => f.endsWith(extension) && !before.has(f)).map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  try {
    result = await loadScenario(server, platform, scenario, { profileOnly: true });
    for (const deadline = Date.now() + 10_000; !written() && Date.now() < deadline; ) await sleep(100);
  } finally {
    await server.stop();
  }
  const file = written();
  if (!file) throw new BenchError(`no ${extension} appeared in ${dir}: the profiler in bench/preload.mjs did not write one`);
  process.stdout.write(
    `\nScenario ${scenario.id} under the profiler: ${fmt(result.rps)} req/s, p99 ${result.p99} ms, errors ${result.errors}, ` +
      `cores server/bench/other ${cpuText(result.cpuCores)} (profiling costs some throughput)\n`,
  );
  let summary;
  if (profileAllocations) {
    summary = summariseAllocations(JSON.parse(readFileSync(file, 'utf8')), { requests: result.requests, top: 30, root: ROOT });
    process.stdout.write(`Profile: ${file} (open in Chrome DevTools > Memory)\n${formatAllocationSummary(summary, profileAllocations)}\n`);
  } else {
    summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')), { top: 30, root: ROOT });
    summary.requests = result.requests;
    summary.busyMicrosecondsPerRequest = Math.round((summary.busyMs * 1000) / Math.max(1, result.requests));
    process.stdout.write(
      `Profile: ${file} (open in Chrome DevTools > Performance, or speedscope)\n` +
        `${summary.busyMicrosecondsPerRequest} µs of busy main-thread time per request of the max-rate pass\n${formatProfileSummary(summary)}\n`,
    );
  }
  writeFileSync(join(RESULTS, 'profile-summary.json'), `${JSON.stringify({ scenario: scenario.id, kind: profileAllocations ?? 'cpu', file, result, summary }, null, 2)}\n`);
  return result.errors > 0 ? 1 : 0;
}

let code;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench: FAILED: ${err instanceof BenchError ? err.message : (err?.stack ?? String(err))}\n`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
