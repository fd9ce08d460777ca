import type { z } from 'zod';

type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[]; valueType?: z.ZodType; in?: z.ZodType; out?: z.ZodType; left?: z.ZodType; right?: z.ZodType };
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/**
 * Every key path a zod schema accepts, as dotted names with `[]` for array items and `{}` for
 * record values (`authn[].users{}.passwordHash`); union members contribute all their keys.
 */
export function schemaKeyPaths(schema: z.ZodType, prefix = ''): Set<string> {
  const out = new Set<string>();
  const walk = (s: z.ZodType, path: string, seen: Set<z.ZodType>) => {
    if (seen.has(s)) return;
    const next = new Set(seen).add(s);
    const def = defOf(s);
    switch (def.type) {
      case 'object':
        for (const [key, child] of Object.entries(def.shape ?? {})) {
          const p = path ? `${path}.${key}` : key;
          out.add(p);
          walk(child, p, next);
        }
        return;
      case 'array':
        return walk(def.element!, `${path}[]`, next);
      case 'record':
        out.add(`${path}{}`); // marks where keys are data (see valueKeyPaths)
        return walk(def.valueType!, `${path}{}`, next);
      case 'union':
        for (const option of def.options ?? []) walk(option, path, next);
        return;
      case 'intersection':
        walk(def.left!, path, next);
        return walk(def.right!, path, next);
      case 'pipe':
        walk(def.in!, path, next);
        return walk(def.out!, path, next);
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        return walk(def.innerType!, path, next);
      default:
        return;
    }
  };
  walk(schema, prefix, new Set());
  return out;
}

/** The key paths present in a parsed YAML value, in the same notation. */
export function valueKeyPaths(value: unknown, path = '', recordPaths: ReadonlySet<string> = new Set()): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => valueKeyPaths(item, `${path}[]`, recordPaths));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => {
    // Keys of a record (user names, env variables, claim names...) are data, not settings.
    const p = recordPaths.has(`${path}{}`) ? `${path}{}` : path ? `${path}.${key}` : key;
    return [...(p.endsWith('{}') ? [] : [p]), ...valueKeyPaths(child, p, recordPaths)];
  });
}
