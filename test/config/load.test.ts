import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';

function problems(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('fills every default from an empty document', () => {
    const config = parseConfig({}, {});
    expect(config.server).toEqual({
      host: '127.0.0.1',
      port: 5001,
      trustProxy: false,
      ipv6PrefixLength: 64,
      timeouts: { headersSeconds: 10, requestSeconds: 30, keepAliveSeconds: 5, checkIntervalSeconds: 1 },
      connections: { perAddress: 128, total: 10_000 },
    });
    expect(config.token).toMatchObject({ issuer: 'wharf', service: 'registry', lifetimeSeconds: 300, kidFormat: 'libtrust', x5c: true });
    expect(config.cache).toEqual({ type: 'memory', maxEntries: 100_000 });
    expect(config.refreshTokens).toEqual({ enabled: true, maxAgeSeconds: 90 * 86_400 });
    expect(config.authz.acl.rules).toBeUndefined(); // the default rules are chosen in services: none when a webhook decides
    expect(config.authz.webhook).toBeUndefined();
    expect(config.authz.order).toBe('acl-first');
    expect(config.authz.anonymous).toEqual({ cacheMegabytes: 4, webhookScopesPerMinute: 60, webhookScopesPerMinuteTotal: 1200 });
    expect(config.demoUser).toBe(false);
    expect(config.bruteForce).toEqual({
      enabled: true,
      perIp: { failures: 50, windowSeconds: 300 },
      perAccount: { failures: 10, windowSeconds: 300 },
      perAccountTotal: { failures: 100, windowSeconds: 300 },
      maxConcurrentPerAddress: 16,
      maxConcurrentVerifications: 64,
    });
  });

  it('re-checks the identity behind login credentials daily by default, and refuses to turn that off', () => {
    const { federation } = parseConfig({}, {});
    expect(federation).toMatchObject({ revalidateMinutes: 1440, revalidateGraceHours: 72, credentials: { defaultDays: 30, maxDays: 90, maxDaysWithoutRecheck: 1 } });
    const oidc = parseConfig({ federation: { providers: [{ type: 'oidc', issuer: 'https://sso.example.com', clientId: 'wharf' }] } }, {}).federation.providers[0];
    expect(oidc).toMatchObject({ offlineAccess: 'consent', allowedGroups: [] });
    expect(problems(() => parseConfig({ federation: { revalidateMinutes: 0 } }, {}))).toEqual([
      { path: 'federation.revalidateMinutes', message: expect.stringContaining('re-checks can no longer be turned off (0)') },
    ]);
  });

  it('reports every problem at once, each with its path', () => {
    const found = problems(() =>
      parseConfig(
        {
          server: { port: 'eighty', extra: 1 },
          token: { lifetimeSeconds: 5, kidFormat: 'md5' },
          authn: [{ type: 'static', users: { alice: { passwordHash: 'plaintext' } } }, { type: 'kerberos' }],
          authz: { acl: { rules: [{ name: 'x', actions: ['PUSH'] }] } },
        },
        {},
      ),
    );
    const paths = found.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'server.port',
        'server',
        'token.lifetimeSeconds',
        'token.kidFormat',
        'authn.0.users.alice.passwordHash',
        'authn.1.type',
        'authz.acl.rules.0.actions.0',
      ]),
    );
    expect(found.find((p) => p.path === 'authn.0.users.alice.passwordHash')?.message).toContain('wharf hash-password');
    expect(found.find((p) => p.path === 'server')?.message).toContain('extra');
  });

  it('lets environment variables override settings, and names them in problems', () => {
    const config = parseConfig({ server: { port: 1 } }, { PORT: '6000', HOST: '0.0.0.0', WHARF_ISSUER: 'iss', WHARF_SERVICE: 'svc', WHARF_DATA_DIR: '/var/lib/wharf', WHARF_REDIS_URL: 'redis://r:6379' });
    expect(config.server.port).toBe(6000);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.token.issuer).toBe('iss');
    expect(config.token.service).toBe('svc');
    expect(config.dataDir).toBe('/var/lib/wharf');
    expect(config.cache).toEqual({ type: 'redis', url: 'redis://r:6379', keyPrefix: 'wharf:', local: { maxMegabytes: 48, maxStalenessSeconds: 300 } });

    // The store on a Redis of its own: a file's store settings are completed, an embedded store replaced.
    expect(parseConfig({ store: { type: 'redis', url: 'redis://old:6379', keyPrefix: 's:' } }, { WHARF_STORE_REDIS_URL: 'redis://store:6379' }).store).toEqual({ type: 'redis', url: 'redis://store:6379', keyPrefix: 's:' });
    expect(parseConfig({ store: { type: 'embedded' } }, { WHARF_STORE_REDIS_URL: 'redis://store:6379' }).store).toEqual({ type: 'redis', url: 'redis://store:6379', keyPrefix: 'wharf:' });

    const found = problems(() => parseConfig({}, { PORT: 'abc', WHARF_REDIS_URL: 'http://nope', WHARF_STORE_REDIS_URL: 'http://nope' }));
    expect(found.map((p) => p.path)).toEqual(expect.arrayContaining(['server.port (from PORT)', 'cache.url (from WHARF_REDIS_URL)', 'store.url (from WHARF_STORE_REDIS_URL)']));
  });

  it('completes or adds the platform backends from their environment variables, naming them in problems', () => {
    const env = {
      WHARF_INTROSPECTION_URL: 'https://platform.example/introspect',
      WHARF_INTROSPECTION_CLIENT_ID: 'registry',
      tokenInfoEndpoint: 'https://sage.example/tokeninfo',
      tokenInfoUser: 'ecr',
      WHARF_AUTHZ_WEBHOOK_URL: 'https://platform.example/authz',
    };
    // A configured rfc7662 backend is completed in place; the SAGE one is added after it.
    const config = parseConfig({ authn: [{ type: 'static' }, { type: 'introspection', cacheSeconds: 30 }], authz: { webhook: { type: 'webhook', url: 'https://old.example', cacheSeconds: 5 } } }, env);
    expect(config.authn.map((b) => b.type)).toEqual(['static', 'introspection', 'introspection']);
    expect(config.authn[1]).toMatchObject({ dialect: 'rfc7662', url: 'https://platform.example/introspect', clientId: 'registry', cacheSeconds: 30 });
    expect(config.authn[2]).toMatchObject({ dialect: 'sage', url: 'https://sage.example/tokeninfo', clientId: 'ecr', clientSecretEnv: 'tokenInfoPassword' });
    expect(config.authz.webhook).toMatchObject({ type: 'webhook', url: 'https://platform.example/authz', cacheSeconds: 5 });

    // SAGE's decision endpoint when no webhook URL is given; a configured decider of another type is replaced.
    const sage = parseConfig({ authz: { webhook: { type: 'command', command: ['/bin/true'] } } }, { ecrAuthZEndpoint: 'https://sage.example/authz' });
    expect(sage.authz.webhook).toMatchObject({ type: 'sage', url: 'https://sage.example/authz' });

    expect(problems(() => parseConfig({}, { WHARF_INTROSPECTION_URL: 'not a url', WHARF_AUTHZ_WEBHOOK_URL: 'nope' })).map((p) => p.path)).toEqual(
      expect.arrayContaining(['authn.0.url (from WHARF_INTROSPECTION_URL)', 'authz.webhook.url (from WHARF_AUTHZ_WEBHOOK_URL)']),
    );
  });

  it('rejects a document that is not a mapping', () => {
    expect(problems(() => parseConfig(['a'], {}))[0]?.message).toContain('mapping');
  });
});

describe('loadConfig', () => {
  it('uses the embedded defaults with a demo user when there is no file', async () => {
    const config = await loadConfig(undefined, {});
    expect(config.demoUser).toBe(true);
  });

  it('reports YAML syntax errors with their line, and unreadable files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-config-'));
    const file = join(dir, 'bad.yml');
    await writeFile(file, 'server:\n  port: 5001\n   host: x\n');
    await expect(loadConfig(file, {})).rejects.toSatisfy((e: ConfigError) => e instanceof ConfigError && /^line \d+$/.test(e.problems[0]!.path));
    await expect(loadConfig(join(dir, 'missing.yml'), {})).rejects.toSatisfy(
      (e: ConfigError) => e instanceof ConfigError && e.problems[0]!.message.includes('ENOENT'),
    );
  });

  it('reads a valid file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-config-'));
    const file = join(dir, 'ok.yml');
    await writeFile(file, 'token:\n  service: my-registry\n  actionLifetimeSeconds:\n    push: 3600\n');
    const config = await loadConfig(file, {});
    expect(config.token.service).toBe('my-registry');
    expect(config.token.actionLifetimeSeconds).toEqual({ push: 3600 });
    expect(config.demoUser).toBe(false);
  });
});
