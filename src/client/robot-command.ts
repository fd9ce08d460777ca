import { homedir as osHomedir } from 'node:os';
import { parseScopeShorthand, type CredentialScopeEntry } from '../domain/credential-scope.js';
import { WharfError } from '../domain/errors.js';
import { parseCommandLine } from './command-line.js';
import type { CliIo } from './io.js';
import { API_EXIT, callApi, wharfBase } from './api-call.js';
import { sanitize } from './login/sanitize.js';
import { credentialOptions, describeScope, expiresInDays, storedCredential, type TokenDeps } from './token-command.js';

/** What `wharf robot --help` prints. */
export const ROBOT_USAGE = `usage: wharf robot create NAME --scope SCOPE [--scope SCOPE]... [--expires 90d] [--label LABEL] [common options]
       wharf robot list|delete NAME [common options]

Robot accounts (robot-NAME): non-person accounts for CI systems and deploy hosts, through Wharf's
robot API, signed in with the credential \`wharf login\` stored, or as an administrator.
A robot you make gets only rights you have now, and keeps no more than you have later.
  --scope SCOPE        repository:NAME:ACTIONS (NAME may hold * and ?, ACTIONS pull,push,delete,*)
                       or registry:catalog:*; repeat for more; at least one
  --expires N[d]       how long the robot's credential lives (default: the server's default)
  --label LABEL        the credential's label (default: robot)
common options:
  --admin              act as an administrator with WHARF_ADMIN_SECRET (needs --wharf or --registry)
  --registry HOST      the registry \`wharf login\` signed in to; needed when it signed in to several
  --wharf URL          Wharf's base URL; default: discovered from the registry's Bearer challenge
  --insecure           allow plain HTTP to a registry or Wharf that is not on loopback
The secret of a new robot's credential is printed once on stdout: the password for
docker login -u robot-NAME --password-stdin.
exit status: 0 done, 1 refused or failed, 2 usage, 3 Wharf unreachable
`;

const EXIT = API_EXIT;

/** A robot as the API lists it. */
interface Listed {
  name: string;
  maker: string;
  createdAt: string;
  credentials: Array<{ id: string; scope: CredentialScopeEntry[] | null; expiresAt: string; expiringSoon: boolean; lastUsedAt: string | null }>;
}

/** `wharf robot create|list|delete`: the robot API (`/api/v1/robots`). */
export async function robotCommand(argv: string[], io: CliIo, overrides: Partial<TokenDeps> = {}): Promise<number> {
  const deps: TokenDeps = { fetch: (...args) => globalThis.fetch(...args), homedir: osHomedir, now: Date.now, ...overrides };
  const usage = (message: string) => {
    io.stderr(`wharf robot: ${message}\n${ROBOT_USAGE}`);
    return EXIT.usage;
  };
  const parsed = parseCommandLine(
    argv,
    io,
    { ...credentialOptions(), admin: { type: 'boolean', default: false } },
    ROBOT_USAGE,
    usage,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [action, name, ...extra] = positionals;
  if (action === undefined || !['create', 'list', 'delete'].includes(action)) return usage('say create NAME, list or delete NAME');
  if ((action !== 'list') !== (name !== undefined) || extra.length > 0) return usage(`${action} takes ${action === 'list' ? 'no NAME' : 'one NAME'}`);

  let body: Record<string, unknown> | undefined;
  if (action === 'create') {
    if (values.scope.length === 0) return usage('create needs --scope (a robot has no rights of its own)');
    const days = expiresInDays(values.expires);
    if (days === false) return usage('--expires takes whole days, e.g. 90d');
    try {
      body = { name, scope: values.scope.map(parseScopeShorthand), ...(days ? { expiresInDays: days } : {}), ...(values.label ? { label: values.label } : {}) };
    } catch (err) {
      if (err instanceof WharfError) return usage(err.message);
      throw err;
    }
  }

  let authorization: string;
  let registry = values.registry;
  if (values.admin) {
    const secret = io.env.WHARF_ADMIN_SECRET;
    if (!secret) return usage('--admin needs WHARF_ADMIN_SECRET in the environment');
    if (values.wharf === undefined && registry === undefined) return usage('--admin needs --wharf URL or --registry HOST');
    authorization = `Bearer ${secret}`;
  } else {
    const signedIn = await storedCredential(io, deps, registry);
    if (typeof signedIn === 'string') {
      io.stderr(`wharf robot: ${signedIn}\n`);
      return EXIT.failed;
    }
    authorization = `Basic ${Buffer.from(`${signedIn.username}:${signedIn.secret}`).toString('base64')}`;
    registry = signedIn.serverUrl;
  }
  const found = await wharfBase('wharf robot', io, deps, { wharf: values.wharf, registry, insecure: values.insecure });
  if (typeof found === 'number') return found;
  if ('usage' in found) return usage(found.usage);

  const path = `/api/v1/robots${action === 'delete' ? `/${encodeURIComponent(name!)}` : ''}`;
  const method = action === 'list' ? 'GET' : action === 'delete' ? 'DELETE' : 'POST';
  const answer = await callApi('wharf robot', io, deps, { base: found.base, path, method, authorization, body });
  if (typeof answer === 'number') return answer;
  const { json } = answer;
  print(io, action, json, name);
  return EXIT.ok;
}

function print(io: CliIo, action: string, json: unknown, name: string | undefined): void {
  if (action === 'delete') return io.stdout(`deleted ${sanitize(name!)}: its credentials are revoked and its name is free\n`);
  if (action === 'create') {
    const r = json as { name: string; maker: string; credential: { id: string; scope: CredentialScopeEntry[] | null; expiresAt: string }; secret: string };
    io.stderr(`Created ${sanitize(r.name)} (made by ${sanitize(r.maker)}), credential ${r.credential.id}: ${describeScope(r.credential.scope)}, expires ${r.credential.expiresAt}.\n`);
    io.stderr(`Log in as ${sanitize(r.name)} with this secret, shown only now:\n`);
    return io.stdout(`${r.secret}\n`);
  }
  const rows = (json as { robots: Listed[] }).robots.flatMap((r) =>
    (r.credentials.length ? r.credentials : [undefined]).map((c) =>
      [sanitize(r.name), sanitize(r.maker), c?.id ?? '-', c ? describeScope(c.scope) : 'no live credential', c ? `${c.expiresAt}${c.expiringSoon ? ' (soon)' : ''}` : '-', c?.lastUsedAt ?? (c ? 'never' : '-')].join('\t'),
    ),
  );
  io.stdout(['ROBOT\tMAKER\tCREDENTIAL\tSCOPE\tEXPIRES\tLAST USED', ...rows].join('\n') + '\n');
}
