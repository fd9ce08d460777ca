import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidRequestError, UnsupportedGrantTypeError, UnsupportedMediaTypeError } from '../../domain/errors.js';
import { isAcceptableUsername } from '../../domain/identity.js';
import type { TokenAnswer, TokenCredentials } from '../../tokens/token-service.js';
import type { RecentAnswers } from '../../tokens/recent-answers.js';
import { authorizationHeaders, parseBasicAuth } from '../basic-auth.js';
import { TurnQueue } from '../turn-queue.js';

type Params = Record<string, string | string[] | undefined>;

const MAX_PARAM_LENGTH = 1024;

const JSON_TYPE = 'application/json; charset=utf-8';

/** The audit line (token_issued / token_denied) says everything about a token request; fastify's
 * own two access-log lines per request would triple the log volume on the hot path. */
const routeOptions = { logLevel: 'warn' as const };

/** The 200 answer, encoded once by the token service. */
function tokenBody(reply: FastifyReply, answer: TokenAnswer): FastifyReply {
  return reply.type(JSON_TYPE).send(answer.body);
}

/**
 * The distribution token endpoint: `GET /token` (docker, skopeo, podman with Basic auth or
 * anonymous) and `POST /token` (OAuth2 form: password and refresh_token grants).
 */
export async function tokenRoutes(app: FastifyInstance, options: { tokens: RecentAnswers }): Promise<void> {
  const { tokens } = options;
  const turn = new TurnQueue();

  app.get('/token', routeOptions, (request, reply) => {
    const authorization = authorizationHeaders(request.raw.rawHeaders);
    // A GET is all in its Authorization header and URL: a client repeating one within the reuse
    // window gets the same answer before anything is parsed (repeated headers are refused below).
    // An absent header and an empty one differ: the first is anonymous, the second a 401.
    const sentKey = Array.isArray(authorization) ? undefined : tokens.sentKey(authorization, request.url, request.ip);
    const again = sentKey === undefined ? undefined : tokens.answerAgain(sentKey);
    if (again) {
      tokenBody(reply, again);
      return;
    }
    // Decided with the rest of this turn's token requests, once all are read (TurnQueue says why).
    return turn.run(() => answerGet(request, reply, authorization, sentKey));
  });

  async function answerGet(request: FastifyRequest, reply: FastifyReply, authorization: string | string[] | undefined, sentKey: string | undefined) {
    const query = (request.query ?? {}) as Params;
    const basic = parseBasicAuth(authorization);
    const answer = await tokens.answer({
      service: one(query, 'service'),
      scopes: many(query, 'scope'),
      account: one(query, 'account'),
      credentials: passwordCredentials(basic?.username, basic?.password),
      offline: one(query, 'offline_token')?.toLowerCase() === 'true',
      clientId: one(query, 'client_id'),
      clientIp: request.ip,
      grantType: 'get',
      sentKey,
    });
    return tokenBody(reply, answer);
  }

  app.post('/token', routeOptions, async (request, reply) => {
    if (!isForm(request)) throw new UnsupportedMediaTypeError('send the token request as application/x-www-form-urlencoded');
    const body = (request.body ?? {}) as Params;
    const grantType = one(body, 'grant_type');
    let credentials: TokenCredentials;
    if (grantType === 'password') {
      const basic = parseBasicAuth(authorizationHeaders(request.raw.rawHeaders));
      const username = one(body, 'username') ?? basic?.username;
      const password = one(body, 'password') ?? basic?.password;
      if (!username || password === undefined) throw new InvalidRequestError('grant_type=password needs username and password');
      credentials = passwordCredentials(username, password);
    } else if (grantType === 'refresh_token') {
      const refreshToken = one(body, 'refresh_token');
      if (!refreshToken) throw new InvalidRequestError('grant_type=refresh_token needs refresh_token');
      credentials = { kind: 'refresh_token', refreshToken };
    } else if (grantType === undefined) {
      throw new InvalidRequestError('grant_type is required (password or refresh_token)');
    } else {
      throw new UnsupportedGrantTypeError(`unsupported grant_type ${JSON.stringify(grantType.slice(0, 60))}: use password or refresh_token`);
    }
    const answer = await tokens.answer({
      service: one(body, 'service'),
      scopes: many(body, 'scope'),
      account: undefined,
      credentials,
      offline: one(body, 'access_type') === 'offline',
      clientId: one(body, 'client_id'),
      clientIp: request.ip,
      grantType,
    });
    return tokenBody(reply, answer);
  });
}

function passwordCredentials(username: string | undefined, password: string | undefined): TokenCredentials {
  // No header, or an empty username (what some clients send before they have credentials, and
  // what the SAGE platform's clients use for anonymous pulls): anonymous.
  if (username === undefined || username === '') return { kind: 'anonymous' };
  if (!isAcceptableUsername(username)) throw new InvalidRequestError('username is too long or contains control characters');
  return { kind: 'password', username, password: password ?? '' };
}

function isForm(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return typeof type === 'string' && type.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

/** A parameter that may appear at most once. */
function one(params: Params, name: string): string | undefined {
  const value = params[name];
  if (Array.isArray(value)) throw new InvalidRequestError(`parameter ${name} given more than once`);
  if (value !== undefined && value.length > MAX_PARAM_LENGTH) throw new InvalidRequestError(`parameter ${name} is too long`);
  return value;
}

/** A parameter that may repeat (scope). */
function many(params: Params, name: string): string[] {
  const value = params[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
