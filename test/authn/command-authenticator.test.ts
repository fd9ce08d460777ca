import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandAuthenticator } from '../../src/authn/command/command-authenticator.js';
import { commandAuthnSchema } from '../../src/authn/command/command-config.js';
import { preflightCommand } from '../../src/upstream/command-preflight.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { keyedHash } from '../../src/crypto/keyed-hash.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { waitUntil } from '../support/processes.js';
import { RecordingCache } from '../support/recording-cache.js';
import { captureLog } from '../support/log-capture.js';
import { ownSettings } from '../support/upstream-fields.js';

const GOOD = 'correct horse (*) \\ é';
const context = { clientIp: '192.0.2.7', service: 'registry' };
let dir: string;
let script: string;

/*
 * The fake check program: behaves according to the username, and appends what it saw (argv,
 * environment, stdin, start/end times) to $RECORD_FILE so the test can check how it was run.
 */
const SCRIPT = `#!${process.execPath}
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const started = Date.now();
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  let user, pass;
  if (input.startsWith('{')) ({ username: user, password: pass } = JSON.parse(input));
  else [user, pass] = input.split('\\n');
  const record = (extra) => fs.appendFileSync(process.env.RECORD_FILE, JSON.stringify({ argv: process.argv.slice(2), env: process.env, stdin: input, started, ended: Date.now(), ...extra }) + '\\n');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  if (user === 'slow') { await sleep(10000); process.exit(0); }
  if (user === 'forker') {
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    fs.writeFileSync(process.env.RECORD_FILE + '.grandchild', String(child.pid));
    await sleep(10000);
    process.exit(0);
  }
  if (user.startsWith('busy')) await sleep(150);
  record({});
  if (user === 'crash') { process.stderr.write('debug: checking ' + user + ' with password ' + pass + '\\n'); process.exit(3); }
  if (user === 'garbage') { process.stdout.write('welcome, ' + pass); process.exit(0); }
  if (user === 'badshape') { process.stdout.write(JSON.stringify({ groups: ['a'] })); process.exit(0); }
  if (user === 'flood') { process.stdout.write('x'.repeat(200000)); process.exit(0); }
  if (pass !== ${JSON.stringify(GOOD)}) process.exit(1);
  if (user === 'Alice') { process.stdout.write(JSON.stringify({ account: 'alice', subject: 'uid-1001', attributes: { groups: ['staff', 'team-x'] } })); process.exit(0); }
  if (user === 'alice') { process.stdout.write(JSON.stringify({ attributes: { groups: ['staff'] } }) + '\\n'); process.exit(0); }
  process.exit(0);
});
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-command-authn-'));
  script = join(dir, 'check-password.cjs');
  await writeFile(script, SCRIPT);
  await chmod(script, 0o755);
  process.env.WHARF_SECRET_OF_THE_PARENT = 'parent-secret-not-for-children';
});
afterAll(async () => {
  delete process.env.WHARF_SECRET_OF_THE_PARENT;
  if (dir) await rm(dir, { recursive: true, force: true });
});

function make(patch: Record<string, unknown> = {}) {
  const recordFile = join(dir, `record-${randomBytes(4).toString('hex')}.jsonl`);
  const config = commandAuthnSchema.parse({ type: 'command', command: [script, '--mode', 'check'], env: { RECORD_FILE: recordFile }, ...patch });
  const { logger, lines, text } = captureLog('debug');
  const cache = new MemoryCache({ maxEntries: 100 });
  const auth = new CommandAuthenticator(config, { cache, hashKey: randomBytes(32), logger });
  const runs = (): Array<{ argv: string[]; env: Record<string, string>; stdin: string; started: number; ended: number }> =>
    existsSync(recordFile) ? readFileSync(recordFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
  return { auth, lines, raw: text, runs, recordFile, cache };
}

async function expect503(promise: Promise<unknown>, message: string): Promise<void> {
  const err = await promise.then(
    (r) => new Error(`expected 503, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TemporarilyUnavailableError);
  expect((err as TemporarilyUnavailableError).status).toBe(503);
  expect((err as Error).message).toBe(message);
}

