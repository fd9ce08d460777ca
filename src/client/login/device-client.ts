import { z } from 'zod';
import { backoffMs, describeIssues, describeOauthError, describeReply, isTransient, MAX_ATTEMPTS, oauthError, postForm } from './http-exchange.js';
import { httpUrl } from './http-url.js';

/** The OAuth client id the CLI presents; Wharf's device endpoints expect exactly this. */
export const CLI_CLIENT_ID = 'wharf-cli';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8628 §3.2: the polling interval when the server sends none. */
const DEFAULT_INTERVAL_SECONDS = 5;
/** A floor on the server's interval, so a buggy `interval: 0` cannot turn the loop into a busy loop. */
const MIN_INTERVAL_SECONDS = 1;
/** RFC 8628 §3.5: what `slow_down` adds to the interval, for that poll and every later one. */
const SLOW_DOWN_STEP_MS = 5_000;

/** What the device flow needs of the outside world; tests replace the clock and sleep. */
export interface PollDeps {
  fetch: typeof globalThis.fetch;
  /** Waits `ms` of the injected clock. */
  sleep: (ms: number) => Promise<void>;
  /** Epoch milliseconds. */
  now: () => number;
}

/** RFC 8628 §3.2 device authorization response, as Wharf sends it. */
const deviceCodeSchema = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_uri: httpUrl,
  verification_uri_complete: httpUrl.optional(),
  expires_in: z.number().positive(),
  interval: z.number().nonnegative().optional(),
});
/** The device authorization response. */
export type DeviceCodeResponse = z.infer<typeof deviceCodeSchema>;

/** RFC 6749 §5.1 token response with Wharf's `account`; `account:secret` must survive Basic auth. */
const tokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().positive(),
  account: z.string().regex(/^[^:\u0000-\u001f\u007f]+$/, 'an account name without ":" or control characters'),
});
/** A successful token response. */
export type TokenResponse = z.infer<typeof tokenSchema>;

/** How the device authorization request ended: `failed` = Wharf refused, `unreachable` = no usable answer. */
export type DeviceStart = { kind: 'ok'; device: DeviceCodeResponse } | { kind: 'failed' | 'unreachable'; message: string };

/** RFC 8628 §3.1 device authorization request, with retries for transient failures. */
export async function requestDeviceCode(url: string, registry: string, deps: PollDeps): Promise<DeviceStart> {
  for (let attempt = 1; ; attempt++) {
    const reply = await postForm(deps.fetch, url, { client_id: CLI_CLIENT_ID, registry });
    if (reply.kind === 'http' && reply.status === 200) {
      const device = deviceCodeSchema.safeParse(reply.json);
      if (device.success) return { kind: 'ok', device: device.data };
      return { kind: 'unreachable', message: `${url} answered 200 without a usable device code (${describeIssues(device.error)})` };
    }
    const oauth = oauthError(reply);
    if (oauth !== undefined) return { kind: 'failed', message: `Wharf refused to start a login for ${registry}: ${describeOauthError(oauth)}` };
    const failure = describeReply(reply);
    if (!isTransient(reply)) return { kind: 'unreachable', message: `${url}: ${failure}; is device login enabled on this Wharf?` };
    if (attempt >= MAX_ATTEMPTS) return { kind: 'unreachable', message: `cannot reach Wharf: ${url} failed ${attempt} times in a row (last: ${failure})` };
    await deps.sleep(backoffMs(attempt));
  }
}

/** How polling ended. */
export type PollResult =
  | { kind: 'ok'; token: TokenResponse }
  | { kind: 'denied'; message: string }
  | { kind: 'expired'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'unreachable'; message: string };

/** What {@link pollForToken} polls. */
export interface PollRequest {
  tokenUrl: string;
  deviceCode: string;
  /** From the device authorization response; default 5 s, at least 1 s. */
  intervalSeconds?: number | undefined;
  /** Lifetime of the device code; polling stops when the next poll would come after it. */
  expiresInSeconds: number;
}

/**
 * Polls the token endpoint (RFC 8628 §3.4/3.5) until the user approves, denies or the code
 * expires. Waits one interval before every poll; `slow_down` adds 5 s to the interval for good;
 * network errors, 408/429/5xx and unparseable answers are retried with backoff on top of the
 * interval, up to {@link MAX_ATTEMPTS} in a row. The clock and sleep are parameters so tests
 * run without waiting.
 */
export async function pollForToken(request: PollRequest, deps: PollDeps): Promise<PollResult> {
  let intervalMs = Math.max(MIN_INTERVAL_SECONDS, request.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS) * 1000;
  const deadline = deps.now() + request.expiresInSeconds * 1000;
  let failures = 0;
  for (;;) {
    const wait = intervalMs + (failures > 0 ? backoffMs(failures) : 0);
    if (deps.now() + wait >= deadline) {
      return { kind: 'expired', message: 'the code expired before the login was approved; run wharf login again' };
    }
    await deps.sleep(wait);
    const reply = await postForm(deps.fetch, request.tokenUrl, {
      grant_type: DEVICE_CODE_GRANT,
      device_code: request.deviceCode,
      client_id: CLI_CLIENT_ID,
    });
    if (reply.kind === 'http' && reply.status === 200) {
      const token = tokenSchema.safeParse(reply.json);
      if (token.success) return { kind: 'ok', token: token.data };
      return { kind: 'unreachable', message: `${request.tokenUrl} answered 200 without a usable token (${describeIssues(token.error)})` };
    }
    const oauth = oauthError(reply);
    if (oauth !== undefined) {
      failures = 0;
      switch (oauth.error) {
        case 'authorization_pending':
          continue;
        case 'slow_down':
          intervalMs += SLOW_DOWN_STEP_MS;
          continue;
        case 'access_denied':
          return { kind: 'denied', message: 'the login was denied in the browser' };
        case 'expired_token':
          return { kind: 'expired', message: 'the code expired before the login was approved; run wharf login again' };
        default:
          return { kind: 'failed', message: `Wharf refused the login: ${describeOauthError(oauth)}` };
      }
    }
    const lastFailure = describeReply(reply);
    if (!isTransient(reply)) return { kind: 'unreachable', message: `${request.tokenUrl}: ${lastFailure}` };
    failures += 1;
    if (failures >= MAX_ATTEMPTS) {
      return { kind: 'unreachable', message: `${request.tokenUrl} failed ${failures} times in a row (last: ${lastFailure})` };
    }
  }
}
