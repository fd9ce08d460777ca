import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AuthorizationRequest } from '../../src/authz/authorizer.js';
import { decisionAnswerSchema, decisionRequestSchema, type DecisionRequest } from '../../src/authz/decision-protocol.js';
import { secretReader } from '../../src/config/secrets.js';
import { createRemoteAuthorizer } from '../../src/authz/registry.js';
import { webhookAuthzSchema } from '../../src/authz/webhook/webhook-config.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { formatScope, parseScope } from '../../src/domain/scope.js';
import { startFakePlatform, type FakePlatform, type FakeRequest } from '../support/fake-platform.js';
import { requireCommand } from '../support/prerequisites.js';
import { runCommand } from '../support/processes.js';

/*
 * Keeps docs/authz-webhook.md and docs/schemas/ true: the requests Wharf really sends match the
 * published request schema, the page's examples parse the way it says, and its verification
 * snippets accept a real request and refuse a tampered one.
 */

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const doc = read('docs/authz-webhook.md');
const requestJsonSchema = JSON.parse(read('docs/schemas/authz-webhook-request.schema.json')) as JsonSchemaDoc;
const responseJsonSchema = JSON.parse(read('docs/schemas/authz-webhook-response.schema.json')) as JsonSchemaDoc;

interface JsonSchemaDoc {
  properties: Record<string, { oneOf?: { properties?: Record<string, unknown> }[] }>;
  $defs: Record<string, { properties: Record<string, unknown> }>;
}

type FromJsonSchemaInput = Parameters<typeof z.fromJSONSchema>[0];
const publishedRequest = z.fromJSONSchema(requestJsonSchema as unknown as FromJsonSchemaInput);
const publishedResponse = z.fromJSONSchema(responseJsonSchema as unknown as FromJsonSchemaInput);

