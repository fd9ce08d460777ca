#!/usr/bin/env node
// Reference platform backend for Wharf: the authorization webhook (docs/authz-webhook.md) and an
// RFC 7662 token introspection endpoint, in plain node:http with no dependencies. Copy it and
// replace the two in-file tables (POLICY, demo tokens) with your platform's real data.
//
//   WHARF_AUTHZ_WEBHOOK_SECRET=… INTROSPECTION_CLIENT_ID=wharf INTROSPECTION_CLIENT_SECRET=… \
//     PORT=8080 node server.mjs
//
// Endpoints: POST /authz (webhook), POST /introspect (RFC 7662), GET /healthz.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const env = process.env;
const PORT = Number(env.PORT ?? 8080);
const HOST = env.HOST ?? '127.0.0.1';
const WEBHOOK_SECRET = env.WHARF_AUTHZ_WEBHOOK_SECRET ?? '';
const CLIENT_ID = env.INTROSPECTION_CLIENT_ID ?? '';
const CLIENT_SECRET = env.INTROSPECTION_CLIENT_SECRET ?? '';
/** Requests signed more than this far from our clock are refused (replay protection). */
const SIGNATURE_WINDOW_SECONDS = 300;
/** No legitimate request is anywhere near this; it bounds memory per request. */
const MAX_BODY_BYTES = 64 * 1024;
/** How long Wharf may cache our decisions: a revoked permission stops working within this. */
const DECISION_TTL_SECONDS = 60;

