// What every part of the benchmark runner shares: where things are, the error that stops a run,
// and two small helpers. bench/run.mjs sequences the run; see bench/README.md.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH = join(ROOT, 'bench');
export const RESULTS = join(BENCH, 'results');
// Wharf runs from a private copy of dist/ taken at start: other people's `npm run build` (npm test
// does one) rewrites dist/ in place, which would change or break the code under test mid-run. The
// copy lives inside the repository so that `node_modules` and package.json ("type": "module")
// still resolve from it.
export const DIST = join(ROOT, 'dist');
export const SNAPSHOT = join(BENCH, 'results', `.dist-snapshot-${process.pid}`);
export const WHARF_MAIN = join(SNAPSHOT, 'dist/main.js');
export const PRELOAD = pathToFileURL(join(BENCH, 'preload.mjs')).href;

/** A failure of the benchmark itself (a process that will not start, a bad sanity answer): printed without a stack. */
export class BenchError extends Error {}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a log file, for an error message: what a process said before it failed. */
export function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}
