import { spawn } from 'node:child_process';

/*
 * Running a configured program safely: no shell, a clean environment, input on stdin only, a
 * hard timeout that kills the whole process group, bounded output. Used by the command
 * authenticator and the command authorizer; it imports nothing from either (shared
 * infrastructure, like src/upstream/, where it belongs once that folder can be touched).
 */

/** PATH given to commands unless their config sets one: system directories only. */
export const DEFAULT_COMMAND_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** One run of a command. */
export interface CommandRunRequest {
  /** Program (absolute path) and arguments; never passed through a shell. */
  argv: readonly string[];
  /** Written to stdin, which is then closed. The only channel for secrets. */
  input: string;
  /** The child's complete environment (Wharf's own environment is never inherited). */
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Most bytes of stdout kept; more is a failure. Default 64 KiB. */
  maxStdoutBytes?: number;
}

/** How a run ended: `exited` with a code, or `failed` (timeout, signal, spawn error, output flood). */
export type CommandOutcome =
  | { readonly kind: 'exited'; readonly code: number; readonly stdout: string; readonly stderr: string }
  | { readonly kind: 'failed'; readonly why: string; readonly stderr: string };

/** Last bytes of stderr kept for the log. */
const STDERR_TAIL = 2048;

/**
 * Runs a command to completion or until the timeout, then kills its process group (so helpers it
 * started die with it). Never rejects; resolves as soon as the outcome is known, without waiting
 * for stray grandchildren that may hold its pipes open.
 */
export function runBoundedCommand(request: CommandRunRequest): Promise<CommandOutcome> {
  const maxStdout = request.maxStdoutBytes ?? 64 * 1024;
  return new Promise((resolve) => {
    let stdout = '';
    let stdoutBytes = 0;
    let stderr = '';
    let settled = false;
    const child = spawn(request.argv[0]!, request.argv.slice(1), {
      env: { ...request.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      // Its own process group, so a timeout can kill the command and everything it started.
      detached: true,
      windowsHide: true,
    });
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const finish = (outcome: CommandOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      killGroup();
      finish({ kind: 'failed', why: `no answer within ${request.timeoutMs} ms (killed)`, stderr });
    }, request.timeoutMs);

    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdoutBytes += Buffer.byteLength(d);
      if (stdoutBytes > maxStdout) {
        killGroup();
        finish({ kind: 'failed', why: `printed more than ${maxStdout} bytes on stdout (killed)`, stderr });
        return;
      }
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      finish({ kind: 'failed', why: `cannot run ${request.argv[0]}: ${err.code ?? err.message}`, stderr });
    });
    child.once('close', (code, signal) => {
      if (code === null) finish({ kind: 'failed', why: `killed by ${signal ?? 'a signal'}`, stderr });
      else finish({ kind: 'exited', code, stdout, stderr });
    });
    // A command that exits without reading its input gives EPIPE; its exit status is what counts.
    child.stdin.on('error', () => undefined);
    child.stdin.end(request.input);
  });
}

/** The child environment: a system PATH and C.UTF-8 locale unless the config overrides them, plus the configured variables. */
export function commandEnvironment(configured: Readonly<Record<string, string>>): Record<string, string> {
  return { PATH: DEFAULT_COMMAND_PATH, LANG: 'C.UTF-8', ...configured };
}

/** Removes every occurrence of `secret` (also in its JSON-escaped form) from text before it is logged. */
export function redact(text: string, secret: string): string {
  if (secret === '') return text;
  const escaped = JSON.stringify(secret).slice(1, -1);
  let out = text.split(secret).join('[redacted]');
  if (escaped !== secret) out = out.split(escaped).join('[redacted]');
  return out;
}
