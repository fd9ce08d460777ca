import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizationRequest } from '../../src/authz/authorizer.js';
import { DeciderChain } from '../../src/authz/decider-chain.js';
import { commandAuthzSchema } from '../../src/authz/command/command-authz-config.js';
import { CommandDecider } from '../../src/authz/command/command-decider.js';
import { RemoteAuthorizer } from '../../src/authz/remote-authorizer.js';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import type { Identity } from '../../src/domain/identity.js';
import { parseScope } from '../../src/domain/scope.js';
import { CommandSlots } from '../../src/upstream/command-slots.js';
import { upstreamCircuit } from '../../src/upstream/upstream-settings.js';
import { captureLog } from '../support/log-capture.js';

/*
 * The decision program: members of the `team-x` group (an identity attribute, e.g. from LDAP)
 * may push and pull `team-x/*`; everyone may pull `library/*`; other scopes are left out of the
 * answer (= denied). Its behaviour switches on $MODE, and it records every request it reads.
 */
const SCRIPT = `#!${process.execPath}
const fs = require('node:fs');
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', () => {
  fs.appendFileSync(process.env.RECORD_FILE, input);
  const mode = process.env.MODE || 'normal';
  if (mode === 'fail') { process.stderr.write('database down\\n'); process.exit(2); }
  if (mode === 'hang') { setTimeout(() => {}, 10000); return; }
  if (mode === 'garbage') { process.stdout.write('<html>'); process.exit(0); }
  if (mode === 'shape') { process.stdout.write(JSON.stringify({ decisions: [{ name: 'x' }] })); process.exit(0); }
  const request = JSON.parse(input);
  if (request.scopes.some((s) => s.name.startsWith('broken/'))) { process.stderr.write('database down\\n'); process.exit(2); }
  const groups = (request.identity && request.identity.attributes.groups) || [];
  const decisions = [];
  for (const s of request.scopes) {
    if (s.name.startsWith('team-x/') && groups.includes('team-x')) decisions.push({ type: s.type, class: s.class, name: s.name, allowed: ['push', 'pull'], reason: 'team-x member' });
    else if (s.name.startsWith('library/')) decisions.push({ type: s.type, name: s.name, allowed: ['pull'] });
    else if (s.name === 'everything/app') decisions.push({ type: s.type, name: s.name, allowed: ['*'] });
    else if (s.name === 'push-only/app') decisions.push({ type: s.type, name: s.name, allowed: ['push'] });
  }
  process.stdout.write(JSON.stringify(mode === 'ttl' ? { decisions, ttl: 30 } : { decisions }));
  process.exit(0);
});
`;

let dir: string;
let script: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-command-authz-'));
  script = join(dir, 'decide.cjs');
  await writeFile(script, SCRIPT);
  await chmod(script, 0o755);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ludwig: Identity = { account: 'ludwig', provider: 'ldap', subject: 'uid=ludwig,ou=musicians,dc=example,dc=org', attributes: { groups: ['musicians', 'team-x'] } };
const johann: Identity = { account: 'johann', provider: 'ldap', subject: 'uid=johann,ou=musicians,dc=example,dc=org', attributes: { groups: ['musicians'] } };

function request(identity: Identity | undefined, ...scopes: string[]): AuthorizationRequest {
  return { identity, service: 'registry', clientIp: '192.0.2.1', scopes: scopes.map(parseScope) };
}

function make(mode = 'normal', patch: Record<string, unknown> = {}, deps: { now?: () => number; generation?: (a: string) => Promise<string>; slots?: CommandSlots } = {}) {
  const recordFile = join(dir, `record-${randomBytes(4).toString('hex')}.jsonl`);
  const config = commandAuthzSchema.parse({ type: 'command', command: [script], env: { RECORD_FILE: recordFile, MODE: mode }, timeoutMs: 2000, ...patch });
  const { logger, lines } = captureLog('debug');
  const circuit = upstreamCircuit(config, deps.now);
  const decider = new CommandDecider(config, { logger, circuit, slots: deps.slots });
  const authorizer = new RemoteAuthorizer(decider, { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32), circuit, generation: deps.generation });
  const requests = (): Array<Record<string, unknown>> => (existsSync(recordFile) ? readFileSync(recordFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : []);
  return { authorizer, lines, requests };
}

