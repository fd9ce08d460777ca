// Scenarios 11 and 12: the distinct-client load of (9) with Wharf's own registry credentials
// instead of platform tokens, unscoped (11) and scoped to the user's repositories, pull only (12)
// (bench/README.md, "Scoped credentials"). The same users, repositories and rotation in one Wharf
// process, so that the difference between the two is what a scope costs on every token request.
import { BenchError } from '../support.mjs';
import { distinctClients } from './distinct.mjs';
import { basic, platformToken, tokenPath } from './requests.mjs';

/** Requests in flight while credentials are made (each creation is a few store writes). */
const SETUP_CONCURRENCY = 16;

/** Runs `task(i)` for i in [0, n), `SETUP_CONCURRENCY` at a time; the results in order. */
async function pool(n, task) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, SETUP_CONCURRENCY) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/**
 * One credential per user, made by the admin API (`POST /api/v1/credentials`), after one sign-in
 * per user with a platform token: the admin API makes credentials only for an account whose
 * sign-in method owns its name. Scoped: `<user>/*`, pull (all the rotation asks for).
 */
async function makeCredentials(server, names, scoped, adminSecret) {
  await pool(names.length, async (i) => {
    const user = names[i];
    const res = await fetch(`${server.url}${tokenPath(`repository:${user}/app-0:pull`, user)}`, { headers: { authorization: basic(user, platformToken(user)) } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new BenchError(`credentials: ${user}'s sign-in answered ${res.status}`);
  });
  return pool(names.length, async (i) => {
    const body = { account: names[i], label: 'bench', expiresInDays: 1, ...(scoped ? { scope: [{ repositories: [`${names[i]}/*`], actions: ['pull'] }] } : {}) };
    const res = await fetch(`${server.url}/api/v1/credentials`, { method: 'POST', headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = await res.json();
    if (res.status !== 201 || typeof answer.secret !== 'string') throw new BenchError(`credentials: the admin API answered ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
    return basic(names[i], answer.secret);
  });
}

/** Scenario 11 (unscoped) or 12 (scoped): (9)'s rotation, each user with a Wharf credential of their own. */
export function credentialClients(id, users, scoped, serverRef, platform, { settings, ceilingRps, adminSecret }) {
  const scenario = distinctClients(id, users, serverRef, platform, { settings, ceilingRps, authFor: (server, names) => makeCredentials(server, names, scoped, adminSecret) });
  return { ...scenario, name: `distinct clients: ${users.toLocaleString('en-US')} users, Wharf credentials ${scoped ? 'scoped to <user>/*:pull' : 'without a scope'}` };
}
