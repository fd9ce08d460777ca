import { randomBytes } from 'node:crypto';
import { copyFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandAuthenticator } from '../../src/authn/command/command-authenticator.js';
import { commandAuthnSchema } from '../../src/authn/command/command-config.js';
import { preflightCommand } from '../../src/upstream/command-preflight.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { TemporarilyUnavailableError } from '../../src/domain/errors.js';
import { requireCommand } from '../support/prerequisites.js';
import { runCommand } from '../support/processes.js';
import { captureLog } from '../support/log-capture.js';

/*
 * The PAM recipe (examples/pam) against the machine's real PAM stack: a throwaway Unix user and
 * a throwaway /etc/pam.d service using pam_unix. Creating users and reading /etc/shadow need
 * root, which CI (`sudo bash .ci/run`) has; without it this suite fails and says so, rather than
 * being skipped and looking green.
 */

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/pam');
const HELPER = join(EXAMPLES, 'wharf-pam-auth');
const suffix = randomBytes(4).toString('hex');
const user = `wharfpam${suffix}`;
const group = `wharfteam${suffix}`;
const service = `wharf-test-${suffix}`;
const password = `${randomBytes(9).toString('base64url')} (*) é`;
const context = { clientIp: '127.0.0.1', service: 'registry' };
const cleanup: Array<() => Promise<unknown>> = [];

async function root(command: string, args: string[], input?: string): Promise<void> {
  const r = await runCommand(command, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${String(r.code)}): ${r.stderr.trim()}`);
}

beforeAll(async () => {
  requireCommand('/usr/bin/pamtester', 'pamtester');
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the PAM recipe test needs root: it creates a throwaway Unix user and /etc/pam.d service, and pam_unix only checks ' +
        'another user’s password when it can read /etc/shadow. Run it as root (sudo bash .ci/run, or sudo npx vitest run test/authn/command-pam).',
    );
  }
  requireCommand('/usr/sbin/useradd', 'passwd');
  requireCommand('/usr/sbin/chpasswd', 'passwd');
  await root('/usr/sbin/groupadd', [group]);
  cleanup.push(() => runCommand('/usr/sbin/groupdel', [group]));
  await root('/usr/sbin/useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', '-G', group, user]);
  cleanup.unshift(() => runCommand('/usr/sbin/userdel', [user]));
  await root('/usr/sbin/chpasswd', [], `${user}:${password}\n`);
  await copyFile(join(EXAMPLES, 'wharf.pam'), `/etc/pam.d/${service}`);
  cleanup.push(() => rm(`/etc/pam.d/${service}`, { force: true }));
});

afterAll(async () => {
  for (const step of cleanup) await step();
});

function make(env: Record<string, string> = {}) {
  const { logger, text } = captureLog('debug');
  const config = commandAuthnSchema.parse({ type: 'command', command: [HELPER], env: { WHARF_PAM_SERVICE: service, ...env }, timeoutMs: 10_000 });
  return { auth: new CommandAuthenticator(config, { cache: new MemoryCache({ maxEntries: 10 }), hashKey: randomBytes(32), logger }), raw: text };
}

describe('PAM recipe (examples/pam) against the real PAM stack', () => {
  it('ships an executable helper', async () => {
    expect(await preflightCommand([HELPER])).toEqual([]);
  });

  it('authenticates a Unix user with the right password and passes the user’s groups on', async () => {
    const { auth } = make();
    const result = await auth.login(user, password, context);
    expect(result).toEqual({ kind: 'ok', identity: { account: user, provider: 'command', subject: user, attributes: { groups: expect.arrayContaining([group]) }, owner: { source: `command:${HELPER}`, subject: user } } });
  });

  it('denies a wrong password, an unknown user and a username that looks like an option', async () => {
    const { auth, raw } = make();
    expect(await auth.login(user, `${password}x`, context)).toEqual({ kind: 'denied', reason: 'command: invalid username or password', knownAccount: true });
    expect(await auth.login(`nosuch${suffix}`, password, context)).toEqual({ kind: 'denied', reason: 'command: invalid username or password', knownAccount: true });
    expect(await auth.login('-v', password, context)).toEqual({ kind: 'denied', reason: 'command: invalid username or password', knownAccount: true });
    expect(raw()).not.toContain(password);
  });

  it('answers 503 when PAM cannot be asked (pamtester missing)', async () => {
    const { auth, raw } = make({ WHARF_PAMTESTER: '/nonexistent/pamtester' });
    await expect(auth.login(user, password, context)).rejects.toBeInstanceOf(TemporarilyUnavailableError);
    expect(raw()).toContain('/nonexistent/pamtester not found or not executable (apt-get install pamtester)');
  });
});
