import { parseArgs } from 'node:util';
import { AccountBindings, BINDING_PREFIX, type AccountBinding } from '../accounts/account-bindings.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { createStore } from '../store/create-store.js';
import { announceDrop } from '../invalidation/redis-channel.js';
import type { CliIo } from '../client/io.js';

const USAGE = 'usage: wharf accounts list|show NAME|unbind NAME [--config FILE]\n';

/**
 * `wharf accounts list|show NAME|unbind NAME [--config FILE]`: which sign-in method owns each
 * account name, and freeing a name so another method may claim it. Opens the store the server
 * uses (the embedded database allows a second process beside a running server).
 */
export async function accountsCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { config: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  const [sub, name, ...extra] = parsed.positionals;
  const needsName = sub === 'show' || sub === 'unbind';
  if (!(sub === 'list' || needsName) || (needsName && !name) || (sub === 'list' && name !== undefined) || extra.length > 0) {
    io.stderr(USAGE);
    return 2;
  }
  let config;
  try {
    config = await loadConfig(parsed.values.config ?? io.env.WHARF_CONFIG, io.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) io.stderr(`  ${p.path}: ${p.message}\n`);
    return 1;
  }
  const store = createStore(config);
  try {
    // A Redis store takes no command before it is connected (no offline queue): wait for it.
    try {
      await store.ready?.();
    } catch (err) {
      io.stderr(`the state store is unreachable: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
    const bindings = new AccountBindings(store);
    if (sub === 'list') {
      const all = await bindings.list();
      if (all.length === 0) io.stdout('no account is bound yet\n');
      for (const b of all) io.stdout(`${describe(b).join('\t')}\n`);
      return 0;
    }
    if (sub === 'show') {
      const binding = await bindings.get(name!);
      if (!binding) {
        io.stderr(`account ${JSON.stringify(name)} is not bound: the next sign-in method to use it will own it\n`);
        return 1;
      }
      const [account, source, subject, bound] = describe(binding);
      io.stdout(`account: ${account}\nsource: ${source}\nsubject: ${subject}\nbound: ${bound}\n${binding.robot ? `robot made by: ${binding.robot.maker}\n` : ''}`);
      return 0;
    }
    const owner = await bindings.get(name!);
    if (!(await bindings.unbind(name!))) {
      io.stderr(`account ${JSON.stringify(name)} is not bound\n`);
      return 1;
    }
    // Running servers keep a matching binding in process: tell them over the invalidation channel.
    const told = config.cache.type === 'redis' && (await announceDrop(config.cache.url, `${config.cache.keyPrefix}invalidate`, [BINDING_PREFIX + name!]));
    const servers =
      config.cache.type !== 'redis'
        ? 'A running server may accept the old owner for up to a second more'
        : told
          ? 'Running servers were told at once'
          : `Running servers could not be told (Redis did not take the message) and may accept the old owner for up to ${config.cache.local.maxStalenessSeconds} s more`;
    io.stdout(
      `unbound ${name} (was ${owner?.source ?? 'unknown'}): the next sign-in method to use it will own it. ${servers}; ` +
        `its refresh tokens and registry credentials are refused once another method has claimed the name.\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}

/** Account, source (a robot's with its maker), subject (or `-` where the source binds none) and when it was bound. */
function describe(b: AccountBinding): [string, string, string, string] {
  const source = b.robot ? `${b.source} (made by ${b.robot.maker})` : b.source;
  return [b.account, source, b.subject ?? '-', b.boundAt ? new Date(b.boundAt).toISOString() : 'unknown'];
}