/** The fenced block after `<!-- kind: name -->` in the page. */
function block(kind: 'example' | 'snippet', name: string): string {
  const match = new RegExp(`<!-- ${kind}: ${name} -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!match) throw new Error(`docs/authz-webhook.md has no ${kind} ${name}`);
  return match[1]!;
}

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const PATH = '/authz';
let platform: FakePlatform;

beforeEach(async () => {
  platform = await startFakePlatform();
  platform.setHandler(PATH, (r) => {
    const body = r.json as DecisionRequest;
    return { status: 200, body: { decisions: body.scopes.map((s) => ({ type: s.type, class: s.class, name: s.name, allowed: s.actions })) } };
  });
});

afterEach(async () => {
  await platform.close();
});

/** An authorizer on the real clock (the snippets check the timestamp against theirs). */
function authorizer() {
  const config = webhookAuthzSchema.parse({ type: 'webhook', url: `${platform.url}${PATH}` });
  return createRemoteAuthorizer(config, { cache: new MemoryCache({ maxEntries: 100 }), hashKey: randomBytes(32), logger: pino({ level: 'silent' }), readSecret: secretReader({ WHARF_AUTHZ_WEBHOOK_SECRET: SECRET }), generation: async () => '0' });
}

const scopes = (...raw: string[]) => raw.map(parseScope);

/** Real requests, as the platform receives them. */
async function realRequests(): Promise<FakeRequest[]> {
  const a = authorizer();
  await a.authorize({ identity: { account: 'alice', provider: 'oidc', subject: 'u-123', attributes: { groups: ['a', 'b'], email: 'alice@example.com' } }, service: 'registry', clientIp: '203.0.113.7', scopes: scopes('repository:alice/app:pull,push', 'repository(plugin):alice/x:pull') });
  await a.authorize({ identity: undefined, service: 'registry', clientIp: '::1', scopes: scopes('repository:public/base:pull') });
  await a.authorize({ identity: { account: 'admin', provider: 'static', subject: 'admin', attributes: {} }, service: 'registry', clientIp: '10.0.0.1', scopes: scopes('registry:catalog:*') });
  expect(platform.calls).toHaveLength(3);
  return platform.calls;
}

describe('the published request schema', () => {
  it('accepts every request Wharf sends, and names every field it sends', async () => {
    for (const call of await realRequests()) {
      const json = call.json as DecisionRequest;
      expect(publishedRequest.safeParse(json).success, call.body).toBe(true);
      expect(decisionRequestSchema.safeParse(json).success).toBe(true);
      expect(Object.keys(json).sort()).toEqual(Object.keys(requestJsonSchema.properties).sort());
      if (json.identity) {
        expect(Object.keys(json.identity).sort()).toEqual(Object.keys(requestJsonSchema.properties['identity']!.oneOf![1]!.properties!).sort());
      }
      for (const scope of json.scopes) expect(Object.keys(scope).sort()).toEqual(Object.keys(requestJsonSchema.$defs['scope']!.properties).sort());
    }
  });

  it('is a real check: it refuses requests that break it', async () => {
    const [call] = await realRequests();
    const good = call!.json as DecisionRequest;
    const bad: unknown[] = [
      { ...good, version: 2 },
      { ...good, scopes: [] },
      { ...good, identity: { provider: 'oidc' } },
      { ...good, scopes: [{ ...good.scopes[0]!, actions: [] }] },
      { ...good, scopes: [{ ...good.scopes[0]!, actions: ['PULL'] }] },
      (({ client_ip: _, ...rest }) => rest)(good),
    ];
    for (const b of bad) expect(publishedRequest.safeParse(b).success, JSON.stringify(b)).toBe(false);
  });
});

describe('the examples in docs/authz-webhook.md', () => {
  const exampleRequest = JSON.parse(block('example', 'request')) as DecisionRequest;
  const exampleResponse = JSON.parse(block('example', 'response')) as unknown;
  const exampleGrants = JSON.parse(block('example', 'grants')) as Record<string, string[]>;

  it('parse with the published schemas and with the schemas Wharf uses', () => {
    expect(publishedRequest.safeParse(exampleRequest).success).toBe(true);
    expect(decisionRequestSchema.safeParse(exampleRequest).success).toBe(true);
    expect(publishedResponse.safeParse(exampleResponse).success).toBe(true);
    expect(decisionAnswerSchema.safeParse(exampleResponse).success).toBe(true);
  });

  it('are what Wharf really sends and grants', async () => {
    platform.setHandler(PATH, () => ({ status: 200, body: exampleResponse as object }));
    const identity = exampleRequest.identity!;
    const request: AuthorizationRequest = {
      identity: { account: exampleRequest.account, provider: identity.provider, subject: identity.subject, attributes: identity.attributes },
      service: exampleRequest.service,
      clientIp: exampleRequest.client_ip,
      scopes: exampleRequest.scopes.map((s) => ({ type: s.type, name: s.name, actions: s.actions, ...(s.class === null ? {} : { class: s.class }) })),
    };
    const decisions = await authorizer().authorize(request);
    expect(platform.calls[0]!.json).toEqual(exampleRequest);
    expect(Object.fromEntries(decisions.map((d) => [formatScope(d.scope), d.granted]))).toEqual(exampleGrants);
  });

  it('agree with Wharf on what a valid answer is', () => {
    const d = { type: 'repository', name: 'a/b', allowed: ['pull'] };
    const valid = [{ decisions: [] }, { decisions: [{ ...d, class: null }] }, { decisions: [{ ...d, class: 'plugin', extra: 1 }], ttl: 1.5, mine: true }, { decisions: [d], ttl: 0 }];
    const invalid = [{}, { decisions: 'all' }, { decisions: [{ ...d, allowed: 'pull' }] }, { decisions: [{ type: 'repository', allowed: [] }] }, { decisions: [], ttl: -1 }, { decisions: [], ttl: '60' }, []];
    for (const v of valid) {
      expect(publishedResponse.safeParse(v).success, JSON.stringify(v)).toBe(true);
      expect(decisionAnswerSchema.safeParse(v).success, JSON.stringify(v)).toBe(true);
    }
    for (const v of invalid) {
      expect(publishedResponse.safeParse(v).success, JSON.stringify(v)).toBe(false);
      expect(decisionAnswerSchema.safeParse(v).success, JSON.stringify(v)).toBe(false);
    }
  });
});

describe('the verification snippets in docs/authz-webhook.md', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wharf-webhook-snippets-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function signedRequest(): Promise<FakeRequest> {
    await authorizer().authorize({ identity: undefined, service: 'registry', clientIp: '::1', scopes: scopes('repository:public/base:pull') });
    return platform.calls[0]!;
  }

  it('Node: accepts a real request, refuses a tampered body, another secret, a stale timestamp', async () => {
    const file = join(dir, 'verify.mjs');
    writeFileSync(file, block('snippet', 'verify-node'));
    const { verifyWharf } = (await import(pathToFileURL(file).href)) as { verifyWharf: (h: unknown, b: Buffer, s: string, w?: number) => boolean };
    const call = await signedRequest();
    const stale = { ...call.headers, 'x-wharf-timestamp': String(Math.floor(Date.now() / 1000) - 301) };
    expect(verifyWharf(call.headers, Buffer.from(call.body), SECRET)).toBe(true);
    expect(verifyWharf(call.headers, Buffer.from(call.body.replace('pull', 'push')), SECRET)).toBe(false);
    expect(verifyWharf(call.headers, Buffer.from(call.body), `${SECRET}x`)).toBe(false);
    expect(verifyWharf(stale, Buffer.from(call.body), SECRET)).toBe(false);
    expect(verifyWharf({ ...call.headers, authorization: 'Bearer nope' }, Buffer.from(call.body), SECRET)).toBe(false);
  });

  it('Python: accepts a real request, refuses a tampered body and another secret', async () => {
    requireCommand('/usr/bin/python3', 'python3');
    const call = await signedRequest();
    const harness = `${block('snippet', 'verify-python')}
import json, sys

class Headers(dict):
    def get(self, key, default=None):
        return super().get(key.lower(), default)

case = json.load(sys.stdin)
headers = Headers(case["headers"])
body = case["body"].encode()
print(json.dumps([
    verify_wharf(headers, body, case["secret"]),
    verify_wharf(headers, body.replace(b"pull", b"push"), case["secret"]),
    verify_wharf(headers, body, case["secret"] + "x"),
]))
`;
    const file = join(dir, 'verify.py');
    writeFileSync(file, harness);
    const result = await runCommand('/usr/bin/python3', [file], { input: JSON.stringify({ headers: call.headers, body: call.body, secret: SECRET }), timeoutMs: 10_000 });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([true, false, false]);
  });
});
