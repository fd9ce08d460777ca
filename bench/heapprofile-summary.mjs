// Summarises a V8 sampling heap profile (.heapprofile, from `npm run bench -- --profile
// --profile-allocations all|promoted`): bytes allocated per request, by function (self) and with
// the function anywhere on the stack (inclusive). Usable on its own:
// `node bench/heapprofile-summary.mjs FILE.heapprofile REQUESTS [TOP]`.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { frameNames } from './cpuprofile-summary.mjs';

/**
 * @param {object} profile the parsed .heapprofile (a tree of { callFrame, selfSize, children })
 * @param {{ requests: number, top?: number, root?: string }} options requests: how many the sampled pass served
 */
export function summariseAllocations(profile, options) {
  const top = options.top ?? 25;
  const { label } = frameNames(options.root);
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  // Post-order: a node's inclusive bytes are its own plus its children's; a function that recurses
  // is counted once per path (the outermost frame).
  const walk = (node, onStack) => {
    const name = label(node.callFrame);
    let bytes = node.selfSize;
    self.set(name, (self.get(name) ?? 0) + node.selfSize);
    const inner = onStack.has(name) ? onStack : new Set(onStack).add(name);
    for (const child of node.children ?? []) bytes += walk(child, inner);
    if (!onStack.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + bytes);
    total += node.selfSize;
    return bytes;
  };
  walk(profile.head, new Set());
  const requests = Math.max(1, options.requests);
  const rank = (m) =>
    [...m.entries()]
      .filter(([name]) => name !== '(root)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, bytesPerRequest: Math.round(bytes / requests), percent: Math.round((bytes / Math.max(1, total)) * 1000) / 10 }));
  return { totalBytes: total, requests, bytesPerRequest: Math.round(total / requests), self: rank(self), inclusive: rank(inclusive) };
}

/** Text rendering of a summary. */
export function formatAllocationSummary(summary, kind) {
  const what = kind === 'promoted' ? 'bytes that outlived the young generation (promoted, then collected by a full GC or still alive)' : 'bytes allocated';
  const lines = [`Allocation profile: ${(summary.totalBytes / 1048576).toFixed(1)} MB sampled, ${(summary.bytesPerRequest / 1024).toFixed(1)} KB of ${what} per request`];
  const section = (title, rows) => {
    lines.push('', title);
    for (const r of rows) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${String(r.bytesPerRequest).padStart(7)} B/request  ${r.name}`);
  };
  section('By function (self):', summary.self);
  section('With the function anywhere on the stack (inclusive):', summary.inclusive);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, requests] = process.argv.slice(2);
  if (!file || !requests) {
    process.stderr.write('usage: node bench/heapprofile-summary.mjs FILE.heapprofile REQUESTS [TOP]\n');
    process.exit(2);
  }
  const summary = summariseAllocations(JSON.parse(readFileSync(file, 'utf8')), { requests: Number(requests), top: Number(process.argv[4] ?? 25), root: process.cwd() });
  process.stdout.write(`${formatAllocationSummary(summary, 'all')}\n`);
}
