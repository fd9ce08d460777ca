#!/usr/bin/env node
// `npm run bench:plugin [-- OPTIONS]`: the kubelet credential provider's wall time per pull, as
// the kubelet sees it (spawn, request on stdin, answer on stdout, exit), next to `node -e 0`
// measured in the same run, alternating, so the machine's drift cancels out. Target: < 150 ms.
//
// By default the exchange is a stand-in served by this process (the plugin's own cost, with an
// exchange that answers at once); --url and --request point it at a real, warm Wharf instead.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gitInfo, machineInfo } from './report.mjs';
import { BenchError, DIST, RESULTS } from './support.mjs';

export const PLUGIN_USAGE = `usage: npm run bench:plugin [-- OPTIONS]   (or: node bench/kubelet-plugin.mjs OPTIONS after npm run build)

  --runs N          measured runs per series (default 40; quick 10)
  --warmup N        unmeasured runs per series first (default 5; quick 2)
  --quick           10 runs after 2 warm-ups
  --tls             the stand-in serves HTTPS (a throwaway certificate from openssl, given as --ca-file)
  --url URL         a running Wharf to exchange at, instead of the built-in stand-in
  --request FILE    with --url: the CredentialProviderRequest JSON to send (a real token, a real image)
  --ca-file FILE    with --url: passed to the plugin as --ca-file
`;

/** The plugin's answer budget, end to end, Wharf warm. */
export const TARGET_MS = 150;

/** A bad option: printed with the usage, exit 2. */
export class PluginUsageError extends Error {}

/** The command line, without side effects (the options test imports it). */
export function parsePluginOptions(args) {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      tls: { type: 'boolean', default: false },
      url: { type: 'string' },
      request: { type: 'string' },
      'ca-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true };
  const count = (name, value, min) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new PluginUsageError(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
  if ((values.url === undefined) !== (values.request === undefined)) throw new PluginUsageError('--url and --request go together: a real Wharf needs a real token');
  if (values['ca-file'] !== undefined && values.url === undefined) throw new PluginUsageError('--ca-file is for --url');
  if (values.tls && values.url !== undefined) throw new PluginUsageError('--tls is for the stand-in; a real Wharf has its own (--ca-file)');
  return {
    help: false,
    runs: count('runs', values.runs ?? (values.quick ? 10 : 40), 1),
    warmup: count('warmup', values.warmup ?? (values.quick ? 2 : 5), 0),
    tls: values.tls,
    url: values.url,
    request: values.request,
    caFile: values['ca-file'],
  };
}

/**
 * The built-in exchange: a grant for whatever image is asked, at once (no token verified). With
 * `tls`, over HTTPS with a throwaway self-signed certificate, whose PEM is returned as `ca`.
 */
async function startStandIn(tls) {
  const answer = (req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const image = JSON.parse(body).image.split(/[:@](?=[^/]*$)/)[0];
      const slash = image.indexOf('/');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ username: 'team-a', password: 'wharf_xc_bench', registry: image.slice(0, slash), repository: image.slice(slash + 1), actions: ['pull'], expires_in: 600 }));
    });
  };
  let certificate;
  if (tls) {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-plugin-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=wharf-bench', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      certificate = { dir, key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.pem')), caFile: join(dir, 'ca.pem') };
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new BenchError(`--tls needs openssl to make a certificate (apt-get install -y openssl): ${err.message}`);
    }
  }
  const server = certificate ? createTlsServer({ key: certificate.key, cert: certificate.cert }, answer) : createServer(answer);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${certificate ? 'https' : 'http'}://127.0.0.1:${server.address().port}`,
    caFile: certificate?.caFile,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
    },
  };
}