describe('command authorization', () => {
  it('sends one JSON request with the identity’s attributes and grants what the command allows', async () => {
    const { authorizer, requests } = make();
    const decisions = await authorizer.authorize(request(ludwig, 'repository:team-x/app:push,pull', 'repository:library/base:pull,push', 'repository:johann/app:pull'));
    expect(decisions.map((d) => ({ scope: d.scope.name, granted: d.granted, source: d.source, matched: d.matched, reason: d.reason }))).toEqual([
      { scope: 'team-x/app', granted: ['push', 'pull'], source: 'command', matched: true, reason: 'team-x member' },
      { scope: 'library/base', granted: ['pull'], source: 'command', matched: true, reason: 'allowed by the command' },
      { scope: 'johann/app', granted: [], source: 'command', matched: true, reason: 'not in the command answer' },
    ]);
    expect(requests()).toEqual([
      {
        version: 1,
        account: 'ludwig',
        identity: { provider: 'ldap', subject: ludwig.subject, attributes: { groups: ['musicians', 'team-x'] } },
        service: 'registry',
        client_ip: '192.0.2.1',
        scopes: [
          { type: 'repository', class: null, name: 'team-x/app', actions: ['push', 'pull'] },
          { type: 'repository', class: null, name: 'library/base', actions: ['pull', 'push'] },
          { type: 'repository', class: null, name: 'johann/app', actions: ['pull'] },
        ],
      },
    ]);
    // Johann is no team-x member; anonymous requests get identity null.
    expect((await authorizer.authorize(request(johann, 'repository:team-x/app:push,pull')))[0]!.granted).toEqual([]);
    expect((await authorizer.authorize(request(undefined, 'repository:library/base:pull')))[0]!.granted).toEqual(['pull']);
    expect(requests()[2]).toMatchObject({ account: '', identity: null });
  });

  it('grants exactly what is allowed: * allows all asked, push does not imply pull', async () => {
    const { authorizer } = make();
    const [all, push] = await authorizer.authorize(request(johann, 'repository:everything/app:pull,push,delete', 'repository:push-only/app:pull,push'));
    expect(all!.granted).toEqual(['pull', 'push', 'delete']);
    expect(push!.granted).toEqual(['push']);
  });

  it.each([
    ['fail', 'exited with code 2'],
    ['hang', 'no answer within 300 ms (killed)'],
    ['garbage', 'printed something other than JSON'],
    ['shape', 'answer does not follow the contract (decisions.0.type: Invalid input: expected string, received undefined; decisions.0.allowed: Invalid input: expected array, received undefined)'],
  ])('fails closed (MODE=%s): nothing granted, unmatched, source unavailable', async (mode, why) => {
    // Only the hanging command needs the short budget; the others get room for a loaded machine.
    const { authorizer, lines } = make(mode, { timeoutMs: mode === 'hang' ? 300 : 10_000 });
    const decisions = await authorizer.authorize(request(ludwig, 'repository:team-x/app:push,pull', 'repository:library/base:pull'));
    expect(decisions.map((d) => [d.granted, d.source, d.matched, d.reason])).toEqual([
      [[], 'unavailable', false, `authorization command unavailable: ${why}`],
      [[], 'unavailable', false, `authorization command unavailable: ${why}`],
    ]);
    expect(lines.find((l) => l.event === 'authz_failed_closed')).toMatchObject({ level: 40, why });
    if (mode === 'fail') expect(lines.find((l) => l.event === 'authz_command_failed')?.stderr).toBe('database down');
  });

  it('opens the circuit after repeated failures and tries again after openSeconds', async () => {
    let now = 1_000_000;
    const { authorizer, requests } = make('fail', { failureThreshold: 2, openSeconds: 10 }, { now: () => now });
    const ask = () => authorizer.authorize(request(ludwig, 'repository:team-x/app:pull'));
    await ask();
    expect(authorizer.circuitState()).toBe('closed');
    await ask();
    expect(authorizer.circuitState()).toBe('open');
    expect((await ask())[0]!.reason).toBe('authorization command unavailable: circuit open after repeated failures');
    expect(requests()).toHaveLength(2);
    now += 10_000;
    expect(authorizer.circuitState()).toBe('half_open');
    await ask();
    expect(requests()).toHaveLength(3);
  });

  it('lets a trial through again after a half-open trial found no free slot', async () => {
    let now = 1_000_000;
    const slots = new CommandSlots(1, 0);
    const { authorizer, requests } = make('normal', { failureThreshold: 1, openSeconds: 10 }, { now: () => now, slots });
    const ask = (scope: string) => authorizer.authorize(request(ludwig, scope));
    await ask('repository:broken/app:pull');
    expect(authorizer.circuitState()).toBe('open');
    now += 10_000;

    // The trial call finds every slot taken (here by a run that waits for the test) and is refused.
    let release!: () => void;
    const held = slots.run(() => new Promise<void>((resolve) => (release = resolve)), 60_000);
    expect((await ask('repository:library/a:pull'))[0]!.reason).toBe('authorization command unavailable: 1 runs in progress and 0 waiting');
    release();
    await held;

    // The next call is the trial, it succeeds, and the circuit closes.
    const decided = await ask('repository:library/b:pull');
    expect(decided.map((d) => [d.source, d.granted])).toEqual([['command', ['pull']]]);
    expect(authorizer.circuitState()).toBe('closed');
    expect(requests()).toHaveLength(2);
  });

  it('caches decisions for the answer’s ttl, per account generation and identity attributes', async () => {
    let generation = '0';
    const { authorizer, requests } = make('ttl', {}, { generation: async () => generation });
    const first = await authorizer.authorize(request(ludwig, 'repository:team-x/app:push,pull'));
    const second = await authorizer.authorize(request(ludwig, 'repository:team-x/app:push,pull'));
    expect([first[0]!.source, second[0]!.source]).toEqual(['command', 'cache']);
    expect(second[0]!.granted).toEqual(['push', 'pull']);
    expect(requests()).toHaveLength(1);
    // Leaving team-x changes the attributes: the cached grant does not apply.
    const left = await authorizer.authorize(request({ ...ludwig, attributes: { groups: ['musicians'] } }, 'repository:team-x/app:push,pull'));
    expect([left[0]!.source, left[0]!.granted]).toEqual(['command', []]);
    generation = '1';
    expect((await authorizer.authorize(request(ludwig, 'repository:team-x/app:push,pull')))[0]!.source).toBe('command');
    expect(requests()).toHaveLength(3);
    // Without a ttl in the answer and cacheSeconds 0 (the default), nothing is cached.
    const plain = make();
    await plain.authorizer.authorize(request(ludwig, 'repository:team-x/app:pull'));
    await plain.authorizer.authorize(request(ludwig, 'repository:team-x/app:pull'));
    expect(plain.requests()).toHaveLength(2);
  });

  it('behind the ACL, decides only what no rule matched; when down, the ACL’s decisions still stand', async () => {
    const acl = new StaticAclAuthorizer({ rules: [{ account: '*', name: '${account}/*', type: 'repository', service: '*', actions: ['push', 'pull'] }], anonymous: { pull: [], deny: [] } });
    const up = make();
    const combined = new DeciderChain([acl, up.authorizer]);
    const decisions = await combined.authorize(request(ludwig, 'repository:ludwig/app:push', 'repository:team-x/app:push'));
    expect(decisions.map((d) => [d.scope.name, d.granted, d.source])).toEqual([
      ['ludwig/app', ['push'], 'acl'],
      ['team-x/app', ['push'], 'command'],
    ]);
    expect((up.requests()[0]!.scopes as unknown[]).length).toBe(1);
    const down = new DeciderChain([acl, make('fail').authorizer]);
    expect((await down.authorize(request(ludwig, 'repository:ludwig/app:push', 'repository:team-x/app:push'))).map((d) => [d.granted, d.source])).toEqual([
      [['push'], 'acl'],
      [[], 'unavailable'],
    ]);
  });

  it('validates its config', () => {
    const r = commandAuthzSchema.safeParse({ type: 'command', command: ['decide'], cacheSeconds: -1 });
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'command: the program must be an absolute path (no PATH lookup)',
      'cacheSeconds: Too small: expected number to be >=0',
    ]);
  });
});
