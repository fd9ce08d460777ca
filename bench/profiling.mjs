// `--profile`: one scenario's max-rate pass under V8's CPU profiler (or, with
// `--profile-allocations`, its sampling heap profiler) inside Wharf, then a summary of where the
// time or the allocations went. bench/preload.mjs starts and stops the profiler on SIGWINCH.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProfileSummary, summariseProfile } from './cpuprofile-summary.mjs';
import { waitQuiet } from './cpu.mjs';
import { formatAllocationSummary, summariseAllocations } from './heapprofile-summary.mjs';
import { loadScenario } from './load.mjs';
import { cpuText, fmt } from './report.mjs';
import { BenchError, RESULTS, ROOT, sleep } from './support.mjs';

/**
 * `--profile`: one scenario with the V8 profiler on over its max-rate pass, then where its CPU time
 * went; with `--profile-allocations`, where its allocations came from instead.
 * `run` is the run's `{ settings, redis }`; resolves with the exit code.
 */
export async function profile(run, groups, platform, { profileScenario, profileAllocations }) {
  const { settings, redis } = run;
  const group = groups.find((g) => g.ids.includes(profileScenario));
  const scenario = group?.scenarios.find((s) => s.id === profileScenario && !s.herd);
  if (!scenario) throw new BenchError(`--profile-scenario ${profileScenario}: not a load scenario (use 1-6, 9 or 10)`);
  const dir = join(RESULTS, 'profile');
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  const extension = profileAllocations ? '.heapprofile' : '.cpuprofile';
  const profiler = profileAllocations ? `the sampling heap profiler (${profileAllocations === 'all' ? 'every allocation' : 'allocations that outlive the young generation'})` : 'the CPU profiler';
  process.stdout.write(`bench: profiling scenario ${scenario.id} (${scenario.name}) with ${profiler} over the max-rate pass, after ${settings.warmupS} s warm-up + ${settings.durationS} s...\n`);
  await waitQuiet(settings, { bench: process.pid, redis: redis.pid });
  const server = await group.start({ cpuProfDir: dir });
  let result;
  const written = () => readdirSync(dir).filter((f) => f.endsWith(extension) && !before.has(f)).map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  try {
    result = await loadScenario(run, server, platform, scenario, { profileOnly: true });
    for (const deadline = Date.now() + 10_000; !written() && Date.now() < deadline; ) await sleep(100);
  } finally {
    await server.stop();
  }
  const file = written();
  if (!file) throw new BenchError(`no ${extension} appeared in ${dir}: the profiler in bench/preload.mjs did not write one`);
  process.stdout.write(
    `\nScenario ${scenario.id} under the profiler: ${fmt(result.rps)} req/s, p99 ${result.p99} ms, errors ${result.errors}, ` +
      `cores server/bench/other ${cpuText(result.cpuCores)} (profiling costs some throughput)\n` +
      `CPU per request (warm-up and pass, /proc schedstat): main thread ${fmt(result.cpuMicrosecondsPerRequest?.mainThread)} µs, whole process ${fmt(result.cpuMicrosecondsPerRequest?.process)} µs\n`,
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
