import { secretReader } from '../../src/config/secrets.js';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Authorizer } from '../../src/authz/authorizer.js';
import { DeciderChain } from '../../src/authz/decider-chain.js';
import { commandAuthzSchema } from '../../src/authz/command/command-authz-config.js';
import { createRemoteAuthorizer } from '../../src/authz/registry.js';
import { sageAuthzSchema } from '../../src/authz/sage/sage-config.js';
import { staticAclSchema } from '../../src/authz/static-acl/static-acl-config.js';
import { StaticAclAuthorizer } from '../../src/authz/static-acl/static-acl.js';
import { webhookAuthzSchema } from '../../src/authz/webhook/webhook-config.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { HTTP_OUTAGES, startFakePlatform, verifyWharfSignature, type FakeHandler, type FakePlatform, type Fault } from '../support/fake-platform.js';
import { captureLog } from '../support/log-capture.js';
import { freePort } from '../support/ports.js';
import { authorizerContract, type AuthorizerUnderTest, type Policy } from './authorizer-contract.js';
import { shutDown } from '../support/shut-down.js';

/*
 * The contract run against every kind of authorizer: the static ACL, each remote decider
 * (webhook and SAGE against real HTTP servers standing in for the platform, the command against
 * a real program), and the ACL combined with a webhook as services.ts wires them.
 */

let platform: FakePlatform;
let dir: string;
let script: string;
let paths = 0;

/*
 * The decision program: reads the request, prints $ANSWER (the decision contract's JSON) and
 * exits 0. $MODE makes it misbehave: crash, hang past its timeout, or print garbage.
 */
const SCRIPT = `#!${process.execPath}
let input = '';
process.stdin.setEncoding('utf8').on('data', (d) => (input += d));
process.stdin.on('end', () => {
  JSON.parse(input);
  const mode = process.env.MODE || 'normal';
  if (mode === 'crash') { process.stderr.write('policy database down\\n'); process.exit(2); }
  if (mode === 'hang') { setTimeout(() => {}, 10000); return; }
  if (mode === 'garbage') { process.stdout.write('<html>busy</html>'); process.exit(0); }
  process.stdout.write(process.env.ANSWER);
  process.exit(0);
});
`;

beforeAll(async () => {
  platform = await startFakePlatform();
  dir = await mkdtemp(join(tmpdir(), 'wharf-authz-contract-'));
  script = join(dir, 'decide.cjs');
  await writeFile(script, SCRIPT);
  await chmod(script, 0o755);
});
afterAll(() => shutDown(platform, dir));

/** A fresh path on the fake platform answered by `handler`, or misbehaving as `outage` says; its URL. */
async function serve(handler: FakeHandler, outage?: Fault | 'refused'): Promise<string> {
  if (outage === 'refused') return `http://127.0.0.1:${await freePort()}/nothing-listens`;
  const path = `/decider-${++paths}`;
  platform.setHandler(path, handler);
  platform.setFault(path, outage);
  return `${platform.url}${path}`;
}

function httpOutages(make: (policy: Policy, outage: Fault | 'refused') => Promise<AuthorizerUnderTest>) {
  return Object.fromEntries(Object.entries(HTTP_OUTAGES).map(([name, outage]) => [name, (policy: Policy) => make(policy, outage)]));
}

/**
 * The decision contract's answer to any request: every name of the policy, asked about or not,
 * each first under another type and another class granting everything there (so a decision
 * matched on the name alone would grant too much).
 */
function decisionAnswer(policy: Policy): string {
  const decisions = Object.entries(policy).flatMap(([name, allowed]) => [
    { type: 'registry', name, allowed: ['*'] },
    { type: 'repository', class: 'plugin', name, allowed: ['*'] },
    { type: 'repository', name, allowed, reason: 'policy' },
  ]);
  return JSON.stringify({ decisions });
}

/** What every remote authorizer factory is given: fresh cache and key, a captured logger. */
function remoteDeps(env: Record<string, string> = {}) {
  const log = captureLog('trace', { unredacted: true });
  return { logs: log.text, deps: { cache: new MemoryCache({ maxEntries: 1000 }), hashKey: randomBytes(32), logger: log.logger, readSecret: secretReader(env), generation: async () => '0' } };
}

// --- static ACL: rules from the config; calls nothing ------------------------------------------

/** The policy as ACL rules, one per repository name, for any account. */
function staticAcl(policy: Policy): StaticAclAuthorizer {
  return new StaticAclAuthorizer(staticAclSchema.parse({ rules: Object.entries(policy).map(([name, actions]) => ({ account: '*', name, actions })) }));
}

// The ACL is the config itself: there is no decider to be down.
authorizerContract('static ACL', { make: async (policy) => ({ authorizer: staticAcl(policy) }), outages: {} });

// --- webhook: one signed JSON call per token request -------------------------------------------

const WEBHOOK_SECRET = `whsec-${randomBytes(16).toString('hex')}`;

