import { tempStore } from '../support/store.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { createServices } from '../../src/services.js';
import { loadKeys } from '../../src/keys/key-files.js';
import { shutDown } from '../support/shut-down.js';

const FORM = 'application/x-www-form-urlencoded';
const USER = 'alice';

let app: FastifyInstance;
let password: string;
let port: number;
let keysDir: string;

beforeAll(async () => {
  // A fresh password and keys per run: nothing secret is committed.
  password = randomBytes(18).toString('base64url');
  const config = parseConfig(
    {
      authn: [{ type: 'static', users: { [USER]: { passwordHash: await bcrypt.hash(password, 10) } } }],
      authz: { acl: { anonymous: { pull: ['public/*'] } } },
      log: { level: 'silent' },
    },
    {},
    'bad-input test',
  );
  keysDir = await mkdtemp(join(tmpdir(), 'wharf-bad-input-'));
  const keys = await loadKeys({ generatedDir: keysDir, algorithm: 'ES256', kidFormat: 'libtrust' });
  const services = createServices(config, { store: tempStore(), logger: createLogger('silent'), keys: keys.store, hashKey: randomBytes(32) });
  app = await buildApp(services);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  port = address.port;
});

afterAll(() => shutDown(app, keysDir));

// ---------------------------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------------------------

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
const basicBytes = (bytes: number[]): string => `Basic ${Buffer.from(bytes).toString('base64')}`;
const q = (value: string): string => encodeURIComponent(value);

function get(query: string, authorization?: string): InjectOptions {
  return { method: 'GET', url: `/token${query}`, headers: authorization === undefined ? {} : { authorization } };
}

/** `contentType: null` sends no Content-Type header at all. */
function post(body: string, contentType: string | null = FORM, url = '/token'): InjectOptions {
  return { method: 'POST', url, headers: contentType === null ? {} : { 'content-type': contentType }, payload: body };
}

const scopes = (n: number): string[] => Array.from({ length: n }, (_, i) => `repository:${USER}/r${i}:pull`);

// ---------------------------------------------------------------------------------------------
// Assertions on the error shape
// ---------------------------------------------------------------------------------------------

interface ErrorBody {
  errors: Array<{ code: string; message: string }>;
  error: string;
  error_description: string;
}

