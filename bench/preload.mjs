// Loaded into the process under test with `node --import <this file> dist/main.js serve ...`, so
// the event-loop delay and RSS are measured inside Wharf itself without touching src/.
//
// Every SIGUSR2 appends one JSON line to the file named by WHARF_BENCH_STATS (the runner reads it;
// under `serve --workers N` the primary passes the signal on and each worker adds its own line)
// and starts a new measurement window:
//   {"window": n, "elMaxMs", "elP99Ms", "elP50Ms", "elMeanMs", "rssMaxMB", "rssMB", "heapUsedMB"}
// The first signal only opens a window; the runner sends one before and one after each scenario.
// Nothing here keeps the process alive: the sampler is unref'd and signal handlers do not hold
// the loop open.
import cluster from 'node:cluster';
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

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

  const MB = 1024 * 1024;
  const ms = (ns) => Math.round((ns / 1e6) * 100) / 100;
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
    };
    appendFileSync(target, `${JSON.stringify(line)}\n`);
    delay.reset();
    rssMax = memory.rss;
  });
}
