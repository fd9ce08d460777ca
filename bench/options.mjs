// The runner's command line: `npm run bench [-- OPTIONS]`. Parsing has no side effects (run.mjs
// prints and exits), so what an option means can be read here in one place.
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run bench [-- OPTIONS]     (or: node bench/run.mjs OPTIONS after npm run build)

  --quick                 ~3 s per pass, whole run about 100 s (what CI runs)
  --duration S            seconds per measured pass (default 20; quick 3)
  --warmup S              seconds of unmeasured load before each scenario (default 5; quick 1)
  --connections N         autocannon connections (default 50)
  --scenarios LIST        comma-separated scenario ids to run (default all: 1-12; quick: 1-9,
                          since 10, distinct clients at 20,000 users, spends most of its time
                          warming their caches, and 11-12 make 4,000 credentials first)
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

/** A bad option value: run.mjs prints `bench: <message>` and the usage, and exits with 2. */
export class UsageError extends Error {}

/**
 * The options as the run uses them. `settings` goes into the results file as it is (plus the
 * scenario list), so its keys and their order are part of latest.json.
 * An unknown option throws parseArgs's own error, as it always has.
 */
export function parseOptions(args) {
  const { values: opts } = parseArgs({
    args,
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
  if (opts.help) return { help: true };
  const num = (name, value, min = 0) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}, got ${JSON.stringify(value)}`);
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
  // 10, distinct clients at 20,000 users, spends most of its time warming: a quick run leaves it out.
  const allScenarios = opts.quick ? '1,2,3,4,5,6,7,8,9' : '1,2,3,4,5,6,7,8,9,10,11,12';
  const selected = new Set((opts.scenarios ?? allScenarios).split(',').map((s) => s.trim()).filter(Boolean).map(Number));
  if (selected.size === 0 || [...selected].some((id) => !Number.isInteger(id) || id < 1 || id > 12)) {
    throw new UsageError(`--scenarios takes ids from 1 to 12, got ${JSON.stringify(opts.scenarios)}`);
  }
  const profileScenario = num('profile-scenario', opts['profile-scenario'], 1);
  const profileAllocations = opts['profile-allocations'];
  if (profileAllocations !== undefined && !['all', 'promoted'].includes(profileAllocations)) {
    throw new UsageError(`--profile-allocations takes all or promoted, got ${JSON.stringify(profileAllocations)}`);
  }
  return {
    help: false,
    settings,
    selected,
    profileScenario,
    profileAllocations,
    nodeFlags: opts['node-flags']?.trim().split(/\s+/).filter(Boolean) ?? [],
    keepLogs: opts['keep-logs'],
  };
}