const STANDIN_REQUEST = `${JSON.stringify({
  kind: 'CredentialProviderRequest',
  apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
  image: 'registry.example:5000/team-a/app',
  serviceAccountToken: `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:team-a:puller' })).toString('base64url')}.${'x'.repeat(342)}`,
  serviceAccountAnnotations: { 'wharf/pull': 'team-a/app' },
})}\n`;

/** One run: spawn to exit, in ms; stdout and the exit code for the sanity check. */
function timed(args, input) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const summary = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n) => Math.round(n * 10) / 10;
  return { runs: sorted.length, medianMs: round(percentile(sorted, 50)), p95Ms: round(percentile(sorted, 95)), minMs: round(sorted[0]), maxMs: round(sorted.at(-1)) };
};

async function main(options) {
  const plugin = join(DIST, 'kubelet/credential-provider.js');
  if (!existsSync(plugin)) throw new BenchError(`missing ${plugin}: run \`npm run build\` first (\`npm run bench:plugin\` does)`);
  const standIn = options.url === undefined ? await startStandIn(options.tls) : undefined;
  try {
    const url = options.url ?? standIn.url;
    const request = options.request === undefined ? STANDIN_REQUEST : readFileSync(options.request, 'utf8');
    const caFile = options.caFile ?? standIn?.caFile;
    const pluginArgs = [plugin, '--url', url, ...(caFile ? ['--ca-file', caFile] : [])];
    // Three series: Node alone, the plugin starting and loading its modules (--help), a whole exchange.
    const series = { node: ['-e', '0'], pluginStart: [plugin, '--help'], plugin: pluginArgs };

    const sanity = await timed(pluginArgs, request);
    const answer = sanity.code === 0 ? JSON.parse(sanity.stdout) : undefined;
    if (answer?.kind !== 'CredentialProviderResponse' || Object.keys(answer.auth ?? {}).length !== 1) {
      throw new BenchError(`the plugin gave no credential (exit ${sanity.code}): ${sanity.stderr.trim() || sanity.stdout.trim()}`);
    }

    const samples = { node: [], pluginStart: [], plugin: [] };
    const names = Object.keys(series);
    for (let round = 0; round < options.warmup + options.runs; round++) {
      // The order turns every round, so no series always runs right after the same other one.
      for (let i = 0; i < names.length; i++) {
        const name = names[(round + i) % names.length];
        const run = await timed(series[name], name === 'plugin' ? request : '');
        if (run.code !== 0) throw new BenchError(`${name} exited ${run.code}: ${run.stderr.trim()}`);
        if (round >= options.warmup) samples[name].push(run.ms);
      }
    }

    const results = Object.fromEntries(names.map((name) => [name, summary(samples[name])]));
    const overNode = Math.round((results.plugin.medianMs - results.node.medianMs) * 10) / 10;
    const met = results.plugin.medianMs < TARGET_MS;
    const lines = [
      `exchange: ${options.url === undefined ? `built-in stand-in over ${options.tls ? 'HTTPS' : 'HTTP'} (answers at once)` : url}`,
      'series        median     p95     min     max   (ms, spawn to exit)',
      ...names.map((name) => {
        const r = results[name];
        const label = { node: 'node -e 0', pluginStart: 'plugin --help', plugin: 'plugin' }[name];
        return `${label.padEnd(13)} ${String(r.medianMs).padStart(6)}  ${String(r.p95Ms).padStart(6)}  ${String(r.minMs).padStart(6)}  ${String(r.maxMs).padStart(6)}`;
      }),
      `plugin over node -e 0: ${overNode} ms (median)`,
      `target: plugin median < ${TARGET_MS} ms: ${met ? 'met' : 'MISSED'} (${results.plugin.medianMs} ms)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    mkdirSync(RESULTS, { recursive: true });
    const record = { kind: 'kubelet-plugin', started: new Date().toISOString(), node: process.version, git: gitInfo(), machine: machineInfo(), settings: { runs: options.runs, warmup: options.warmup, exchange: options.url ?? (options.tls ? 'stand-in https' : 'stand-in http') }, results, overNodeMs: overNode, target: { medianBelowMs: TARGET_MS, met } };
    writeFileSync(join(RESULTS, 'kubelet-plugin-latest.json'), `${JSON.stringify(record, null, 2)}\n`);
  } finally {
    await standIn?.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let options;
  try {
    options = parsePluginOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n${PLUGIN_USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(PLUGIN_USAGE);
    process.exit(0);
  }
  main(options).catch((err) => {
    process.stderr.write(`bench: ${err instanceof BenchError ? err.message : err.stack}\n`);
    process.exitCode = 1;
  });
}
