import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildOciImage, type OciImage } from './oci-image.js';
import { requireCommand } from './prerequisites.js';
import { runCommand, type CommandResult } from './processes.js';

/** Path of the skopeo binary the harness runs. */
export const SKOPEO = '/usr/bin/skopeo';

/** Result of one skopeo invocation; non-zero exits are returned, never thrown. */
export type SkopeoResult = CommandResult;

/** Options shared by every wrapper. */
export interface SkopeoCommonOptions {
  /** `user:pass` for the registry side(s) of the command. */
  creds?: string;
  /** Docker/containers auth file (a docker `config.json` works) for the registry side(s). */
  authfile?: string;
  /** Killed after this long; default 30000 ms. */
  timeoutMs?: number;
  /**
   * Variables laid over the sandbox environment, e.g. a PATH with a `docker-credential-*` shim
   * first and that helper's own settings. Unset keys keep the sandbox's values (HOME, XDG dirs…).
   */
  env?: NodeJS.ProcessEnv;
}

/** Options for {@link skopeoCopy}. */
export interface SkopeoCopyOptions extends SkopeoCommonOptions {
  /** Overrides `creds` for the source only. */
  srcCreds?: string;
  /** Overrides `creds` for the destination only. */
  destCreds?: string;
  /** Default: false for loopback registries (plain HTTP), skopeo's default otherwise. */
  srcTlsVerify?: boolean;
  /** Default: false for loopback registries (plain HTTP), skopeo's default otherwise. */
  destTlsVerify?: boolean;
}

/** Options for {@link skopeoListTags} and {@link skopeoInspect}. */
export interface SkopeoQueryOptions extends SkopeoCommonOptions {
  /** Default: false for loopback registries (plain HTTP), skopeo's default otherwise. */
  tlsVerify?: boolean;
}

function isRegistryRef(ref: string): boolean {
  return ref.startsWith('docker://');
}

// Test registries listen on loopback over plain HTTP; skopeo would insist on HTTPS for them.
function isLoopbackRef(ref: string): boolean {
  return /^docker:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(ref);
}

function tlsFlag(flag: string, ref: string, explicit: boolean | undefined): string[] {
  if (!isRegistryRef(ref)) return [];
  const value = explicit ?? (isLoopbackRef(ref) ? false : undefined);
  // Boolean flags need the `=` form; `--tls-verify false` would make `false` a positional arg.
  return value === undefined ? [] : [`${flag}=${String(value)}`];
}

/**
 * Runs skopeo in a sandbox: a fresh HOME, XDG dirs, registries.conf, registries.d and a permissive
 * policy.json per call, so the host's ~/.docker/config.json, auth.json, REGISTRY_AUTH_FILE,
 * mirrors or signature policy can never change what a test observes. Never `--retry-times`,
 * which would hide exactly the failures tests look for.
 */
async function runSkopeo(globalArgs: string[], args: string[], opts: SkopeoCommonOptions): Promise<SkopeoResult> {
  requireCommand(SKOPEO, 'skopeo');
  const sandbox = await mkdtemp(join(tmpdir(), 'wharf-skopeo-'));
  try {
    const home = join(sandbox, 'home');
    const runtime = join(sandbox, 'run');
    const registriesD = join(sandbox, 'registries.d');
    await Promise.all([mkdir(home), mkdir(runtime), mkdir(registriesD), mkdir(join(sandbox, 'tmp'))]);
    await chmod(runtime, 0o700);
    const policy = join(sandbox, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const registriesConf = join(sandbox, 'registries.conf');
    await writeFile(registriesConf, '');

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_RUNTIME_DIR: runtime,
      XDG_CONFIG_HOME: join(home, '.config'),
      TMPDIR: join(sandbox, 'tmp'),
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      ...opts.env,
    };
    if (opts.authfile !== undefined) env.REGISTRY_AUTH_FILE = opts.authfile;

    const fullArgs = [
      '--policy', policy,
      '--registries.d', registriesD,
      '--tmpdir', join(sandbox, 'tmp'),
      ...globalArgs,
      ...args,
    ];
    return await runCommand(SKOPEO, fullArgs, { env, timeoutMs: opts.timeoutMs ?? 30_000 });
  } finally {
    await rm(sandbox, { recursive: true, force: true });
  }
}

/**
 * `skopeo copy SRC DEST`. Credentials and TLS flags are applied per side, and only to sides that
 * are `docker://` registries (`--src-creds`/`--dest-creds`, `--src-tls-verify`/`--dest-tls-verify`).
 */
export function skopeoCopy(src: string, dest: string, opts: SkopeoCopyOptions = {}): Promise<SkopeoResult> {
  const args = ['copy'];
  const srcCreds = opts.srcCreds ?? opts.creds;
  const destCreds = opts.destCreds ?? opts.creds;
  if (isRegistryRef(src) && srcCreds !== undefined) args.push('--src-creds', srcCreds);
  if (isRegistryRef(dest) && destCreds !== undefined) args.push('--dest-creds', destCreds);
  if (opts.authfile !== undefined) args.push('--authfile', opts.authfile);
  args.push(...tlsFlag('--src-tls-verify', src, opts.srcTlsVerify));
  args.push(...tlsFlag('--dest-tls-verify', dest, opts.destTlsVerify));
  args.push(src, dest);
  return runSkopeo([], args, opts);
}

function queryArgs(ref: string, opts: SkopeoQueryOptions): string[] {
  const args: string[] = [];
  if (opts.creds !== undefined) args.push('--creds', opts.creds);
  if (opts.authfile !== undefined) args.push('--authfile', opts.authfile);
  args.push(...tlsFlag('--tls-verify', ref, opts.tlsVerify));
  return args;
}

/** `skopeo list-tags REF` (REF without a tag, e.g. `docker://127.0.0.1:5000/demo/test`); stdout is JSON `{Repository, Tags}`. */
export function skopeoListTags(ref: string, opts: SkopeoQueryOptions = {}): Promise<SkopeoResult> {
  return runSkopeo([], ['list-tags', ...queryArgs(ref, opts), ref], opts);
}

/** `skopeo inspect REF`; `raw` prints the manifest (or with `config`, the config blob) verbatim. */
export function skopeoInspect(
  ref: string,
  opts: SkopeoQueryOptions & { raw?: boolean; config?: boolean } = {},
): Promise<SkopeoResult> {
  const args = ['inspect', ...queryArgs(ref, opts)];
  if (opts.raw) args.push('--raw');
  if (opts.config) args.push('--config');
  return runSkopeo([], [...args, ref], opts);
}

/**
 * Builds a one-layer test image holding `content` in `dir` and pushes it to `destination`
 * (`HOST/NAME:TAG`) with `creds` (`user:pass`), which must succeed.
 */
export async function pushNewImage(dir: string, destination: string, creds: string, content: string): Promise<OciImage> {
  const image = await buildOciImage(dir, { tag: 'v1', content });
  const push = await skopeoCopy(image.ref, `docker://${destination}`, { creds });
  expect(push.code, push.stderr).toBe(0);
  return image;
}