describe('CommandAuthenticator', () => {
  it('passes the username and password on stdin only: never in argv, never in the environment', async () => {
    const { auth, runs } = make();
    expect((await auth.login('bob', GOOD, context)).kind).toBe('ok');
    const [run] = runs();
    expect(run!.stdin).toBe(`bob\n${GOOD}\n`);
    expect(run!.argv).toEqual(['--mode', 'check']);
    expect(JSON.stringify(run!.argv)).not.toContain('horse');
    // A clean environment: what the config gives, a system PATH and a locale; nothing of Wharf's.
    expect(run!.env).toEqual({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', RECORD_FILE: expect.any(String) });
    expect(JSON.stringify(run!.env)).not.toContain('horse');
  });

  it('exit 0 authenticates; JSON on stdout adds attributes and may name the account', async () => {
    const { auth } = make();
    expect(await auth.login('alice', GOOD, context)).toEqual({
      kind: 'ok',
      identity: { account: 'alice', provider: 'command', subject: 'alice', attributes: { groups: ['staff'] }, owner: { source: `command:${script}`, subject: 'alice' } },
    });
    expect(await auth.login('Alice', GOOD, context)).toEqual({
      kind: 'ok',
      identity: { account: 'alice', provider: 'command', subject: 'uid-1001', attributes: { groups: ['staff', 'team-x'] }, owner: { source: `command:${script}`, subject: 'uid-1001' } },
    });
    expect(await auth.login('bob', GOOD, context)).toEqual({ kind: 'ok', identity: { account: 'bob', provider: 'command', subject: 'bob', attributes: {}, owner: { source: `command:${script}`, subject: 'bob' } } });
  });

  it('exit 1 denies', async () => {
    const { auth } = make();
    expect(await auth.login('alice', 'wrong', context)).toEqual({ kind: 'denied', reason: 'command: invalid username or password', knownAccount: true });
  });

  it('any other exit answers 503 and logs stderr with the password removed', async () => {
    const { auth, lines, raw } = make();
    await expect503(auth.login('crash', GOOD, context), 'the authentication command is unavailable; try again shortly');
    const line = lines.find((l) => l.event === 'command_failed');
    expect(line).toMatchObject({ level: 40, why: 'exited with code 3', stderr: 'debug: checking crash with password [redacted]' });
    expect(raw()).not.toContain('horse');
  });

  it('answers 503 for garbage on stdout after exit 0, and for an answer outside the contract', async () => {
    const { auth, lines, raw } = make();
    await expect503(auth.login('garbage', GOOD, context), 'the authentication command gave an unusable answer; try again shortly');
    await expect503(auth.login('badshape', GOOD, context), 'the authentication command gave an unusable answer; try again shortly');
    await expect503(auth.login('flood', GOOD, context), 'the authentication command is unavailable; try again shortly');
    expect(lines.filter((l) => l.event === 'command_bad_answer').map((l) => l.why)).toEqual([
      'exited 0 but stdout is not JSON',
      'exited 0 but stdout does not follow the contract: (root): Unrecognized key: "groups"',
    ]);
    expect(lines.find((l) => l.event === 'command_failed')?.why).toBe('printed more than 65536 bytes on stdout (killed)');
    expect(raw()).not.toContain('horse');
  });

  it('kills a command that overruns its timeout, with everything it started, and answers 503', async () => {
    const { auth, lines, recordFile } = make({ timeoutMs: 400 });
    const started = Date.now();
    await expect503(auth.login('forker', GOOD, context), 'the authentication command is unavailable; try again shortly');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(1500);
    expect(lines.find((l) => l.event === 'command_failed')?.why).toBe('no answer within 400 ms (killed)');
    const grandchild = Number(readFileSync(`${recordFile}.grandchild`, 'utf8'));
    // Dead, or a zombie waiting for init to reap it.
    const state = () => (existsSync(`/proc/${grandchild}/stat`) ? readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone');
    await waitUntil('the grandchild to die', async () => (state() === 'gone' || state() === 'Z' ? true : undefined), { timeoutMs: 2000, intervalMs: 20 });
  });

  it('answers 503 when the program cannot be run', async () => {
    const { auth, lines } = make({ command: [join(dir, 'missing-program')] });
    await expect503(auth.login('alice', GOOD, context), 'the authentication command is unavailable; try again shortly');
    expect(lines.find((l) => l.event === 'command_failed')?.why).toBe(`cannot run ${join(dir, 'missing-program')}: ENOENT`);
  });

  it('leaves usernames it does not claim to the next backend without running', async () => {
    const { auth, runs } = make({ claims: '^svc-[a-z]+$' });
    expect(await auth.login('alice', GOOD, context)).toEqual({ kind: 'no_match' });
    expect(await auth.login('svc-alice-x', GOOD, context)).toEqual({ kind: 'no_match' });
    expect(runs()).toHaveLength(0);
    expect((await auth.login('svc-ci', GOOD, context)).kind).toBe('ok');
    expect(runs()).toHaveLength(1);
  });

  it('runs at most maxConcurrent at once and refuses with 503 when the queue is full', async () => {
    const { auth, runs } = make({ maxConcurrent: 2 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => auth.login(`busy${i}`, GOOD, context)));
    expect(results.map((r) => r.kind)).toEqual(Array(6).fill('ok'));
    const spans = runs().map((r) => [r.started, r.ended] as const);
    const overlap = Math.max(...spans.map(([s]) => spans.filter(([s2, e2]) => s2 <= s && s < e2).length));
    expect(overlap).toBe(2);

    const small = make({ maxConcurrent: 1, maxQueued: 1 });
    const settled = await Promise.allSettled([small.auth.login('busy-a', GOOD, context), small.auth.login('busy-b', GOOD, context), small.auth.login('busy-c', GOOD, context)]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((settled[2] as PromiseRejectedResult).reason).toBeInstanceOf(TemporarilyUnavailableError);
    expect(small.lines.find((l) => l.event === 'command_busy')?.why).toBe('1 runs in progress and 1 waiting');
  });

  it('caches a success under a keyed hash, shares one run among concurrent logins, never caches a failure', async () => {
    const { auth, runs, cache } = make();
    const burst = await Promise.all(Array.from({ length: 5 }, () => auth.login('alice', GOOD, context)));
    expect(burst.every((r) => r.kind === 'ok')).toBe(true);
    expect((await auth.login('alice', GOOD, context)).kind).toBe('ok');
    expect(runs()).toHaveLength(1);
    await auth.login('alice', 'wrong', context);
    await auth.login('alice', 'wrong', context);
    expect(runs()).toHaveLength(3);
    const dump = JSON.stringify([...(cache as unknown as { lru: Map<string, unknown> }).lru.entries()]);
    expect(dump).not.toContain('horse');
    expect(dump).toMatch(/"command:[0-9a-f]{64}"/);

    const uncached = make({ verifiedCacheSeconds: 0 });
    await uncached.auth.login('alice', GOOD, context);
    await uncached.auth.login('alice', GOOD, context);
    expect(uncached.runs()).toHaveLength(2);
  });

  it('writes and reads the verified entry in the format replicas of other versions share', async () => {
    const hashKey = randomBytes(32);
    const recordFile = join(dir, `record-${randomBytes(4).toString('hex')}.jsonl`);
    const config = commandAuthnSchema.parse({ type: 'command', command: [script, '--mode', 'check'], env: { RECORD_FILE: recordFile }, verifiedCacheSeconds: 45 });
    const { logger } = captureLog('silent');
    const cache = new RecordingCache();
    const first = await new CommandAuthenticator(config, { cache, hashKey, logger }).login('Alice', GOOD, context);
    expect(first.kind).toBe('ok');
    const key = `command:${keyedHash(hashKey, 'command', JSON.stringify([script, '--mode', 'check']), 'Alice', GOOD)}`;
    expect(cache.writes).toEqual([{ key, value: '{"account":"alice","subject":"uid-1001","attributes":{"groups":["staff","team-x"]}}', ttlSeconds: 45 }]);
    // Another replica answers from that entry without running the program.
    const other = new RecordingCache();
    other.entries.set(key, cache.writes[0]!.value);
    expect(await new CommandAuthenticator(config, { cache: other, hashKey, logger }).recall('Alice', GOOD, context)).toEqual(first);
    expect(await new CommandAuthenticator(config, { cache: other, hashKey, logger }).login('Alice', GOOD, context)).toEqual(first);
    expect(readFileSync(recordFile, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('sends one JSON object with input: json, so a password may hold a line break', async () => {
    const { auth, runs } = make({ input: 'json' });
    expect((await auth.login('carol', 'two\nlines', context)).kind).toBe('denied');
    expect(JSON.parse(runs()[0]!.stdin)).toEqual({ username: 'carol', password: 'two\nlines', service: 'registry', client_ip: '192.0.2.7' });
    const lines = make();
    expect(await lines.auth.login('carol', 'two\nlines', context)).toEqual({ kind: 'denied', reason: 'command: a username or password with a line break cannot be passed as lines' });
    expect(lines.runs()).toHaveLength(0);
  });
});

describe('command authenticator config and preflight', () => {
  it('reports mistakes with their paths', () => {
    const r = commandAuthnSchema.safeParse({ type: 'command', command: ['check-password'], claims: '(', env: { 'BAD NAME': 'x' }, timeoutMs: 10 });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'command: the program must be an absolute path (no PATH lookup)',
      'env.BAD NAME: must be an environment variable name',
      'timeoutMs: Too small: expected number to be >=50',
      'claims: must be a valid regular expression',
    ]);
    expect(ownSettings(commandAuthnSchema.parse({ type: 'command', command: ['/usr/bin/true'] }))).toEqual({
      type: 'command',
      command: ['/usr/bin/true'],
      input: 'lines',
      env: {},
      maxConcurrent: 4,
      maxQueued: 64,
      verifiedCacheSeconds: 60,
    });
  });

  it('finds a missing or non-executable program', async () => {
    const plain = join(dir, 'not-executable.sh');
    await writeFile(plain, '#!/bin/sh\n');
    await chmod(plain, 0o644);
    expect(await preflightCommand([script])).toEqual([]);
    expect(await preflightCommand([join(dir, 'nope')], { path: 'authn.2' })).toEqual([{ severity: 'error', path: 'authn.2.command', message: `${join(dir, 'nope')} does not exist` }]);
    expect(await preflightCommand([dir])).toEqual([{ severity: 'error', path: 'command', message: `${dir} is not a regular file` }]);
    // root may execute any file with an x bit; a 0644 file has none, so this holds for root too.
    expect(await preflightCommand([plain])).toEqual([{ severity: 'error', path: 'command', message: `${plain} is not executable by this user (EACCES)` }]);
  });
});
