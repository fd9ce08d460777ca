import { normalizeServerUrl } from './credential-store.js';
import type { CliIo } from './io.js';
import { discoverWharf } from './login/discover-wharf.js';
import { networkMessage, REQUEST_TIMEOUT_MS } from './login/http-exchange.js';
import { httpUrl } from './login/http-url.js';
import { plainHttpProblem } from './login/plain-http.js';
import { sanitize } from './login/sanitize.js';

/** Exit codes of the commands that call Wharf's API (`wharf token`, `wharf robot`). */
export const API_EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** What the API commands need from the outside world. */
export interface ApiCallDeps {
  fetch: typeof fetch;
}

/**
 * Wharf's base URL: `--wharf` as given, else discovered from the registry the credential is for;
 * refused when it is plain HTTP to a remote host without `--insecure`. A string is a usage
 * problem for the caller to print; a number, an exit code already reported on stderr.
 */
export async function wharfBase(command: string, io: CliIo, deps: ApiCallDeps, given: { wharf: string | undefined; registry: string | undefined; insecure: boolean }): Promise<{ base: string } | { usage: string } | number> {
  let base = given.wharf;
  if (base !== undefined && !httpUrl.safeParse(base).success) return { usage: `--wharf must be an http(s) URL, got ${JSON.stringify(base)}` };
  if (base === undefined) {
    const found = await discoverWharf(normalizeServerUrl(given.registry!), given.insecure, deps.fetch);
    if (found.kind !== 'ok') {
      io.stderr(`${command}: ${found.message}\n`);
      return API_EXIT.unreachable;
    }
    base = found.base;
  }
  base = base.replace(/\/+$/, '');
  const problem = plainHttpProblem(new URL(base), given.insecure);
  if (problem !== undefined) {
    io.stderr(`${command}: ${problem}\n`);
    return API_EXIT.unreachable;
  }
  return { base };
}

/**
 * One call of Wharf's JSON API. Resolves with the answer's JSON, or with an exit code once a
 * failure was reported on stderr: Wharf unreachable or not answering JSON (3), a refusal (1,
 * with the error's description), a server error (3).
 */
export async function callApi(command: string, io: CliIo, deps: ApiCallDeps, request: { base: string; path: string; method: string; authorization?: string; body?: Record<string, unknown> | undefined }): Promise<{ json: unknown } | number> {
  const { body } = request;
  let response: Response;
  let json: unknown;
  try {
    response = await deps.fetch(`${request.base}${request.path}`, {
      method: request.method,
      headers: { ...(request.authorization === undefined ? {} : { authorization: request.authorization }), accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      redirect: 'error',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch (err) {
    io.stderr(`${command}: cannot reach Wharf at ${request.base}: ${err instanceof SyntaxError ? 'its answer is not JSON' : networkMessage(err)}\n`);
    return API_EXIT.unreachable;
  }
  if (!response.ok) {
    const message = (json as { error_description?: unknown } | undefined)?.error_description;
    io.stderr(`${command}: ${response.status}${typeof message === 'string' ? ` ${sanitize(message)}` : ''}\n`);
    return response.status >= 500 ? API_EXIT.unreachable : API_EXIT.failed;
  }
  return { json };
}
