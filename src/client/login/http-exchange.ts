import { z } from 'zod';
import { sanitize } from './sanitize.js';

/** Attempts per request when Wharf is unreachable, answers 5xx/408/429 or garbage (so 3 retries). */
export const MAX_ATTEMPTS = 4;
/** Backoff after the n-th consecutive transient failure: 1 s, 2 s, 4 s… capped here. */
const MAX_BACKOFF_MS = 30_000;
/** Per-request timeout. */
export const REQUEST_TIMEOUT_MS = 15_000;

const oauthErrorSchema = z.object({ error: z.string().min(1), error_description: z.string().optional() });
/** An RFC 6749 §5.2 error body. */
export type OAuthError = z.infer<typeof oauthErrorSchema>;

/** One HTTP exchange, classified the way the device flow needs it. */
export type Reply =
  | { kind: 'network'; message: string }
  | { kind: 'http'; status: number; json: unknown; text: string };

/** POSTs `form` urlencoded and reads the whole answer; a network failure or timeout is a reply, never thrown. */
export async function postForm(fetchFn: typeof fetch, url: string, form: Record<string, string>): Promise<Reply> {
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (err) {
    return { kind: 'network', message: networkMessage(err) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { kind: 'http', status: response.status, json, text };
}

/** RFC 6749 §5.2 errors come as 400 (401 for client authentication) with a JSON `error`. */
export function oauthError(reply: Reply): OAuthError | undefined {
  if (reply.kind !== 'http' || (reply.status !== 400 && reply.status !== 401)) return undefined;
  const parsed = oauthErrorSchema.safeParse(reply.json);
  return parsed.success ? parsed.data : undefined;
}

/** Whether asking again may help: no answer, 5xx, 408 or 429. */
export function isTransient(reply: Reply): boolean {
  if (reply.kind === 'network') return true;
  return reply.status >= 500 || reply.status === 408 || reply.status === 429;
}

/** A failed reply in one line for the terminal: the network error, or the status and the start of the body. */
export function describeReply(reply: Reply): string {
  if (reply.kind === 'network') return reply.message;
  const snippet = sanitize(reply.text).replace(/\s+/g, ' ').trim().slice(0, 120);
  return `HTTP ${reply.status}${snippet ? ` ${snippet}` : ''}`;
}

/** An OAuth error for the terminal. */
export function describeOauthError(error: OAuthError): string {
  return sanitize(error.error_description ? `${error.error}: ${error.error_description}` : error.error);
}

/** Why a 200 answer's body was not what was expected, field by field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** A failed fetch in a few words: the timeout, the system error code (ECONNREFUSED…), or the message. */
export function networkMessage(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** The wait after the `failures`-th transient failure in a row. */
export function backoffMs(failures: number): number {
  return Math.min(1000 * 2 ** (failures - 1), MAX_BACKOFF_MS);
}
