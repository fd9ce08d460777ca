import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How a child process ended: exactly one of code/signal is set, or `error` if it never ran. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/**
 * Keeps only the last `capacity` lines, so a chatty server cannot grow memory without bound
 * while a failing test still gets the lines that explain the failure.
 */
export class LineRing {
  private readonly lines: string[] = [];
  private readonly partial = new Map<string, string>();

  constructor(private readonly capacity = 200) {}

  /** Feeds a chunk from `stream`; partial lines are held per stream so stdout/stderr never splice. */
  push(stream: string, chunk: string): void {
    const text = (this.partial.get(stream) ?? '') + chunk;
    const parts = text.split('\n');
    this.partial.set(stream, parts.pop() ?? '');
    for (const line of parts) this.add(line);
  }

  /** Flushes unterminated lines, e.g. the last words of a process that died mid-line. */
  flush(): void {
    for (const [stream, rest] of this.partial) {
      if (rest !== '') this.add(rest);
      this.partial.set(stream, '');
    }
  }

  /** The retained lines (plus any unterminated tails), oldest first. */
  text(): string {
    const tails = [...this.partial.values()].filter((t) => t !== '');
    return [...this.lines, ...tails].join('\n');
  }

  private add(line: string): void {
    this.lines.push(line.replace(/\r$/, ''));
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }
}

// Children still running, so they can be killed when the test process goes away.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
let reaper: ChildProcess | undefined;

/*
 * The 'exit' hook covers normal exits and process.exit(); it must be synchronous, hence SIGKILL.
 * It cannot run when the worker is SIGKILLed (vitest timeouts, OOM, CI cancellation), so a tiny
 * detached reaper process also holds a pipe from us: when that pipe hits EOF, whatever the cause
 * of our death, it SIGKILLs every pid still registered.
 */
const REAPER_SOURCE = `
const pids = new Set(); let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d; let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    const pid = Number(line.slice(1));
    if (line[0] === '+') pids.add(pid); else pids.delete(pid);
  }
});
const reap = () => { for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch {} } process.exit(0); };
process.stdin.on('end', reap); process.stdin.on('close', reap); process.stdin.on('error', reap);
`;

function reaperWrite(line: string): void {
  if (reaper === undefined) {
    reaper = spawn(process.execPath, ['-e', REAPER_SOURCE], {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Own process group: a Ctrl-C aimed at the test run must not kill the reaper first.
      detached: true,
    });
    reaper.on('error', () => undefined);
    reaper.stdin?.on('error', () => undefined);
    // Neither the reaper nor its pipe may keep the test process alive.
    reaper.unref();
    (reaper.stdin as unknown as Socket | null)?.unref();
  }
  reaper.stdin?.write(`${line}\n`);
}

function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  if (child.pid !== undefined) reaperWrite(`+${child.pid}`);
}

function untrack(child: ChildProcess): void {
  live.delete(child);
  // Deregister so a recycled pid is never killed by the reaper.
  if (child.pid !== undefined) reaperWrite(`-${child.pid}`);
}

/** Options for {@link startProcess}. */
export interface StartProcessOptions {
  /** Label used in error messages; defaults to the command. */
  name?: string;
  /** Full environment of the child (not merged with process.env, so tests control it exactly). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Lines of combined stdout/stderr to retain; default 200. */
  logLines?: number;
}

/** A long-running child process owned by a test. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Exit information once exited, else undefined. */
  exitInfo(): ExitInfo | undefined;
  /** Last captured stdout/stderr lines, for failure messages. */
  logs(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5000). Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns a long-running server process, capturing its output into a ring buffer and registering
 * it so it is killed when the test process exits. Rejects if the executable cannot be started.
 */
