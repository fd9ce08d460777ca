import { homedir as osHomedir } from 'node:os';
import { parseScopeShorthand, type CredentialScopeEntry } from '../domain/credential-scope.js';
import { WharfError } from '../domain/errors.js';
import { CredentialFileError, credentialsFilePath, FileCredentialStore, normalizeServerUrl, type StoredCredential } from './credential-store.js';
import { parseCommandLine } from './command-line.js';
import type { CliIo } from './io.js';
import { API_EXIT, callApi, wharfBase } from './api-call.js';
import { sanitize } from './login/sanitize.js';

/** What `wharf token --help` prints. */
export const TOKEN_USAGE = `usage: wharf token create --label LABEL [--scope SCOPE]... [--expires 30d] [common options]
       wharf token list|rotate ID [--retire-after 24h]|revoke ID [common options]
       wharf token exchange --token-file FILE --repository NAME --wharf URL   (wharf token exchange --help)

Registry credentials of your account, through Wharf's credential API, signed in with the
credential \`wharf login\` stored (no password typed).
  --scope SCOPE        repository:NAME:ACTIONS (NAME may hold * and ?, ACTIONS pull,push,delete,*),
                       registry:catalog:* or manage; repeat for more; none: your account's full rights
  --expires N[d|h]     how long the new credential lives (default: the server's default)
  --label LABEL        where the credential will be used
  --retire-after N[h|d]  rotate: how long the old secret keeps working (default: the server's, 24h)
common options:
  --registry HOST      the registry \`wharf login\` signed in to; needed when it signed in to several
  --wharf URL          Wharf's base URL; default: discovered from the registry's Bearer challenge
  --insecure           allow plain HTTP to a registry or Wharf that is not on loopback
exit status: 0 done, 1 refused or failed, 2 usage, 3 Wharf unreachable
`;

const EXIT = API_EXIT;

/** The outside world of `wharf token`. */
export interface TokenDeps {
  fetch: typeof fetch;
  homedir: () => string;
  now: () => number;
}

/** One credential as the API lists it. */
interface Listed {
  id: string;
  label: string;
  scope: CredentialScopeEntry[] | null;
  expiresAt: string;
  expiringSoon: boolean;
  lastUsedAt: string | null;
  source: string;
  previousRetiresAt?: string;
}

/** `N`, `Nd` or `Nh` as seconds; undefined when it is not one. */
export function duration(text: string, unit: 'd' | 'h'): number | undefined {
  const m = /^(\d{1,5})([dh]?)$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * ((m[2] || unit) === 'd' ? 86_400 : 3600);
}

/**
 * The options `wharf token` and `wharf robot` share: what the credential is, and which Wharf to
 * ask. Made per call: parseArgs hands out the `--scope` default array itself.
 */
export function credentialOptions() {
  return {
    scope: { type: 'string', multiple: true, default: [] as string[] },
    expires: { type: 'string' },
    label: { type: 'string' },
    registry: { type: 'string' },
    wharf: { type: 'string' },
    insecure: { type: 'boolean', default: false },
  } as const;
}

/** `--expires` in whole days (`30d`, or `30`): undefined when not given, false when it is not whole days. */
export function expiresInDays(expires: string | undefined): number | undefined | false {
  if (expires === undefined) return undefined;
  const seconds = duration(expires, 'd');
  return seconds === undefined || seconds < 86_400 || seconds % 86_400 !== 0 ? false : seconds / 86_400;
}

/** A scope as one line. */
export function describeScope(scope: CredentialScopeEntry[] | null): string {
  if (scope === null) return 'all of the account';
  return scope.map((e) => [...(e.repositories ?? []).map((r) => `repository:${r}:${(e.actions ?? []).join(',')}`), ...(e.catalog ? ['registry:catalog:*'] : []), ...(e.manage ? ['manage'] : [])].join(' ')).join(' ');
}

/**
 * `wharf token create|list|rotate|revoke`: the credential API (`/api/v1/credentials`) with the
 * credential `wharf login` stored for the registry.
 */
