import { posix } from 'node:path';
import { readImports, type ImportKind } from './imports.js';

/**
 * The house's floors: a module imports only from floors below its own (or from its own folder),
 * so a newcomer can read a token request top-down and change a floor without the ones under it.
 */
export const FLOORS: readonly (readonly string[])[] = [
  ['domain'],
  ['crypto', 'upstream', 'logging'],
  ['metrics', 'cache'],
  ['store'],
  ['invalidation', 'accounts'],
  ['authn', 'authz', 'keys'],
  // Wharf's own credentials are proved through authn's interfaces (a registry credential is a
  // PasswordAuthenticator, a refresh token is redeemed for the prover), so they sit above it; the
  // composition root hands them to the prover, which never imports them.
  ['credentials'],
  ['tokens', 'flows'],
  ['config'],
  ['http', 'readiness'],
  ['services'],
  ['app'],
  // kubelet/ is the image credential provider the kubelet starts per pull: beside client/, so it
  // imports no client code (test/kubelet/plugin-imports.test.ts: nothing but itself and node: built-ins).
  ['client', 'kubelet'],
  ['cli', 'credential-helper'],
  ['main'],
];

/** Backend folders every backend may share: the OAuth2 core the OAuth2 backends are thin factories over. */
export const SHARED_CORES: readonly string[] = ['authn/oauth2-core'];

/**
 * The registries: registering each backend folder's entry is their job, so they alone import
 * the backend folders, and config/ knows the backends only through them.
 */
export const REGISTRIES: readonly string[] = ['authn/registry.ts', 'authn/login-registry.ts', 'authz/registry.ts'];

/** A source file, its path relative to src/ (`authn/ldap/ldap-config.ts`). */
export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** One import between two files of src/, as `from:line -> to (kind)`. */
interface Edge {
  readonly from: string;
  readonly to: string;
  readonly line: number;
  readonly kind: ImportKind;
}

/** What breaks the rules, one line per finding (empty lists when the house is in order). */
export interface FloorFindings {
  /** Files in a folder or under a name that no floor places. */
  readonly unplaced: string[];
  /** Imports whose specifier is computed: nobody can tell which floor they reach. */
  readonly uncheckable: string[];
  /** Imports that leave src/ (or name an absolute path). */
  readonly outsideSrc: string[];
  /** Imports that run sideways or back up the floors. */
  readonly upward: string[];
  /** A backend folder importing another (shared cores aside). */
  readonly acrossBackends: string[];
  /** config/ importing a backend other than through a registry. */
  readonly configPastRegistries: string[];
  /**
   * The rooms inside authn/: its core (the files directly in authn/: the chain, budgets,
   * verification slots, the interfaces) importing a backend folder (any folder under authn/,
   * oauth2-core too), or a backend folder importing a registry. The registries are the core's one
   * exception: registering each backend folder's entry is their job.
   */
  readonly authnRooms: string[];
}

/** The unit a path belongs to: its top folder under src/, or a root file's name. */
const unitOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : path.replace(/\.ts$/, ''));
const floorOf = (unit: string) => FLOORS.findIndex((floor) => floor.includes(unit));
/** The backend folder (`authn/ldap`, `authz/webhook`) a path is in, if any. */
const backendOf = (path: string) => /^(authn|authz)\/([^/]+)\//.exec(path)?.slice(1, 3).join('/');
/** A file directly in authn/: the chain, budgets, the interfaces and the registries. */
const inAuthnCore = (path: string) => /^authn\/[^/]+$/.test(path);
const show = (e: Edge) => `${e.from}:${e.line} -> ${e.to} (${e.kind})`;

/** Checks the files of src/ (paths relative to it) against every rule of the house. */
export function checkFloors(files: readonly SourceFile[]): FloorFindings {
  const edges: Edge[] = [];
  const uncheckable: string[] = [];
  const outsideSrc: string[] = [];
  for (const file of files) {
    const found = readImports(file.path, file.text);
    for (const u of found.uncheckable) uncheckable.push(`${file.path}:${u.line}: cannot check ${u.kind} of ${u.text}: its specifier is computed`);
    for (const ref of found.references) {
      if (ref.specifier.startsWith('/') || ref.specifier.startsWith('file:')) {
        outsideSrc.push(`${file.path}:${ref.line} -> ${ref.specifier} (${ref.kind})`);
        continue;
      }
      if (!ref.specifier.startsWith('.')) continue; // a package or node: builtin
      const to = posix.normalize(posix.join(posix.dirname(file.path), ref.specifier)).replace(/\.js$/, '.ts');
      if (to.startsWith('../')) outsideSrc.push(`${file.path}:${ref.line} -> ${ref.specifier} (${ref.kind})`);
      else edges.push({ from: file.path, to, line: ref.line, kind: ref.kind });
    }
  }

  const upward = edges.filter(({ from, to }) => unitOf(from) !== unitOf(to) && floorOf(unitOf(to)) >= floorOf(unitOf(from)));
  const acrossBackends = edges.filter(({ from, to }) => {
    const a = backendOf(from);
    const b = backendOf(to);
    return a !== undefined && b !== undefined && a !== b && !SHARED_CORES.includes(b);
  });
  const configPastRegistries = edges.filter(({ from, to }) => from.startsWith('config/') && /^(authn|authz)\//.test(to) && !REGISTRIES.includes(to));
  const authnRooms = edges.filter(
    ({ from, to }) =>
      (inAuthnCore(from) && !REGISTRIES.includes(from) && backendOf(to)?.startsWith('authn/') === true) ||
      (backendOf(from)?.startsWith('authn/') === true && REGISTRIES.includes(to)),
  );
  return {
    unplaced: files.filter((f) => floorOf(unitOf(f.path)) < 0).map((f) => f.path),
    uncheckable,
    outsideSrc,
    upward: upward.map(show),
    acrossBackends: acrossBackends.map(show),
    configPastRegistries: configPastRegistries.map(show),
    authnRooms: authnRooms.map(show),
  };
}