if (WEBHOOK_SECRET.length < 16) {
  console.error('WHARF_AUTHZ_WEBHOOK_SECRET must be set (at least 16 characters; e.g. `openssl rand -hex 32`)');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Policy: who may do what. Deny by default; the first matching rule decides.
// ---------------------------------------------------------------------------------------------

/** Members of this group (identity attribute `groups`) may do everything. */
const ADMIN_GROUP = 'admins';
/** Repositories under this prefix may be pulled by anyone, even anonymously. */
const PUBLIC_PREFIX = 'public/';

/** One webhook scope → `{allowed, reason}`. */
function decide(request, scope) {
  const groups = request.identity?.attributes?.groups;
  if (Array.isArray(groups) && groups.includes(ADMIN_GROUP)) {
    return { allowed: ['*'], reason: `member of ${ADMIN_GROUP}` };
  }
  if (scope.type !== 'repository') return { allowed: [], reason: 'only admins may use registry-wide resources' };
  if (request.account !== '' && scope.name.startsWith(`${request.account}/`)) {
    return { allowed: ['pull', 'push'], reason: 'own namespace' };
  }
  if (scope.name.startsWith(PUBLIC_PREFIX)) return { allowed: ['pull'], reason: 'public repository' };
  return { allowed: [], reason: 'no rule allows it' };
}

// ---------------------------------------------------------------------------------------------
// Demo tokens for introspection: token → {active, username, scope, exp}. DEMO_TOKENS (JSON)
// replaces them. A real platform looks tokens up in its own store.
// ---------------------------------------------------------------------------------------------

const nowSeconds = () => Math.floor(Date.now() / 1000);
const DEMO_TOKENS = env.DEMO_TOKENS
  ? JSON.parse(env.DEMO_TOKENS)
  : {
      'demo-token-alice': { active: true, username: 'alice', scope: 'registry', exp: nowSeconds() + 365 * 86400 },
      'demo-token-admin': { active: true, username: 'admin', scope: 'registry admins', exp: nowSeconds() + 365 * 86400 },
      'demo-token-expired': { active: true, username: 'alice', scope: 'registry', exp: nowSeconds() - 60 },
    };

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/** Constant-time string comparison (lengths may differ). */
function same(a, b) {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Wharf's two proofs: the bearer secret, and the HMAC over `timestamp.rawBody` within the window. */
function verifyWharf(headers, rawBody) {
  if (!same(headers['authorization'] ?? '', `Bearer ${WEBHOOK_SECRET}`)) return 'bad bearer secret';
  const timestamp = headers['x-wharf-timestamp'];
  const signature = headers['x-wharf-signature'];
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp) || typeof signature !== 'string') return 'missing signature headers';
  if (Math.abs(nowSeconds() - Number(timestamp)) > SIGNATURE_WINDOW_SECONDS) return 'timestamp outside the window';
  const mac = createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.`).update(rawBody).digest('hex');
  return same(signature, `v1=${mac}`) ? undefined : 'bad signature';
}

function isScope(s) {
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof s.type === 'string' &&
    (s.class === null || typeof s.class === 'string') &&
    typeof s.name === 'string' &&
    Array.isArray(s.actions) &&
    s.actions.every((a) => typeof a === 'string')
  );
}

function handleAuthz(req, rawBody, reply) {
  const refused = verifyWharf(req.headers, rawBody);
  if (refused) {
    log({ event: 'authz_refused', why: refused });
    return reply(401, { error: 'unauthorized' });
  }
  let request;
  try {
    request = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return reply(400, { error: 'body is not JSON' });
  }
  if (request?.version !== 1 || typeof request.account !== 'string' || !Array.isArray(request.scopes) || !request.scopes.every(isScope)) {
    return reply(400, { error: 'not a version 1 Wharf request' });
  }
  const decisions = request.scopes.map((scope) => ({ type: scope.type, class: scope.class, name: scope.name, ...decide(request, scope) }));
  log({ event: 'authz', account: request.account, decisions: decisions.map((d) => `${d.type}:${d.name} → [${d.allowed}] (${d.reason})`) });
  return reply(200, { decisions, ttl: DECISION_TTL_SECONDS });
}

function handleIntrospect(req, rawBody, reply) {
  if (!CLIENT_ID || !CLIENT_SECRET) return reply(404, { error: 'introspection is not configured' });
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers['authorization'] ?? '');
  const credentials = basic ? Buffer.from(basic[1], 'base64').toString('utf8') : '';
  const colon = credentials.indexOf(':');
  // RFC 6749 2.3.1: client id and secret are form-urlencoded before Basic encoding.
  const id = colon < 0 ? '' : formDecode(credentials.slice(0, colon));
  const secret = colon < 0 ? '' : formDecode(credentials.slice(colon + 1));
  // Both comparisons always run, so timing does not tell which one failed.
  const idMatches = same(id, CLIENT_ID);
  const secretMatches = same(secret, CLIENT_SECRET);
  if (!idMatches || !secretMatches) {
    log({ event: 'introspect_refused' });
    return reply(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="introspection"' });
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return reply(400, { error: 'invalid_request', error_description: 'expected a form body' });
  const token = new URLSearchParams(rawBody.toString('utf8')).get('token');
  if (!token) return reply(400, { error: 'invalid_request', error_description: 'token is required' });
  const entry = Object.hasOwn(DEMO_TOKENS, token) ? DEMO_TOKENS[token] : undefined;
  // RFC 7662 2.2: an unknown, expired or revoked token is just `{"active": false}`.
  if (!entry || entry.active !== true || !(entry.exp > nowSeconds())) {
    log({ event: 'introspect', active: false });
    return reply(200, { active: false });
  }
  log({ event: 'introspect', active: true, username: entry.username });
  return reply(200, { active: true, username: entry.username, scope: entry.scope, exp: entry.exp, client_id: CLIENT_ID, token_type: 'Bearer' });
}

/** `application/x-www-form-urlencoded` decoding; undefined for malformed input. */
function formDecode(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function log(fields) {
  // One JSON line per event; never a token, secret or Authorization header.
  console.log(JSON.stringify({ time: new Date().toISOString(), ...fields }));
}

const server = createServer((req, res) => {
  const reply = (status, body, headers = {}) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store', ...headers });
    res.end(payload);
  };
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method === 'GET' && path === '/healthz') return reply(200, { ok: true });
  const route = { '/authz': handleAuthz, '/introspect': handleIntrospect }[path];
  if (!route) return reply(404, { error: 'not found' });
  if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' });

  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      if (!res.headersSent) {
        res.on('finish', () => req.destroy());
        reply(413, { error: 'body too large' }, { connection: 'close' });
      }
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return;
    try {
      route(req, Buffer.concat(chunks), reply);
    } catch (err) {
      log({ event: 'error', message: String(err) });
      if (!res.headersSent) reply(500, { error: 'server_error' });
    }
  });
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  log({ event: 'listening', url: `http://${HOST}:${port}`, introspection: Boolean(CLIENT_ID && CLIENT_SECRET) });
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