/** Anything that would betray the implementation: stack frames, file paths, framework codes. */
const LEAK = /\n\s*at\s|\bat [\w.<>]+ \(|node_modules|node:internal|\/work\/|\/tmp\/|\/home\/|[\w-]+\.(?:ts|js|mjs|cjs):\d+|FST_ERR|"stack"|"statusCode"/;

/** The whole body, exactly: the distribution entry and the OAuth fields, with one message. */
function expectErrorBody(raw: string, contentType: string | undefined, expected: { message: string; error: string; code: string }): void {
  expect(contentType).toBe('application/json; charset=utf-8');
  expect(raw).not.toMatch(LEAK);
  expect(JSON.parse(raw) as ErrorBody).toStrictEqual({ errors: [{ code: expected.code, message: expected.message }], error: expected.error, error_description: expected.message });
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

interface BadCase {
  name: string;
  /** Built lazily: the password only exists once beforeAll ran. */
  request: () => InjectOptions;
  status: number;
  /** The whole message: what is wrong, not a generic phrase. */
  message: string;
  /** OAuth `error` and distribution `errors[0].code`. */
  error: string;
  code: string;
  /** `basic`: must carry `WWW-Authenticate: Basic realm=...`; `none`: must not; `any`: not checked. */
  challenge?: 'basic' | 'none' | 'any';
}

const INVALID = { error: 'invalid_request', code: 'INVALID_REQUEST' } as const;
const UNAUTHORIZED = { error: 'unauthorized', code: 'UNAUTHORIZED', challenge: 'basic' } as const;
const NOT_FOUND = { error: 'not_found', code: 'NOT_FOUND' } as const;
const UNSUPPORTED_MEDIA = { error: 'invalid_request', code: 'UNSUPPORTED' } as const;

const cases: BadCase[] = [
  // --- Authorization header -----------------------------------------------------------------
  { name: 'Basic with characters outside base64', request: () => get('', 'Basic !!!!'), status: 400, message: 'Basic credentials are not valid base64', ...INVALID },
  { name: 'Basic with unpadded base64', request: () => get('', 'Basic YWxpY2U6cHc'), status: 400, message: 'Basic credentials are not valid base64', ...INVALID },
  { name: 'Basic with padding in the middle', request: () => get('', 'Basic YW=hbGljZTpw'), status: 400, message: 'Basic credentials are not valid base64', ...INVALID },
  { name: 'Basic with no value and no space', request: () => get('', 'Basic'), status: 400, message: 'Basic credentials are not valid base64', ...INVALID },
  { name: 'an empty `Basic ` value', request: () => get('', 'Basic '), status: 400, message: 'Basic credentials must be username:password', ...INVALID },
  { name: 'decoded credentials without a colon', request: () => get('', `Basic ${Buffer.from(USER).toString('base64')}`), status: 400, message: 'Basic credentials must be username:password', ...INVALID },
  { name: 'non-UTF-8 bytes in the credentials', request: () => get('', basicBytes([0x61, 0x6c, 0x3a, 0xff, 0xfe])), status: 400, message: 'Basic credentials are not valid UTF-8', ...INVALID },
  { name: 'an overlong UTF-8 encoding in the username', request: () => get('', basicBytes([0x61, 0xc0, 0xaf, 0x3a, 0x70])), status: 400, message: 'Basic credentials are not valid UTF-8', ...INVALID },
  { name: 'a Bearer scheme', request: () => get('', 'Bearer eyJhbGciOiJub25lIn0.e30.'), status: 401, message: 'unsupported authorization scheme "Bearer": use HTTP Basic with your username and password or token', ...UNAUTHORIZED },
  { name: 'a Digest scheme', request: () => get('', 'Digest username="alice"'), status: 401, message: 'unsupported authorization scheme "Digest": use HTTP Basic with your username and password or token', ...UNAUTHORIZED },
  { name: 'an Authorization header over 8192 bytes', request: () => get('', `Basic ${'A'.repeat(8188)}`), status: 400, message: 'Authorization header longer than 8192 bytes', ...INVALID },
  { name: 'a wrong password', request: () => get(`?account=${USER}`, basic(USER, `${password}x`)), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'an empty password', request: () => get('', basic(USER, '')), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'an unknown user', request: () => get('', basic('mallory', password)), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'a unicode username', request: () => get('', basic('\u0101lice', password)), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'a Cyrillic look-alike of a real username with its right password', request: () => get('', basic('\u0430lice', password)), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'a fullwidth look-alike of a real username with its right password', request: () => get('', basic('\uff41lice', password)), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'a byte-order mark before a real username with its right password', request: () => get('', basic('\ufeffalice', password)), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'a control character in the username', request: () => get('', basic('al\u0001ice', password)), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: 'a NUL byte in the username', request: () => get('', basic('alice\u0000', password)), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: 'a DEL in the username', request: () => get('', basic('ali\u007fce', password)), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: 'a newline in the username', request: () => get('', basic('alice\nadmin', password)), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: 'a username of 256 bytes (128 two-byte characters)', request: () => get('', basic('\u00e9'.repeat(128), password)), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: '`account` differing from the Basic username', request: () => get('?account=bob', basic(USER, password)), status: 401, message: 'the account parameter does not match the username', ...UNAUTHORIZED },
  { name: '`account` differing from the Basic username only by case', request: () => get('?account=Alice', basic(USER, password)), status: 401, message: 'the account parameter does not match the username', ...UNAUTHORIZED },

  // --- GET query parameters -----------------------------------------------------------------
  { name: 'a repeated `service`', request: () => get('?service=registry&service=registry'), status: 400, message: 'parameter service given more than once', ...INVALID },
  { name: 'a repeated `account`', request: () => get(`?account=${USER}&account=${USER}`, basic(USER, password)), status: 400, message: 'parameter account given more than once', ...INVALID },
  { name: 'a repeated `offline_token`', request: () => get('?offline_token=true&offline_token=false'), status: 400, message: 'parameter offline_token given more than once', ...INVALID },
  { name: 'a repeated `client_id`', request: () => get('?client_id=docker&client_id=docker'), status: 400, message: 'parameter client_id given more than once', ...INVALID },
  { name: 'a wrong `service`', request: () => get('?service=other-registry'), status: 400, message: 'unknown service "other-registry": this endpoint serves "registry"', ...INVALID },
  { name: 'an empty `service`', request: () => get('?service='), status: 400, message: 'unknown service "": this endpoint serves "registry"', ...INVALID },
  { name: 'a `service` of 1025 characters', request: () => get(`?service=${'s'.repeat(1025)}`), status: 400, message: 'parameter service is too long', ...INVALID },
  { name: 'an `account` of 1025 characters', request: () => get(`?account=${'a'.repeat(1025)}`), status: 400, message: 'parameter account is too long', ...INVALID },
  { name: 'a `client_id` of 1025 characters', request: () => get(`?client_id=${'c'.repeat(1025)}`), status: 400, message: 'parameter client_id is too long', ...INVALID },
  ...(
    [
      ['garbage', 'expected type:name:actions'],
      ['repository', 'expected type:name:actions'],
      ['repository::pull', 'resource name does not follow the repository name grammar'],
      ['repository:alice/app:', 'no actions'],
      ['repository:alice/app:PULL', 'bad action "PULL"'],
      ['REPOSITORY:alice/app:pull', 'resource type must be lower-case letters and digits, optionally with a (class)'],
      ['repository(:alice/app:pull', 'resource type must be lower-case letters and digits, optionally with a (class)'],
      ['repository:alice/app:pull,,push', 'bad action ""'],
      ['repository:alice/../bob:pull', 'resource name does not follow the repository name grammar'],
      ['repository:/alice/app:pull', 'resource name does not follow the repository name grammar'],
      ['repository:Alice/App:pull', 'resource name does not follow the repository name grammar'],
    ] as const
  ).map(
    ([scope, why]): BadCase => ({ name: `scope garbage ${JSON.stringify(scope)}`, request: () => get(`?scope=${q(scope)}`, basic(USER, password)), status: 400, message: `invalid scope ${JSON.stringify(scope)}: ${why}`, ...INVALID }),
  ),
  { name: 'a scope over 512 characters', request: () => get(`?scope=${q(`repository:${'a/'.repeat(300)}b:pull`)}`), status: 400, message: `invalid scope "repository:${'a/'.repeat(34)}a…": longer than 512 characters`, ...INVALID },
  { name: 'a good scope then a bad one', request: () => get(`?scope=${q('repository:alice/a:pull')}&scope=${q('repository:alice/b:PUSH')}`, basic(USER, password)), status: 400, message: 'invalid scope "repository:alice/b:PUSH": bad action "PUSH"', ...INVALID },
  { name: '33 scope parameters', request: () => get(`?${scopes(33).map((s) => `scope=${q(s)}`).join('&')}`, basic(USER, password)), status: 400, message: 'too many scopes: at most 32 per request', ...INVALID },
  { name: 'a fullwidth letter in a scope', request: () => get(`?scope=${q('repository:alice/\uff41pp:pull')}`), status: 400, message: 'invalid scope "repository:alice/\uff41pp:pull": resource name does not follow the repository name grammar', ...INVALID },
  { name: 'a Cyrillic look-alike in a scope', request: () => get(`?scope=${q('repository:\u0430lice/app:pull')}`, basic(USER, password)), status: 400, message: 'invalid scope "repository:\u0430lice/app:pull": resource name does not follow the repository name grammar', ...INVALID },
  { name: 'a zero-width space in a scope', request: () => get(`?scope=${q('repository:alice/a\u200bpp:pull')}`), status: 400, message: 'invalid scope "repository:alice/a\u200bpp:pull": resource name does not follow the repository name grammar', ...INVALID },
  { name: 'a NUL byte in a scope', request: () => get('?scope=repository:alice/app%00:pull'), status: 400, message: 'invalid scope "repository:alice/app\\u0000:pull": resource name does not follow the repository name grammar', ...INVALID },
  { name: 'a NUL byte in `service`', request: () => get('?service=reg%00istry'), status: 400, message: 'unknown service "reg\\u0000istry": this endpoint serves "registry"', ...INVALID },
  { name: 'percent-encoding garbage `%zz` as the scope', request: () => get('?scope=%zz'), status: 400, message: 'invalid scope "%zz": expected type:name:actions', ...INVALID },
  { name: 'percent-encoding garbage inside a scope name', request: () => get('?scope=repository:alice/a%zzpp:pull'), status: 400, message: 'invalid scope "repository:alice/a%zzpp:pull": resource name does not follow the repository name grammar', ...INVALID },
  { name: 'a lone `%` as the service', request: () => get('?service=%'), status: 400, message: 'unknown service "%": this endpoint serves "registry"', ...INVALID },
  { name: 'a trailing `%` after the service', request: () => get('?service=registry%'), status: 400, message: 'unknown service "registry%": this endpoint serves "registry"', ...INVALID },

  // --- POST form ----------------------------------------------------------------------------
  { name: 'an unknown grant_type', request: () => post('grant_type=client_credentials'), status: 400, message: 'unsupported grant_type "client_credentials": use password or refresh_token', error: 'unsupported_grant_type', code: 'UNSUPPORTED' },
  { name: 'an upper-case grant_type', request: () => post(`grant_type=PASSWORD&username=${USER}&password=x`), status: 400, message: 'unsupported grant_type "PASSWORD": use password or refresh_token', error: 'unsupported_grant_type', code: 'UNSUPPORTED' },
  { name: 'an empty grant_type', request: () => post('grant_type='), status: 400, message: 'unsupported grant_type "": use password or refresh_token', error: 'unsupported_grant_type', code: 'UNSUPPORTED' },
  { name: 'no grant_type', request: () => post(`username=${USER}&password=x`), status: 400, message: 'grant_type is required (password or refresh_token)', ...INVALID },
  { name: 'an empty form', request: () => post(''), status: 400, message: 'grant_type is required (password or refresh_token)', ...INVALID },
  { name: 'a repeated grant_type', request: () => post(`grant_type=password&grant_type=password&username=${USER}&password=x`), status: 400, message: 'parameter grant_type given more than once', ...INVALID },
  { name: 'the password grant without username', request: () => post('grant_type=password&password=x'), status: 400, message: 'grant_type=password needs username and password', ...INVALID },
  { name: 'the password grant with an empty username', request: () => post('grant_type=password&username=&password=x'), status: 400, message: 'grant_type=password needs username and password', ...INVALID },
  { name: 'the password grant without password', request: () => post(`grant_type=password&username=${USER}`), status: 400, message: 'grant_type=password needs username and password', ...INVALID },
  { name: 'the password grant with a wrong password', request: () => post(`grant_type=password&username=${USER}&password=${q(`${password}x`)}`), status: 401, message: 'invalid username or password', ...UNAUTHORIZED },
  { name: 'the password grant with a control character in the username', request: () => post(`grant_type=password&username=al%01ice&password=x`), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: 'the password grant with a NUL byte in the username', request: () => post(`grant_type=password&username=alice%00&password=${q(password)}`), status: 400, message: 'username is too long or contains control characters', ...INVALID },
  { name: 'the password grant with a repeated username', request: () => post(`grant_type=password&username=${USER}&username=bob&password=x`), status: 400, message: 'parameter username given more than once', ...INVALID },
  { name: 'the refresh_token grant without refresh_token', request: () => post('grant_type=refresh_token'), status: 400, message: 'grant_type=refresh_token needs refresh_token', ...INVALID },
  { name: 'the refresh_token grant with an empty refresh_token', request: () => post('grant_type=refresh_token&refresh_token='), status: 400, message: 'grant_type=refresh_token needs refresh_token', ...INVALID },
  {
    name: 'an unknown refresh token',
    request: () => post(`grant_type=refresh_token&refresh_token=wharf_rt_${randomBytes(32).toString('base64url')}`),
    status: 401,
    message: 'refresh token is invalid, expired or revoked: log in again',
    error: 'invalid_grant',
    code: 'UNAUTHORIZED',
    challenge: 'basic',
  },
  { name: 'a refresh token that is not a Wharf token', request: () => post('grant_type=refresh_token&refresh_token=eyJhbGciOiJub25lIn0.e30.'), status: 401, message: 'refresh token is invalid, expired or revoked: log in again', error: 'invalid_grant', code: 'UNAUTHORIZED', challenge: 'basic' },
  { name: 'a refresh_token of 1025 characters', request: () => post(`grant_type=refresh_token&refresh_token=wharf_rt_${'x'.repeat(1016)}`), status: 400, message: 'parameter refresh_token is too long', ...INVALID },
  { name: 'a repeated `service` in the form', request: () => post(`grant_type=password&username=${USER}&password=x&service=registry&service=registry`), status: 400, message: 'parameter service given more than once', ...INVALID },
  { name: 'a wrong `service` in the form', request: () => post(`grant_type=password&username=${USER}&password=x&service=elsewhere`), status: 400, message: 'unknown service "elsewhere": this endpoint serves "registry"', ...INVALID },
  { name: 'scope garbage in the form', request: () => post(`grant_type=password&username=${USER}&password=x&scope=${q('repository:alice/app:pull repository:alice/app:pu$h')}`), status: 400, message: 'invalid scope "repository:alice/app:pu$h": bad action "pu$h"', ...INVALID },
  { name: '33 space-separated scopes in the form', request: () => post(`grant_type=password&username=${USER}&password=x&scope=${q(scopes(33).join(' '))}`), status: 400, message: 'too many scopes: at most 32 per request', ...INVALID },
  { name: 'POST with a JSON content type', request: () => post(JSON.stringify({ grant_type: 'password', username: USER, password: 'x' }), 'application/json'), status: 415, message: 'send the token request as application/x-www-form-urlencoded', ...UNSUPPORTED_MEDIA },
  { name: 'POST with text/plain', request: () => post(`grant_type=password&username=${USER}&password=x`, 'text/plain'), status: 415, message: 'send the token request as application/x-www-form-urlencoded', ...UNSUPPORTED_MEDIA },
  { name: 'POST with a form body but no content type', request: () => post(`grant_type=password&username=${USER}&password=x`, null), status: 415, message: 'unsupported content type: send application/x-www-form-urlencoded', ...UNSUPPORTED_MEDIA },
  { name: 'POST with neither body nor content type', request: () => ({ method: 'POST', url: '/token' }), status: 415, message: 'send the token request as application/x-www-form-urlencoded', ...UNSUPPORTED_MEDIA },
  {
    name: 'POST with multipart/form-data',
    request: () => post(`--b\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--b--\r\n`, 'multipart/form-data; boundary=b'),
    status: 415,
    message: 'unsupported content type: send application/x-www-form-urlencoded',
    ...UNSUPPORTED_MEDIA,
  },
  { name: 'POST with a nonsense content type', request: () => post('grant_type=password', ';;;'), status: 415, message: 'unsupported content type: send application/x-www-form-urlencoded', ...UNSUPPORTED_MEDIA },
  { name: 'a form body over the 64 KiB limit', request: () => post(`grant_type=password&username=${USER}&password=x&pad=${'p'.repeat(64 * 1024)}`), status: 413, message: 'request body too large', ...INVALID },

  // --- revocation endpoint ------------------------------------------------------------------
  { name: 'revoke with a JSON body', request: () => post('{"token":"x"}', 'application/json', '/token/revoke'), status: 415, message: 'send application/x-www-form-urlencoded', ...UNSUPPORTED_MEDIA },
  { name: 'revoke without a token', request: () => post('token_type_hint=refresh_token', FORM, '/token/revoke'), status: 400, message: 'token is required', ...INVALID },

  // --- routes and methods -------------------------------------------------------------------
  { name: 'an unknown route', request: () => ({ method: 'GET', url: '/v2/' }), status: 404, message: 'no route for GET /v2/', ...NOT_FOUND },
  { name: 'an unknown route with a query', request: () => ({ method: 'GET', url: '/tokens?service=registry' }), status: 404, message: 'no route for GET /tokens', ...NOT_FOUND },
  { name: 'PUT on /token', request: () => ({ method: 'PUT', url: '/token', headers: { 'content-type': FORM }, payload: 'grant_type=password' }), status: 404, message: 'no route for PUT /token', ...NOT_FOUND },
  { name: 'DELETE on /token', request: () => ({ method: 'DELETE', url: '/token' }), status: 404, message: 'no route for DELETE /token', ...NOT_FOUND },
  { name: 'GET on /token/revoke', request: () => ({ method: 'GET', url: '/token/revoke' }), status: 404, message: 'no route for GET /token/revoke', ...NOT_FOUND },
];

describe('malformed token requests', () => {
  it('has a table of at least 30 cases with unique names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  test.each(cases)('$name → $status', async (c) => {
    const res = await app.inject(c.request());
    expect(res.statusCode, res.body).toBe(c.status);
    expectErrorBody(res.body, res.headers['content-type'] as string | undefined, c);
    const challenge = res.headers['www-authenticate'];
    const mode = c.challenge ?? 'none';
    if (mode === 'basic') expect(challenge).toBe('Basic realm="Wharf"');
    if (mode === 'none') expect(challenge).toBeUndefined();
    expect(res.headers['retry-after']).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Errors Node raises before fastify sees a request: only a real socket gets there.
// ---------------------------------------------------------------------------------------------

interface RawResponse {
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` as-is on a TCP connection and parses the answer (the server closes it). */
function rawRequest(request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.from(request, 'latin1')));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ statusLine, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]), headers, body: text.slice(split + 4) });
    });
  });
}

/** What Node's parser refused, answered on the socket itself: the status line, framing and body. */
function expectParserRefusal(res: RawResponse, statusLine: string, message: string): void {
  expect(res.statusLine).toBe(statusLine);
  expect(res.headers.connection).toBe('close');
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  expect(res.headers['www-authenticate']).toBeUndefined();
  expectErrorBody(res.body, res.headers['content-type'], { message, ...INVALID });
}

describe('requests the HTTP parser rejects (real socket)', () => {
  it('answers headers over 16 KiB with 431 and the JSON error body', async () => {
    const res = await rawRequest(
      `GET /token?service=registry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${'QUFB'.repeat(4500)}\r\nConnection: close\r\n\r\n`,
    );
    expectParserRefusal(res, 'HTTP/1.1 431 Request Header Fields Too Large', 'request headers too large');
  });

  it('answers a NUL byte in the request line with 400 and the JSON error body', async () => {
    const res = await rawRequest(`GET /token?service=reg\u0000istry HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expectParserRefusal(res, 'HTTP/1.1 400 Bad Request', 'malformed HTTP request');
  });

  it('answers bytes that are not HTTP with 400 and the JSON error body', async () => {
    const res = await rawRequest('\u0016\u0003\u0001\u0002\u0000 not http\r\n\r\n');
    expectParserRefusal(res, 'HTTP/1.1 400 Bad Request', 'malformed HTTP request');
  });

  it('answers a malformed request line with 400 and the JSON error body', async () => {
    const res = await rawRequest('GET /token?service=registry HTTP/9.Z\r\nHost: 127.0.0.1\r\n\r\n');
    expectParserRefusal(res, 'HTTP/1.1 400 Bad Request', 'malformed HTTP request');
  });

  it('refuses two Authorization headers instead of silently using the first', async () => {
    const res = await rawRequest(
      `GET /token?service=registry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic(USER, password)}\r\nAuthorization: garbage\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400);
    expectErrorBody(res.body, res.headers['content-type'], { message: 'more than one Authorization header', ...INVALID });
  });

  it('answers a badly percent-encoded path in the JSON shape without echoing it', async () => {
    const res = await rawRequest('GET /token%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(400);
    expectErrorBody(res.body, res.headers['content-type'], { message: 'malformed request', ...INVALID });
    expect(res.body).not.toContain('%zz');
    expect(res.body).not.toContain('FST_');
  });

  it('answers a well-formed request on the same socket path with 200 (the 4xx above are not an artefact)', async () => {
    const res = await rawRequest(`GET /token?service=registry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic(USER, password)}\r\nConnection: close\r\n\r\n`);
    expect(res.status).toBe(200);
    expect(decodeJwt((JSON.parse(res.body) as { token: string }).token).sub).toBe(USER);
  });
});

// ---------------------------------------------------------------------------------------------
// Positive controls: the same app, well-formed requests.
// ---------------------------------------------------------------------------------------------

interface TokenBody {
  token: string;
  access_token?: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

async function issue(request: InjectOptions): Promise<{ body: TokenBody; claims: ReturnType<typeof decodeJwt> }> {
  const res = await app.inject(request);
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json<TokenBody>();
  // GET answers carry the token once; OAuth2 POST answers under both names.
  expect(body.access_token).toBe(request.method === 'POST' ? body.token : undefined);
  return { body, claims: decodeJwt(body.token) };
}

describe('positive controls', () => {
  it('answers 200 to a well-formed GET with Basic credentials, granting what was asked', async () => {
    const { body, claims } = await issue(get(`?service=registry&account=${USER}&scope=${q('repository:alice/app:pull,push')}`, basic(USER, password)));
    expect(claims.sub).toBe(USER);
    expect(claims.aud).toBe('registry');
    expect(claims.access).toStrictEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    expect(body.expires_in).toBe(300);
    expect(body.scope).toBeUndefined();
  });

  it('answers 200 to a well-formed password-grant POST, with the granted scope', async () => {
    const { body, claims } = await issue(post(`grant_type=password&username=${USER}&password=${q(password)}&service=registry&scope=${q('repository:alice/app:pull')}`));
    expect(claims.sub).toBe(USER);
    expect(body.scope).toBe('repository:alice/app:pull');
  });

  it('accepts a lower-case `basic` scheme, and an empty username (with or without a password) as anonymous', async () => {
    const lower = await issue(get('', `basic ${Buffer.from(`${USER}:${password}`).toString('base64')}`));
    expect(lower.claims.sub).toBe(USER);
    const empty = await issue(get(`?scope=${q('repository:alice/app:pull')}`, basic('', '')));
    expect(empty.claims.sub).toBe('');
    expect(empty.claims.access).toStrictEqual([]);
    // An empty username means anonymous even with a password (INTEROP: the SAGE dialect).
    const emptyUser = await issue(get(`?scope=${q('repository:alice/app:pull')}`, basic('', password)));
    expect(emptyUser.claims.sub).toBe('');
    expect(emptyUser.claims.access).toStrictEqual([]);
  });

  it('answers anonymous requests 200 with an empty access claim', async () => {
    const none = await issue(get('?service=registry'));
    expect(none.claims.sub).toBe('');
    expect(none.claims.access).toStrictEqual([]);
    const denied = await issue(get(`?service=registry&scope=${q('repository:alice/app:pull')}&scope=${q('repository:alice/app:pull')}`));
    expect(denied.claims.access).toStrictEqual([]);
  });

  it('grants anonymous pull (and only pull) where the anonymous list allows it', async () => {
    const { claims } = await issue(get(`?service=registry&scope=${q('repository:public/base:pull,push')}`));
    expect(claims.access).toStrictEqual([{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  it('answers a valid login asking for forbidden scopes 200 with only the allowed actions', async () => {
    const asked = ['repository:alice/app:pull,push,delete', 'repository:bob/app:pull', 'registry:catalog:*', 'repository(plugin):alice/app:pull'];
    const { claims } = await issue(get(`?service=registry&${asked.map((s) => `scope=${q(s)}`).join('&')}`, basic(USER, password)));
    expect(claims.sub).toBe(USER);
    expect(claims.access).toStrictEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
      { type: 'repository', class: 'plugin', name: 'alice/app', actions: ['pull'] },
    ]);
  });

  it('redeems a real refresh token (so the unknown-token 401 is not an artefact)', async () => {
    const login = await issue(get('?service=registry&offline_token=true&client_id=docker', basic(USER, password)));
    expect(login.body.refresh_token).toMatch(/^wharf_rt_/);
    const refreshed = await issue(post(`grant_type=refresh_token&refresh_token=${q(login.body.refresh_token!)}&service=registry&scope=${q('repository:alice/app:pull')}`));
    expect(refreshed.claims.sub).toBe(USER);
    expect(refreshed.body.scope).toBe('repository:alice/app:pull');
  });

  describe('limits are not off by one', () => {
    it('takes an Authorization header of exactly 8192 bytes to the password check', async () => {
      const encoded = Buffer.from(`${USER}:${'x'.repeat(6132)}`).toString('base64');
      const header = `Basic   ${encoded}`;
      expect(header).toHaveLength(8192);
      const res = await app.inject(get('', header));
      expect(res.statusCode).toBe(401);
      expectErrorBody(res.body, res.headers['content-type'] as string, { message: 'invalid username or password', ...UNAUTHORIZED });
      // One byte more (an extra space) and the length check refuses it before any bcrypt work.
      const over = await app.inject(get('', `Basic    ${encoded}`));
      expect(over.statusCode).toBe(400);
      expectErrorBody(over.body, over.headers['content-type'] as string, { message: 'Authorization header longer than 8192 bytes', ...INVALID });
    });

    it('takes a parameter of exactly 1024 characters', async () => {
      await issue(get(`?client_id=${'c'.repeat(1024)}`));
    });

    it('takes exactly 32 scopes', async () => {
      const { claims } = await issue(get(`?${scopes(32).map((s) => `scope=${q(s)}`).join('&')}`, basic(USER, password)));
      expect(claims.access).toHaveLength(32);
    });

    it('takes a form body just under 64 KiB', async () => {
      const head = `grant_type=password&username=${USER}&password=${q(password)}&pad=`;
      const { claims } = await issue(post(head + 'p'.repeat(64 * 1024 - head.length)));
      expect(claims.sub).toBe(USER);
    });
  });
});
