import { spawn } from 'node:child_process';
import type { CliIo } from '../io.js';

/** Starts `xdg-open URL` detached; a missing xdg-open or a failing browser is ignored. */
export function openBrowserWithXdgOpen(url: string, env: CliIo['env']): void {
  try {
    const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true, env: { ...env } });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // Best effort by design: the link is printed anyway.
  }
}
