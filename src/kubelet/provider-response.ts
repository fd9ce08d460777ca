import type { ExchangeAnswer } from './exchange-call.js';
import { API_VERSION, type ProviderRequest } from './provider-request.js';
import { PLUGIN_EXIT, PluginFailure } from './plugin-failure.js';

/** The kubelet's CredentialProviderResponse (v1): only the fields it knows, since it decodes strictly. */
export interface ProviderResponse {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'CredentialProviderResponse';
  /** `Image`: the credential pulls one repository, so the kubelet must not reuse it for the registry. */
  readonly cacheKeyType: 'Image';
  /** A Go duration (`9m30s`), never longer than the credential lives. */
  readonly cacheDuration: string;
  /** One key, `host/repository`: the kubelet offers it for that image and those it prefixes. */
  readonly auth: Readonly<Record<string, { readonly username: string; readonly password: string }>>;
}

/** Seconds the kubelet's cache gives up before the credential ends, at most: for clock steps and slow pulls. */
export const CACHE_MARGIN_SECONDS = 30;

/** Whole seconds as Go's `time.Duration.String()` writes them (`0s`, `45s`, `9m30s`, `1h0m0s`), which `metav1.Duration` parses. */
export function goDuration(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * How long the kubelet may keep the credential: its life less a margin (30 s, or a tenth of a
 * short life, at least 1 s), so a cached credential is never handed to the runtime after it expired. `0s`
 * tells the kubelet not to cache at all.
 */
export function cacheSeconds(expiresIn: number): number {
  const life = Math.floor(expiresIn);
  return Math.max(0, life - Math.min(CACHE_MARGIN_SECONDS, Math.max(1, Math.floor(life / 10))));
}

/**
 * The response for the kubelet. Wharf must have answered for the image's own registry and
 * repository: the `auth` key comes from the image as the kubelet sent it (so its keyring matches
 * it), and a credential for anything else would be offered for the wrong pull.
 */
export function buildResponse(request: ProviderRequest, answer: ExchangeAnswer): ProviderResponse {
  if (answer.repository !== request.repository || (answer.registry !== undefined && answer.registry !== request.host)) {
    const answered = `${answer.registry ?? request.host}/${answer.repository}`;
    throw new PluginFailure(PLUGIN_EXIT.unavailable, `Wharf answered with a credential for ${answered}, not for ${request.host}/${request.repository}: check that --url / WHARF_URL is the Wharf of ${request.host}`);
  }
  return {
    apiVersion: API_VERSION,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Image',
    cacheDuration: goDuration(cacheSeconds(answer.expiresIn)),
    auth: { [`${request.host}/${request.repository}`]: { username: answer.username, password: answer.password } },
  };
}
