import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand } from './prerequisites.js';
import { runCommand, startProcess, waitUntil, type CommandResult } from './processes.js';

/** Debian's containerd (package `containerd`): the runtime the kubelet drives on most nodes. */
export const CONTAINERD = '/usr/bin/containerd';
/** containerd's own client, from the same package. */
export const CTR = '/usr/bin/ctr';

// ctr's objects live in a namespace; one of the test's own keeps them apart from anything else.
const NAMESPACE = 'wharf-test';

/** A containerd owned by a test: its own root, state and socket in a temp dir. */
export interface ContainerdHandle {
  /** The gRPC socket (`ctr --address`). */
  readonly address: string;
  /** Last lines of containerd's log. */
  logs(): string;
  /** Stops containerd and removes its temp dir (root, state, content). */
  stop(): Promise<void>;
}

/**
 * The config: everything under `dir`, including the `opt` plugin's directory (by default
 * /opt/containerd on the host), no CRI plugin (no kubelet here), and no snapshotter but
 * `native`, which copies layers into plain directories and needs neither overlayfs nor a
 * block device: `ctr pull` unpacks into it inside a container too.
 */
function configToml(dir: string): string {
  return [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = [',
    '  "io.containerd.grpc.v1.cri",',
    '  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",',
    '  "io.containerd.snapshotter.v1.overlayfs", "io.containerd.snapshotter.v1.zfs",',
    ']',
    '[grpc]',
    `  address = "${join(dir, 'containerd.sock')}"`,
    '[ttrpc]',
    `  address = "${join(dir, 'containerd.sock.ttrpc')}"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${join(dir, 'opt')}"`,
    '',
  ].join('\n');
}

/**
 * Starts `containerd --config FILE` as root on a temp dir and waits until `ctr version` reaches
 * it. containerd has to run as root (it owns mounts, snapshots and the content store's file
 * modes): any other user fails here loudly rather than in a pull.
 */
export async function startContainerd(opts: { timeoutMs?: number } = {}): Promise<ContainerdHandle> {
  requireCommand(CONTAINERD, 'containerd');
  requireCommand(CTR, 'containerd');
  if (process.getuid?.() !== 0) throw new Error('containerd needs root: run this test as root (in CI, the container runs as root)');
  const dir = await mkdtemp(join(tmpdir(), 'wharf-containerd-'));
  await mkdir(join(dir, 'opt'));
  const config = join(dir, 'config.toml');
  await writeFile(config, configToml(dir));
  const address = join(dir, 'containerd.sock');

  // CONTAINERD_* and the like must not steer the test's daemon; PATH is all it needs.
  const proc = await startProcess(CONTAINERD, ['--config', config], { name: 'containerd', env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
  const stop = async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      `containerd on ${address}`,
      async () => {
        const version = await runCommand(CTR, ['--address', address, 'version'], { env: { PATH: process.env.PATH ?? '' }, timeoutMs: 5000 });
        return version.code === 0 ? true : undefined;
      },
      { process: proc, timeoutMs: opts.timeoutMs ?? 20_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, logs: () => proc.logs(), stop };
}

/** Options for {@link ctrPull}. */
export interface CtrPullOptions {
  /** Registry credentials, as the kubelet hands the runtime an `auth` entry. */
  user?: string;
  password?: string;
  /** The registry speaks plain HTTP (the test registries on 127.0.0.1). */
  plainHttp?: boolean;
  /** Killed after this long; default 60000 ms. */
  timeoutMs?: number;
}

/**
 * `ctr images pull --snapshotter native [--plain-http] [--user USER:PASSWORD] IMAGE`: fetches the
 * image with containerd's registry client (the bearer-token dance included) and unpacks it, as
 * a node's containerd does for the kubelet. IMAGE is fully qualified (`HOST/NAME:TAG`).
 * Non-zero exits are returned, never thrown.
 */
export function ctrPull(containerd: ContainerdHandle, image: string, opts: CtrPullOptions = {}): Promise<CommandResult> {
  const args = ['--address', containerd.address, '--namespace', NAMESPACE, 'images', 'pull', '--snapshotter', 'native'];
  if (opts.plainHttp === true) args.push('--plain-http');
  if (opts.user !== undefined) args.push('--user', opts.password === undefined ? opts.user : `${opts.user}:${opts.password}`);
  args.push(image);
  // HOME and the proxies left out: ctr reads neither a docker config nor a proxy we did not set.
  return runCommand(CTR, args, { env: { PATH: process.env.PATH ?? '' }, timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** `ctr images ls -q`: the references containerd holds, one per line. */
export async function ctrImages(containerd: ContainerdHandle): Promise<string[]> {
  const listed = await runCommand(CTR, ['--address', containerd.address, '--namespace', NAMESPACE, 'images', 'ls', '-q'], { env: { PATH: process.env.PATH ?? '' } });
  if (listed.code !== 0) throw new Error(`ctr images ls failed: ${listed.stderr}`);
  return listed.stdout.split('\n').filter(Boolean);
}
