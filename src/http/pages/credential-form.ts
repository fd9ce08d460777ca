import { parseCredentialScope, type CredentialScope } from '../../domain/credential-scope.js';
import { InvalidRequestError } from '../../domain/errors.js';

/** The one-click scopes of the account page's form, as its radio buttons send them. */
export const SCOPE_PRESETS = {
  'read-only': 'Read-only: pull everything I can',
  'repository-pull': 'This repository only: pull',
  'repository-push': 'This repository only: pull and push',
  custom: 'This repository with the actions ticked below',
  full: 'Full rights: everything my account may do',
} as const;

/** One of the form's presets. */
export type ScopePreset = keyof typeof SCOPE_PRESETS;

/** The actions the form offers as checkboxes (`*` is the three ticked). */
export const FORM_ACTIONS = ['pull', 'push', 'delete'] as const;

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value.trim() : undefined);

/**
 * The scope a submitted account form asks for; undefined for full rights (also when no preset
 * was sent, as the form did before scopes). Throws InvalidRequestError with a sentence for people.
 */
export function scopeFromForm(body: Record<string, unknown>): CredentialScope | undefined {
  const preset = body.preset === undefined ? 'full' : text(body.preset);
  if (preset === undefined || !Object.hasOwn(SCOPE_PRESETS, preset)) throw new InvalidRequestError('Choose one of the offered scopes.');
  if (preset === 'full') return undefined;
  if (preset === 'read-only') return [{ repositories: ['*'], actions: ['pull'] }];
  const repository = text(body.repository) ?? '';
  if (repository === '') throw new InvalidRequestError('Name the repository (for example team/app, or team/* for all of team).');
  const actions = preset === 'repository-pull' ? ['pull'] : preset === 'repository-push' ? ['pull', 'push'] : ticked(body.actions);
  if (actions.length === 0) throw new InvalidRequestError('Tick at least one action (pull, push or delete).');
  try {
    return parseCredentialScope([{ repositories: [repository], actions }]);
  } catch {
    throw new InvalidRequestError('A repository is a name such as team/app: letters, digits, . _ - / : and the wildcards * and ?, at most 255 characters.');
  }
}

/** The ticked action checkboxes: one value, several, or none; anything else is refused. */
function ticked(raw: unknown): string[] {
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  for (const v of values) if (!(FORM_ACTIONS as readonly unknown[]).includes(v)) throw new InvalidRequestError('Actions are pull, push and delete.');
  return [...new Set(values as string[])];
}

/**
 * The form's lifetime in days: a whole number of at least 1, cut to `max` (the ceiling for
 * credentials made on the page, which the notice's end date then shows, as before scopes); empty
 * means `fallback`. Throws InvalidRequestError otherwise.
 */
export function daysFromForm(raw: unknown, max: number, fallback: number): number {
  const value = text(raw);
  if (value === undefined || value === '') return Math.min(fallback, max);
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1) throw new InvalidRequestError(`A credential is valid for 1 to ${max} whole days.`);
  return Math.min(Number(value), max);
}

/** A scope in words, as the account page lists it. */
export function describeScope(scope: CredentialScope | undefined): string {
  if (scope === undefined) return 'Full rights of the account';
  return scope
    .map((entry) => {
      const parts: string[] = [];
      if (entry.repositories) {
        const actions = entry.actions?.includes('*') ? 'pull, push, delete' : (entry.actions ?? []).join(', ');
        const where = entry.repositories.map((r) => (r === '*' ? 'every repository' : r)).join(', ');
        parts.push(`${actions} on ${where}`);
      }
      if (entry.catalog) parts.push('list the catalog');
      if (entry.manage) parts.push('manage credentials');
      return parts.join('; ');
    })
    .join('; ');
}
