import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { builtInBackends, configSchema, configSchemaFor, type BackendRegistries, type Config } from './schema.js';

/** One thing wrong with the configuration, with where it is. */
export interface ConfigProblem {
  /** Dotted path in the config (`server.port`), or the environment variable that set it. */
  path: string;
  message: string;
}

/** Thrown when the configuration is invalid; carries every problem, not just the first. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Environment variables that override settings, and where they go. Listed in the README. */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: readonly string[]; kind: 'string' | 'number' }> = [
  { env: 'HOST', path: ['server', 'host'], kind: 'string' },
  { env: 'PORT', path: ['server', 'port'], kind: 'number' },
  { env: 'WHARF_PUBLIC_URL', path: ['server', 'publicUrl'], kind: 'string' },
  { env: 'WHARF_ISSUER', path: ['token', 'issuer'], kind: 'string' },
  { env: 'WHARF_SERVICE', path: ['token', 'service'], kind: 'string' },
  { env: 'WHARF_DATA_DIR', path: ['dataDir'], kind: 'string' },
  { env: 'WHARF_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
];

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Validates raw configuration (already parsed from YAML) with environment overrides applied.
 * Pure: reads no file, touches nothing; reports every problem at once.
 */
export function parseConfig(raw: unknown, env: Env, source = 'configuration', backends: BackendRegistries = builtInBackends): Config {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '(root)', message: 'must be a mapping of settings' }]);
  }
  const input = structuredClone(raw) as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  for (const { env: name, path, kind } of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(input, path, kind === 'number' && /^\d+$/.test(value) ? Number(value) : value);
    fromEnv.set(path.join('.'), name);
  }
  if (env.WHARF_REDIS_URL) {
    input.cache = { ...(isObject(input.cache) && input.cache.type === 'redis' ? input.cache : {}), type: 'redis', url: env.WHARF_REDIS_URL };
    fromEnv.set('cache.url', 'WHARF_REDIS_URL');
  }
  // The store's Redis of its own: its URL may carry a password, so it comes from a secret too.
  if (env.WHARF_STORE_REDIS_URL) {
    input.store = { ...(isObject(input.store) && input.store.type === 'redis' ? input.store : {}), type: 'redis', url: env.WHARF_STORE_REDIS_URL };
    fromEnv.set('store.url', 'WHARF_STORE_REDIS_URL');
  }
  applyBackendEnv(input, env, fromEnv, backends);
  // Built once per set of backends: the built-in set is by far the common case.
  const result = (backends === builtInBackends ? configSchema : configSchemaFor(backends)).safeParse(input);
  // A config naming types beyond the built-in ones is still a Config to the code that wires it (entries are looked up by type).
  if (result.success) return result.data as Config;
  throw new ConfigError(
    source,
    result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.') || '(root)';
      const envName = fromEnv.get(path);
      return { path: envName ? `${path} (from ${envName})` : path, message: issue.message };
    }),
  );
}

/** Reads and validates a YAML config file; with no file, the embedded defaults (and a demo user). */
export async function loadConfig(file: string | undefined, env: Env): Promise<Config> {
  if (!file) return parseConfig({ demoUser: true }, env, 'embedded defaults');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}` : '(yaml)', message: e.message.split('\n')[0]! })),
    );
  }
  return parseConfig(doc.toJS(), env, file);
}

/**
 * Environment variables that add or point a backend: the common introspection deployment
 * (WHARF_INTROSPECTION_*) and the SAGE platform's own variable names, as a drop-in.
 */
/**
 * Settings the backends take from environment variables (their entries' `fromEnvironment`): each
 * completes the configured entry it matches, or adds one. Only the first decider, in registry
 * order, whose variables are set is taken: it completes `authz.webhook`, or the matching entry of
 * `authz.deciders`.
 */
function applyBackendEnv(input: Record<string, unknown>, env: Env, fromEnv: Map<string, string>, backends: BackendRegistries): void {
  const authn = Array.isArray(input.authn) ? [...(input.authn as unknown[])] : [];
  for (const settings of backends.passwordBackends.entries.flatMap((e) => e.fromEnvironment?.(env) ?? [])) {
    let index = authn.findIndex((b) => isObject(b) && settings.matches(b));
    if (index < 0) index = authn.push({ ...settings.base }) - 1;
    authn[index] = { ...(authn[index] as object), ...settings.fields };
    for (const [field, name] of Object.entries(settings.names)) fromEnv.set(`authn.${index}.${field}`, name);
  }
  if (authn.length > 0) input.authn = authn;

  const decider = backends.deciders.entries.flatMap((e) => e.fromEnvironment?.(env) ?? [])[0];
  if (decider) {
    const authz = isObject(input.authz) ? input.authz : {};
    if (Array.isArray(authz.deciders)) {
      // The list form: the listed decider it matches, else one more at the end of the chain.
      const list = [...(authz.deciders as unknown[])];
      let index = list.findIndex((d) => isObject(d) && decider.matches(d));
      if (index < 0) index = list.push({ ...decider.base }) - 1;
      list[index] = { ...(list[index] as object), ...decider.fields };
      input.authz = { ...authz, deciders: list };
      for (const [field, name] of Object.entries(decider.names)) fromEnv.set(`authz.deciders.${index}.${field}`, name);
    } else {
      const configured = isObject(authz.webhook) && decider.matches(authz.webhook) ? authz.webhook : decider.base;
      input.authz = { ...authz, webhook: { ...configured, ...decider.fields } };
      for (const [field, name] of Object.entries(decider.names)) fromEnv.set(`authz.webhook.${field}`, name);
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}
