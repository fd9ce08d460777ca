import { isAscii } from '../../domain/account-name.js';

/*
 * What both GitHub routes (the browser login in `github/`, tokens as passwords in
 * `provider-token/`) must read the same way: which source their accounts belong to, and a user's
 * organisations and teams, page by page. Each route keeps its own way of calling GitHub and of
 * judging a refusal; what a list is, and how far it is read, is decided here once.
 */

/** GitHub users are bound by their numeric id to the GitHub they come from: both routes on one host name the same source. */
export function githubSource(apiUrl: string): string {
  return `github:${new URL(apiUrl).host}`;
}

/** GitHub's largest page. */
const PER_PAGE = 100;

/**
 * Most pages of one list read for a user (100 entries each, so 1,000 organisations or teams).
 * A user in more is judged on the first 1,000, by both routes alike.
 */
export const GITHUB_MAX_PAGES = 10;

/** One page as a route fetched it: the parsed list, and the `Link` header that names the next page. */
export type GithubPage<Failure> = { readonly ok: true; readonly items: readonly unknown[]; readonly link: string | undefined } | { readonly ok: false; readonly failure: Failure };

/** A whole list, or the route's own failure of the page that failed. `truncated`: there were more pages than `GITHUB_MAX_PAGES`. */
export type GithubList<Failure> = { readonly ok: true; readonly items: unknown[]; readonly truncated: boolean } | { readonly ok: false; readonly failure: Failure };

/**
 * Reads a list (`/user/orgs`, `/user/teams`) of the API at `apiUrl`, 100 to a page, following
 * `Link: rel="next"` (RFC 8288, as GitHub pages its answers) up to `GITHUB_MAX_PAGES`. A next page
 * outside the API is not followed (the token would be sent there): the list ends where it was.
 * `fetchPage` calls GitHub with the route's token and turns a refusal into the route's failure.
 */
export async function readGithubList<Failure>(apiUrl: string, path: string, fetchPage: (url: string) => Promise<GithubPage<Failure>>): Promise<GithubList<Failure>> {
  const base = apiUrl.replace(/\/+$/, '');
  const api = new URL(base);
  const items: unknown[] = [];
  let url: string | undefined = `${base}${path}?per_page=${PER_PAGE}`;
  for (let page = 1; url !== undefined; page++) {
    if (page > GITHUB_MAX_PAGES) return { ok: true, items, truncated: true };
    const answer = await fetchPage(url);
    if (!answer.ok) return answer;
    items.push(...answer.items);
    url = nextPage(answer.link, api);
  }
  return { ok: true, items, truncated: false };
}

/** The `rel="next"` target of a Link header, when it lies under the API's own origin and path. */
function nextPage(link: string | undefined, api: URL): string | undefined {
  for (const part of link?.split(',') ?? []) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!match || !/;\s*rel="?[^";]*\bnext\b/i.test(match[2]!)) continue;
    let next: URL;
    try {
      next = new URL(match[1]!, api);
    } catch {
      return undefined;
    }
    const base = api.pathname.replace(/\/+$/, '');
    return next.origin === api.origin && next.pathname.startsWith(`${base}/`) ? next.href : undefined;
  }
  return undefined;
}

/** The logins of a list of organisations, or undefined when it is not one. */
export function organisationLogins(items: readonly unknown[]): string[] | undefined {
  const logins = items.map((o) => (o !== null && typeof o === 'object' && typeof (o as { login?: unknown }).login === 'string' ? (o as { login: string }).login : undefined));
  return logins.every((l): l is string => l !== undefined && l !== '') ? logins : undefined;
}

/** A list of teams as `org/team` slugs. */
export function teamSlugs(items: readonly unknown[]): string[] {
  return items.map((t) => {
    const team = t as { slug?: unknown; organization?: { login?: unknown } } | null;
    return `${String(team?.organization?.login)}/${String(team?.slug)}`;
  });
}

/**
 * Whether any of `orgs` is one of `allowed`, case-insensitively; names are folded only when
 * ASCII, since a non-ASCII name could fold onto an allowed one (see isAscii).
 */
export function inAllowedOrganisation(orgs: readonly string[], allowed: readonly string[]): boolean {
  const folded = new Set(allowed.map((o) => o.toLowerCase()));
  return orgs.some((o) => isAscii(o) && folded.has(o.toLowerCase()));
}
