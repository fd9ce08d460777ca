import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { API_EXIT, callApi, wharfBase, type ApiCallDeps } from './api-call.js';
import type { CliIo } from './io.js';

/** What `wharf token exchange --help` prints. */
export const EXCHANGE_USAGE = `usage: wharf token exchange --token-file FILE (--repository NAME | --image REF) --wharf URL
                           [--annotation KEY=VALUE]... [--output json|password|docker-config] [--insecure]

Exchanges a workload's ID token (a Kubernetes service-account token, as Flux or Argo CD hold
one; a CI job's ID token) for a short-lived credential that pulls one repository
(POST /api/v1/exchange, docs/kubernetes.md).
  --token-file FILE   the token (a projected service-account token with Wharf's audience); - reads stdin
  --repository NAME   the repository to pull (team-a/app); or
  --image REF         an image reference (registry.example/team-a/app:1.0): its registry is named too
  --annotation K=V    a service-account annotation to pass on (wharf/pull=team-a/app narrows)
  --output FORMAT     json (default: the exchange's answer), password (the credential alone), or
                      docker-config (a config.json with auths for the image's registry; needs --image)
  --wharf URL         Wharf's base URL
  --insecure          allow plain HTTP to a Wharf that is not on loopback
exit status: 0 done, 1 refused or failed, 2 usage, 3 Wharf unreachable
`;

/** The exchange's answer (docs/openapi.yaml). */
interface Exchanged {
  username: string;
  password: string;
  registry?: string;
  repository: string;
  expires_at: string;
}

/** `wharf token exchange`: the token exchange from a shell, for controllers and scripts that hold a workload's token. */
export async function exchangeCommand(argv: string[], io: CliIo, deps: ApiCallDeps & { readFile?: (path: string) => Promise<string> }): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`wharf token exchange: ${message}\n${EXCHANGE_USAGE}`);
    return API_EXIT.usage;
  };
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'token-file': { type: 'string' },
        repository: { type: 'string' },
        image: { type: 'string' },
        annotation: { type: 'string', multiple: true, default: [] },
        output: { type: 'string', default: 'json' },
        wharf: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help) {
    io.stdout(EXCHANGE_USAGE);
    return API_EXIT.ok;
  }
  if (!values['token-file']) return usage('--token-file is required');
  if ((values.repository === undefined) === (values.image === undefined)) return usage('give one of --repository and --image');
  if (!['json', 'password', 'docker-config'].includes(values.output)) return usage('--output is json, password or docker-config');
  if (values.output === 'docker-config' && values.image === undefined) return usage('--output docker-config needs --image (it names the registry)');
  if (values.wharf === undefined) return usage('--wharf is required');
  const annotations: Record<string, string> = {};
  for (const pair of values.annotation) {
    const at = pair.indexOf('=');
    if (at <= 0) return usage(`--annotation takes KEY=VALUE, got ${JSON.stringify(pair.slice(0, 80))}`);
    annotations[pair.slice(0, at)] = pair.slice(at + 1);
  }

  let token: string;
  try {
    const file = values['token-file'];
    token = (file === '-' ? await io.readStdin() : await (deps.readFile ?? ((p: string) => readFile(p, 'utf8')))(file)).trim();
  } catch (err) {
    io.stderr(`wharf token exchange: cannot read the token: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return API_EXIT.failed;
  }
  if (token === '') {
    io.stderr('wharf token exchange: the token file is empty\n');
    return API_EXIT.failed;
  }

  const found = await wharfBase('wharf token exchange', io, deps, { wharf: values.wharf, registry: undefined, insecure: values.insecure });
  if (typeof found === 'number') return found;
  if ('usage' in found) return usage(found.usage);
  const body = { token, ...(values.image ? { image: values.image } : { repository: values.repository }), ...(Object.keys(annotations).length ? { annotations } : {}) };
  const answer = await callApi('wharf token exchange', io, deps, { base: found.base, path: '/api/v1/exchange', method: 'POST', body });
  if (typeof answer === 'number') return answer;
  const got = answer.json as Exchanged;
  if (values.output === 'password') io.stdout(`${got.password}\n`);
  else if (values.output === 'docker-config') {
    const auth = Buffer.from(`${got.username}:${got.password}`).toString('base64');
    io.stdout(`${JSON.stringify({ auths: { [got.registry!]: { auth } } }, null, 2)}\n`);
  } else io.stdout(`${JSON.stringify(got, null, 2)}\n`);
  io.stderr(`wharf token exchange: pulls ${got.repository} as ${got.username} until ${got.expires_at}\n`);
  return API_EXIT.ok;
}
