import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandResult } from '../support/processes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built plugin, as the package's bin runs it. */
export const PLUGIN = join(ROOT, 'dist/kubelet/credential-provider.js');

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A service-account token of the shape the API server mints for the kubelet: bound to a pod,
 * for the audience of the provider's tokenAttributes, ten minutes. The plugin never verifies it
 * (Wharf does), so its signature is random.
 */
export function serviceAccountToken(namespace = 'team-a', serviceAccount = 'puller'): string {
  const iat = 1_796_000_000;
  const claims = {
    aud: ['wharf'],
    exp: iat + 600,
    iat,
    iss: 'https://kubernetes.default.svc.cluster.local',
    jti: '5e0b3c4e-2f8e-4a53-9d8e-0c9d7a0f2d11',
    'kubernetes.io': {
      namespace,
      node: { name: 'node-1', uid: '8f3c1a52-5b6e-4c59-a3a2-0c64b7d3e9f1' },
      pod: { name: 'app-7d9f8b6c5-x2x9q', uid: '0b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b' },
      serviceaccount: { name: serviceAccount, uid: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f' },
    },
    nbf: iat,
    sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
  };
  return `${b64url({ alg: 'RS256', kid: 'k1' })}.${b64url(claims)}.${randomBytes(256).toString('base64url')}`;
}

/**
 * A CredentialProviderRequest as the kubelet writes it on the plugin's stdin: its JSON encoder
 * puts TypeMeta's kind before apiVersion, leaves out empty optional fields and ends with a newline.
 */
export function kubeletRequest(fields: { image: string; serviceAccountToken?: string; serviceAccountAnnotations?: Record<string, string>; apiVersion?: string; kind?: string }): string {
  const { apiVersion = 'credentialprovider.kubelet.k8s.io/v1', kind = 'CredentialProviderRequest', ...rest } = fields;
  return `${JSON.stringify({ kind, apiVersion, ...rest })}\n`;
}

/** Runs the built plugin as the kubelet does: args from the config, env merged, the request on stdin. */
export function runPlugin(args: string[], input: string, env: Record<string, string> = {}): Promise<CommandResult> {
  if (!existsSync(PLUGIN)) throw new Error(`missing ${PLUGIN}: run \`npm run build\` (npm test does it first)`);
  return runCommand(process.execPath, [PLUGIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, input, timeoutMs: 20_000 });
}

/** The kubelet's `URLsMatchStr(key, image)` (pkg/credentialprovider/keyring.go): which images an `auth` key is offered for. */
export function kubeletKeyMatches(key: string, image: string): boolean {
  const parse = (s: string) => new URL(`https://${s}`);
  const split = (u: URL) => ({ parts: u.hostname.split('.'), port: u.port });
  const glob = parse(key);
  const target = parse(image);
  const g = split(glob);
  const t = split(target);
  if (g.port !== t.port || g.parts.length !== t.parts.length) return false;
  if (!target.pathname.startsWith(glob.pathname === '/' ? '' : glob.pathname)) return false;
  // filepath.Match per host label; the keys here have no metacharacters but `*`.
  return g.parts.every((p, i) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`).test(t.parts[i]!));
}

/** A Go duration (`9m30s`, `41s`, `1h0m0s`) in seconds, or NaN when it is not one `metav1.Duration` parses in that form. */
export function goDurationSeconds(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)$/.exec(text);
  return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3]) : NaN;
}