async function webhookAuthorizer(policy: Policy, outage?: Fault | 'refused'): Promise<AuthorizerUnderTest & { url: string }> {
  const { deps, logs } = remoteDeps({ WHARF_AUTHZ_WEBHOOK_SECRET: WEBHOOK_SECRET });
  // A platform that checks Wharf's signature, as docs/authz-webhook.md asks.
  const url = await serve((req) => {
    if (!verifyWharfSignature(req, WEBHOOK_SECRET, Math.floor(Date.now() / 1000))) return { status: 401, body: { error: 'bad signature' } };
    return { status: 200, body: decisionAnswer(policy), contentType: 'application/json' };
  }, outage);
  const authorizer: Authorizer = createRemoteAuthorizer(webhookAuthzSchema.parse({ type: 'webhook', url, timeoutMs: 300, retries: 0 }), deps);
  return { authorizer, logs, secrets: [WEBHOOK_SECRET], url };
}

/** Builds with `make`, and takes the decider down on demand (it answers 500 from then on). */
function breakable(make: (policy: Policy) => Promise<AuthorizerUnderTest & { url: string }>) {
  return async (policy: Policy) => {
    const sut = await make(policy);
    return { ...sut, breakDecider: () => platform.setFault(new URL(sut.url).pathname, { kind: 'status', status: 500 }) };
  };
}

authorizerContract('webhook', { make: (policy) => webhookAuthorizer(policy), outages: httpOutages(webhookAuthorizer), cachesThenFails: breakable(webhookAuthorizer) });

// --- SAGE: one call per scope, a plain-text comma list -----------------------------------------

const SAGE_TOKEN = `sage-${randomBytes(16).toString('hex')}`;

async function sageAuthorizer(policy: Policy, outage?: Fault | 'refused'): Promise<AuthorizerUnderTest & { url: string }> {
  const { deps, logs } = remoteDeps({ ecrAuthZToken: SAGE_TOKEN });
  // SAGE lists the allowed actions (any it likes, asked or not); 403 means nothing granted.
  const url = await serve((req) => {
    if (req.headers.authorization !== `sage ${SAGE_TOKEN}`) return { status: 401, body: 'unauthorized' };
    const allowed = policy[(req.json as { name: string }).name];
    return allowed ? { status: 200, body: allowed.join(','), contentType: 'text/html; charset=utf-8' } : { status: 403, body: 'forbidden' };
  }, outage);
  const authorizer: Authorizer = createRemoteAuthorizer(sageAuthzSchema.parse({ type: 'sage', url, timeoutMs: 300, retries: 0 }), deps);
  return { authorizer, logs, secrets: [SAGE_TOKEN], url };
}

authorizerContract('sage', { make: (policy) => sageAuthorizer(policy), outages: httpOutages(sageAuthorizer), cachesThenFails: breakable(sageAuthorizer) });

// --- command: the decision contract over stdin/stdout ------------------------------------------

async function commandAuthorizer(policy: Policy, mode = 'normal', program = script): Promise<AuthorizerUnderTest> {
  const { deps, logs } = remoteDeps();
  const config = commandAuthzSchema.parse({ type: 'command', command: [program], env: { MODE: mode, ANSWER: decisionAnswer(policy) }, timeoutMs: 500 });
  return { authorizer: createRemoteAuthorizer(config, deps), logs };
}

// Its decisions are not cached unless configured (cacheSeconds 0), so every request asks it.
authorizerContract('command', {
  make: (policy) => commandAuthorizer(policy),
  outages: {
    crashes: (policy) => commandAuthorizer(policy, 'crash'),
    'hangs past its timeout': (policy) => commandAuthorizer(policy, 'hang'),
    'prints garbage': (policy) => commandAuthorizer(policy, 'garbage'),
    'is missing': (policy) => commandAuthorizer(policy, 'normal', join(dir, 'no-such-program')),
  },
});

// --- combined: the ACL first, the webhook for what no rule matches -----------------------------

/**
 * As services.ts wires them when a webhook is configured: ACL rules of its own (here one for
 * another namespace) and anonymous pulls, then the webhook for every scope no rule matched.
 */
async function combinedAuthorizer(policy: Policy, outage?: Fault | 'refused'): Promise<AuthorizerUnderTest & { url: string }> {
  const acl = new StaticAclAuthorizer(staticAclSchema.parse({ rules: [{ account: 'ci-*', name: 'library/*', actions: ['pull'] }], anonymous: { pull: ['library/*'] } }));
  const webhook = await webhookAuthorizer(policy, outage);
  return { ...webhook, authorizer: new DeciderChain([acl, webhook.authorizer]) };
}

authorizerContract('ACL and webhook combined', {
  make: (policy) => combinedAuthorizer(policy),
  outages: httpOutages(combinedAuthorizer),
  cachesThenFails: breakable(combinedAuthorizer),
});
