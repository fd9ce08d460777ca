import { networkMessage, REQUEST_TIMEOUT_MS } from './http-exchange.js';
import { isLoopbackHost } from './plain-http.js';

/** Where discovery found Wharf, or why it could not. */
export type Discovery = { kind: 'ok'; base: string } | { kind: 'unreachable'; message: string };

/**
 * Finds Wharf from REGISTRY's `/v2/` Bearer challenge: the realm without its trailing `/token`.
 * HTTPS first; plain HTTP only for loopback hosts or with `insecure`, and only when HTTPS did
 * not answer at all (an HTTPS answer without a challenge is authoritative).
 */
export async function discoverWharf(registry: string, insecure: boolean, fetchFn: typeof fetch): Promise<Discovery> {
  const hostname = new URL(`https://${registry}`).hostname;
  const schemes = insecure || isLoopbackHost(hostname) ? ['https', 'http'] : ['https'];
  const failures: string[] = [];
  for (const scheme of schemes) {
    const url = `${scheme}://${registry}/v2/`;
    let response: Response;
    try {
      response = await fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await response.body?.cancel();
    } catch (err) {
      failures.push(`${url}: ${networkMessage(err)}`);
      continue;
    }
    const realm = bearerRealm(response.headers.get('www-authenticate'));
    if (realm === undefined) {
      return {
        kind: 'unreachable',
        message: `${url} answered ${response.status} without a Bearer challenge, so it does not use Wharf tokens; pass --wharf URL`,
      };
    }
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm, url);
    } catch {
      return { kind: 'unreachable', message: `${url} sent an unusable realm ${JSON.stringify(realm)}; pass --wharf URL` };
    }
    const base = realmUrl.href.replace(/[?#].*$/, '');
    if (!/^https?:$/.test(realmUrl.protocol) || !/\/token\/?$/.test(base)) {
      return { kind: 'unreachable', message: `the registry's token realm ${realmUrl.href} is not a Wharf …/token endpoint; pass --wharf URL` };
    }
    return { kind: 'ok', base: base.replace(/\/token\/?$/, '') };
  }
  const hint = schemes.includes('http') ? 'pass --wharf URL' : 'pass --insecure to try plain HTTP, or --wharf URL';
  return { kind: 'unreachable', message: `cannot reach the registry: ${failures.join('; ')}; ${hint}` };
}

/** The `realm` of the Bearer challenge in a WWW-Authenticate header (RFC 7235 auth-params). */
function bearerRealm(header: string | null): string | undefined {
  if (header === null) return undefined;
  const bearer = /(?:^|,)\s*Bearer\s+(.*)$/i.exec(header);
  if (!bearer) return undefined;
  const param = /\s*([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/giy;
  const text = bearer[1] as string;
  param.lastIndex = 0;
  for (let m = param.exec(text); m !== null && m[0] !== ''; m = param.exec(text)) {
    if ((m[1] as string).toLowerCase() === 'realm') return m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return undefined;
}
