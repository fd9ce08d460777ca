import type { IncomingMessage } from 'node:http';
import { PLUGIN_EXIT, PluginFailure, redactJwts } from './plugin-failure.js';
import type { PluginSettings } from './plugin-settings.js';
import type { ProviderRequest } from './provider-request.js';

/** What Wharf's exchange hands back (`POST /api/v1/exchange`, 200), checked. */
export interface ExchangeAnswer {
  readonly username: string;
  readonly password: string;
  /** The registry host the credential is for, when Wharf names it. */
  readonly registry: string | undefined;
  readonly repository: string;
  /** Seconds the credential lives from Wharf's answer. */
  readonly expiresIn: number;
}

// An answer is a few hundred bytes; a server sending more is not Wharf's exchange.
const MAX_ANSWER_BYTES = 64 * 1024;

const unavailable = (message: string) => new PluginFailure(PLUGIN_EXIT.unavailable, message);

/**
 * Control characters out, one line, bounded: Wharf's message goes into the kubelet's log. Anything
 * shaped like a JWT goes before the cut, which could leave a piece no later check would know.
 */
const oneLine = (text: string) => redactJwts(text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')).trim().slice(0, 300);

/** Node's network errors, in words an operator can act on. */
function networkProblem(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused (is Wharf running at that URL?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'its host name does not resolve';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'the connection was reset before an answer';
  if (code === 'EPROTO' || code.startsWith('ERR_SSL')) return `the TLS handshake failed (${code}): does Wharf serve HTTPS at that URL?`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `its certificate is not trusted (${code}): give --ca-file / WHARF_CA_FILE the CA bundle that signed it`;
  return code !== '' ? code : oneLine(err.message);
}

/** The registry spec's error body, `{"errors":[{"code","message"}]}`, as `CODE: message`. */
function describeRefusal(body: string): string {
  try {
    const first = (JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors?.[0];
    const code = typeof first?.code === 'string' ? oneLine(first.code) : '';
    const message = typeof first?.message === 'string' ? oneLine(first.message) : '';
    if (code !== '' || message !== '') return [code, message].filter(Boolean).join(': ');
  } catch {
    // Not the registry's error shape (a proxy's HTML page): the status has to do.
  }
  return 'no error message';
}

/** Checks a 200 answer; never quotes it (it holds the password). */
function readAnswer(body: string): ExchangeAnswer {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw unavailable("Wharf's exchange answer is not JSON: is --url / WHARF_URL Wharf itself, not a proxy's page?");
  }
  const missing = (field: string) => unavailable(`Wharf's exchange answer has no usable ${field}: is Wharf's version one with POST /api/v1/exchange?`);
  if (value === null || typeof value !== 'object') throw missing('body');
  const { username, password, registry, repository } = value;
  const expiresIn = value.expires_in;
  if (typeof username !== 'string' || username === '') throw missing('username');
  if (typeof password !== 'string' || password === '') throw missing('password');
  if (typeof repository !== 'string' || repository === '') throw missing('repository');
  if (registry !== undefined && typeof registry !== 'string') throw missing('registry');
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) throw missing('expires_in');
  return { username, password, registry, repository, expiresIn };
}

/**
 * `POST {url}/api/v1/exchange` with the token, the image and the annotations, through node:http
 * or node:https (loaded only for an https URL: the plugin's start-up is most of its run). The
 * timeout covers the whole call, not each idle gap.
 */
export async function exchange(settings: PluginSettings, request: ProviderRequest): Promise<ExchangeAnswer> {
  const target = new URL(`${settings.url.href.replace(/\/+$/, '')}/api/v1/exchange`);
  const { request: send } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const annotations = Object.keys(request.annotations).length > 0 ? { annotations: request.annotations } : {};
  const payload = JSON.stringify({ token: request.token, image: request.image, ...annotations });
  const where = settings.url.href.replace(/\/+$/, '');

  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    // Settled once: the first of answer, error, overflow or timeout decides, the rest are ignored.
    let settled = false;
    const fail = (failure: PluginFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      call.destroy();
      reject(failure);
    };
    const timer = setTimeout(() => fail(unavailable(`Wharf at ${where} did not answer within ${settings.timeoutMs / 1000} s: check Wharf, or raise --timeout / WHARF_TIMEOUT`)), settings.timeoutMs);
    const lost = (err: NodeJS.ErrnoException) => fail(unavailable(`cannot reach Wharf at ${where}: ${networkProblem(err)}`));
    const call = send(
      target,
      {
        method: 'POST',
        // One call per process: no pool to keep the process alive after it.
        agent: false,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(payload), 'user-agent': 'wharf-kubelet-credential-provider' },
        ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) fail(unavailable(`Wharf at ${where} answered more than ${MAX_ANSWER_BYTES} bytes: is that URL Wharf?`));
          else chunks.push(chunk);
        });
        response.on('error', lost);
        response.on('close', () => {
          if (!response.complete) lost(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
        });
        response.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    call.on('error', lost);
    call.end(payload);
  });

  if (status === 200) return readAnswer(body);
  const why = `${status} ${describeRefusal(body)}`;
  if (status === 401) throw new PluginFailure(PLUGIN_EXIT.refused, `Wharf refused the pod's service-account token for ${request.image} (${why})`);
  if (status === 403) throw new PluginFailure(PLUGIN_EXIT.refused, `Wharf denied ${request.image} to this service account (${why})`);
  if (status === 400) throw new PluginFailure(PLUGIN_EXIT.refused, `Wharf refused the exchange request for ${request.image} (${why})`);
  if (status === 429) throw unavailable(`Wharf is limiting exchanges (${why}); the kubelet tries again at the next pull`);
  if (status === 404) throw unavailable(`Wharf at ${where} has no exchange endpoint (404): check --url / WHARF_URL and Wharf's version`);
  throw unavailable(`Wharf at ${where} could not answer (${why})`);
}
