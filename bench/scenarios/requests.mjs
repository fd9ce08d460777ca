// The requests the scenarios send, and the sanity check each scenario passes before it is
// measured: a fast 401 or an empty grant would make a meaningless benchmark.
import { randomBytes } from 'node:crypto';
import { BenchError } from '../support.mjs';

export const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
/** A token the fake platform's introspection answers as active for `user` (bench/fake-platform.mjs). */
export const platformToken = (user) => `plat_${user}_${randomBytes(16).toString('hex')}`;
export const tokenPath = (scope, account) => `/token?service=registry${account ? `&account=${encodeURIComponent(account)}` : ''}&scope=${encodeURIComponent(scope)}`;

/** Fails unless Wharf answers 200 with a token granting `pull` on something: a fast 401 or an empty grant is no benchmark. */
export async function checkGrant(label, url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== 200) throw new BenchError(`${label}: sanity request answered ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text);
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString('utf8'));
  if (!Array.isArray(claims.access) || !claims.access.some((a) => a.actions?.includes('pull'))) {
    throw new BenchError(`${label}: sanity request got a token without the pull grant: access=${JSON.stringify(claims.access)}`);
  }
  return body;
}
