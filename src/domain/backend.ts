import { z } from 'zod';
import type { Identity } from './identity.js';

/**
 * The vocabulary every pluggable backend speaks (password backends, browser-login providers,
 * remote deciders), after Dex's connectors: a registry entry names a type, owns its config schema
 * and builds the backend; the server discovers optional capabilities on what was built instead
 * of naming backend classes.
 */

/** State of a circuit breaker in front of an upstream. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Where a secret comes from: a file (preferred: mounted secrets) or an environment variable. */
export interface SecretSource {
  /** Path of a file holding the secret (trailing newline ignored). */
  file?: string | undefined;
  /** Name of an environment variable holding it. */
  env?: string | undefined;
}

/**
 * Reads a secret at start-up, passed to factories so backends never read files or the environment
 * on their own (and import nothing from config/). Throws naming the source, never the value.
 */
export type ReadSecret = (what: string, source: SecretSource) => string;

/** One finding of `wharf config check` beyond the schema: an error stops startup, a warning does not. */
export interface Finding {
  readonly severity: 'error' | 'warning';
  /** Dotted path of the setting, prefixed with the backend's path (e.g. `authn.1.bindPasswordFile`). */
  readonly path: string;
  readonly message: string;
}

/** What a preflight may look at. */
export interface PreflightContext {
  /** Dotted path of the backend's config (`authn.2`, `authz.webhook`). */
  readonly path: string;
  /** Environment, for secrets named by `...Env` settings. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Settings a backend takes from the environment (as platforms configure it, e.g. SAGE's
 * `tokenInfoEndpoint`), merged into the raw config before validation.
 */
export interface EnvironmentSettings {
  /** Whether a configured entry (raw, before validation) is the one to complete; when none is, a new one starts from `base`. */
  matches(raw: Readonly<Record<string, unknown>>): boolean;
  /** What a new entry starts from: its `type` and what tells it apart. */
  readonly base: Readonly<Record<string, unknown>>;
  /** The settings, by config field. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** The variable behind each field, named in validation problems. */
  readonly names: Readonly<Record<string, string>>;
}

/** An account name a backend's config defines itself (a static user), with its path under the backend's config (`['users', 'alice']`). */
export interface ConfiguredName {
  readonly name: string;
  readonly path: readonly (string | number)[];
}

/**
 * What a backend tells the account checks about the names it makes, read from its validated
 * config: `wharf config check` refuses prefixes of two sources that overlap and configured names
 * that start with another source's prefix, and the account gate refuses a reserved prefix to
 * every other source. Nothing outside the backend knows which type makes which names.
 */
export interface AccountDeclaration<Config> {
  /**
   * The identity source its accounts are bound to, as its identities' `owner.source` names it:
   * backends reading the same users name the same source (the GitHub login and `github-token` on
   * one host), and may then share a prefix.
   */
  source(config: Config): string;
  /** The prefix it puts before every account name it makes (`accountPrefix`), when the config sets one. */
  prefix?(config: Config): string | undefined;
  /** The account names its config defines (static users). */
  names?(config: Config): readonly ConfiguredName[];
}

/** A config schema of one backend type: an object whose `type` is a literal. */
export type TypedSchema = z.ZodObject<{ type: z.ZodLiteral<string> } & z.ZodRawShape>;

/** One backend type: its config schema, its factory and an optional check for `wharf config check`. */
export interface BackendEntry<Schema extends TypedSchema, Deps, Product> {
  /** The config schema; its `type` literal names the backend in YAML. */
  readonly schema: Schema;
  /** Builds the backend at start-up (reading its secrets through the deps, never during validation). */
  create(config: z.output<Schema>, deps: Deps): Product;
  /** Checks what the schema cannot (files exist, a directory answers), without side effects beyond reading and connecting. */
  preflight?(config: z.output<Schema>, context: PreflightContext): Promise<Finding[]>;
  /** Settings this backend takes from environment variables, when they are set. */
  fromEnvironment?(env: Readonly<Record<string, string | undefined>>): EnvironmentSettings[];
  /**
   * Cache-key prefixes every token request reads for this backend (written once per key,
   * invalidated by deletion): kept in the in-process first tier over Redis.
   */
  readonly hotKeyPrefixes?: readonly string[];
  /** The account source, prefix and configured names of this backend, for the account checks. Omitted by backends that reserve no prefix and define no names. */
  readonly accounts?: AccountDeclaration<z.output<Schema>>;
  /**
   * The groups ACL rules' `group` matches for an identity this backend proved, read from the
   * attributes it gave it (attributes are kept with refresh tokens and credentials, so groups are
   * read when a decision is made, never stored apart). Default: none.
   */
  groups?(attributes: Readonly<Record<string, unknown>>): readonly string[];
}

/** The strings of a list attribute (`groups`, `orgs`), for `groups` readers; anything else is no list. */
export function listAttribute(attributes: Readonly<Record<string, unknown>>, name: string): string[] {
  const value = attributes[name];
  return Array.isArray(value) ? value.map(String) : [];
}

/**
 * What the server asks of a built backend when it offers it; each is optional and found by
 * looking, so the server never names a backend class.
 */
export interface Capabilities {
  /** The upstream circuit, reported on /readyz and as a metric. */
  circuitState?(): CircuitState;
  /** Cache keys holding what this backend learnt about a platform token, dropped when the platform revokes it. */
  invalidationKeys?(token: string): string[];
  /** Releases connections and timers at shutdown. */
  close?(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- entries differ in deps and product only through their schema
type AnyEntry = BackendEntry<TypedSchema, any, unknown>;
type Schemas<T extends readonly AnyEntry[]> = { -readonly [K in keyof T]: T[K]['schema'] };

/** The literal `type` of an entry's schema. */
function typeOf(entry: { readonly schema: TypedSchema }): string {
  return entry.schema.shape.type.value as string;
}

/**
 * A set of backend types: the config union derived from their schemas (nobody keeps a union in
 * step by hand), and lookup by `type`.
 */
export class BackendRegistry<const T extends readonly [AnyEntry, ...AnyEntry[]]> {
  readonly #byType: ReadonlyMap<string, T[number]>;

  constructor(readonly entries: T) {
    const byType = new Map<string, T[number]>();
    for (const entry of entries) {
      const type = typeOf(entry);
      if (byType.has(type)) throw new Error(`two backends register the type ${JSON.stringify(type)}`);
      // A prefix nobody declares would never be checked for overlaps, nor reserved at sign-in.
      if ('accountPrefix' in entry.schema.shape && !entry.accounts?.prefix) {
        throw new Error(`the backend type ${JSON.stringify(type)} has an accountPrefix setting but declares no accounts.prefix in its registry entry`);
      }
      byType.set(type, entry);
    }
    this.#byType = byType;
  }

  /** The discriminated union on `type` of every entry's schema. */
  schema(): z.ZodDiscriminatedUnion<Schemas<T>> {
    return z.discriminatedUnion('type', this.entries.map((e) => e.schema) as unknown as Schemas<T>);
  }

  /** The entry that owns a config's `type` (validated configs always have one). */
  entry(type: string): T[number] {
    const entry = this.#byType.get(type);
    if (!entry) throw new Error(`no backend registers the type ${JSON.stringify(type)}`);
    return entry;
  }

  /** The groups the entry of `identity.provider` reads from its attributes; none when no entry here proved it. */
  groupsOf(identity: Identity): readonly string[] {
    return this.#byType.get(identity.provider)?.groups?.(identity.attributes) ?? [];
  }

  /** Every hot cache-key prefix the registered backends declare. */
  hotKeyPrefixes(): string[] {
    return this.entries.flatMap((e) => e.hotKeyPrefixes ?? []);
  }
}
