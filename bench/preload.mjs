// Loaded into the process under test with `node --import <this file> dist/main.js serve ...`, so
// the event-loop delay and RSS are measured inside Wharf itself without touching src/.
//
// Every SIGUSR2 appends one JSON line to the file named by WHARF_BENCH_STATS (the runner reads it;
// under `serve --workers N` the primary passes the signal on and each worker adds its own line)
// and starts a new measurement window:
//   {"window": n, "elMaxMs", "elP99Ms", "elP50Ms", "elMeanMs", "rssMaxMB", "rssMB", "heapUsedMB",
//    "elOwnMaxMs", "elWorstGap": {"ms", "ranMs", "waitedMs", "elsewhereMs"}, "gcMaxMs", "gcMaxKind"}
// The first signal only opens a window; the runner sends one before and one after each scenario.
// Nothing here keeps the process alive: the sampler is unref'd and signal handlers do not hold
// the loop open.
import cluster from 'node:cluster';
import { appendFileSync, openSync, readSync } from 'node:fs';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';

const target = process.env.WHARF_BENCH_STATS;
if (target) {
  // 1 ms resolution: the timer lives in libuv (no JS runs per tick), so it costs next to nothing,
  // and a block of a few ms shows up as such rather than rounded up to the next 10 ms tick.
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let rssMax = process.memoryUsage.rss();
  let window = 0;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > rssMax) rssMax = rss;
  }, 100);
  sampler.unref();

  // What a long delay was made of. monitorEventLoopDelay sees only that a timer fired late. The
  // main thread's scheduler counters (/proc/<pid>/task/<pid>/schedstat: ns on a CPU, ns runnable but
  // waiting for one) say why: between two ticks of a 5 ms timer the loop was busy with this
  // process's own work for the CPU time the thread used (elOwnMaxMs: the longest such stretch, what
  // the 20 ms target is about); the rest of a gap the thread waited for a CPU other threads of the
  // machine had, or neither ran nor waited: the hypervisor had taken the vCPU (steal, which the
  // guest's scheduler leaves out of both counters). elWorstGap splits the longest gap that way.
  let schedFd;
  try {
    schedFd = openSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'r');
  } catch {
    schedFd = undefined; // not Linux: the split is left out
  }
  const schedBuf = Buffer.alloc(128);
  const sched = () => {
    const [run, wait] = schedBuf.toString('latin1', 0, readSync(schedFd, schedBuf, 0, schedBuf.length, 0)).split(' ').map(Number);
    return { run: run / 1e6, wait: wait / 1e6 };
  };
  const noGap = { ms: 0, ranMs: 0, waitedMs: 0, elsewhereMs: 0 };
  let ownMax = 0;
  let worstGap = noGap;
  if (schedFd !== undefined) {
    let lastAt = performance.now();
    let last = sched();
    const tick = setInterval(() => {
      const at = performance.now();
      const now = sched();
      const gap = at - lastAt;
      const ran = now.run - last.run;
      const waited = now.wait - last.wait;
      if (ran > ownMax) ownMax = ran;
      if (gap > worstGap.ms) worstGap = { ms: gap, ranMs: ran, waitedMs: waited, elsewhereMs: Math.max(0, gap - ran - waited) };
      lastAt = at;
      last = now;
    }, 5);
    tick.unref();
  }

  // The longest garbage-collection pause, minor (scavenge) or major (mark-compact). Incremental
  // marking entries are left out: their duration spans many small steps between JS tasks.
  const GC_PAUSES = { 1: 'minor', 2: 'major' };
  let gcMax = { ms: 0, kind: '-' };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_PAUSES[entry.detail?.kind];
      if (kind && entry.duration > gcMax.ms) gcMax = { ms: entry.duration, kind };
    }
  }).observe({ entryTypes: ['gc'] });

  const MB = 1024 * 1024;
  const round2 = (x) => Math.round(x * 100) / 100;
  const ms = (ns) => round2(ns / 1e6);
  process.on('SIGUSR2', () => {
    // `serve --workers N`: the workers (forked with this preload too) write a line each.
    if (cluster.isPrimary) for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGUSR2');
    const memory = process.memoryUsage();
    if (memory.rss > rssMax) rssMax = memory.rss;
    const line = {
      window: window++,
      pid: process.pid,
      elMaxMs: ms(delay.max),
      elP99Ms: ms(delay.percentile(99)),
      elP50Ms: ms(delay.percentile(50)),
      elMeanMs: ms(delay.mean),
      elSamples: delay.count,
      rssMaxMB: Math.round((rssMax / MB) * 10) / 10,
      rssMB: Math.round((memory.rss / MB) * 10) / 10,
      heapUsedMB: Math.round((memory.heapUsed / MB) * 10) / 10,
      gcMaxMs: round2(gcMax.ms),
      gcMaxKind: gcMax.kind,
      ...(schedFd === undefined
        ? {}
        : {
            elOwnMaxMs: round2(ownMax),
            elWorstGap: { ms: round2(worstGap.ms), ranMs: round2(worstGap.ranMs), waitedMs: round2(worstGap.waitedMs), elsewhereMs: round2(worstGap.elsewhereMs) },
          }),
    };
    appendFileSync(target, `${JSON.stringify(line)}\n`);
    delay.reset();
    ownMax = 0;
    gcMax = { ms: 0, kind: '-' };
    worstGap = noGap;
    rssMax = memory.rss;
  });
}

// `npm run bench -- --profile`: WHARF_BENCH_PROFILE_DIR names where a CPU profile goes. SIGWINCH
// starts it and the next SIGWINCH writes it, so the profile holds the measured pass alone, not
// the start-up and cache warming before it.
// WHARF_BENCH_PROFILE_ALLOCATIONS (`all` or `promoted`) samples allocations instead.
const profileDir = process.env.WHARF_BENCH_PROFILE_DIR;
const allocations = process.env.WHARF_BENCH_PROFILE_ALLOCATIONS;
if (profileDir) {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGWINCH', () => {
    void (async () => {
      if (!running) {
        running = true;
        if (allocations) {
          // Every sampled allocation, or ('promoted') only those that survived the young
          // generation: what fills the old space and makes full collections frequent.
          await session.post('HeapProfiler.enable');
          await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: allocations === 'all' });
          return;
        }
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 1000 });
        await session.post('Profiler.start');
        return;
      }
      running = false;
      if (allocations) {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        writeFileSync(`${profileDir}/pass-${process.pid}-${Date.now()}.heapprofile`, JSON.stringify(profile));
        return;
      }
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${profileDir}/pass-${process.pid}-${Date.now()}.cpuprofile`, JSON.stringify(profile));
    })();
  });
}