export async function tokenCommand(argv: string[], io: CliIo, overrides: Partial<TokenDeps> = {}): Promise<number> {
  const deps: TokenDeps = { fetch: (...args) => globalThis.fetch(...args), homedir: osHomedir, now: Date.now, ...overrides };
  if (argv[0] === 'exchange') return (await import('./exchange-command.js')).exchangeCommand(argv.slice(1), io, deps);
  const usage = (message: string) => {
    io.stderr(`wharf token: ${message}\n${TOKEN_USAGE}`);
    return EXIT.usage;
  };
  const parsed = parseCommandLine(
    argv,
    io,
    { ...credentialOptions(), 'retire-after': { type: 'string' } },
    TOKEN_USAGE,
    usage,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [action, id, ...extra] = positionals;
  if (action === undefined || !['create', 'list', 'rotate', 'revoke'].includes(action)) return usage('say create, list, rotate ID or revoke ID');
  if ((action === 'rotate' || action === 'revoke') !== (id !== undefined) || extra.length > 0) return usage(`${action} takes ${action === 'rotate' || action === 'revoke' ? 'one ID' : 'no ID'}`);

  let body: Record<string, unknown> | undefined;
  try {
    if (action === 'create') {
      if (!values.label) return usage('create needs --label');
      const days = expiresInDays(values.expires);
      if (days === false) return usage('--expires takes whole days, e.g. 30d');
      body = { label: values.label, ...(values.scope.length ? { scope: values.scope.map(parseScopeShorthand) } : {}), ...(days ? { expiresInDays: days } : {}) };
    }
    if (action === 'rotate' && values['retire-after'] !== undefined) {
      const seconds = duration(values['retire-after'], 'h');
      if (seconds === undefined) return usage('--retire-after takes hours or days, e.g. 24h');
      body = { retireAfterHours: Math.floor(seconds / 3600) };
    }
  } catch (err) {
    if (err instanceof WharfError) return usage(err.message);
    throw err;
  }

  const signedIn = await storedCredential(io, deps, values.registry);
  if (typeof signedIn === 'string') {
    io.stderr(`wharf token: ${signedIn}\n`);
    return EXIT.failed;
  }
  const found = await wharfBase('wharf token', io, deps, { wharf: values.wharf, registry: signedIn.serverUrl, insecure: values.insecure });
  if (typeof found === 'number') return found;
  if ('usage' in found) return usage(found.usage);

  const path = action === 'create' || action === 'list' ? '' : action === 'rotate' ? `/${encodeURIComponent(id!)}/rotate` : `/${encodeURIComponent(id!)}`;
  const method = action === 'list' ? 'GET' : action === 'revoke' ? 'DELETE' : 'POST';
  const authorization = `Basic ${Buffer.from(`${signedIn.username}:${signedIn.secret}`).toString('base64')}`;
  const answer = await callApi('wharf token', io, deps, { base: found.base, path: `/api/v1/credentials${path}`, method, authorization, body });
  if (typeof answer === 'number') return answer;
  const { json } = answer;
  print(io, action, json, id);
  return EXIT.ok;
}

function print(io: CliIo, action: string, json: unknown, id: string | undefined): void {
  if (action === 'revoke') return io.stdout(`revoked ${id}\n`);
  if (action === 'rotate') {
    const r = json as { secret: string; previousRetiresAt: string };
    io.stderr(`The old secret works until ${r.previousRetiresAt}. The new one, shown only now:\n`);
    return io.stdout(`${r.secret}\n`);
  }
  if (action === 'create') {
    const c = json as Listed & { secret: string };
    io.stderr(`Created ${c.id} (${sanitize(c.label)}): ${describeScope(c.scope)}, expires ${c.expiresAt}. The secret, shown only now:\n`);
    return io.stdout(`${c.secret}\n`);
  }
  const rows = (json as { credentials: Listed[] }).credentials.map((c) =>
    [c.id, sanitize(c.label), describeScope(c.scope), `${c.expiresAt}${c.expiringSoon ? ' (soon)' : ''}`, c.lastUsedAt ?? 'never', c.source, c.previousRetiresAt ? `old secret until ${c.previousRetiresAt}` : ''].join('\t'),
  );
  io.stdout(['ID\tLABEL\tSCOPE\tEXPIRES\tLAST USED\tSOURCE\tROTATION', ...rows].join('\n') + '\n');
}

/** The credential `wharf login` stored (for `registry`, or the only one); a message when there is none to use. */
export async function storedCredential(io: CliIo, deps: TokenDeps, registry: string | undefined): Promise<StoredCredential | string> {
  const store = new FileCredentialStore(credentialsFilePath(io.env, deps.homedir), deps.now);
  let all: StoredCredential[];
  try {
    all = await store.list();
  } catch (err) {
    if (err instanceof CredentialFileError) return err.message;
    throw err;
  }
  if (registry !== undefined) {
    const found = await store.get(registry);
    return found ?? `no live credential for ${registry}: run wharf login ${registry}`;
  }
  if (all.length === 1) return all[0]!;
  return all.length === 0 ? 'no live credential: run wharf login REGISTRY first' : `signed in to several registries (${all.map((c) => normalizeServerUrl(c.serverUrl)).join(', ')}): say which with --registry`;
}
