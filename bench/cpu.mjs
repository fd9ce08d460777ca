// CPU accounting from /proc (Linux; elsewhere the numbers are left out): how many cores the
// machine was busy, how much of that was the processes of this benchmark, and how much was
// someone else's. On a shared 2-core machine a compiler running next door halves the numbers, so
// every scenario reports the foreign load it ran under, and a full run waits for quiet and retries.
import { readFileSync } from 'node:fs';
import { sleep } from './support.mjs';

/** Other processes' CPU above which a scenario's numbers are flagged (and retried with --retry-noisy). */
export const NOISY_CORES = 0.25;

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
  return schedstatNs(pid, 1);
}
/** Nanoseconds a thread has spent on a CPU (`schedstat`, first field), to the nanosecond, unlike `stat`'s ticks. */
function onCpuNs(pid) {
  return schedstatNs(pid, 0);
}
function schedstatNs(pid, field) {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[field]);
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
export function cpuMeter(pids, withChildren = false) {
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
  const c0 = mainPid ? onCpuNs(mainPid) : undefined;
  const p0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processTicksOf(pid)]));
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const m1 = machineTicks();
    const s1 = stealTicks();
    const w1 = mainPid ? runQueueWaitNs(mainPid) : undefined;
    const c1 = mainPid ? onCpuNs(mainPid) : undefined;
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
    // The server's main thread's own CPU time (the event loop: what a request costs it, without
    // the thread pool's signatures or GC helper threads), in seconds.
    if (c0 !== undefined && c1 !== undefined) out.serverMainThreadS = Math.round((c1 - c0) / 1e6) / 1000;
    out.seconds = Math.round(seconds * 1000) / 1000;
    if (w0 !== undefined && w1 !== undefined) out.serverWaiting = Math.round(((w1 - w0) / 1e9 / seconds) * 1000) / 1000;
    return out;
  };
}

/** Waits (up to `settings.waitQuietS`) for a 1 s window in which other processes use < 0.2 core. */
export async function waitQuiet(settings, pids) {
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
export async function quietest(settings, pids, measure) {
  let best;
  for (let attempt = 0; attempt <= settings.retryNoisy; attempt++) {
    await waitQuiet(settings, pids);
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
