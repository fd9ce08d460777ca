import { parseArgs } from 'node:util';
import type { CliIo } from '../client/io.js';
import { networkMessage, REQUEST_TIMEOUT_MS } from '../client/login/http-exchange.js';
import { sanitize } from '../client/login/sanitize.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { readSecret } from '../config/secrets.js';
import type { Explanation } from '../tokens/access-explainer.js';

const USAGE = `usage: wharf access explain --account NAME --scope SCOPE [--scope SCOPE]... [--credential ID] [--group G]...
                           [--url URL] [--config FILE]

Why a token request by the account (with one of its credentials) gets what it gets: per
requested action, granted or refused and which ACL rule, webhook answer or credential scope entry
decided. Asks the running Wharf (POST /api/v1/access/explain), which decides with the token
endpoint's own code, with the admin secret (admin.secretFile, or WHARF_ADMIN_SECRET).
  --scope SCOPE     a registry scope as a token request names it: repository:team/app:push,pull
  --credential ID   one of the account's live credentials (wharf token list): its scope cuts too
  --group G         a group for ACL group rules (a sign-in's groups are not known here; a robot's
                    maker's are, as their sign-in method last proved them); repeat
  --url URL         Wharf's base URL; default server.publicUrl, else http://HOST:PORT of the config
exit status: 0 explained, 1 refused or failed, 2 usage, 3 Wharf unreachable
`;

/**
 * `wharf access explain`: a client of the running server's admin API, not a second copy of the
 * services. The explanation then comes from the process that decides tokens: its webhook's cached
 * answers, its secrets and its store (one implementation, no state that could differ).
 */
export async function accessCommand(argv: string[], io: CliIo, fetchFn: typeof fetch = (...args) => globalThis.fetch(...args)): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`wharf access: ${message}\n${USAGE}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        account: { type: 'string' },
        credential: { type: 'string' },
        scope: { type: 'string', multiple: true },
        group: { type: 'string', multiple: true },
        url: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'explain') return usage('the subcommand is explain');
  if (!values.account) return usage('--account NAME is required');
  if (!values.scope?.length) return usage('give at least one --scope');

  let config;
  try {
    config = await loadConfig(values.config ?? io.env.WHARF_CONFIG, io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) io.stderr(`  ${p.path}: ${p.message}\n`);
    return 1;
  }
  let secret;
  try {
    secret = readSecret('admin secret', { file: config.admin.secretFile, env: config.admin.secretEnv }, io.env);
  } catch (err) {
    io.stderr(`wharf access: ${(err as Error).message}\n`);
    return 1;
  }
  const host = ['0.0.0.0', '::', ''].includes(config.server.host) ? '127.0.0.1' : config.server.host;
  const base = (values.url ?? config.server.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`).replace(/\/+$/, '');
  const body = { account: values.account, scopes: values.scope, ...(values.credential ? { credential: values.credential } : {}), ...(values.group ? { groups: values.group } : {}) };
  let answer: Response;
  try {
    answer = await fetchFn(`${base}/api/v1/access/explain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    io.stderr(`wharf access: cannot reach Wharf at ${base}: ${networkMessage(err)}\n`);
    return 3;
  }
  const json = (await answer.json().catch(() => undefined)) as (Explanation & { error_description?: string }) | undefined;
  if (!answer.ok || json === undefined) {
    io.stderr(`wharf access: ${sanitize(json?.error_description ?? `Wharf answered ${answer.status}`)}\n`);
    return 1;
  }
  io.stdout(render(json));
  return 0;
}

/** The explanation for a terminal: who, with what, then one line per action. */
function render(e: Explanation): string {
  const lines = [
    e.owner ? `account ${e.account}: owned by ${e.owner.source}${e.owner.subject === null ? '' : ` (subject ${e.owner.subject})`} since ${e.owner.boundAt}` : `account ${e.account}: no sign-in method owns it yet`,
    `groups: ${e.groups.names.length > 0 ? `${e.groups.names.join(', ')} (${e.groups.note})` : e.groups.note}`,
  ];
  // Older servers answer no `maker`.
  if (e.maker) {
    lines.push(
      e.maker.holdsAccount
        ? `robot made by ${e.maker.account}: decided as ${e.maker.account}'s rights now, cut by ${e.credential ? "the credential's scope" : 'the scope of each of its credentials'}`
        : `robot made by ${e.maker.account}, who no longer holds that account: the robot gets nothing`,
    );
  }
  if (e.credential) lines.push(`credential ${e.credential.id} "${e.credential.label}", ends ${e.credential.expiresAt}`);
  for (const scope of e.scopes) {
    lines.push(scope.scope);
    const width = Math.max(...scope.actions.map((a) => a.action.length));
    for (const a of scope.actions) lines.push(`  ${a.action.padEnd(width)}  ${a.granted ? 'allowed' : 'refused'}  ${a.why}`);
  }
  return `${sanitize(lines.join('\n'))}\n`;
}
