import type { z } from 'zod';
import { QuiverError } from './errors.js';

/** Formats a zod issue path as `a.b[3].c`. */
export function issuePath(prefix: string, path: readonly PropertyKey[]): string {
  let s = prefix;
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

/** Parses or throws a QuiverError naming the first bad field and why. */
export function parseOrThrow<S extends z.ZodTypeAny>(schema: S, value: unknown, prefix: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  let path = issue.path as PropertyKey[];
  let reason = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    path = [...path, keys[0]!];
    reason = 'unknown key';
  }
  throw new QuiverError(issuePath(prefix, path), reason);
}
