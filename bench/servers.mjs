// Servers under test: Wharf as in production, and the stats window every measured server has
// through bench/preload.mjs (the fastify baselines use it too, see baselines.mjs).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makeTempDir, processTree, startChild } from './processes.mjs';
import { BenchError, PRELOAD, ROOT, WHARF_MAIN, sleep, tail } from './support.mjs';

/** The secrets every Wharf of the run gets from its environment; the fake platform checks two of them. */
export const secrets = {
  WHARF_HASH_KEY: randomBytes(24).toString('hex'),
  WHARF_INTROSPECTION_CLIENT_SECRET: randomBytes(16).toString('hex'),
  WHARF_AUTHZ_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
};

/**
 * A server under test with the bench preload: per-window event-loop delay and RSS. With workers,
 * every process writes a line per window: RSS is their sum, event-loop delay the worst of them.
 */
export function withStats(child, statsFile, logFile, url, processes = 1) {
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

/**
 * Node flags production runs Wharf with: the heap cap, young generation and V8 helper threads of
 * the Kubernetes manifest, read from it so the benchmark cannot drift from what is deployed.
 * Without a cap, V8 sizes the old generation from this machine's RAM and lets dead objects pile up
 * to several hundred MB before collecting them.
 */
export function productionNodeFlags() {
  const manifest = readFileSync(join(ROOT, 'deploy', 'wharf-deployment.yaml'), 'utf8');
  // Wharf runs with the V8 flags the deployment gives it (NODE_OPTIONS), heap cap first.
  const options = /name: NODE_OPTIONS\s+value: ([^\n]+)/.exec(manifest)?.[1]?.trim().split(/\s+/) ?? [];
  if (!options.some((o) => /^--max-old-space-size=\d+$/.test(o))) throw new BenchError('deploy/wharf-deployment.yaml sets no --max-old-space-size in NODE_OPTIONS');
  return options.filter((o) => /^--(max-(old|semi)-space-size|v8-pool-size)=\d+$/.test(o));
}

/**
 * Wharf from the dist/ snapshot with `config` (JSON is YAML) in a temp dir of its own.
 * `nodeFlags` come after the manifest's (--node-flags); `cpuProfDir` turns the preload's profiler
 * on, sampling allocations instead of CPU time when `profileAllocations` is set; `env` adds
 * variables (the admin secret of the credential scenarios).
 */
export async function startWharf(group, config, { cpuProfDir, workers = 1, nodeFlags = [], profileAllocations, env = {} } = {}) {
  const dir = await makeTempDir(`wharf-bench-${group}-`);
  const port = await freePort();
  const configFile = join(dir, 'wharf.yml');
  // JSON is YAML: no serializer needed.
  writeFileSync(configFile, JSON.stringify({ server: { host: '127.0.0.1', port }, dataDir: join(dir, 'data'), log: { level: 'info' }, ...config }, null, 2));
  const logFile = join(dir, 'wharf.log');
  const statsFile = join(dir, 'stats.jsonl');
  const url = `http://127.0.0.1:${port}`;
  const nodeArgs = [...productionNodeFlags(), ...nodeFlags, '--import', PRELOAD, WHARF_MAIN, 'serve', '--config', configFile, ...(workers > 1 ? ['--workers', String(workers)] : [])];
  const child = await startChild(`wharf[${group}]`, process.execPath, nodeArgs, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', WHARF_BENCH_STATS: statsFile, ...(cpuProfDir ? { WHARF_BENCH_PROFILE_DIR: cpuProfDir, ...(profileAllocations ? { WHARF_BENCH_PROFILE_ALLOCATIONS: profileAllocations } : {}) } : {}), ...secrets, ...env },
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
