// The processes and temp dirs the runner starts: everything is tracked here and stopped or removed
// on the way out, whatever happens (an error, Ctrl-C), so a broken run leaves nothing behind.
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { BenchError, sleep, tail } from './support.mjs';

const children = new Set();
const tempDirs = [];
let cleaning;

/**
 * Stops every child still running and removes the temp dirs (kept with `keepLogs`) and `extraDirs`.
 * Runs once: a second caller (the run ending while a signal's cleanup is under way) waits for the
 * first instead of exiting before the children are stopped and the directories removed.
 */
export function cleanup({ keepLogs, extraDirs = [] }) {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => c.stop().catch(() => undefined)));
    if (!keepLogs) await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
    await Promise.all(extraDirs.map((d) => rm(d, { recursive: true, force: true })));
  })();
  return cleaning;
}

/** A temp dir removed by `cleanup()` unless the logs are kept. */
export async function makeTempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Spawns a child with stdout+stderr going to `logFile`; `stop()` sends SIGTERM, then SIGKILL
 * after `graceMs`. Resolves once `ready()` says so; fails with the log tail if the child exits.
 */
export async function startChild(name, command, args, { env, cwd, logFile, ready, timeoutMs = 30_000, graceMs = 12_000 }) {
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

export function findOnPath(command) {
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

/** The pids of a process and its children (`serve --workers N`: the primary and its workers). */
export function processTree(pid) {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...children];
  } catch {
    return [pid];
  }
}