export async function startProcess(
  command: string,
  args: readonly string[],
  opts: StartProcessOptions = {},
): Promise<ManagedProcess> {
  const name = opts.name ?? command;
  const ring = new LineRing(opts.logLines ?? 200);
  const child = spawn(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => ring.push('stdout', d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => ring.push('stderr', d));

  let info: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (error) => {
      // 'error' without a pid means spawn failed; with a pid it is a kill failure, exit follows.
      if (child.pid === undefined) {
        info = { code: null, signal: null, error };
        resolve(info);
      }
    });
    // 'close' (not 'exit') so the ring buffer has every byte the process wrote.
    child.once('close', (code, signal) => {
      ring.flush();
      info = { code, signal };
      untrack(child);
      resolve(info);
    });
  });

  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => {
      track(child);
      resolve();
    });
    child.once('error', (err) => {
      if (child.pid === undefined) reject(new Error(`${name}: failed to start ${command}: ${err.message}`));
    });
  });
  const pid = child.pid as number;

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (info !== undefined) return;
      child.kill('SIGTERM');
      const timer = sleep(graceMs, 'timeout' as const, { ref: false });
      if ((await Promise.race([exited, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    })();
    return stopping;
  };

  return { name, pid, child, exited, exitInfo: () => info, logs: () => ring.text(), stop };
}

function describeExit(info: ExitInfo): string {
  if (info.error) return `failed: ${info.error.message}`;
  return info.signal ? `was killed by ${info.signal}` : `exited with code ${String(info.code)}`;
}

/** Options for {@link waitUntil}. */
export interface WaitOptions {
  /** Overall deadline; default 15000 ms. */
  timeoutMs?: number;
  /** Pause between probes; default 100 ms. */
  intervalMs?: number;
  /** If given, waiting fails at once when it exits, and its logs are put in the error. */
  process?: ManagedProcess;
}

/**
 * Polls `probe` until it returns a value other than undefined, or throws at the deadline.
 * Failing fast on an exited process turns a 15 s timeout into an immediate, explained error.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  const proc = opts.process;
  let lastError: string;
  for (;;) {
    const exit = proc?.exitInfo();
    if (proc && exit) {
      throw new Error(`${proc.name} ${describeExit(exit)} while waiting for ${what}\n--- last output ---\n${proc.logs()}`);
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = 'probe not satisfied';
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      const tail = proc ? `\n--- last output of ${proc.name} ---\n${proc.logs()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${lastError})${tail}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/** Status, headers and body of one HTTP response. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One GET without keep-alive. Connection pooling is avoided so polling never leaves sockets that
 * keep the test process alive or that were opened against a half-started server.
 */
export function httpGet(url: string, opts: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      target,
      {
        method: 'GET',
        agent: false,
        timeout: timeoutMs,
        // Readiness only; a test server's self-signed certificate is not what is being checked.
        rejectUnauthorized: false,
        headers: { ...opts.headers, connection: 'close' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Status code of one GET (see {@link httpGet}). */
export async function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return (await httpGet(url, { timeoutMs })).status;
}

/**
 * Waits until `url` answers HTTP with a status accepted by `accept` (default: any status).
 * Resolves with that status.
 */
export function waitForHttp(
  url: string,
  opts: WaitOptions & { accept?: (status: number) => boolean } = {},
): Promise<number> {
  const accept = opts.accept ?? (() => true);
  return waitUntil(
    `HTTP ${url}`,
    async () => {
      const status = await httpStatus(url);
      if (!accept(status)) throw new Error(`unexpected status ${status}`);
      return status;
    },
    opts,
  );
}

/** Result of a short-lived command; `code` is null when it was killed (e.g. by the timeout). */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Options for {@link runCommand}. */
export interface RunCommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed (so tools never wait for a TTY). */
  input?: string;
  /** Killed with SIGKILL after this long; default 30000 ms. */
  timeoutMs?: number;
}

/**
 * Runs a command to completion and captures its output. Never rejects on a non-zero exit, because
 * tests assert on failures as often as on successes; only a failure to start at all rejects.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: RunCommandOptions = {},
): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A command that exits before reading stdin gives EPIPE; its exit status is what matters.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('spawn', () => track(child));
    child.once('error', (err) => {
      if (child.pid === undefined) {
        clearTimeout(timer);
        reject(new Error(`failed to start ${command}: ${err.message}`));
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      untrack(child);
      if (timedOut) stderr += `\n[harness] ${command} killed after ${timeoutMs} ms timeout`;
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
