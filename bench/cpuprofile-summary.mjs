// Summarises a V8 .cpuprofile (from `node --cpu-prof`): where the samples' time went, by function
// (self time), by package/area (self time), and inclusive time of Wharf's own functions.
// Usable on its own: `node bench/cpuprofile-summary.mjs FILE.cpuprofile [TOP]`.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * How profiles name a frame: its URL relative to the repository (`root`), and `function url:line`.
 * V8 names ES modules by file URL and CommonJS ones (node_modules) by path; both are shortened.
 * Shared with bench/heapprofile-summary.mjs.
 * @param {string | undefined} root
 */
export function frameNames(root) {
  const roots = root ? [pathToFileURL(root).href, root] : [];
  const where = (frame) => {
    let url = frame.url || '';
    for (const r of roots) if (url.startsWith(`${r}/`)) url = url.slice(r.length + 1);
    // The runner starts Wharf from a private copy of dist/ (see bench/support.mjs).
    return url.replace(/^bench\/results\/\.dist-snapshot-\d+\//, '');
  };
  const label = (frame) => {
    const url = where(frame);
    const name = frame.functionName || '(anonymous)';
    return url ? `${name} ${url}:${frame.lineNumber + 1}` : name;
  };
  return { where, label };
}

/**
 * @param {object} profile the parsed .cpuprofile
 * @param {{ top?: number, root?: string }} [options] root: the repository path, stripped from URLs
 */
export function summariseProfile(profile, options = {}) {
  const top = options.top ?? 25;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const { where, label } = frameNames(options.root);
  const area = (frame) => {
    const url = where(frame);
    if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native/builtin)';
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (pkg) return `npm:${pkg[1]}`;
    if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[url.startsWith('node:internal') ? 1 : 0]}`;
    if (url.startsWith('dist/')) return `wharf:${url.slice(5).replace(/\.js$/, '')}`;
    return url;
  };

  // A native function (no URL: writeUtf8String, writev...) is charged to its nearest JS caller,
  // so "(native)" does not swallow the time pino's file writes or the socket writes cost.
  const jsCaller = (node) => {
    for (let id = parent.get(node.id); id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id).callFrame;
      if (where(frame)) return frame;
    }
    return undefined;
  };
  const isNative = (frame) => !where(frame) && !frame.functionName.startsWith('(') && frame.functionName !== '';

  const self = new Map();
  const areas = new Map();
  const areasInclusive = new Map();
  const inclusive = new Map();
  let total = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample; charge it to sample i (V8's convention).
    const us = Math.max(0, deltas[i] ?? 0);
    total += us;
    const node = byId.get(samples[i]);
    if (!node) continue;
    const caller = isNative(node.callFrame) ? jsCaller(node) : undefined;
    const key = caller ? `${node.callFrame.functionName} [native] <- ${label(caller)}` : label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + us);
    // By owner: node internals and natives are charged to the nearest npm package or Wharf
    // module on the stack (socket writes to ioredis or to fastify's reply, fs writes to pino...).
    let owner = (caller ? area(caller) : area(node.callFrame));
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const a = area(byId.get(id).callFrame);
      if (a.startsWith('npm:') || a.startsWith('wharf:')) {
        owner = a;
        break;
      }
    }
    areas.set(owner, (areas.get(owner) ?? 0) + us);
    const seenAreas = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id).callFrame;
      if (!where(frame)) continue;
      const fa = area(frame);
      if (seenAreas.has(fa)) continue;
      seenAreas.add(fa);
      areasInclusive.set(fa, (areasInclusive.get(fa) ?? 0) + us);
    }
    // Inclusive time of Wharf's own functions, each counted once per sample even when recursive.
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id).callFrame;
      if (!where(frame).startsWith('dist/')) continue;
      const k = label(frame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  // Percentages are of the busy time: idle samples (the thread waiting for I/O) are left out.
  const idle = self.get('(idle)') ?? 0;
  self.delete('(idle)');
  areas.delete('(idle)');
  const busy = Math.max(1, total - idle);
  const rank = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: Math.round((us / busy) * 1000) / 10 }));
  return { totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000), busyMs: Math.round(busy / 1000), samples: samples.length, selfTime: rank(self), areas: rank(areas), areasInclusive: rank(areasInclusive), wharfInclusive: rank(inclusive) };
}

/** Text rendering of a summary. */
export function formatProfileSummary(summary) {
  const lines = [
    `CPU profile: ${summary.samples} samples over ${summary.totalMs} ms, of which ${summary.idleMs} ms idle; percentages are of the ${summary.busyMs} ms busy`,
  ];
  const section = (title, rows) => {
    lines.push('', title);
    for (const r of rows) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.name}`);
  };
  section('Self time by owner (node internals and natives charged to the nearest npm package or Wharf module calling them):', summary.areas);
  section('Inclusive time by package/area (time with that package anywhere on the stack):', summary.areasInclusive);
  section('Top self-time functions:', summary.selfTime);
  section("Wharf's own functions, inclusive time:", summary.wharfInclusive);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')), { top: Number(process.argv[3] ?? 25), root: process.cwd() });
  process.stdout.write(`${formatProfileSummary(summary)}\n`);
}
