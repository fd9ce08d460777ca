import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { requireCommand } from './prerequisites.js';
import { runCommand, startProcess, waitUntil, type ManagedProcess } from './processes.js';
import { pingRedis, REDIS_SERVER } from './redis.js';

const REDIS_CLI = '/usr/bin/redis-cli';

async function node(dir: string, port: number, extra: string[]): Promise<ManagedProcess> {
  const proc = await startProcess(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
    name: `redis:${port}`,
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  await waitUntil(`redis PING on ${port}`, async () => ((await pingRedis(port).catch(() => '')) === '+PONG' ? true : undefined), { process: proc });
  return proc;
}

/** A three-primary Redis Cluster on loopback, made with `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<{ url: string; stop(): Promise<void> }> {
  requireCommand(REDIS_SERVER, 'redis-server');
  requireCommand(REDIS_CLI, 'redis-tools');
  const dir = await mkdtemp(join(tmpdir(), 'wharf-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes = await Promise.all(ports.map((p) => node(dir, p, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`])));
  const created = await runCommand(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
  if (created.code !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  await waitUntil('cluster_state:ok', async () => ((await runCommand(REDIS_CLI, ['-p', String(ports[0]), 'cluster', 'info'])).stdout.includes('cluster_state:ok') ? true : undefined), { timeoutMs: 15_000 });
  return {
    url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One primary watched by one Sentinel (`redis-server --sentinel`), master name `wharfmaster`. */
export async function startRedisSentinel(): Promise<{ url: string; stop(): Promise<void> }> {
  requireCommand(REDIS_SERVER, 'redis-server');
  const dir = await mkdtemp(join(tmpdir(), 'wharf-sentinel-'));
  const [primaryPort, sentinelPort] = [await freePort(), await freePort()];
  const primary = await node(dir, primaryPort, []);
  const conf = join(dir, 'sentinel.conf');
  await writeFile(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor wharfmaster 127.0.0.1 ${primaryPort} 1\nsentinel down-after-milliseconds wharfmaster 5000\n`);
  const sentinel = await startProcess(REDIS_SERVER, [conf, '--sentinel'], { name: `sentinel:${sentinelPort}`, cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  await waitUntil('sentinel knows the primary', async () => {
    const out = await runCommand('/usr/bin/redis-cli', ['-p', String(sentinelPort), 'sentinel', 'get-master-addr-by-name', 'wharfmaster']).catch(() => undefined);
    return out?.stdout.includes(String(primaryPort)) ? true : undefined;
  }, { process: sentinel, timeoutMs: 15_000 });
  return {
    url: `redis-sentinel://127.0.0.1:${sentinelPort}/wharfmaster`,
    async stop() {
      await sentinel.stop();
      await primary.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
